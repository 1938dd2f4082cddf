#!/usr/bin/env python3
"""The local server under load: transaction fan-out, and one large initial subscription.

Both parts run the quickstart-chat module in a server process of its own
(``bench/_fanout_server.py``, ``LocalServer`` on 127.0.0.1), so the server and the clients
each get a core. The clients are raw ``websockets`` connections speaking v3 with our protocol
codec: cheap enough that the server is what gets measured.

1. Fan-out: ``--subscribers`` clients (100) subscribe to ``SELECT * FROM message``; one more
   client calls ``send_message`` ``--transactions`` times (10,000), keeping at most ``--window``
   calls unacknowledged. Reported: transactions/s (calls acknowledged by their
   ``ReducerResult``) and row updates delivered/s (every subscriber's inserts, until the last
   subscriber has all of them). Guard: every subscriber must receive exactly one insert per
   transaction, all of them the same bytes in the same order, and the first subscriber's rows
   decode to exactly the texts sent, in order; otherwise the run fails.
2. Initial subscription: the server's ``message`` table is filled with ``--rows`` (100,000) rows
   through the host's fixture API; a fresh client subscribes, and we time from sending
   ``Subscribe`` to ``SubscribeApplied`` received and decoded (then, separately, its rows
   decoded with the generic row codec), with compression None and Gzip, best of
   ``--repetitions``. Guard: the row count must match.

Durability: ``--data-dir`` serves from a fresh temporary data directory (every commit written
before its fan-out, synced in groups); ``--confirmed false`` makes the clients read unconfirmed
(by default v3 clients get confirmed reads: nothing before the sync).  Compare against a run
without ``--data-dir`` to see what durability costs.

Run: ``make bench`` or ``.venv/bin/python bench/server_fanout.py [--subscribers N] ...``.
Figures depend on the machine; every loop is bounded by ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from _util import FIXTURES, ROOT, format_table, rate
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V3,
    Compression,
    decode_server_frame,
    encode_client_frame,
)
from spacetimedb_sdk.sats import Typespace, bsatn

SERVER_SCRIPT = ROOT / "bench" / "_fanout_server.py"
#: Extra options for the server process (``--reducer-timeout``).
SERVER_OPTIONS: list[str] = []
#: Extra query parameters of every client's WebSocket URL (``confirmed=false``).
CLIENT_QUERY: list[str] = []
QUERY = "SELECT * FROM message"
V3 = Subprotocol(SUBPROTOCOL_V3)


class BenchFailure(Exception):
    """The run produced a wrong result (missing or garbled updates, wrong row count)."""


# ---- the server process ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def server_process(prefill: int, timeout: float) -> AsyncIterator[str]:
    """Start ``_fanout_server.py``; yields its ws:// base URL; ends it by closing its stdin."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER_SCRIPT),
        "--prefill",
        str(prefill),
        *SERVER_OPTIONS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise BenchFailure(f"the server process exited with {await proc.wait()}")
        ready = json.loads(line)
        if ready["rows"] != prefill:
            raise BenchFailure(f"server holds {ready['rows']} rows, expected {prefill}")
        yield "ws" + ready["url"][4:]
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


async def open_client(base: str, compression: Compression) -> ClientConnection:
    """A v3 connection; returns once ``InitialConnection`` has arrived."""
    url = f"{base}/v1/database/quickstart-chat/subscribe?compression={compression.query_value}"
    url += "".join(f"&{p}" for p in CLIENT_QUERY)
    # No permessage-deflate: the protocol compresses on its own.
    ws = await connect(url, subprotocols=[V3], max_size=None, compression=None, open_timeout=30)
    (first,) = decode_server_frame(await ws.recv(decode=False), SUBPROTOCOL_V3)
    if not isinstance(first, m.InitialConnection):
        raise BenchFailure(f"expected InitialConnection first, got {type(first).__name__}")
    return ws


def subscribe_frame(request_id: int) -> bytes:
    return encode_client_frame([m.Subscribe(request_id, request_id, [QUERY])], SUBPROTOCOL_V3)


def text_args(text: str) -> bytes:
    """BSATN of the product ``{text: String}``: a u32 length, then UTF-8."""
    data = text.encode()
    return len(data).to_bytes(4, "little") + data


