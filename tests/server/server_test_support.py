"""Shared by the host, app and LocalServer tests: a test module and a raw WebSocket client.

The client speaks the protocol with our codec over the ``websockets`` library, so
the tests see exactly the frames the server sends.  Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from spacetimedb_sdk import Identity, ScheduleAt, TimeDuration, Timestamp
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_server_frame,
    encode_client_frame,
)
from spacetimedb_sdk.sats import I64, U32, U64
from spacetimedb_sdk.server import (
    Module,
    ProcedureContext,
    ReducerContext,
    SenderError,
    column,
)

ROOT = Path(__file__).resolve().parents[2]
CHAT_PATH = ROOT / "examples" / "quickstart-chat" / "module.py"
TIMEOUT = 10.0


def load_chat() -> ModuleType:
    """The quickstart-chat example as a fresh Python module (its own Module object)."""
    name = f"chat_example_{len(sys.modules)}"
    spec = importlib.util.spec_from_file_location(name, CHAT_PATH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


# ---- a module exercising what the host does --------------------------------------------------

game = Module("host-test")


@game.table(public=True)
class Counter:
    id: U32 = column(primary_key=True)
    n: U64


@game.table(public=True)
class Log:
    id: U64 = column(primary_key=True, auto_inc=True)
    text: str


@game.table(public=True)
class Banned:
    identity: Identity = column(primary_key=True)


@game.table(public=True)
class Blob:
    id: U32 = column(primary_key=True)
    data: str


@game.table(scheduled="on_tick", public=True)
class Ticker:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    label: str


@game.table(scheduled="on_ping", public=True)
class PingTimer:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    label: str


@game.init
def init(ctx: ReducerContext) -> None:
    ctx.db.counter.insert(Counter(1, 0))  # type: ignore[call-arg]


@game.client_connected
def connected(ctx: ReducerContext) -> None:
    if ctx.db.banned.identity.find(ctx.sender) is not None:
        raise SenderError("you are banned")
    ctx.db.log.insert(Log(0, f"connected {ctx.sender.to_hex()[:8]}"))  # type: ignore[call-arg]


@game.client_disconnected
def disconnected(ctx: ReducerContext) -> None:
    ctx.db.log.insert(Log(0, f"disconnected {ctx.sender.to_hex()[:8]}"))  # type: ignore[call-arg]


@game.reducer
def bump(ctx: ReducerContext, by: U32) -> None:
    row = ctx.db.counter.id.find(1)
    ctx.db.counter.id.update(Counter(1, row.n + by))  # type: ignore[call-arg]


@game.reducer
def fail(ctx: ReducerContext) -> None:
    ctx.db.counter.id.update(Counter(1, 999))  # type: ignore[call-arg]
    raise SenderError("nope")


@game.reducer
def crash(ctx: ReducerContext) -> None:
    raise RuntimeError("boom")


@game.reducer
def fill(ctx: ReducerContext, count: U32, size: U32) -> None:
    for i in range(count):
        ctx.db.blob.insert(Blob(i, "x" * size))  # type: ignore[call-arg]


@game.reducer
def schedule_every(ctx: ReducerContext, micros: I64, label: str) -> None:
    at = ScheduleAt.Interval(TimeDuration(micros))
    ctx.db.ticker.insert(Ticker(0, at, label))  # type: ignore[call-arg]


@game.reducer
def schedule_in(ctx: ReducerContext, micros: I64, label: str) -> None:
    at = ScheduleAt.Time(Timestamp(ctx.timestamp.micros + micros))
    ctx.db.ticker.insert(Ticker(0, at, label))  # type: ignore[call-arg]


@game.reducer
def cancel(ctx: ReducerContext, scheduled_id: U64) -> None:
    ctx.db.ticker.scheduled_id.delete(scheduled_id)


@game.reducer
def on_tick(ctx: ReducerContext, timer: Ticker) -> None:
    ctx.db.log.insert(Log(0, f"tick {timer.label}"))  # type: ignore[call-arg]


@game.procedure
def on_ping(ctx: ProcedureContext, timer: PingTimer) -> None:
    ctx.with_tx(lambda tx: tx.db.log.insert(Log(0, f"ping {timer.label}")))  # type: ignore[call-arg]


@game.procedure
def add(ctx: ProcedureContext, a: U32, b: U32) -> U32:
    return a + b


@game.procedure
def log_twice(ctx: ProcedureContext, text: str) -> U32:
    for i in range(2):
        ctx.with_tx(lambda tx, i=i: tx.db.log.insert(Log(0, f"{text} {i}")))  # type: ignore[call-arg,misc]
    return 2


@game.procedure
def explode(ctx: ProcedureContext) -> U32:
    raise ValueError("kaput")


def decode_rows(module: Module, table: str, rows: m.BsatnRowList) -> list[Any]:
    codec = module.row_codec(table)
    return [codec.decode(r) for r in rows.rows()]


def args(module: Module, function: str, *values: Any) -> bytes:
    """BSATN arguments of a reducer or procedure, given by position."""
    fn = module.reducer_def(function) or module.procedure_def(function)
    assert fn is not None, function
    names = [e.name for e in fn.params.elements]
    return module.args_codec(fn).encode(dict(zip(names, values, strict=True)))


def table_changes(
    update: m.TransactionUpdate | m.ReducerOk, table: str
) -> tuple[list[bytes], list[bytes]]:
    """(inserted rows, deleted rows) of one table across an update's query sets."""
    tu = update.transaction_update if isinstance(update, m.ReducerOk) else update
    ins: list[bytes] = []
    dels: list[bytes] = []
    for qs in tu.query_sets:
        for t in qs.tables:
            if t.table_name != table:
                continue
            for rows in t.rows:
                if isinstance(rows, m.PersistentTableRows):
                    ins += rows.inserts.rows()
                    dels += rows.deletes.rows()
                else:
                    ins += rows.events.rows()
    return ins, dels


