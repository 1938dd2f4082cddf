"""Reconnection against faults retrying cannot fix, and prompt failure when a socket dies (issue 12).

A fake WebSocket server (the ``websockets`` library) plays the misbehaving SpacetimeDB:
it rejects reconnection handshakes with HTTP statuses, closes with error codes, sends bad
frames and then stops answering.  Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from test_connection_bad_server import HELLO, TIMEOUT, builder, fake_server
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.connection.reconnect import retry_can_fix
from spacetimedb_sdk.errors import (
    ConnectError,
    ConnectionRejectedError,
    DisconnectedError,
    ProtocolError,
    RowDecodeError,
    ServerClosedError,
)
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.codec import encode_server_message

Handler = Callable[[ServerConnection], Awaitable[None]]


class Recorder:
    """The connection callbacks, as futures and lists."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.disconnected: asyncio.Future[Exception | None] = loop.create_future()
        self.reconnecting: list[tuple[Exception | None, int]] = []
        self.reconnected = asyncio.Event()
        self.disconnects = 0

    def on_disconnect(self, ctx: Any, err: Exception | None) -> None:
        self.disconnects += 1
        if not self.disconnected.done():
            self.disconnected.set_result(err)

    def builder(self, uri: str) -> Any:
        return (
            builder(uri)
            .with_reconnect(min_delay=0.01, max_delay=0.05, jitter=0.0)
            .on_disconnect(self.on_disconnect)
            .on_reconnecting(lambda c, e, n: self.reconnecting.append((e, n)))
            .on_reconnected(lambda c: self.reconnected.set())
        )


async def connect_watching(uri: str) -> tuple[DbConnection, asyncio.Future[Exception | None]]:
    """Connect without reconnection; the future gets ``on_disconnect``'s error."""
    disconnected: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    conn = await asyncio.wait_for(
        builder(uri).on_disconnect(lambda ctx, e: disconnected.set_result(e)).connect(), TIMEOUT
    )
    return conn, disconnected


def answer_then(status: int, body: bytes = b"") -> Any:
    """A process_request hook: the first handshake succeeds, later ones get ``status``."""
    seen = [0]

    def hook(conn: ServerConnection, request: Request) -> Response | None:
        seen[0] += 1
        if seen[0] == 1:
            return None
        return Response(status, "rejected", Headers(), body)

    return hook


