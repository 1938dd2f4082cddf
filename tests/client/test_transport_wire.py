"""The WebSocket transport's own duties, against a bare ``websockets`` server: message
assembly, order and backpressure, text frames, the direct frame handler, keepalive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from spacetimedb_sdk.connection import transport as transport_module
from spacetimedb_sdk.connection.transport import WebSocketTransport
from spacetimedb_sdk.errors import ProtocolError

T = 10.0  # seconds: the bound on every wait


@asynccontextmanager
async def ws_server(handler: Callable[[ServerConnection], Awaitable[None]]) -> AsyncIterator[str]:
    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["v3.bsatn.spacetimedb"],  # type: ignore[list-item]
        compression=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/database/chat/subscribe"


async def open_transport(url: str) -> WebSocketTransport:
    return await asyncio.wait_for(WebSocketTransport.open(url, open_timeout=T), T)


async def test_fragments_order_and_a_clean_close() -> None:
    count = 500  # far more than the transport buffers before it stops reading the socket

    async def handler(ws: ServerConnection) -> None:
        await ws.send([b"frag", b"mented", b"!"])
        for i in range(count):
            await ws.send(i.to_bytes(4, "big"))
        await ws.close()

    async with ws_server(handler) as url:
        t = await open_transport(url)
        assert t.subprotocol == "v3.bsatn.spacetimedb"
        # Nobody reads until the server has sent (or TCP has buffered) everything it can.
        assert await asyncio.wait_for(t.recv(), T) == b"fragmented!"
        got = [await asyncio.wait_for(t.recv(), T) for _ in range(count)]
        assert got == [i.to_bytes(4, "big") for i in range(count)]
        assert await asyncio.wait_for(t.recv(), T) is None
        assert t.close_code == 1000


async def test_a_text_frame_is_a_protocol_error() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("text")
        await ws.wait_closed()

    async with ws_server(handler) as url:
        t = await open_transport(url)
        with pytest.raises(ProtocolError, match="text frame"):
            await asyncio.wait_for(t.recv(), T)
        await asyncio.wait_for(t.close(1002, "text"), T)
        assert t.close_code == 1002


async def test_the_frame_handler_applies_frames_in_order_and_may_suspend() -> None:
    release, saw_one = asyncio.Event(), asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # the client is ready
        for i in range(4):
            await ws.send(bytes([i]))
        await ws.close()

    order: list[str] = []

    async def rest_of_one() -> None:
        await release.wait()
        order.append("end 1")

    def on_frame(frame: bytes) -> Awaitable[None] | None:
        order.append(f"frame {frame[0]}")
        if frame[0] == 1:
            saw_one.set()
            return rest_of_one()  # this one waits: the frames behind it must wait too
        return None

    async with ws_server(handler) as url:
        t = await open_transport(url)
        t.set_frame_handler(on_frame)

        async def read_all() -> None:
            # Frames the handler did not take (they queued while the reader was busy).
            while (frame := await t.recv()) is not None:
                order.append(f"frame {frame[0]}")

        reader = asyncio.ensure_future(read_all())
        await t.send(b"ready")
        await asyncio.wait_for(saw_one.wait(), T)
        assert order == ["frame 0", "frame 1"]
        release.set()
        await asyncio.wait_for(reader, T)
        assert order == ["frame 0", "frame 1", "end 1", "frame 2", "frame 3"]


async def test_keepalive_gives_up_on_a_silent_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport_module, "_PING_INTERVAL", 0.05)
    monkeypatch.setattr(transport_module, "_PING_TIMEOUT", 0.1)
    monkeypatch.setattr(transport_module, "_CLOSE_TIMEOUT", 0.1)

    class Silent(asyncio.Protocol):
        """Accepts the upgrade, then reads and ignores everything (no pongs)."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.ws = ServerProtocol()

        def data_received(self, data: bytes) -> None:
            if self.ws.state is not self.ws.state.CONNECTING:
                return
            self.ws.receive_data(data)
            for request in self.ws.events_received():
                self.ws.send_response(self.ws.accept(request))  # type: ignore[arg-type]
            for chunk in self.ws.data_to_send():
                self.transport.write(chunk)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        t = await open_transport(f"ws://127.0.0.1:{port}/")
        # No pong: the transport sends close 1011, drops the socket, and recv() says why
        # (a TimeoutError: the connection reconnects, or reports the error to on_disconnect).
        with pytest.raises(TimeoutError, match=r"did not answer a keepalive ping within 0\.1 s"):
            await asyncio.wait_for(t.recv(), T)
        assert t.close_code == 1006  # no close frame ever came back


async def test_keepalive_pings_answered_keep_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport_module, "_PING_INTERVAL", 0.05)
    monkeypatch.setattr(transport_module, "_PING_TIMEOUT", 0.1)
    pings = 5  # the 5th comes well after the first ping's timeout would have struck
    seen_pings = asyncio.Event()

    class Answering(asyncio.Protocol):
        """Accepts the upgrade and answers pings (the sans-I/O protocol queues the pongs);
        after the 5th ping it sends a binary message."""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            self.ws = ServerProtocol()
            self.pings = 0

        def data_received(self, data: bytes) -> None:
            self.ws.receive_data(data)
            for event in self.ws.events_received():
                if isinstance(event, Frame):
                    if event.opcode is Opcode.PING:
                        self.pings += 1
                        if self.pings == pings:
                            self.ws.send_binary(b"still here")
                            seen_pings.set()
                else:
                    self.ws.send_response(self.ws.accept(event))  # type: ignore[arg-type]
            for chunk in self.ws.data_to_send():
                self.transport.write(chunk)
            if self.ws.close_expected():
                self.transport.close()

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answering, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        t = await open_transport(f"ws://127.0.0.1:{port}/")
        try:
            await asyncio.wait_for(seen_pings.wait(), T)
            # Each pong put the next ping off: no timeout struck, and the socket still reads.
            assert await asyncio.wait_for(t.recv(), T) == b"still here"
        finally:
            await asyncio.wait_for(t.close(), T)


@pytest.mark.parametrize("variable", ["http_proxy", "all_proxy"])
async def test_an_http_proxy_from_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # all_proxy: websockets ignores it, httpx (the schema fetch) honours it; so do we.
    tunnels: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        tunnels.append(request.split(b"\r\n", 1)[0])
        host, port = request.split(b" ")[1].decode().rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"through the proxy")
        await ws.close()

    proxy_server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    async with proxy_server, ws_server(handler) as url:
        proxy_port = proxy_server.sockets[0].getsockname()[1]
        for name in ("http", "https", "ws", "socks", "all", "no"):
            monkeypatch.delenv(f"{name}_proxy", raising=False)
            monkeypatch.delenv(f"{name.upper()}_PROXY", raising=False)
        monkeypatch.setenv(variable, f"http://127.0.0.1:{proxy_port}")
        t = await open_transport(url)
        assert await asyncio.wait_for(t.recv(), T) == b"through the proxy"
        assert await asyncio.wait_for(t.recv(), T) is None
    port = url.split(":")[2].split("/")[0]
    assert tunnels == [f"CONNECT 127.0.0.1:{port} HTTP/1.1".encode()]
