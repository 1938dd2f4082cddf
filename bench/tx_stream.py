#!/usr/bin/env python3
"""Transaction stream: 10k single-row transactions reaching a subscriber's on_insert callback.

One local server (``_chat_server.py``, its own process) serves quickstart-chat. For each sample
a subscriber connects, subscribes to ``SELECT * FROM message`` (empty table) and counts its
``on_insert`` calls; then the driver, the server process's main thread calling the host
directly (no socket, no reducer: one ``db.transaction()`` per message), commits ``--count``
messages as fast as it can. We time from the driver's first commit to the subscriber's
``count``-th insert callback. Both ends read CLOCK_MONOTONIC (``time.monotonic_ns`` and Node's
``process.hrtime``), so the two processes' readings compare directly.

Subscribers:

- ours: our SDK in asyncio mode, ``conn.db.message.on_insert(cb)``, in this process;
- TS: the official TypeScript client in Node, ``conn.db.message.onInsert(cb)``
  (``node/src/bench_tx_stream.mjs``);
- floor: a bare ``websockets`` reader that decompresses each frame, decodes its messages
  with our protocol codec (no row decoding) and counts inserted rows. This is the server's
  and the socket's pace; a client cannot beat it.

Compression None and Gzip (the server gathers queued messages into v3 frames of up to 512 KiB,
so under a burst Gzip applies here too). Every sample uses a fresh connection and an emptied
table; the three sides take turns, one sample each per round, after warm-up rounds, and each
keeps its best wall time and, separately, its least CPU time.

Read the CPU columns too: this local server commits and broadcasts slower than either client
consumes, so these wall times measure the server (see the floor), while a client's CPU time
(its whole process, from the first commit to its last callback) is what the client itself
costs.

Then the burst case (``--no-burst`` skips it): the subscribers connect through
``_burst_proxy.py``, which relays every byte between them and the server and, once a sample's
subscriber is ready, holds the server's frames until they carry all ``--count`` inserts and
writes them to the subscriber in one socket write. The same transactions, framed by the same
server, now arrive faster than any client reads them: the time from that write to the last
callback is the client's own pace. (The floor here is the bare ``websockets`` reader's pace,
no longer a bound.)

Correctness: every sample checks the insert count and the client's cache (rows, sum of
``sent``, text bytes) against the server's table.

Run: ``make bench`` or ``.venv/bin/python bench/tx_stream.py [--count N] [--no-burst]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _clients import (
    SQL,
    TIMEOUT,
    ChatServer,
    Digest,
    Endpoint,
    JsonLinesChild,
    add_sampling_args,
    check_digest,
    digest_of,
    inserted_rows,
    interleaved,
    monotonic_ns,
    node_child,
    our_connection,
    raw_socket,
    recv_frame,
    subscribe_frame,
)
from _summary import record
from _util import ROOT, format_table

from spacetimedb_sdk.protocol import decode_server_frame
from spacetimedb_sdk.protocol import messages as m

NODE_SCRIPT = "bench_tx_stream.mjs"
PROXY_SCRIPT = Path(__file__).resolve().parent / "_burst_proxy.py"


@dataclass(frozen=True)
class Sample:
    """One sample: wall seconds (first commit to last callback) and the client's CPU seconds."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Best:
    """The best of several samples: least wall time and least CPU time (each on its own)."""

    wall: float
    cpu: float

    @classmethod
    def of(cls, samples: list[Sample]) -> Best:
        return cls(min(s.wall for s in samples), min(s.cpu for s in samples))


@dataclass
class CaseResult:
    """Each side's best for one compression."""

    compression: str
    ours: Best
    ts: Best
    floor: Best


async def drive(server: ChatServer, count: int) -> dict[str, Any]:
    """Commit ``count`` single-row transactions; the reply carries ``t0_ns`` and the digest."""
    return await server.command({"cmd": "tx", "count": count}, "tx_done")


#: Starts the transactions once the subscriber is ready; returns the server's ``tx_done``
#: reply (with the digest) and the moment the stream started for the client (``t0_ns``).
Start = Callable[[], Coroutine[Any, Any, tuple[dict[str, Any], int]]]


