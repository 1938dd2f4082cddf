"""The fault-injection run of issue 12, with the server SIGKILLed and restarted on its data dir.

The same harness as ``tests/faults/test_faults.py`` (the seeded :class:`FaultProxy` between the
reading client and the server: cuts, stalls, delays, split frames), with one more fault: the
server itself, a ``serve --data-dir`` process (``server_process.py``), is SIGKILLed at seeded
moments and restarted on the same port and directory.  A writer client (straight to the server,
reconnecting too) commits transactions of one to three inserts, updates and deletes, then a
marker.  Once the proxy is calm and the reader has seen the marker:

* the reader's cache holds exactly the restarted server's rows;
* its insert, delete and update callbacks, replayed onto an empty dict, give exactly those rows,
  and none of them contradicts the dict: nothing lost, nothing applied twice.

``make test`` runs two seeds of 300 transactions and two kills; ``make stress-durability`` runs
fifty seeds (``SPACETIMEDB_DURABILITY_SEEDS``, ``SPACETIMEDB_DURABILITY_TRANSACTIONS``).
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess

from faults.fault_proxy import FaultProxy
from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.errors import DisconnectedError

MODULE = Path(__file__).with_name("durable_module_snapshots.py")
SEEDS = range(int(os.environ.get("SPACETIMEDB_DURABILITY_SEEDS", "2")))
TRANSACTIONS = int(os.environ.get("SPACETIMEDB_DURABILITY_TRANSACTIONS", "300"))
KILLS = 2
KEYS = 100  # ids 1..KEYS are data; id 0 is the marker
MARKER = 0
SETTLE_TIMEOUT = 60.0
T = 30.0


class Replay:
    """The reader's callbacks applied to a dict, and every contradiction they showed."""

    def __init__(self, marker_value: int) -> None:
        self.rows: dict[int, int] = {}
        self.problems: list[str] = []
        self.marker_value = marker_value
        self.marker_seen = asyncio.Event()

    def insert(self, ctx: Any, r: Any) -> None:
        if r.id in self.rows:
            self.problems.append(f"insert of present {r.id}={r.value} (had {self.rows[r.id]})")
        self.rows[r.id] = r.value
        self._check_marker(r)

    def delete(self, ctx: Any, r: Any) -> None:
        had = self.rows.pop(r.id, None)
        if had != r.value:
            self.problems.append(f"delete of {r.id}={r.value}, but the dict had {had}")

    def update(self, ctx: Any, old: Any, new: Any) -> None:
        if self.rows.get(old.id) != old.value:
            self.problems.append(
                f"update from {old.id}={old.value}, the dict had {self.rows.get(old.id)}"
            )
        self.rows[new.id] = new.value
        self._check_marker(new)

    def _check_marker(self, r: Any) -> None:
        if r.id == MARKER and r.value == self.marker_value:
            self.marker_seen.set()


class Writer:
    """A client straight to the server that commits seeded transactions, riding out the kills."""

    def __init__(self, server: ServerProcess, seed: int) -> None:
        self.server = server
        self.rng = random.Random(f"writer/{seed}")
        self.back = asyncio.Event()
        self.reconnects = 0
        self.conn: Any = None

    def _reconnected(self, conn: Any) -> None:
        self.reconnects += 1
        self.back.set()

    async def connect(self) -> None:
        self.conn = await asyncio.wait_for(
            DbConnection.builder()
            .with_uri(self.server.url)
            .with_database_name("durable")
            .with_confirmed_reads(False)
            .with_reconnect(min_delay=0.05, max_delay=0.3, jitter=0.1)
            .on_reconnected(self._reconnected)
            .connect(),
            T,
        )

    async def call(self, make: Any) -> None:
        """One call, retried after a reconnect when the server died under it (the retry may
        repeat a transaction that did commit: the comparison is with the server's rows)."""
        while True:
            seen = self.reconnects
            try:
                await asyncio.wait_for(make(), T)
                return
            except DisconnectedError:
                while self.reconnects == seen:
                    self.back.clear()
                    await asyncio.wait_for(self.back.wait(), T)

    def transaction(self, i: int) -> Any:
        puts, removes = [], []
        for _ in range(self.rng.randint(1, 3)):
            key = self.rng.randint(1, KEYS)
            if self.rng.random() < 0.3:
                removes.append(key)
            else:
                puts.append((key, i))
        return lambda: self.conn.reducers.batch(
            put_ids=[k for k, _ in puts], put_values=[v for _, v in puts], removes=removes
        )


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_cache_survives_a_faulty_network_and_a_killed_server(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(f"kills/{seed}")
    kill_at = set(rng.sample(range(10, TRANSACTIONS - 10), KILLS))
    server = ServerProcess(MODULE, tmp_path / "data")
    await server.start()
    writer = Writer(server, seed)
    try:
        async with FaultProxy("127.0.0.1", server.port, seed=seed, faulty=False) as proxy:
            replay = Replay(marker_value=TRANSACTIONS)
            reconnects: list[int] = []
            reader = await asyncio.wait_for(
                DbConnection.builder()
                .with_uri(proxy.url)
                .with_database_name("durable")
                .with_reconnect(min_delay=0.01, max_delay=0.2, jitter=0.5)
                .on_reconnecting(lambda c, e, n: reconnects.append(n))
                .connect(),
                T,
            )
            try:
                table = reader.db.item
                table.on_insert(replay.insert)
                table.on_delete(replay.delete)
                table.on_update(replay.update)
                await asyncio.wait_for(
                    reader.subscription_builder().subscribe("SELECT * FROM item"), T
                )
                await writer.connect()
                proxy.unleash()
                for i in range(TRANSACTIONS):
                    if i in kill_at:
                        await server.kill()
                        await server.start()
                    await writer.call(writer.transaction(i))
                await writer.call(lambda: writer.conn.reducers.put(id=MARKER, value=TRANSACTIONS))
                proxy.calm()
                await asyncio.wait_for(replay.marker_seen.wait(), SETTLE_TIMEOUT)
                server_rows = {int(r[0]): int(r[1]) for r in await server.rows("item")}
                assert replay.problems == []
                assert {r.id: r.value for r in table} == server_rows
                assert replay.rows == server_rows
                assert (
                    writer.reconnects >= KILLS and len(reconnects) >= KILLS
                )  # the kills did happen
            finally:
                await asyncio.wait_for(reader.disconnect(), T)
    finally:
        if writer.conn is not None:
            await asyncio.wait_for(writer.conn.disconnect(), T)
        await server.kill()
