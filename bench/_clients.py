"""Helpers for the client benchmarks (not a benchmark itself): the server child, Node children,
the raw WebSocket floor and our SDK's connection, all against one local quickstart-chat database.

Every wait here is bounded (``TIMEOUT``), every socket goes to 127.0.0.1, and every child process
is ended by the context manager that started it.

Example::

    async with ChatServer(rows=1000) as server:
        conn = await our_connection(server, "gzip")
        ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import shutil
import sys
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from _util import NODE_DIR, ROOT
from websockets.asyncio.client import ClientConnection, connect

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.connection.transport import DEFAULT_SUBPROTOCOLS, subscribe_url
from spacetimedb_sdk.protocol import Compression, encode_client_frame
from spacetimedb_sdk.protocol import messages as m

T = TypeVar("T")
TIMEOUT = 300.0
"""Upper bound on any single wait (a sample, a child's answer); generous for slow machines."""
SQL = "SELECT * FROM message"
COMPRESSIONS = {"none": Compression.NONE, "gzip": Compression.GZIP}


def add_sampling_args(parser: argparse.ArgumentParser) -> None:
    """The options every client benchmark shares: samples, warm-up and compressions."""
    parser.add_argument("--repetitions", type=int, default=5, help="timed samples, best kept (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed samples first (1)")
    parser.add_argument(
        "--compression",
        choices=sorted(COMPRESSIONS),
        action="append",
        help="only this compression (repeatable; default: none and gzip)",
    )


SERVER_SCRIPT = Path(__file__).resolve().parent / "_chat_server.py"
# The ServerMessage tags the floor looks for without decoding anything else.
SUBSCRIBE_APPLIED_TAG = 1
SUBSCRIPTION_ERROR_TAG = 3


@dataclass(frozen=True)
class Digest:
    """What a client's ``message`` cache must add up to: rows, Σ sent (µs), Σ UTF-8 text bytes."""

    rows: int
    sent_sum: int
    text_bytes: int

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> Digest:
        return cls(int(data["rows"]), int(data["sent_sum"]), int(data["text_bytes"]))


def digest_of(conn: DbConnection) -> Digest:
    """The digest of our SDK's ``message`` cache (untimed: after the measurement)."""
    rows = sent = text = 0
    for row in conn.db.message:
        rows += 1
        sent += row.sent.micros
        text += len(row.text.encode())
    return Digest(rows, sent, text)


def check_digest(who: str, got: Digest, want: Digest) -> None:
    """Fail the benchmark, naming the side and the field, unless the caches agree."""
    if got != want:
        raise SystemExit(f"{who}: the client's message cache is wrong: got {got}, expected {want}")


# ---- child processes -----------------------------------------------------------------------------


class JsonLinesChild:
    """A child process that reads JSON commands on stdin and writes JSON events on stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name

    @classmethod
    async def start(cls, argv: Sequence[str], *, name: str, cwd: Path) -> JsonLinesChild:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        return cls(proc, name)

    async def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await asyncio.wait_for(self.proc.stdin.drain(), TIMEOUT)

    async def event(self) -> dict[str, Any]:
        """The next event; a child that exits or reports an error fails the benchmark."""
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
        if not line:
            raise SystemExit(f"{self.name} exited early:\n{await self.stderr()}")
        event: dict[str, Any] = json.loads(line)
        if event.get("event") == "error":
            raise SystemExit(f"{self.name} failed: {event.get('error')}")
        return event

    async def expect(self, kind: str) -> dict[str, Any]:
        event = await self.event()
        if event.get("event") != kind:
            raise SystemExit(f"{self.name}: expected a {kind!r} event, got {event}")
        return event

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        with contextlib.suppress(TimeoutError):
            data = await asyncio.wait_for(self.proc.stderr.read(), 10)
            return data.decode(errors="replace").strip()
        return "(no stderr within 10 s)"

    async def close(self) -> None:
        """Close stdin (the child's signal to stop), then make sure it is gone."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await asyncio.wait_for(self.proc.wait(), 30)


class ChatServer:
    """``_chat_server.py`` as a child: its own interpreter, so it never shares our GIL."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.child: JsonLinesChild | None = None
        self.ready: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def database(self) -> str:
        return str(self.ready["database"])

    def digest(self) -> Digest:
        """What the table held at start (see ``_chat_server.py``)."""
        return Digest.of_json(self.ready)

    async def command(self, command: dict[str, Any], answer: str) -> dict[str, Any]:
        assert self.child is not None
        await self.child.send(command)
        return await self.child.expect(answer)

    async def __aenter__(self) -> ChatServer:
        argv = [sys.executable, str(SERVER_SCRIPT), "--rows", str(self.rows)]
        self.child = await JsonLinesChild.start(argv, name="the chat server", cwd=ROOT)
        self.ready = await self.child.expect("ready")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.child is not None:
            await self.child.close()


def node_argv(script: str, args: Sequence[str]) -> list[str]:
    """``node --expose-gc node/src/<script> args...``, after checking Node and the package.

    ``--expose-gc`` lets the scripts start each sample from a collected heap, as we do.
    """
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not on PATH; the TypeScript side needs Node 20 (see node/)")
    if not (NODE_DIR / "node_modules" / "spacetimedb").is_dir():
        raise SystemExit("node/node_modules is missing: run `make node` (npm ci in node/) first")
    return [node, "--expose-gc", str(NODE_DIR / "src" / script), *args]


@contextlib.asynccontextmanager
async def node_child(script: str, args: Sequence[str]) -> AsyncIterator[JsonLinesChild]:
    """A Node benchmark script under ``node/src`` as a JSON-lines child."""
    child = await JsonLinesChild.start(node_argv(script, args), name=script, cwd=NODE_DIR)
    try:
        yield child
    finally:
        await child.close()


# ---- the two clients on the Python side ----------------------------------------------------------


class Endpoint(Protocol):
    """Where a client connects: a :class:`ChatServer`, or something relaying to one."""

    @property
    def url(self) -> str: ...

    @property
    def database(self) -> str: ...


async def our_connection(server: Endpoint, compression: str) -> DbConnection:
    """A fresh connection of our SDK in asyncio mode (schema fetched at connect, untimed)."""
    builder = (
        DbConnection.builder()
        .with_uri(server.url)
        .with_database_name(server.database)
        .with_compression(compression)  # type: ignore[arg-type]
    )
    return await asyncio.wait_for(builder.connect(), TIMEOUT)


async def raw_socket(server: Endpoint, compression: str) -> ClientConnection:
    """A bare ``websockets`` connection offering the same subprotocols as both SDKs (v3, v2).

    Waits for the ``InitialConnection`` frame, so the caller starts on an established session.
    """
    url = subscribe_url(server.url, server.database, compression=COMPRESSIONS[compression])
    ws = await asyncio.wait_for(
        connect(
            url,
            subprotocols=list(DEFAULT_SUBPROTOCOLS),  # type: ignore[arg-type]
            compression=None,
            max_size=None,
        ),
        TIMEOUT,
    )
    await asyncio.wait_for(ws.recv(), TIMEOUT)
    return ws


async def recv_frame(ws: ClientConnection) -> bytes:
    """The next binary frame from the server (bounded wait); a text frame fails the benchmark."""
    data = await asyncio.wait_for(ws.recv(), TIMEOUT)
    if not isinstance(data, bytes):
        raise SystemExit(f"the server sent a text frame: {data[:80]!r}")
    return data


def subscribe_frame(protocol: str | None, query_set_id: int = 1) -> bytes:
    """The ``Subscribe`` client frame both SDKs send for :data:`SQL`."""
    message = m.Subscribe(request_id=query_set_id, query_set_id=query_set_id, query_strings=[SQL])
    return encode_client_frame([message], protocol or "")


def inserted_rows(messages: list[m.ServerMessage]) -> int:
    """Inserted rows in the TransactionUpdates of one frame (row lists' lengths, no decoding)."""
    n = 0
    for msg in messages:
        if isinstance(msg, m.TransactionUpdate):
            for qs in msg.query_sets:
                for table in qs.tables:
                    for rows in table.rows:
                        if isinstance(rows, m.PersistentTableRows):
                            n += len(rows.inserts)
    return n


def inflate(frame: bytes) -> memoryview:
    """A server frame's body: the bare minimum (no size bound, no copy when uncompressed)."""
    tag = frame[0]
    if tag == 0:
        return memoryview(frame)[1:]
    if tag == 2:
        return memoryview(zlib.decompress(memoryview(frame)[1:], 16 + zlib.MAX_WBITS))
    raise SystemExit(f"the floor reader got compression tag {tag}; it knows only 0 and 2")


def monotonic_ns() -> int:
    """The clock every side reports in: CLOCK_MONOTONIC, shared by all processes (and Node)."""
    return time.monotonic_ns()


# ---- sampling ------------------------------------------------------------------------------------


async def interleaved(
    sides: dict[str, Callable[[], Awaitable[T]]], *, repetitions: int, warmup: int
) -> dict[str, list[T]]:
    """Run every side once per round, ``warmup + repetitions`` rounds; keep the timed samples.

    Interleaving puts each side's samples in the same stretches of machine load, which matters
    on a shared machine where a block of one side's samples can catch a busy minute alone.

    Example::

        samples = await interleaved({"ours": ours, "TS": ts}, repetitions=5, warmup=1)
        best = {side: min(s) for side, s in samples.items()}
    """
    kept: dict[str, list[T]] = {side: [] for side in sides}
    for round_no in range(warmup + repetitions):
        for side, sample in sides.items():
            gc.collect()  # every sample starts from a collected heap (untimed), as in Node
            result = await sample()
            if round_no >= warmup:
                kept[side].append(result)
    return kept