# ---- a raw protocol client ------------------------------------------------------------------


class WsClient:
    """A WebSocket speaking v2/v3 frames with our codec."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.protocol = ws.subprotocol or SUBPROTOCOL_V2
        self._pending: list[m.ServerMessage] = []
        self.frames: list[bytes] = []
        self._request_id = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        protocols: Sequence[str] = (SUBPROTOCOL_V3, SUBPROTOCOL_V2),
        compression: str | None = "None",
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> WsClient:
        params = dict(query or {})
        if compression is not None:
            params["compression"] = compression
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        ws = await asyncio.wait_for(
            connect(
                f"{url}?{qs}" if qs else url,
                subprotocols=list(protocols),  # type: ignore[arg-type]
                additional_headers=hdrs,
                max_size=None,
                open_timeout=TIMEOUT,
                compression=None,
            ),
            TIMEOUT,
        )
        return cls(ws)

    @property
    def response_headers(self) -> Any:
        assert self.ws.response is not None
        return self.ws.response.headers

    def next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    async def send(self, *messages: m.ClientMessage) -> None:
        await self.ws.send(encode_client_frame(list(messages), self.protocol))

    async def send_raw(self, data: bytes | str) -> None:
        await self.ws.send(data)

    async def recv_frame(self) -> bytes:
        data = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        assert isinstance(data, bytes), f"expected a binary frame, got {data!r}"
        self.frames.append(data)
        return data

    async def recv(self) -> m.ServerMessage:
        if not self._pending:
            self._pending = decode_server_frame(await self.recv_frame(), self.protocol)
        return self._pending.pop(0)

    async def recv_type(self, kind: type[Any]) -> Any:
        msg = await self.recv()
        assert isinstance(msg, kind), f"expected {kind.__name__}, got {msg!r}"
        return msg

    async def initial(self) -> m.InitialConnection:
        result: m.InitialConnection = await self.recv_type(m.InitialConnection)
        return result

    async def closed(self) -> tuple[int | None, str | None]:
        """Wait for the close; (code, reason) of the server's close frame, or (None, None)."""
        try:
            while True:
                data = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
                if isinstance(data, bytes):
                    self.frames.append(data)
        except ConnectionClosed as e:
            if e.rcvd is None:
                return None, None
            return e.rcvd.code, e.rcvd.reason

    async def call(self, module: Module, reducer: str, *values: Any) -> m.ReducerResult:
        rid = self.next_request_id()
        await self.send(m.CallReducer(rid, 0, reducer, args(module, reducer, *values)))
        while True:
            msg = await self.recv()
            if isinstance(msg, m.ReducerResult) and msg.request_id == rid:
                return msg

    async def subscribe(self, query_set_id: int, *queries: str) -> m.SubscribeApplied:
        rid = self.next_request_id()
        await self.send(m.Subscribe(rid, query_set_id, list(queries)))
        msg = await self.recv()
        assert isinstance(msg, m.SubscribeApplied), msg
        assert msg.request_id == rid
        return msg

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), TIMEOUT)
