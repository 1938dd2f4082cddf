"""DbConnection against misbehaving servers: clear errors, on_disconnect called, nothing hangs."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Response

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.errors import ConnectError, DisconnectedError, ProtocolError
from spacetimedb_sdk.schema import ModuleSchema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SCHEMA = ModuleSchema.from_json((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())
HELLO = (FIXTURES / "protocol" / "frames" / "v2_none_InitialConnection.bin").read_bytes()
TIMEOUT = 10


@asynccontextmanager
async def fake_server(
    handler: Callable[[ServerConnection], Awaitable[None]],
    *,
    process_request: Any = None,
) -> AsyncIterator[str]:
    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["v2.bsatn.spacetimedb"],  # type: ignore[list-item]
        process_request=process_request,
        compression=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"http://127.0.0.1:{port}"


def builder(uri: str) -> Any:
    return (
        DbConnection.builder(schema=SCHEMA)
        .with_uri(uri)
        .with_database_name("chat")
        .with_connect_timeout(2)
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_refused_connection_is_a_connect_error() -> None:
    errors: list[Exception] = []
    b = builder(f"http://127.0.0.1:{free_port()}").on_connect_error(lambda ctx, e: errors.append(e))
    with pytest.raises(ConnectError, match="cannot reach"):
        await asyncio.wait_for(b.connect(), TIMEOUT)
    assert len(errors) == 1 and isinstance(errors[0], ConnectError)


async def test_server_that_never_sends_initial_connection_times_out() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()

    async with fake_server(silent) as uri:
        with pytest.raises(ConnectError, match="no InitialConnection within"):
            await asyncio.wait_for(builder(uri).with_connect_timeout(0.3).connect(), TIMEOUT)


async def test_http_401_names_the_token_problem() -> None:
    def reject(conn: ServerConnection, request: Any) -> Response:
        return Response(401, "Unauthorized", Headers(), b"Authorization failed: InvalidSignature")

    async def never(ws: ServerConnection) -> None:  # pragma: no cover - never reached
        await ws.wait_closed()

    async with fake_server(never, process_request=reject) as uri:
        with pytest.raises(ConnectError, match=r"HTTP 401.*token"):
            await asyncio.wait_for(builder(uri).with_token("eyJx.y.z").connect(), TIMEOUT)


async def test_rejected_before_initial_connection() -> None:
    async def drop(ws: ServerConnection) -> None:
        ws.transport.abort()

    async with fake_server(drop) as uri:
        with pytest.raises(ConnectError):
            await asyncio.wait_for(builder(uri).connect(), TIMEOUT)


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x63",  # unknown ServerMessage tag
        b"\x09\x00",  # unknown compression tag
        b"\x00\x06\x00\x00",  # truncated ReducerResult
        b"\x02not gzip at all",  # corrupt gzip
    ],
)
async def test_malformed_frame_ends_connection_cleanly(frame: bytes) -> None:
    got_frame = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()  # the client's reducer call
        got_frame.set()
        await ws.send(frame)
        await ws.wait_closed()

    disconnected: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    async with fake_server(handler) as uri:
        conn = await asyncio.wait_for(
            builder(uri).on_disconnect(lambda ctx, err: disconnected.set_result(err)).connect(),
            TIMEOUT,
        )
        call = conn.reducers.set_name(name="x")
        err = await asyncio.wait_for(disconnected, TIMEOUT)
        assert isinstance(err, ProtocolError)
        with pytest.raises(DisconnectedError):
            await asyncio.wait_for(call, TIMEOUT)
        assert not conn.is_active


async def test_abrupt_close_reports_disconnect_and_fails_calls() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.recv()
        ws.transport.abort()

    disconnected: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
    async with fake_server(handler) as uri:
        conn = await asyncio.wait_for(
            builder(uri).on_disconnect(lambda ctx, err: disconnected.set_result(err)).connect(),
            TIMEOUT,
        )
        call = conn.reducers.send_message(text="hi")
        err = await asyncio.wait_for(disconnected, TIMEOUT)
        assert err is not None
        with pytest.raises(DisconnectedError):
            await asyncio.wait_for(call, TIMEOUT)
        with pytest.raises(DisconnectedError):
            conn.reducers.send_message(text="after")


async def test_clean_disconnect_passes_none() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.wait_closed()

    errors: list[Exception | None] = []
    async with fake_server(handler) as uri:
        conn = await asyncio.wait_for(
            builder(uri).on_disconnect(lambda ctx, e: errors.append(e)).connect(), TIMEOUT
        )
        assert conn.is_active and conn.identity is not None
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
        assert errors == [None] and not conn.is_active


async def test_callback_exceptions_do_not_kill_the_connection() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.wait_closed()

    def boom(*args: Any) -> None:
        raise RuntimeError("user bug")

    caught: list[Exception] = []
    async with fake_server(handler) as uri:
        conn = await asyncio.wait_for(
            builder(uri).on_connect(boom).on_callback_error(caught.append).connect(), TIMEOUT
        )
        assert conn.is_active
        assert [str(e) for e in caught] == ["user bug"]
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)


async def test_bad_arguments_fail_in_the_caller() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.wait_closed()

    async with fake_server(handler) as uri:
        conn = await asyncio.wait_for(builder(uri).connect(), TIMEOUT)
        with pytest.raises(TypeError, match="unexpected keyword argument 'nme'"):
            conn.reducers.set_name(nme="x")
        with pytest.raises(TypeError, match="missing required arguments"):
            conn.reducers.set_name()
        with pytest.raises(ValueError):
            conn.reducers.set_name(name=5)
        with pytest.raises(AttributeError, match="no reducer named 'set_nam'"):
            conn.reducers.set_nam  # noqa: B018
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
