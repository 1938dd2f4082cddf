"""Smoke test of node/src/chat_client.mjs (the official TypeScript client) against a fake server.

The fake v2 server speaks with fixture frames made by the official implementation
(tests/fixtures/protocol/frames/), patched only where a frame must echo ids the client chose.
It checks that the driver connects, reports the fixture identity, subscribes and reports rows,
calls reducers, offers the subprotocols it was told to, and reads Brotli through its adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import ServerConnection, serve

from node_support import NODE, requires_node

ROOT = Path(__file__).resolve().parents[2]
FRAMES = ROOT / "tests" / "fixtures" / "protocol" / "frames"
CLIENT = ROOT / "node" / "src" / "chat_client.mjs"
TIMEOUT = 20.0

V2 = "v2.bsatn.spacetimedb"
V3 = "v3.bsatn.spacetimedb"
# From tests/fixtures/protocol/v2_server_messages.jsonl, line "InitialConnection".
FIXTURE_IDENTITY = "c2000000000000000000000000000000000000000000000000000000000a11ce"
FIXTURE_TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmaXh0dXJlIn0.c2lnbmF0dXJl"

pytestmark = requires_node()


def frame(name: str) -> bytes:
    return (FRAMES / name).read_bytes()


def payload_of(frame_bytes: bytes) -> bytes:
    """The ServerMessage inside a server frame (compression tag 0 or 2 only)."""
    tag, body = frame_bytes[0], frame_bytes[1:]
    if tag == 0:
        return body
    if tag == 2:
        return gzip.decompress(body)
    raise AssertionError(f"test helper cannot inflate compression tag {tag}")


def with_ids(message: bytes, ids: bytes) -> bytes:
    """Replace the ids right after a message's tag (request_id, then query_set_id if any)."""
    return message[:1] + ids + message[1 + len(ids) :]


def message_row(sender: str, micros: str, text: str) -> dict[str, Any]:
    return {
        "sender": {"__identity__": sender},
        "sent": {"__timestamp_micros_since_unix_epoch__": micros},
        "text": text,
    }


class FakeServer:
    """One-connection-at-a-time fake: sends a first frame, then records client messages."""

    def __init__(self, first_frame: bytes, subprotocols: list[str]) -> None:
        self.first_frame = first_frame
        self.subprotocols = subprotocols
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.connected: asyncio.Future[ServerConnection] = asyncio.Future()
        self.port = 0

    async def handler(self, ws: ServerConnection) -> None:
        if not self.connected.done():
            self.connected.set_result(ws)
        await ws.send(self.first_frame)
        with contextlib.suppress(Exception):
            async for message in ws:
                assert isinstance(message, bytes), "client frames must be binary"
                await self.received.put(message)

    async def next_message(self) -> bytes:
        return await asyncio.wait_for(self.received.get(), TIMEOUT)


@contextlib.asynccontextmanager
async def fake_server(
    first_frame: bytes, subprotocols: list[str] | None = None
) -> AsyncIterator[FakeServer]:
    server = FakeServer(first_frame, subprotocols or [V2])
    async with serve(server.handler, "127.0.0.1", 0, subprotocols=server.subprotocols) as ws_srv:
        server.port = next(iter(ws_srv.sockets)).getsockname()[1]
        yield server


