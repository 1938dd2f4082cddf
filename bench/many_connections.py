#!/usr/bin/env python3
"""Many connections in one process: memory per connection and broadcast latency, ours vs TS.

One local server (``_chat_server.py``, its own process) serves quickstart-chat. Each side opens
``--count`` (1,000) connections in one process, ``--batch`` (50) at a time, each subscribed
to ``SELECT * FROM message`` with an ``on_insert`` callback that counts:

- ours: ``DbConnection`` in asyncio mode, all on this process's event loop. The schema is
  fetched once and handed to every builder (``DbConnection.builder(schema)``), as generated
  bindings carry it; the TS client has its bindings compiled in (``chat_bindings.mjs``);
- TS: the official client, all in one Node process (``node/src/bench_many_connections.mjs``).

Memory per connection: ours is the Python heap ``tracemalloc`` counts, TS is V8's used heap plus
ArrayBuffer memory (``process.memoryUsage()``), each the growth from before the first
connection to after the last, after full collections, divided by the count. Both also report
the growth of the resident set (RSS) per connection, which includes what the runtimes
themselves allocate outside their heaps (socket buffers, the allocator's slack).

Broadcast latency: the server commits one message (the driver is the server process's main
thread, as in ``tx_stream``); we time from just before that commit to the moment the last of
the connections ran its insert callback (both processes read CLOCK_MONOTONIC). Best and
median of ``--broadcasts`` (5) rounds. Guard: every connection counts exactly one insert per
round.

Run: ``make bench`` or ``.venv/bin/python bench/many_connections.py [--count N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _clients import SQL, TIMEOUT, ChatServer, JsonLinesChild, monotonic_ns, node_child
from _summary import record
from _util import format_table

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.http import AsyncHttpClient
from spacetimedb_sdk.schema import ModuleSchema

NODE_SCRIPT = "bench_many_connections.mjs"


@dataclass
class Side:
    """One client's figures."""

    count: int = 0
    heap: int = 0
    rss: int = 0
    latencies: list[float] = field(default_factory=list)