def paced(server: ChatServer, count: int) -> Start:
    """The server commits and sends as it goes: the stream starts at the first commit."""

    async def start() -> tuple[dict[str, Any], int]:
        driven = await drive(server, count)
        return driven, int(driven["t0_ns"])

    return start


class BurstProxy:
    """``_burst_proxy.py`` as a child: relays to the server, holds a stream, releases it."""

    def __init__(self, server: ChatServer) -> None:
        self.server = server
        self.child: JsonLinesChild | None = None
        self.url = ""

    @property
    def database(self) -> str:
        return self.server.database

    async def __aenter__(self) -> BurstProxy:
        argv = [sys.executable, str(PROXY_SCRIPT), "--upstream", self.server.url]
        self.child = await JsonLinesChild.start(argv, name="the burst proxy", cwd=ROOT)
        self.url = str((await self.child.expect("ready"))["url"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.child is not None:
            await self.child.close()

    def start(self, count: int) -> Start:
        """The server commits all ``count`` while the proxy holds them; the stream starts
        when the proxy writes them to the client, all at once."""

        async def start() -> tuple[dict[str, Any], int]:
            assert self.child is not None
            await self.child.send({"cmd": "hold", "count": count})
            await self.child.expect("holding")
            driven = await drive(self.server, count)
            released = await self.child.expect("released")
            return driven, int(released["t0_ns"])

        return start


def check_count(who: str, inserts: int, count: int) -> None:
    if inserts != count:
        raise SystemExit(f"{who}: {inserts} insert callbacks, expected {count}")


async def ours_sample(
    server: ChatServer, at: Endpoint, start: Start, compression: str, count: int
) -> Sample:
    """One sample with our SDK as the subscriber (seconds from the stream's start to the last
    callback)."""
    await server.command({"cmd": "clear"}, "cleared")
    conn = await our_connection(at, compression)
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[int] = loop.create_future()
    inserts = 0

    def on_insert(_ctx: Any, _row: Any) -> None:
        nonlocal inserts
        inserts += 1
        if inserts == count:
            finished.set_result(monotonic_ns())

    try:
        conn.db.message.on_insert(on_insert)
        await asyncio.wait_for(conn.subscription_builder().subscribe(SQL), TIMEOUT)
        check_count(f"ours/{compression} at subscribe", inserts, 0)
        cpu = time.process_time()
        driven, t0 = await start()
        t_end = await asyncio.wait_for(finished, TIMEOUT)
        cpu = time.process_time() - cpu
        check_count(f"ours/{compression}", inserts, count)
        check_digest(f"ours/{compression}", digest_of(conn), Digest.of_json(driven))
    finally:
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
    return Sample((t_end - t0) / 1e9, cpu)


async def floor_sample(
    server: ChatServer, at: Endpoint, start: Start, compression: str, count: int
) -> Sample:
    """One sample with a bare socket: inflate, decode messages, count inserted rows."""
    await server.command({"cmd": "clear"}, "cleared")
    ws = await raw_socket(at, compression)
    protocol = ws.subprotocol or ""
    try:
        await ws.send(subscribe_frame(protocol))
        applied = decode_server_frame(await recv_frame(ws), protocol)
        if not isinstance(applied[0], m.SubscribeApplied):
            raise SystemExit(f"floor/{compression}: expected SubscribeApplied, got {applied[0]}")
        cpu = time.process_time()
        started = asyncio.create_task(start())
        inserts = 0
        while inserts < count:
            frame = await recv_frame(ws)
            inserts += inserted_rows(decode_server_frame(frame, protocol))
        t_end = monotonic_ns()
        cpu = time.process_time() - cpu
        driven, t0 = await asyncio.wait_for(started, TIMEOUT)
    finally:
        await asyncio.wait_for(ws.close(), TIMEOUT)
    check_count(f"floor/{compression}", inserts, count)
    if int(driven["rows"]) != count:
        raise SystemExit(f"floor/{compression}: the server holds {driven['rows']} rows")
    return Sample((t_end - t0) / 1e9, cpu)


async def ts_sample(
    node: JsonLinesChild, server: ChatServer, start: Start, compression: str, count: int
) -> Sample:
    """One sample with the Node subscriber (one Node process runs all samples: it stays warm)."""
    await server.command({"cmd": "clear"}, "cleared")
    await node.send({"cmd": "sample"})
    await node.expect("ready")
    driven, t0 = await start()
    done = await node.expect("done")
    check_count(f"TS/{compression}", int(done["inserts"]), count)
    check_digest(f"TS/{compression}", Digest.of_json(done["digest"]), Digest.of_json(driven))
    wall = (int(done["t_end_ns"]) - t0) / 1e9
    return Sample(wall, float(done["cpu_us"]) / 1e6)


async def measure_case(
    server: ChatServer,
    at: Endpoint,
    start: Start,
    compression: str,
    args: argparse.Namespace,
) -> CaseResult:
    """All three sides of one compression, their samples interleaved round by round."""
    count = args.count
    node_args = ["--uri", at.url, "--db", at.database, "--compression", compression]
    node_args += ["--count", str(count)]
    async with node_child(NODE_SCRIPT, node_args) as node:
        samples = await interleaved(
            {
                "ours": lambda: ours_sample(server, at, start, compression, count),
                "TS": lambda: ts_sample(node, server, start, compression, count),
                "floor": lambda: floor_sample(server, at, start, compression, count),
            },
            repetitions=args.repetitions,
            warmup=args.warmup,
        )
    best = {side: Best.of(s) for side, s in samples.items()}
    return CaseResult(compression, best["ours"], best["TS"], best["floor"])


def report(count: int, results: list[CaseResult]) -> str:
    header = ["compression", "txs", "floor ms", "TS ms", "ours ms", "ours tx/s"]
    header += ["ours/TS", "ours/floor", "TS CPU ms", "ours CPU ms", "CPU ours/TS"]
    lines = [
        [
            r.compression,
            f"{count:,}",
            f"{r.floor.wall * 1000:.0f}",
            f"{r.ts.wall * 1000:.0f}",
            f"{r.ours.wall * 1000:.0f}",
            f"{count / r.ours.wall:,.0f}",
            f"{r.ours.wall / r.ts.wall:.2f}",
            f"{r.ours.wall / r.floor.wall:.2f}",
            f"{r.ts.cpu * 1000:.0f}",
            f"{r.ours.cpu * 1000:.0f}",
            f"{r.ours.cpu / r.ts.cpu:.2f}",
        ]
        for r in results
    ]
    return format_table(header, lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000, help="transactions (10000)")
    parser.add_argument(
        "--burst",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the burst case: the stream held by a proxy and released at once (on)",
    )
    add_sampling_args(parser)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> tuple[list[CaseResult], list[CaseResult]]:
    """The paced cases, then (``--burst``) the burst cases, one per compression each."""
    if args.count < 1:
        raise SystemExit("--count must be at least 1")
    compressions = args.compression or ["none", "gzip"]
    async with ChatServer(0) as server:
        at_pace = paced(server, args.count)
        steady = [await measure_case(server, server, at_pace, c, args) for c in compressions]
        if not args.burst:
            return steady, []
        async with BurstProxy(server) as proxy:
            at_once = proxy.start(args.count)
            burst = [await measure_case(server, proxy, at_once, c, args) for c in compressions]
        return steady, burst


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    steady, burst = asyncio.run(run(args))
    print(
        f"{args.count:,} single-row transactions to one subscriber; best of {args.repetitions} "
        f"after {args.warmup} warm-up ({time.perf_counter() - started:.0f} s)"
    )
    print("Paced by the server (wall time from its first commit):")
    print(report(args.count, steady))
    print("ours/TS above 1 means our SDK is slower; the floor is the server's and socket's pace.")
    record("tx_cpu", [r.ours.cpu / r.ts.cpu for r in steady])
    record("tx_wall", [r.ours.wall / r.ts.wall for r in steady])
    if burst:
        print()
        print("Burst: the same transactions held by a proxy and written at once (wall time from")
        print("that write): the client's own pace; the floor is a bare websockets reader's.")
        print(report(args.count, burst))
        record("tx_burst_wall", [r.ours.wall / r.ts.wall for r in burst])
    return 0


if __name__ == "__main__":
    sys.exit(main())
