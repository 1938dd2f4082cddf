"""Fault injection (issue 12): a client with reconnection, behind a network that misbehaves.

A seeded :class:`~fault_proxy.FaultProxy` sits between the client and the local server; it
cuts connections (inside frames too), stalls, delays and splits what passes.  Meanwhile a
writer commits transactions on the server (inserts, updates and deletes of a few hundred rows,
one to three per transaction), and the server may drop the client for falling behind.  When the
writer is done it commits a marker, the proxy calms down (once it has cut a connection), and the client is given time to come
back and catch up (until it has seen the marker).  Then:

* the client's cache holds exactly the server's rows;
* the insert, delete and update callbacks, replayed onto an empty dict, give exactly the
  server's rows, and none of them contradicts the dict (an insert of a present key, a delete or
  update of an absent or different row): nothing was lost, nothing applied twice.

``make test`` runs a few seeds with a thousand transactions; ``make stress`` runs fifty seeds
with ten thousand (``SPACETIMEDB_FAULT_SEEDS``, ``SPACETIMEDB_FAULT_TRANSACTIONS``).
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest
from fault_proxy import FaultProxy

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.sats import U32, U64
from spacetimedb_sdk.server import Module, ServerLimits, column
from spacetimedb_sdk.server.local import LocalServer

SEEDS = int(os.environ.get("SPACETIMEDB_FAULT_SEEDS", "3"))
TRANSACTIONS = int(os.environ.get("SPACETIMEDB_FAULT_TRANSACTIONS", "1000"))
#: How long the client may take to come back and catch up once the network is calm.
SETTLE_TIMEOUT = 60.0
KEYS = 300  # ids 1..KEYS are data; id 0 is the marker
MARKER = 0

module = Module("faults")


@module.table(public=True)
class Entry:
    id: U32 = column(primary_key=True)
    value: U64
    text: str


Row = tuple[int, int, str]


def _row(r: Any) -> Row:
    return (int(r.id), int(r.value), str(r.text))


class Replay:
    """The callbacks applied to a dict, and every contradiction they showed."""

    def __init__(self, marker_value: int) -> None:
        self.rows: dict[int, Row] = {}
        self.problems: list[str] = []
        self.marker_value = marker_value
        self.marker_seen = asyncio.Event()

    def insert(self, ctx: Any, r: Any) -> None:
        row = _row(r)
        if row[0] in self.rows:
            self.problems.append(f"insert of present {row} (had {self.rows[row[0]]})")
        self.rows[row[0]] = row
        self._check_marker(row)

    def delete(self, ctx: Any, r: Any) -> None:
        row = _row(r)
        had = self.rows.pop(row[0], None)
        if had != row:
            self.problems.append(f"delete of {row}, but the dict had {had}")

    def update(self, ctx: Any, old: Any, new: Any) -> None:
        before, after = _row(old), _row(new)
        if self.rows.get(before[0]) != before:
            self.problems.append(
                f"update from {before}, but the dict had {self.rows.get(before[0])}"
            )
        self.rows[after[0]] = after
        self._check_marker(after)

    def _check_marker(self, row: Row) -> None:
        if row[0] == MARKER and row[1] == self.marker_value:
            self.marker_seen.set()


def _write(srv: LocalServer, seed: int, transactions: int) -> None:
    """Commit ``transactions`` random transactions, then the marker (runs in a thread)."""
    rng = random.Random(seed)
    present: dict[int, int] = {}
    for i in range(transactions):
        with srv.db.transaction() as tx:
            for _ in range(rng.randint(1, 3)):
                key = rng.randint(1, KEYS)
                op = rng.random()
                if key not in present:
                    present[key] = 0
                    tx.entry.insert(Entry(key, 0, f"{seed}/{i}"))  # type: ignore[call-arg]
                elif op < 0.6:
                    present[key] += 1
                    tx.entry.id.update(Entry(key, present[key], f"{seed}/{i}"))  # type: ignore[call-arg]
                else:
                    del present[key]
                    tx.entry.id.delete(key)
    with srv.db.transaction() as tx:
        tx.entry.id.update(Entry(MARKER, transactions, "done"))  # type: ignore[call-arg]


@pytest.mark.parametrize("seed", range(SEEDS))
async def test_the_cache_survives_a_faulty_network(seed: int) -> None:
    rng = random.Random(f"limits/{seed}")
    # Some seeds also make the server drop the client for falling behind (1013), and resync.
    limits = ServerLimits(outgoing_queue_length=rng.choice([200, 2_000, 16_384]))
    async with LocalServer(module, limits=limits) as srv:
        with srv.db.transaction() as tx:
            tx.entry.insert(Entry(MARKER, 0, "start"))  # type: ignore[call-arg]
        async with FaultProxy("127.0.0.1", srv.port, seed=seed, faulty=False) as proxy:
            replay = Replay(marker_value=TRANSACTIONS)
            reconnects: list[int] = []
            conn: DbConnection = await asyncio.wait_for(
                DbConnection.builder()
                .with_uri(proxy.url)
                .with_database_name(srv.database)
                .with_reconnect(min_delay=0.01, max_delay=0.2, jitter=0.5)
                .on_reconnecting(lambda c, e, n: reconnects.append(n))
                .connect(),
                10,
            )
            try:
                table = conn.db.entry
                table.on_insert(replay.insert)
                table.on_delete(replay.delete)
                table.on_update(replay.update)
                await asyncio.wait_for(
                    conn.subscription_builder().subscribe("SELECT * FROM entry"), 10
                )
                proxy.unleash()
                await asyncio.to_thread(_write, srv, seed, TRANSACTIONS)
                await proxy.calm_after_a_cut(replay.marker_seen, SETTLE_TIMEOUT)
                await asyncio.wait_for(replay.marker_seen.wait(), SETTLE_TIMEOUT)
                server_rows = {row.id: _row(row) for row in srv.db.rows("entry")}
                cached = {r.id: _row(r) for r in table}
                assert replay.problems == []
                assert cached == server_rows
                assert replay.rows == server_rows
                # The faults did happen (a calm run would prove nothing).
                cuts = proxy.counts["cut"] + proxy.counts["cut at connect"]
                assert cuts > 0 and reconnects, dict(proxy.counts)
            finally:
                await asyncio.wait_for(conn.disconnect(), 10)