def rss() -> int:
    """This process's resident set size in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


async def commit_one(server: ChatServer) -> int:
    """The server commits one message; returns the monotonic time just before the commit."""
    return int((await server.command({"cmd": "tx", "count": 1}, "tx_done"))["t0_ns"])


class Ours:
    """``count`` connections of our SDK, each counting the inserts it sees."""

    def __init__(self, server: ChatServer, schema: ModuleSchema, compression: str) -> None:
        self.server = server
        self.schema = schema
        self.compression = compression
        self.conns: list[DbConnection] = []
        self.pending = 0
        self.inserts = 0
        self.done: asyncio.Future[int] | None = None

    def on_insert(self, _ctx: Any, _row: Any) -> None:
        self.inserts += 1
        if self.done is not None:
            self.pending -= 1
            if self.pending == 0:
                self.done.set_result(monotonic_ns())
                self.done = None

    async def open_one(self) -> DbConnection:
        builder = (
            DbConnection.builder(self.schema)
            .with_uri(self.server.url)
            .with_database_name(self.server.database)
            .with_compression(self.compression)  # type: ignore[arg-type]
        )
        conn = await asyncio.wait_for(builder.connect(), TIMEOUT)
        conn.db.message.on_insert(self.on_insert)
        await asyncio.wait_for(conn.subscription_builder().subscribe(SQL), TIMEOUT)
        return conn

    async def connect(self, count: int, batch: int) -> Side:
        gc.collect()
        tracemalloc.start()
        base, rss0 = tracemalloc.get_traced_memory()[0], rss()
        try:
            while len(self.conns) < count:
                n = min(batch, count - len(self.conns))
                self.conns += await asyncio.gather(*(self.open_one() for _ in range(n)))
            gc.collect()
            return Side(count, tracemalloc.get_traced_memory()[0] - base, rss() - rss0)
        finally:
            tracemalloc.stop()

    async def broadcast(self) -> float:
        self.inserts = 0
        self.pending = len(self.conns)
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.done = done
        t0 = await commit_one(self.server)
        t_end = await asyncio.wait_for(done, TIMEOUT)
        await asyncio.sleep(0)  # no connection may count a second insert
        if self.inserts != len(self.conns):
            raise SystemExit(f"ours: {self.inserts} inserts for {len(self.conns)} connections")
        return (t_end - t0) / 1e9

    async def close(self) -> None:
        await asyncio.gather(*(asyncio.wait_for(c.disconnect(), TIMEOUT) for c in self.conns))
        self.conns.clear()


async def measure_ours(
    server: ChatServer, compression: str, count: int, batch: int, rounds: int
) -> Side:
    async with AsyncHttpClient(server.url) as http:
        schema = await http.schema(server.database)
    ours = Ours(server, schema, compression)
    try:
        side = await ours.connect(count, batch)
        side.latencies = [await ours.broadcast() for _ in range(rounds)]
    finally:
        await ours.close()
    return side


async def ts_broadcast(node: JsonLinesChild, server: ChatServer, count: int) -> float:
    await node.send({"cmd": "arm"})
    await node.expect("armed")
    t0 = await commit_one(server)
    done = await node.expect("delivered")
    if int(done["inserts"]) != count:
        raise SystemExit(f"TS: {done['inserts']} inserts for {count} connections")
    return (int(done["t_end_ns"]) - t0) / 1e9


async def measure_ts(
    server: ChatServer, compression: str, count: int, batch: int, rounds: int
) -> Side:
    args = ["--uri", server.url, "--db", server.database, "--compression", compression]
    args += ["--count", str(count), "--batch", str(batch)]
    async with node_child(NODE_SCRIPT, args) as node:
        await node.send({"cmd": "connect"})
        got = await node.expect("connected")
        side = Side(int(got["count"]), int(got["heap"]), int(got["rss"]))
        side.latencies = [await ts_broadcast(node, server, count) for _ in range(rounds)]
        await node.send({"cmd": "close"})
        await node.expect("closed")
    return side


def report(ours: Side, ts: Side) -> str:
    header = ["client", "connections", "heap KiB/conn", "RSS KiB/conn"]
    header += ["broadcast best ms", "median ms"]
    lines = [
        [
            name,
            f"{s.count:,}",
            f"{s.heap / s.count / 1024:.1f}",
            f"{s.rss / s.count / 1024:.1f}",
            f"{min(s.latencies) * 1000:.1f}",
            f"{statistics.median(s.latencies) * 1000:.1f}",
        ]
        for name, s in (("TS", ts), ("ours", ours))
    ]
    ratios = [
        "ours/TS",
        "",
        f"{ours.heap / ts.heap:.2f}",
        f"{ours.rss / ts.rss:.2f}" if ts.rss > 0 else "-",
        f"{min(ours.latencies) / min(ts.latencies):.2f}",
        f"{statistics.median(ours.latencies) / statistics.median(ts.latencies):.2f}",
    ]
    return format_table(header, [*lines, ratios])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000, help="connections per side (1000)")
    parser.add_argument("--batch", type=int, default=50, help="connections opened at once (50)")
    parser.add_argument("--broadcasts", type=int, default=5, help="timed broadcasts (5)")
    parser.add_argument("--compression", choices=["none", "gzip"], default="none")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> tuple[Side, Side]:
    if args.count < 1 or args.broadcasts < 1:
        raise SystemExit("--count and --broadcasts must be at least 1")
    async with ChatServer(0) as server:
        ts = await measure_ts(server, args.compression, args.count, args.batch, args.broadcasts)
        ours = await measure_ours(server, args.compression, args.count, args.batch, args.broadcasts)
    return ours, ts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    ours, ts = asyncio.run(run(args))
    print(
        f"{args.count:,} connections per process, each subscribed to every message; "
        f"{args.broadcasts} broadcasts of one message ({time.perf_counter() - started:.0f} s)"
    )
    print(report(ours, ts))
    print("heap: Python tracemalloc vs V8 heapUsed + arrayBuffers; below 1 means ours is less.")
    record("conn_memory", [ours.heap / ts.heap])
    record("broadcast", [statistics.median(ours.latencies) / statistics.median(ts.latencies)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