def drop_after_first_message(release: asyncio.Event) -> Handler:
    """Send InitialConnection, wait for one client message, then drop the TCP connection."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()
        await release.wait()
        ws.transport.abort()

    return handler


def user_row(online: int) -> bytes:
    # quickstart-chat `user`: identity (32 bytes), name: Option<String> (1 = none), online: bool
    return b"\x0b" * 32 + b"\x01" + bytes([online])


def subscribe_applied(query_set_id: int, *rows: bytes) -> bytes:
    msg = m.SubscribeApplied(
        0,
        query_set_id,
        m.QueryRows([m.SingleTableRows("user", m.BsatnRowList.from_rows(list(rows)))]),
    )
    return b"\x00" + encode_server_message(msg)


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (401, r"HTTP 401 \(the server rejected the token.*clear saved credentials"),
        (403, r"HTTP 403 \(the server refused this client"),
        (404, r"HTTP 404 \(no such database.*deleted"),
    ],
)
async def test_reconnect_stops_on_a_rejected_handshake(status: int, says: str) -> None:
    """The server came back with another signing key (401), or without the database (404)."""
    release = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()  # the Subscribe
        await ws.send(subscribe_applied(1, user_row(1)))
        await release.wait()
        ws.transport.abort()

    rec = Recorder()
    async with fake_server(handler, process_request=answer_then(status, b"nope")) as uri:
        conn: DbConnection = await asyncio.wait_for(rec.builder(uri).connect(), TIMEOUT)
        handle = await asyncio.wait_for(
            conn.subscription_builder().subscribe("SELECT * FROM user"), TIMEOUT
        )
        assert conn.db.user.count() == 1
        release.set()
        err = await asyncio.wait_for(rec.disconnected, TIMEOUT)
        assert isinstance(err, ConnectionRejectedError) and err.status == status
        assert re.search(says, str(err)), str(err)
        # One attempt was made, and it was the last.
        assert [n for _, n in rec.reconnecting] == [0]
        assert not rec.reconnected.is_set() and not conn.is_active
        # The subscription handle has ended; the cache keeps the last confirmed rows.
        assert handle.is_ended and not handle.is_active
        assert conn.db.user.count() == 1
        # A call made now fails at once, and says why.
        with pytest.raises(DisconnectedError):
            conn.reducers.set_name(name="late")
        assert rec.disconnects == 1


async def test_calls_made_while_reconnecting_fail_with_the_fatal_cause() -> None:
    gate = asyncio.Event()
    handshakes = [0]

    def hook(conn: ServerConnection, request: Request) -> Response | None:
        handshakes[0] += 1
        if handshakes[0] == 1:
            return None
        return Response(401, "Unauthorized", Headers(), b"Authorization failed: InvalidSignature")

    release = asyncio.Event()
    rec = Recorder()

    def reconnecting(c: Any, e: Any, n: int) -> Awaitable[None]:
        rec.reconnecting.append((e, n))
        gate.set()
        return asyncio.sleep(0)

    async with fake_server(drop_after_first_message(release), process_request=hook) as uri:
        conn: DbConnection = await asyncio.wait_for(
            rec.builder(uri).on_reconnecting(reconnecting).connect(), TIMEOUT
        )
        first = conn.reducers.set_name(name="before the drop")
        release.set()  # the server drops the socket once it has the call
        with pytest.raises(DisconnectedError, match="reconnecting"):
            await asyncio.wait_for(first, TIMEOUT)
        await asyncio.wait_for(gate.wait(), TIMEOUT)
        queued = conn.reducers.set_name(name="while reconnecting")
        err = await asyncio.wait_for(rec.disconnected, TIMEOUT)
        assert isinstance(err, ConnectionRejectedError) and err.status == 401
        assert "InvalidSignature" in str(err)
        with pytest.raises(DisconnectedError, match=r"cannot be reopened.*HTTP 401") as info:
            await asyncio.wait_for(queued, TIMEOUT)
        assert info.value.__cause__ is err


async def test_transient_failures_keep_retrying() -> None:
    """503 and 429 answers are retried with backoff until the server accepts again."""
    statuses = iter([None, 503, 429, 502, None])

    def hook(conn: ServerConnection, request: Request) -> Response | None:
        status = next(statuses)
        return None if status is None else Response(status, "busy", Headers(), b"")

    release = asyncio.Event()
    rec = Recorder()
    async with fake_server(drop_after_first_message(release), process_request=hook) as uri:
        conn: DbConnection = await asyncio.wait_for(rec.builder(uri).connect(), TIMEOUT)
        conn.reducers.set_name.fire(name="x")
        release.set()
        await asyncio.wait_for(rec.reconnected.wait(), TIMEOUT)
        assert [n for _, n in rec.reconnecting] == [0, 1, 2, 3]
        errors = [e for e, _ in rec.reconnecting[1:]]
        assert [getattr(e, "status", None) for e in errors] == [503, 429, 502]
        assert not any(isinstance(e, ConnectionRejectedError) for e in errors)
        assert conn.is_active and not rec.disconnected.done()
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
        assert await rec.disconnected is None


@pytest.mark.parametrize(("code", "retried"), [(1013, True), (1011, True), (1008, False)])
async def test_server_close_codes(code: int, retried: bool) -> None:
    first = [True]

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        if first[0]:
            first[0] = False
            await ws.close(code, "because")
        else:
            await ws.wait_closed()

    rec = Recorder()
    async with fake_server(handler) as uri:
        conn: DbConnection = await asyncio.wait_for(rec.builder(uri).connect(), TIMEOUT)
        if retried:
            await asyncio.wait_for(rec.reconnected.wait(), TIMEOUT)
            err = rec.reconnecting[0][0]
            assert isinstance(err, ServerClosedError) and err.code == code
            await asyncio.wait_for(conn.disconnect(), TIMEOUT)
        else:
            err = await asyncio.wait_for(rec.disconnected, TIMEOUT)
            assert isinstance(err, ServerClosedError) and err.code == code
            assert err.reason == "because" and rec.reconnecting == []


async def test_protocol_error_ends_a_reconnecting_connection() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()
        await ws.send(b"\x00\x63")  # unknown ServerMessage tag
        await ws.wait_closed()

    rec = Recorder()
    async with fake_server(handler) as uri:
        conn: DbConnection = await asyncio.wait_for(rec.builder(uri).connect(), TIMEOUT)
        call = conn.reducers.set_name(name="x")
        err = await asyncio.wait_for(rec.disconnected, TIMEOUT)
        assert isinstance(err, ProtocolError) and "unknown ServerMessage tag" in str(err)
        with pytest.raises(DisconnectedError) as info:
            await asyncio.wait_for(call, TIMEOUT)
        assert info.value.__cause__ is err
        assert rec.reconnecting == [] and not conn.is_active


def test_retry_can_fix() -> None:
    assert retry_can_fix(None)
    assert retry_can_fix(ConnectError("cannot reach"))
    assert retry_can_fix(DisconnectedError("connection lost"))
    assert retry_can_fix(ServerClosedError(1013, "too many requests"))
    assert not retry_can_fix(ServerClosedError(1002, "bad frame"))
    assert not retry_can_fix(ConnectionRejectedError("HTTP 404", status=404))
    assert not retry_can_fix(ProtocolError("unknown tag"))
    assert not retry_can_fix(RuntimeError("a bug would only repeat"))


# ---- the transport dies: pending calls fail now, not after the closing handshake ---------------


def bad_frame_then_stall(frame: bytes, release: asyncio.Event) -> Handler:
    """Send ``frame`` after the client's first message, then stop reading: the client's close
    frame is never answered, so waiting for the closing handshake would take the transport's
    whole close timeout (5 s)."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()
        await ws.send(frame)
        ws.transport.pause_reading()
        await release.wait()
        ws.transport.abort()

    return handler


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x63",  # unknown ServerMessage tag
        b"\x02not gzip at all",  # corrupt compression
        "a text frame",
    ],
)
async def test_bad_frame_fails_pending_calls_without_waiting_for_the_close_handshake(
    frame: bytes | str,
) -> None:
    release = asyncio.Event()
    async with fake_server(bad_frame_then_stall(frame, release)) as uri:  # type: ignore[arg-type]
        conn, disconnected = await connect_watching(uri)
        call = conn.reducers.set_name(name="x")
        try:
            # Well under the 5 s close timeout: the failure does not wait for the handshake.
            err = await asyncio.wait_for(disconnected, 2.5)
            assert isinstance(err, ProtocolError)
            with pytest.raises(DisconnectedError):
                await asyncio.wait_for(call, 0.5)
        finally:
            release.set()


