#!/usr/bin/env python3
"""Initial subscription: subscribe to 100k rows until they are all in the client's cache.

One local server (``_chat_server.py``, its own process) holds ``--rows`` quickstart ``message``
rows. For each compression (None, Gzip) we time, from sending the subscription to having the
rows applied:

- ours: our SDK in asyncio mode, ``await conn.subscription_builder().subscribe(SQL)`` (it
  resolves once every row is in the cache), in this process;
- TS: the official TypeScript client (npm ``spacetimedb``) in Node, timed inside Node from
  ``subscribe()`` to ``onApplied`` (``node/src/bench_initial_subscribe.mjs``);
- floor: a bare ``websockets`` reader that sends the same ``Subscribe`` frame and receives the
  ``SubscribeApplied`` frame, decompressing it and nothing else. It is what the server and the
  socket cost; ``ours - floor`` is what our client adds.

Every sample runs on a fresh connection (connecting is not timed). The three sides take turns,
one sample each per round (so they share the machine's load), after warm-up rounds; each side
keeps its best sample. After timing, each side's cache is checked against the
server's table (row count, sum of ``sent``, total text bytes; the floor's frame is decoded and
its rows counted), so a client that drops or garbles rows fails instead of winning.

Run: ``make bench`` or ``.venv/bin/python bench/initial_subscribe.py [--rows N]``. Times are
one run's on one machine: compare the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from _clients import (
    SQL,
    SUBSCRIBE_APPLIED_TAG,
    SUBSCRIPTION_ERROR_TAG,
    TIMEOUT,
    ChatServer,
    Digest,
    JsonLinesChild,
    add_sampling_args,
    check_digest,
    digest_of,
    inflate,
    interleaved,
    node_child,
    our_connection,
    raw_socket,
    recv_frame,
    subscribe_frame,
)
from _summary import record
from _util import format_table

from spacetimedb_sdk.protocol import decode_server_message
from spacetimedb_sdk.protocol import messages as m

NODE_SCRIPT = "bench_initial_subscribe.mjs"


@dataclass
class CaseResult:
    """The best time of each side for one compression, and the size of what crossed the wire."""

    compression: str
    ours: float = 0.0
    ts: float = 0.0
    floor: float = 0.0
    wire_bytes: int = 0


async def ours_sample(server: ChatServer, compression: str) -> float:
    """One subscribe on a fresh connection of our SDK; checks the cache afterwards."""
    conn = await our_connection(server, compression)
    try:
        start = time.perf_counter()
        await asyncio.wait_for(conn.subscription_builder().subscribe(SQL), TIMEOUT)
        seconds = time.perf_counter() - start
        check_digest(f"ours/{compression}", digest_of(conn), server.digest())
    finally:
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
    return seconds


class FloorSample:
    """One subscribe on a bare socket: send, receive until SubscribeApplied, inflate."""

    def __init__(self, server: ChatServer, compression: str) -> None:
        self.server = server
        self.compression = compression
        self.wire_bytes = 0

    async def __call__(self) -> float:
        ws = await raw_socket(self.server, self.compression)
        try:
            frame = subscribe_frame(ws.subprotocol)
            wire = 0
            start = time.perf_counter()
            await ws.send(frame)
            while True:
                data = await recv_frame(ws)
                wire += len(data)
                body = inflate(data)
                if body[0] in (SUBSCRIBE_APPLIED_TAG, SUBSCRIPTION_ERROR_TAG):
                    break
            seconds = time.perf_counter() - start
        finally:
            await asyncio.wait_for(ws.close(), TIMEOUT)
        self.wire_bytes = wire
        self.check(bytes(body))
        return seconds

    def check(self, body: bytes) -> None:
        """Decode the frame (untimed) and count its rows: the floor must see the whole table."""
        message, _ = decode_server_message(body)
        if not isinstance(message, m.SubscribeApplied):
            raise SystemExit(f"floor/{self.compression}: expected SubscribeApplied, got {message}")
        rows = sum(len(t.rows) for t in message.rows.tables)
        if rows != self.server.digest().rows:
            raise SystemExit(f"floor/{self.compression}: {rows} rows, expected {self.server.rows}")


async def ts_sample(node: JsonLinesChild, server: ChatServer, compression: str) -> float:
    """One sample of the Node client (seconds), after checking its cache digest."""
    await node.send({"cmd": "sample"})
    result = await node.expect("sample")
    check_digest(f"TS/{compression}", Digest.of_json(result["digest"]), server.digest())
    return float(result["ms"]) / 1000


async def measure_case(
    server: ChatServer, compression: str, repetitions: int, warmup: int
) -> CaseResult:
    """All three sides of one compression, their samples interleaved round by round."""
    args = ["--uri", server.url, "--db", server.database, "--compression", compression]
    floor = FloorSample(server, compression)
    async with node_child(NODE_SCRIPT, args) as node:
        sides: dict[str, Callable[[], Awaitable[float]]] = {
            "ours": lambda: ours_sample(server, compression),
            "TS": lambda: ts_sample(node, server, compression),
            "floor": floor,
        }
        samples = await interleaved(sides, repetitions=repetitions, warmup=warmup)
    return CaseResult(
        compression,
        ours=min(samples["ours"]),
        ts=min(samples["TS"]),
        floor=min(samples["floor"]),
        wire_bytes=floor.wire_bytes,
    )


def report(rows: int, results: list[CaseResult]) -> str:
    header = ["compression", "rows", "wire MB", "floor ms", "TS ms", "ours ms"]
    header += ["ours/TS", "ours/floor", "ours-floor ms", "TS-floor ms"]
    lines = [
        [
            r.compression,
            f"{rows:,}",
            f"{r.wire_bytes / 1e6:.1f}",
            f"{r.floor * 1000:.0f}",
            f"{r.ts * 1000:.0f}",
            f"{r.ours * 1000:.0f}",
            f"{r.ours / r.ts:.2f}",
            f"{r.ours / r.floor:.2f}",
            f"{(r.ours - r.floor) * 1000:.0f}",
            f"{(r.ts - r.floor) * 1000:.0f}",
        ]
        for r in results
    ]
    return format_table(header, lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="message rows (100000)")
    add_sampling_args(parser)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> list[CaseResult]:
    compressions = args.compression or ["none", "gzip"]
    async with ChatServer(args.rows) as server:
        return [await measure_case(server, c, args.repetitions, args.warmup) for c in compressions]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    results = asyncio.run(run(args))
    print(
        f"initial subscription to {args.rows:,} message rows; best of {args.repetitions} "
        f"after {args.warmup} warm-up, fresh connection per sample "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print(report(args.rows, results))
    print("ours/TS above 1 means our SDK is slower; *-floor is what each client adds.")
    record("subscribe_vs_ts", [r.ours / r.ts for r in results])
    record("subscribe_vs_floor", [r.ours / r.floor for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