def message_codec() -> bsatn.Codec:
    """The generic row codec of ``message``, from the official module definition fixture."""
    doc = json.loads((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())
    sections = {k: v for s in doc["V10"]["sections"] for k, v in s.items()}
    typespace = Typespace.from_json(sections["Typespace"]["types"])
    (table,) = [t for t in sections["Tables"] if t["source_name"] == "message"]
    return bsatn.codec_for(typespace[table["product_type_ref"]], typespace)


# ---- part 1: fan-out ------------------------------------------------------------------------


@dataclass
class Subscriber:
    """One subscribed connection: counts its inserted rows and digests their bytes."""

    ws: ClientConnection
    target: int
    keep_rows: bool = False
    count: int = 0
    frames: int = 0
    digest: Any = field(default_factory=hashlib.blake2b)
    kept: list[bytes] = field(default_factory=list)
    finished_at: float = 0.0

    async def subscribe(self) -> None:
        await self.ws.send(subscribe_frame(1))
        messages = decode_server_frame(await self.ws.recv(decode=False), SUBPROTOCOL_V3)
        if not isinstance(messages[0], m.SubscribeApplied):
            raise BenchFailure(f"expected SubscribeApplied, got {messages[0]!r}")

    async def receive(self) -> None:
        """Read until ``target`` rows have arrived (the caller bounds this with a timeout)."""
        while self.count < self.target:
            frame = await self.ws.recv(decode=False)
            self.frames += 1
            for msg in decode_server_frame(frame, SUBPROTOCOL_V3):
                if not isinstance(msg, m.TransactionUpdate):
                    raise BenchFailure(f"subscriber got an unexpected {type(msg).__name__}")
                self._count(msg)
        self.finished_at = time.perf_counter()

    def _count(self, msg: m.TransactionUpdate) -> None:
        for query_set in msg.query_sets:
            for table in query_set.tables:
                for rows in table.rows:
                    assert isinstance(rows, m.PersistentTableRows)
                    if len(rows.deletes):
                        raise BenchFailure("a subscriber was sent deletes; only inserts happen")
                    self.count += len(rows.inserts)
                    self.digest.update(rows.inserts.rows_data)
                    if self.keep_rows:
                        self.kept.append(rows.inserts.rows_data)


async def call_many(ws: ClientConnection, count: int, window: int) -> float:
    """Call ``send_message`` ``count`` times, ``window`` at most in flight; time of last ack."""
    free = asyncio.Semaphore(window)
    last_ack = 0.0

    async def acks() -> None:
        nonlocal last_ack
        acked = 0
        while acked < count:
            for msg in decode_server_frame(await ws.recv(decode=False), SUBPROTOCOL_V3):
                if not isinstance(msg, m.ReducerResult):
                    continue
                if not isinstance(msg.result, m.ReducerOk):
                    raise BenchFailure(f"send_message #{msg.request_id} failed: {msg.result!r}")
                acked += 1
                free.release()
        last_ack = time.perf_counter()

    reader = asyncio.create_task(acks())
    try:
        for i in range(count):
            await free.acquire()
            call = m.CallReducer(i, 0, "send_message", text_args(f"msg {i}"))
            await ws.send(encode_client_frame([call], SUBPROTOCOL_V3))
        await reader
    finally:
        reader.cancel()
    return last_ack


@dataclass
class FanoutResult:
    subscribers: int
    transactions: int
    window: int
    seconds_acked: float
    seconds_delivered: float
    frames: int


async def fanout(subscribers: int, transactions: int, window: int, timeout: float) -> FanoutResult:
    async with server_process(0, timeout) as base:
        conns = await asyncio.gather(
            *(open_client(base, Compression.NONE) for _ in range(subscribers))
        )
        subs = [Subscriber(ws, transactions, keep_rows=(i == 0)) for i, ws in enumerate(conns)]
        await asyncio.gather(*(s.subscribe() for s in subs))
        caller = await open_client(base, Compression.NONE)
        receivers = [asyncio.create_task(s.receive()) for s in subs]
        start = time.perf_counter()
        try:
            last_ack = await asyncio.wait_for(call_many(caller, transactions, window), timeout)
            await asyncio.wait_for(asyncio.gather(*receivers), timeout)
        except asyncio.TimeoutError:
            got = sorted(s.count for s in subs)
            raise BenchFailure(
                f"not done within {timeout} s: subscribers hold {got[0]}..{got[-1]} rows "
                f"of {transactions}"
            ) from None
        finally:
            for task in receivers:
                task.cancel()
            await asyncio.gather(caller.close(), *(ws.close() for ws in conns))
        verify_fanout(subs, transactions)
        return FanoutResult(
            subscribers,
            transactions,
            window,
            last_ack - start,
            max(s.finished_at for s in subs) - start,
            sum(s.frames for s in subs),
        )


def verify_fanout(subs: list[Subscriber], transactions: int) -> None:
    """Every subscriber saw the same rows; the first one's rows are exactly the texts sent."""
    counts = {s.count for s in subs}
    if counts != {transactions}:
        raise BenchFailure(f"subscribers received {sorted(counts)} rows, expected {transactions}")
    digests = {s.digest.hexdigest() for s in subs}
    if len(digests) != 1:
        raise BenchFailure(f"subscribers received different rows ({len(digests)} variants)")
    rows = message_codec().decode_rows(b"".join(subs[0].kept))
    texts = [row["text"] for row in rows]
    expected = [f"msg {i}" for i in range(transactions)]
    if texts != expected:
        first = next(i for i, (a, b) in enumerate(zip(texts, expected, strict=False)) if a != b)
        raise BenchFailure(f"row {first} reads {texts[first]!r}, expected {expected[first]!r}")


# ---- part 2: a large initial subscription ---------------------------------------------------


@dataclass
class InitialResult:
    compression: Compression
    rows: int
    wire_bytes: int
    seconds_applied: float
    seconds_rows: float


async def subscribe_once(
    base: str, compression: Compression, rows: int, codec: bsatn.Codec
) -> InitialResult:
    ws = await open_client(base, compression)
    try:
        start = time.perf_counter()
        await ws.send(subscribe_frame(1))
        frame = await ws.recv(decode=False)
        (applied,) = decode_server_frame(frame, SUBPROTOCOL_V3)
        applied_at = time.perf_counter()
        if not isinstance(applied, m.SubscribeApplied):
            raise BenchFailure(f"expected SubscribeApplied, got {type(applied).__name__}")
        (table,) = applied.rows.tables
        decoded = codec.decode_rows(table.rows.rows_data)
        rows_at = time.perf_counter()
    finally:
        await ws.close()
    if len(table.rows) != rows or len(decoded) != rows:
        raise BenchFailure(f"SubscribeApplied held {len(table.rows)} rows, expected {rows}")
    return InitialResult(compression, rows, len(frame), applied_at - start, rows_at - applied_at)


async def initial_subscription(rows: int, repetitions: int, timeout: float) -> list[InitialResult]:
    codec = message_codec()
    out = []
    async with server_process(rows, timeout) as base:
        for compression in (Compression.NONE, Compression.GZIP):
            runs = [
                await asyncio.wait_for(subscribe_once(base, compression, rows, codec), timeout)
                for _ in range(repetitions)
            ]
            out.append(min(runs, key=lambda r: r.seconds_applied))
    return out


# ---- report ---------------------------------------------------------------------------------


def report_fanout(r: FanoutResult) -> str:
    updates = r.subscribers * r.transactions
    header = ["fan-out", "subs", "tx", "window", "tx/s", "updates/s", "frames", "seconds"]
    row = [
        "send_message",
        str(r.subscribers),
        rate(r.transactions),
        str(r.window),
        rate(r.transactions / r.seconds_acked),
        rate(updates / r.seconds_delivered),
        rate(r.frames),
        f"{r.seconds_delivered:.2f}",
    ]
    return format_table(header, [row])


def report_initial(results: list[InitialResult]) -> str:
    header = ["initial subscription", "rows", "wire MB", "applied ms", "rows/s", "+decode ms"]
    rows = [
        [
            f"compression {r.compression.query_value}",
            rate(r.rows),
            f"{r.wire_bytes / 1e6:.2f}",
            f"{r.seconds_applied * 1e3:.0f}",
            rate(r.rows / r.seconds_applied),
            f"{r.seconds_rows * 1e3:.0f}",
        ]
        for r in results
    ]
    return format_table(header, rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=64, help="unacknowledged calls at most")
    parser.add_argument(
        "--rows", type=int, default=100_000, help="rows of the initial subscription"
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per phase at most")
    parser.add_argument(
        "--reducer-timeout",
        type=float,
        default=None,
        help="the server's time budget per reducer (0: none; default: the server's default), "
        "to measure what the budget costs",
    )
    parser.add_argument(
        "--data-dir",
        action="store_true",
        help="serve durably (--data-dir, a fresh temporary directory), to measure what the "
        "commit log and its syncs cost",
    )
    parser.add_argument(
        "--confirmed",
        choices=("true", "false"),
        default=None,
        help="the clients' confirmed-reads parameter (default: not sent, i.e. true for v3)",
    )
    args = parser.parse_args(argv)
    if args.reducer_timeout is not None:
        SERVER_OPTIONS[:] = ["--reducer-timeout", str(args.reducer_timeout)]
    if args.confirmed is not None:
        CLIENT_QUERY[:] = [f"confirmed={args.confirmed}"]
    for name in ("subscribers", "transactions", "window", "rows", "repetitions", "timeout"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive, not {getattr(args, name)}")
    if args.data_dir:
        with tempfile.TemporaryDirectory(prefix="fanout-data-") as data_dir:
            SERVER_OPTIONS.extend(["--data-dir", data_dir])
            return _run(args)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        fan = asyncio.run(fanout(args.subscribers, args.transactions, args.window, args.timeout))
        print(report_fanout(fan), flush=True)
        print("(every subscriber received every row, same bytes, same order)\n", flush=True)
        initial = asyncio.run(initial_subscription(args.rows, args.repetitions, args.timeout))
        print(report_initial(initial), flush=True)
        print(
            "(applied: Subscribe sent -> SubscribeApplied received and decoded, best of "
            f"{args.repetitions}; +decode: its rows to Python values)",
            flush=True,
        )
    except BenchFailure as e:
        print(f"server_fanout: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
