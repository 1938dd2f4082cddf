"""The server SIGKILLed while transactions flow, and restarted on its data directory.

Nothing acknowledged is lost: a client calls ``put`` with a window of calls in flight, the
server is SIGKILLed at a seeded moment, restarted; every call the client saw acknowledged
(its ``ReducerResult`` said Ok) is in the restarted server's rows, and nothing that was never
sent is.  The client reads *unconfirmed* (its acknowledgements are not held for the disk sync),
the harder case: a commit must be written before anyone hears of it.

The issue's fault acceptance with the server SIGKILLed (a reconnecting client behind the fault
proxy ends with exactly the server's rows) is ``test_faults_sigkill.py``.  The server process
is ``server_process.py`` (``serve --data-dir``).  ``make test`` runs a few seeds; ``make
stress-durability`` runs 50 (``SPACETIMEDB_DURABILITY_SEEDS``).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.errors import DisconnectedError

MODULE = Path(__file__).with_name("durable_module_snapshots.py")
SEEDS = range(int(os.environ.get("SPACETIMEDB_DURABILITY_SEEDS", "2")))
T = 30.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(MODULE, tmp_path / "data")
    await proc.start()
    try:
        yield proc
    finally:
        await proc.kill()


def builder(server: ServerProcess) -> Any:
    return DbConnection.builder().with_uri(server.url).with_database_name("durable")


# ---- 1. nothing acknowledged is lost -------------------------------------------------------------


async def _calls_until_killed(
    server: ServerProcess, rng: random.Random, first_id: int, acked: set[int]
) -> int:
    """Call ``put`` with up to 16 calls in flight; SIGKILL the server after a seeded number of
    acknowledgements.  Returns the next unused id."""
    conn = await asyncio.wait_for(builder(server).with_confirmed_reads(False).connect(), T)
    kill_after = rng.randrange(20, 120)
    killed = asyncio.Event()
    next_id = first_id
    window = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        try:
            await conn.reducers.put(id=n, value=n)
        except DisconnectedError:
            return  # in flight when the server died: it may or may not have committed
        finally:
            window.release()
        acked.add(n)
        if len(acked) - first_acked >= kill_after and not killed.is_set():
            killed.set()
            await server.kill()

    first_acked = len(acked)
    tasks = []
    while not killed.is_set():
        await window.acquire()
        if killed.is_set():
            break
        tasks.append(asyncio.create_task(one(next_id)))
        next_id += 1
    await asyncio.wait_for(asyncio.gather(*tasks), T)
    await asyncio.wait_for(conn.disconnect(), T)
    return next_id


@pytest.mark.parametrize("seed", SEEDS)
async def test_nothing_acknowledged_is_lost_when_the_server_is_killed(
    server: ServerProcess, seed: int
) -> None:
    rng = random.Random(seed)
    acked: set[int] = set()
    next_id = 1
    for _ in range(2):
        next_id = await _calls_until_killed(server, rng, next_id, acked)
        await server.start()
        present = {int(row[0]) for row in await server.rows("item")}
        assert acked <= present, f"acknowledged but lost: {sorted(acked - present)[:10]}"
        assert present <= set(range(1, next_id))