class NodeClient:
    """chat_client.mjs as a subprocess: JSON commands in, JSON events out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []

    async def event(self, kind: str) -> dict[str, Any]:
        """The next event of this kind; earlier events of other kinds are kept in ``seen``."""
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), TIMEOUT)
            if not line:
                stderr = await self._stderr()
                raise AssertionError(f"client exited before {kind!r}; seen {self.seen}\n{stderr}")
            event = json.loads(line)
            self.seen.append(event)
            if event["event"] == kind:
                return event

    async def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await asyncio.wait_for(self.proc.stdin.drain(), TIMEOUT)

    async def _stderr(self) -> str:
        assert self.proc.stderr is not None
        data = await asyncio.wait_for(self.proc.stderr.read(), TIMEOUT)
        return data.decode(errors="replace")


@contextlib.asynccontextmanager
async def node_client(port: int, *args: str) -> AsyncIterator[NodeClient]:
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(CLIENT),
        "--uri",
        f"ws://127.0.0.1:{port}",
        "--db",
        "quickstart-chat",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield NodeClient(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), TIMEOUT)


async def test_connects_and_reports_fixture_identity() -> None:
    async with (
        fake_server(frame("v2_none_InitialConnection.bin")) as server,
        node_client(server.port) as client,
    ):
        connected = await client.event("connected")
        assert connected["identity"] == FIXTURE_IDENTITY
        assert connected["token"] == FIXTURE_TOKEN
        assert connected["connection_id"] == "0102030405060708090a0b0c0d0e0f10"

        ws = await asyncio.wait_for(server.connected, TIMEOUT)
        url = urlsplit(ws.request.path)
        assert url.path == "/v1/database/quickstart-chat/subscribe"
        assert parse_qs(url.query)["compression"] == ["Gzip"]
        assert ws.request.headers["Sec-WebSocket-Protocol"] == f"{V3}, {V2}"
        assert ws.subprotocol == V2

        await client.send({"cmd": "disconnect"})
        assert (await client.event("disconnected"))["error"] is None


async def test_subscribe_reports_rows_and_reducer_results() -> None:
    async with (
        fake_server(frame("v2_none_InitialConnection.bin")) as server,
        node_client(server.port) as client,
    ):
        await client.event("connected")
        await client.send({"cmd": "subscribe", "id": "all", "queries": ["SELECT * FROM user"]})
        subscribe = await server.next_message()
        assert subscribe[0] == 0, "expected a Subscribe ClientMessage"
        assert b"SELECT * FROM user" in subscribe

        # The fixture's SubscribeApplied, answering the client's request and query-set ids.
        applied = with_ids(payload_of(frame("v2_gzip_SubscribeApplied.bin")), subscribe[1:9])
        await server.connected.result().send(b"\x00" + applied)
        assert (await client.event("subscription_applied"))["id"] == "all"
        inserts = [await client.event("insert") for _ in range(4)]
        assert all(e["cause"] == {"kind": "SubscribeApplied"} for e in inserts)
        bob = FIXTURE_IDENTITY[:-6] + "000b0b"
        assert [(e["table"], e["row"]) for e in inserts] == [
            (
                "user",
                {"identity": {"__identity__": FIXTURE_IDENTITY}, "name": "Alice", "online": True},
            ),
            ("user", {"identity": {"__identity__": bob}, "name": "Bob", "online": False}),
            ("message", message_row(FIXTURE_IDENTITY, "1718487775346381", "Hello, Bob!")),
            ("message", message_row(bob, "1718487776846381", "héllo ☃ 😀")),
        ]

        await client.send(
            {"cmd": "call", "id": "n1", "reducer": "set_name", "args": {"name": "Bob"}}
        )
        call = await server.next_message()
        assert call[0] == 3, "expected a CallReducer ClientMessage"
        args = struct.pack("<I", 3) + b"Bob"  # the product {name: "Bob"}
        assert call.endswith(
            struct.pack("<I", 8) + b"set_name" + struct.pack("<I", len(args)) + args
        )
        ok_empty = with_ids(payload_of(frame("v2_gzip_ReducerResult_OkEmpty.bin")), call[1:5])
        await server.connected.result().send(b"\x00" + ok_empty)
        result = await client.event("reducer_result")
        assert result == {
            "event": "reducer_result",
            "id": "n1",
            "reducer": "set_name",
            "status": "ok",
        }


async def test_v2_only_and_brotli_through_the_adapter() -> None:
    brotli = pytest.importorskip("brotli")
    first = b"\x01" + brotli.compress(payload_of(frame("v2_none_InitialConnection.bin")))
    async with (
        fake_server(first, subprotocols=[V3, V2]) as server,
        node_client(server.port, "--protocols", "v2", "--compression", "brotli") as client,
    ):
        connected = await client.event("connected")
        assert connected["identity"] == FIXTURE_IDENTITY
        ws = await asyncio.wait_for(server.connected, TIMEOUT)
        assert ws.request.headers["Sec-WebSocket-Protocol"] == V2
        assert parse_qs(urlsplit(ws.request.path).query)["compression"] == ["Brotli"]


async def test_bad_command_is_reported_and_client_carries_on() -> None:
    async with (
        fake_server(frame("v2_none_InitialConnection.bin")) as server,
        node_client(server.port) as client,
    ):
        await client.event("connected")
        await client.send({"cmd": "call", "reducer": "no_such_reducer"})
        error = await client.event("error")
        assert "no_such_reducer" in error["error"]
        assert client.proc.stdin is not None
        client.proc.stdin.close()  # end of input disconnects cleanly
        assert (await client.event("disconnected"))["error"] is None
        assert await asyncio.wait_for(client.proc.wait(), TIMEOUT) == 0


def server_message(name: str) -> bytes:
    """A ServerMessage from v2_server_messages.jsonl, by its fixture name."""
    lines = (FRAMES.parent / "v2_server_messages.jsonl").read_text().splitlines()
    for line in lines:
        entry = json.loads(line)
        if entry["name"] == name:
            return bytes.fromhex(entry["hex"])
    raise KeyError(name)


async def test_reducer_errors_and_subscription_errors_are_reported() -> None:
    async with (
        fake_server(frame("v2_none_InitialConnection.bin")) as server,
        node_client(server.port, "--compression", "none") as client,
    ):
        await client.event("connected")
        ws = server.connected.result()
        assert parse_qs(urlsplit(ws.request.path).query)["compression"] == ["None"]

        await client.send({"cmd": "call", "id": "e1", "reducer": "set_name", "args": {"name": ""}})
        call = await server.next_message()
        await ws.send(b"\x00" + with_ids(server_message("ReducerResult/Err_string"), call[1:5]))
        assert await client.event("reducer_result") == {
            "event": "reducer_result",
            "id": "e1",
            "reducer": "set_name",
            "status": "err",
            "error": "Names must not be empty",
        }

        await client.send(
            {"cmd": "call", "id": "e2", "reducer": "sendMessage", "args": {"text": "x"}}
        )
        call = await server.next_message()
        await ws.send(b"\x00" + with_ids(server_message("ReducerResult/InternalError"), call[1:5]))
        result = await client.event("reducer_result")
        assert (result["id"], result["reducer"], result["status"]) == (
            "e2",
            "send_message",
            "internal_error",
        )
        assert "no such reducer: clear_all" in result["error"]

        await client.send({"cmd": "subscribe", "id": "bad", "queries": ["SELECT * FROM mesage"]})
        subscribe = await server.next_message()
        error = server_message("SubscriptionError/with_request_id")
        # tag, Some(request_id), query_set_id: answer the ids the client chose
        await ws.send(b"\x00" + error[:2] + subscribe[1:9] + error[10:])
        assert await client.event("subscription_error") == {
            "event": "subscription_error",
            "id": "bad",
            "error": "no such table: `mesage`",
        }


async def test_connect_error_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with node_client(port) as client:
        event = await client.event("connect_error")
        assert event["error"]
        assert await asyncio.wait_for(client.proc.wait(), TIMEOUT) == 1


@pytest.mark.parametrize("extra", [[], ["--protocols", "v2"]], ids=["package-socket", "adapter"])
async def test_token_is_swapped_for_a_short_lived_one(extra: list[str]) -> None:
    """With --token, both socket paths POST it to /v1/identity/websocket-token first."""
    web = pytest.importorskip("aiohttp.web")
    seen: dict[str, Any] = {}

    async def websocket_token(request: Any) -> Any:
        seen["authorization"] = request.headers.get("Authorization")
        return web.json_response({"token": "short-lived"})

    async def subscribe(request: Any) -> Any:
        seen["query"] = dict(request.query)
        ws = web.WebSocketResponse(protocols=[V2])
        await ws.prepare(request)
        await ws.send_bytes(frame("v2_none_InitialConnection.bin"))
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_post("/v1/identity/websocket-token", websocket_token)
    app.router.add_get("/v1/database/{name}/subscribe", subscribe)
    runner = web.AppRunner(app)
    await asyncio.wait_for(runner.setup(), TIMEOUT)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await asyncio.wait_for(site.start(), TIMEOUT)
    port = runner.addresses[0][1]
    try:
        async with node_client(port, "--token", "long-lived", *extra) as client:
            connected = await client.event("connected")
            # The client keeps the token it was given; the server's is only used when it has none.
            assert connected["token"] == "long-lived"
            assert seen["authorization"] == "Bearer long-lived"
            assert seen["query"]["token"] == "short-lived"
    finally:
        await asyncio.wait_for(runner.cleanup(), TIMEOUT)