async def test_undecodable_row_reaches_on_disconnect_as_a_protocol_error() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()  # Subscribe
        await ws.send(subscribe_applied(1, user_row(1), user_row(7)))  # bool byte 7
        await ws.wait_closed()

    async with fake_server(handler) as uri:
        conn, disconnected = await connect_watching(uri)
        handle = conn.subscription_builder().subscribe("SELECT * FROM user")
        err = await asyncio.wait_for(disconnected, TIMEOUT)
        assert isinstance(err, RowDecodeError) and isinstance(err, ProtocolError)
        assert err.table == "user" and err.offset == 33
        assert "connection lost" not in str(err)
        with pytest.raises(DisconnectedError, match="table 'user' does not decode"):
            await asyncio.wait_for(handle, TIMEOUT)
        assert conn.db.user.count() == 0


def test_bad_frame_in_tick_mode_reports_one_disconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    """In tick mode the bad frame is found at a tick; the socket's later close is not a second
    disconnect."""
    # asyncio's debug mode (for the loops made below) raises when the network loop's objects are
    # touched from the ticking thread, which closing after a bad frame once did.
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()
        await ws.send(b"\x00\x63")
        await ws.wait_closed()

    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    box: list[str] = []
    ready = threading.Event()

    def run() -> None:
        async def main() -> None:
            async with fake_server(handler) as uri:
                box.append(uri)
                ready.set()
                await stop.wait()

        loop.run_until_complete(main())

    server_thread = threading.Thread(target=run, daemon=True)
    server_thread.start()
    assert ready.wait(TIMEOUT)
    errors: list[Exception | None] = []
    try:
        conn = (
            builder(box[0])
            .on_disconnect(lambda ctx, e: errors.append(e))
            .connect_sync(mode="tick", timeout=TIMEOUT)
        )
        call = conn.reducers.set_name(name="x")
        with pytest.raises(DisconnectedError):
            call.result(TIMEOUT)
        assert len(errors) == 1 and isinstance(errors[0], ProtocolError)
        conn.disconnect()
        for _ in range(5):  # later ticks bring nothing more
            conn.frame_tick()
        assert len(errors) == 1
    finally:
        loop.call_soon_threadsafe(stop.set)
        server_thread.join(TIMEOUT)
        loop.close()


@pytest.mark.parametrize("how", ["reset", "fin"])
async def test_socket_dying_without_a_close_frame_fails_calls_at_once(how: str) -> None:
    """The server's TCP connection ends (RST, or FIN) without a WebSocket close frame."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()
        if how == "reset":
            ws.transport.abort()
        else:
            ws.transport.close()
        await ws.wait_closed()

    async with fake_server(handler) as uri:
        conn, disconnected = await connect_watching(uri)
        call = conn.reducers.set_name(name="x")
        err = await asyncio.wait_for(disconnected, 2.5)  # well under the 5 s close timeout
        assert isinstance(err, DisconnectedError) and "connection lost" in str(err)
        with pytest.raises(DisconnectedError) as info:
            await asyncio.wait_for(call, 0.5)
        assert info.value.__cause__ is err
