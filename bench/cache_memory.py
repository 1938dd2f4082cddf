#!/usr/bin/env python3
"""Cache memory: bytes per cached row, ours beside the official TypeScript client's.

One local server (``_chat_server.py``, its own process) holds ``--rows`` (200,000) quickstart
``message`` rows. Each client connects, subscribes to ``SELECT * FROM message`` and, once the
rows are applied, we read how much its memory grew, after a full collection on both sides:

- ours: the Python heap as ``tracemalloc`` counts it (every block Python allocated and has
  not freed), from just before subscribing to just after; then again after every row was
  read once (``list(conn.db.message)``), since our cache keeps a row undecoded until someone
  looks at it and keeps the decoded row after;
- TS: V8's used heap plus ArrayBuffer memory (``process.memoryUsage()``: heapUsed +
  arrayBuffers) over the same span, ``node/src/bench_cache_memory.mjs``. Its cache holds
  decoded rows from the start (keyed by a base64 string of each row's bytes).

The second reading on each side is taken after the server committed one more message and
the client received it: both clients' WebSocket readers keep the last frame they read (here
the 9 MB-per-100k-rows frame of the subscription) until the next one, and a live client
always reads on. Both sides also report the growth of their resident set size (RSS), a
coarser figure that includes the allocators' own slack. Correctness: each cache is checked against the server's
table (row count, sum of ``sent``, text bytes) after the measurement.

Run: ``make bench`` or ``.venv/bin/python bench/cache_memory.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from _clients import (
    SQL,
    TIMEOUT,
    ChatServer,
    Digest,
    check_digest,
    digest_of,
    node_child,
    our_connection,
)
from _summary import record
from _util import format_table

NODE_SCRIPT = "bench_cache_memory.mjs"


@dataclass
class Result:
    """Bytes grown over the subscription, per side (and ours after reading every row)."""

    rows: int
    ours: int
    ours_read: int
    ours_rss: int
    ts: int
    ts_rss: int


def rss() -> int:
    """This process's resident set size in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


async def next_message(server: ChatServer) -> Digest:
    """The server commits one more message: a live client's socket reads on past the large
    frame, which lets go of it (both SDKs' WebSocket readers hold the last frame until the
    next). Returns the table's digest afterwards."""
    return Digest.of_json(await server.command({"cmd": "tx", "count": 1}, "tx_done"))


async def ours_sample(server: ChatServer, compression: str) -> tuple[int, int, int]:
    """(heap growth as subscribed, after reading every row, RSS growth as subscribed)."""
    conn = await our_connection(server, compression)
    arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        gc.collect()
        tracemalloc.start()
        rss0 = rss()
        base = tracemalloc.get_traced_memory()[0]
        await asyncio.wait_for(conn.subscription_builder().subscribe(SQL), TIMEOUT)
        conn.db.message.on_insert(lambda _ctx, _row: arrived.done() or arrived.set_result(None))
        want = await next_message(server)
        await asyncio.wait_for(arrived, TIMEOUT)
        gc.collect()
        subscribed = tracemalloc.get_traced_memory()[0] - base
        grown_rss = rss() - rss0
        rows = list(conn.db.message)  # decodes every row, once; the cache keeps them
        del rows
        gc.collect()
        read = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        check_digest(f"ours/{compression}", digest_of(conn), want)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
    return subscribed, read, grown_rss


async def measure(server: ChatServer, compression: str) -> Result:
    args = ["--uri", server.url, "--db", server.database, "--compression", compression]
    async with node_child(NODE_SCRIPT, args) as node:
        await node.send({"cmd": "sample"})
        await node.expect("applied")
        want = await next_message(server)
        ts = await node.expect("sample")
    check_digest(f"TS/{compression}", Digest.of_json(ts["digest"]), want)
    ours, ours_read, ours_rss = await ours_sample(server, compression)
    return Result(int(ts["rows"]), ours, ours_read, ours_rss, int(ts["heap"]), int(ts["rss"]))


def report(r: Result) -> str:
    per = r.rows or 1
    header = ["client", "rows", "heap B/row", "vs TS", "RSS B/row"]
    lines = [
        ["TS", f"{r.rows:,}", f"{r.ts / per:.0f}", "1.00", f"{r.ts_rss / per:.0f}"],
        [
            "ours",
            f"{r.rows:,}",
            f"{r.ours / per:.0f}",
            f"{r.ours / r.ts:.2f}",
            f"{r.ours_rss / per:.0f}",
        ],
        [
            "ours, every row read",
            f"{r.rows:,}",
            f"{r.ours_read / per:.0f}",
            f"{r.ours_read / r.ts:.2f}",
            "-",
        ],
    ]
    return format_table(header, lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=200_000, help="message rows (200000)")
    parser.add_argument("--compression", choices=["none", "gzip"], default="none")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> Result:
    if args.rows < 1:
        raise SystemExit("--rows must be at least 1")
    async with ChatServer(args.rows) as server:
        return await measure(server, args.compression)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    result = asyncio.run(run(args))
    print(
        f"cache memory for {args.rows:,} message rows after the subscription is applied "
        f"({time.perf_counter() - started:.0f} s); heap: Python tracemalloc vs V8 heapUsed + "
        "arrayBuffers, each after a full collection"
    )
    print(report(result))
    print("vs TS below 1 means our cache holds the rows in less memory.")
    record("row_memory", [result.ours / result.ts])
    record("row_memory_read", [result.ours_read / result.ts])
    return 0


if __name__ == "__main__":
    sys.exit(main())
