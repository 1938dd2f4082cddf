"""The server SIGKILLed while transactions flow, and restarted on its data directory.

1. Nothing acknowledged is lost: a client calls ``put`` with a window of calls in flight, the
   server is SIGKILLed at a seeded moment, restarted; every call the client saw acknowledged
   (its ``ReducerResult`` said Ok) is in the restarted server's rows, and nothing that was never
   sent is.  The client reads *unconfirmed* (its acknowledgements are not held for the disk
   sync), the harder case: a commit must be written before anyone hears of it.
2. The issue's fault acceptance, with the server as the fault: a client built
   ``with_reconnect`` runs a seeded mix of inserts, updates and deletes while the server is
   SIGKILLed and restarted several times; at the end its cache, and its insert/update/delete
   callbacks replayed onto an empty dict, are exactly the server's rows (nothing lost, nothing
   twice).

This harness is our own (``server_process.py``: a ``serve --data-dir`` subprocess); the
TCP fault-injection proxy of the resources work is not used here.  ``make test`` runs a few
seeds; ``make stress-durability`` runs 50 (``SPACETIMEDB_DURABILITY_SEEDS``).
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


# ---- 2. a reconnecting client across kills ------------------------------------------------------


class Mirror:
    """The ``item`` rows as the client's callbacks tell them, checked as they come."""

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}
        self.errors: list[str] = []

    def insert(self, ctx: Any, row: Any) -> None:
        if row.id in self.rows:
            self.errors.append(f"insert of present row {row.id}")
        self.rows[row.id] = row.value

    def delete(self, ctx: Any, row: Any) -> None:
        if self.rows.get(row.id) != row.value:
            self.errors.append(
                f"delete of {row.id}={row.value}, mirror has {self.rows.get(row.id)}"
            )
        self.rows.pop(row.id, None)

    def update(self, ctx: Any, old: Any, new: Any) -> None:
        if self.rows.get(old.id) != old.value:
            self.errors.append(
                f"update of {old.id}={old.value}, mirror has {self.rows.get(old.id)}"
            )
        self.rows[new.id] = new.value


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_reconnecting_client_ends_with_the_servers_rows_across_kills(
    server: ServerProcess, seed: int
) -> None:
    rng = random.Random(1000 + seed)
    operations, kills = 240, 3
    kill_at = set(rng.sample(range(20, operations - 20), kills))
    reconnects = 0
    back = asyncio.Event()

    def reconnected(conn: Any) -> None:
        nonlocal reconnects
        reconnects += 1
        back.set()

    conn = await asyncio.wait_for(
        builder(server)
        .with_reconnect(min_delay=0.05, max_delay=0.3, jitter=0.1)
        .on_reconnected(reconnected)
        .connect(),
        T,
    )
    mirror = Mirror()
    conn.db.item.on_insert(mirror.insert)
    conn.db.item.on_delete(mirror.delete)
    conn.db.item.on_update(mirror.update)
    try:
        await asyncio.wait_for(conn.subscription_builder().subscribe("SELECT * FROM item"), T)
        window = asyncio.Semaphore(8)
        pending: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            key = rng.randrange(40)
            seen = reconnects
            try:
                if rng.random() < 0.25:
                    await conn.reducers.remove(id=key)
                else:
                    await conn.reducers.put(id=key, value=i)
            except DisconnectedError:
                while reconnects == seen:  # wait for the client to be back, then go on
                    back.clear()
                    await asyncio.wait_for(back.wait(), T)
            finally:
                window.release()

        for i in range(operations):
            await window.acquire()
            if i in kill_at:
                await server.kill()
                await server.start()
            task = asyncio.create_task(one(i))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.wait_for(asyncio.gather(*pending), T)
        # A last call that succeeds: every commit before it has reached this client by then.
        while True:
            seen = reconnects
            try:
                await asyncio.wait_for(conn.reducers.put(id=999, value=999), T)
                break
            except DisconnectedError:
                while reconnects == seen:
                    back.clear()
                    await asyncio.wait_for(back.wait(), T)
        server_rows = {int(r[0]): int(r[1]) for r in await server.rows("item")}
        assert mirror.errors == []
        assert {r.id: r.value for r in conn.db.item} == server_rows
        assert mirror.rows == server_rows
        assert reconnects >= kills
    finally:
        await asyncio.wait_for(conn.disconnect(), T)
