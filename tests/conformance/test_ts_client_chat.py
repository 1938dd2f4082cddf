"""The official TypeScript client (npm ``spacetimedb``) against our local server.

``node/src/chat_client.mjs`` drives the quickstart-chat module, in Python
(``examples/quickstart-chat``) and in TypeScript (``examples/quickstart-chat-ts``, run in Node by
the server): every test runs on both (``[py]``, ``[ts]``), served by
:class:`LocalServer` (in-process, on the test's event loop, so the server's own state can be
checked: negotiated subprotocol, compression, frames sent) and, once, by the real
``spacetimedb-py serve`` command line. Two clients connect, subscribe, name themselves, chat,
see each other's changes as ``Transaction`` events and their own as ``Reducer`` events, get the
module's error text back, unsubscribe (their cache empties), and reconnect with their token as
the same identity. The flow runs with every compression and with v3, v2-only and mixed clients.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from ts_chat_client import TIMEOUT, TsChatClient
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from node_support import CHAT_PY, CHAT_TS, chat_module, requires_node, use_repo_node_modules
from spacetimedb_sdk.protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3, Compression
from spacetimedb_sdk.server.local import LocalServer

DB = "quickstart-chat"
ALL_TABLES = ("SELECT * FROM user", "SELECT * FROM message")
# Long enough that its TransactionUpdate passes the 1 KiB compression threshold.
LONG_TEXT = " ".join(f"line {i}: the quick brown fox jumps over the lazy dog" for i in range(60))

pytestmark = requires_node()

PROTOCOL_NAMES = {"v3,v2": SUBPROTOCOL_V3, "v2": SUBPROTOCOL_V2}
COMPRESSIONS = {"none": Compression.NONE, "gzip": Compression.GZIP, "brotli": Compression.BROTLI}


def user(identity: str, name: str | None, online: bool) -> dict[str, Any]:
    """A ``user`` row as the client prints it."""
    return {"identity": {"__identity__": identity}, "name": name, "online": online}


def by_reducer(reducer: str, **args: Any) -> dict[str, Any]:
    """The ``cause`` of a row event that the client's own reducer call produced."""
    return {"kind": "Reducer", "reducer": reducer, "args": args}


TRANSACTION = {"kind": "Transaction"}
SUBSCRIBE_APPLIED = {"kind": "SubscribeApplied"}
UNSUBSCRIBE_APPLIED = {"kind": "UnsubscribeApplied"}


def micros(row: dict[str, Any]) -> int:
    return int(row["sent"]["__timestamp_micros_since_unix_epoch__"])


class FrameLog:
    """The compression tag of every WebSocket binary frame the server sent."""

    def __init__(self) -> None:
        self.tags: collections.Counter[int] = collections.Counter()


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> FrameLog:
    """Record server frames by wrapping aiohttp's ``send_bytes`` (the server's only writer)."""
    log = FrameLog()
    original = web.WebSocketResponse.send_bytes

    async def send_bytes(self: web.WebSocketResponse, data: bytes, *args: Any, **kw: Any) -> None:
        log.tags[data[0]] += 1
        await original(self, data, *args, **kw)

    monkeypatch.setattr(web.WebSocketResponse, "send_bytes", send_bytes)
    return log


def assert_negotiated(
    srv: LocalServer, client: TsChatClient, protocols: str, compression: str
) -> None:
    """The server's view of the client's connection: subprotocol and compression."""
    mine = [c for c in srv.db.clients if c.connection_id.to_hex() == client.connection_id]
    assert len(mine) == 1, f"server has no connection {client.connection_id}: {srv.db.clients}"
    assert mine[0].protocol == PROTOCOL_NAMES[protocols]
    assert mine[0].compression is COMPRESSIONS[compression]
    assert mine[0].identity.to_hex() == client.identity


async def chat_flow(
    url: str,
    *,
    compression: str,
    protocols: tuple[str, str] = ("v3,v2", "v3,v2"),
    srv: LocalServer | None = None,
) -> None:
    """The quickstart-chat conversation between two official clients, checked at every step.

    ``url`` must serve a fresh quickstart-chat database (the row counts below are exact).
    """

    def launch(
        label: str, offer: str, token: str | None = None
    ) -> contextlib.AbstractAsyncContextManager[TsChatClient]:
        return TsChatClient.launch(
            url, DB, token=token, compression=compression, protocols=offer, label=label
        )

    clients: list[TsChatClient] = []
    async with contextlib.AsyncExitStack() as stack:
        alice = await stack.enter_async_context(launch("alice", protocols[0]))
        bob = await stack.enter_async_context(launch("bob", protocols[1]))
        clients += [alice, bob]
        assert alice.identity != bob.identity
        if srv is not None:
            assert_negotiated(srv, alice, protocols[0], compression)
            assert_negotiated(srv, bob, protocols[1], compression)

        # Subscribe: both users are online with no name yet.
        for c in (alice, bob):
            assert (await c.subscribe("chat", *ALL_TABLES))["event"] == "subscription_applied"
            for who in (alice, bob):
                row = user(who.identity, None, True)
                await c.expect("insert", table="user", row=row, cause=SUBSCRIBE_APPLIED)

        # Names: the caller sees its own Reducer event, the other one a Transaction.
        for me, other, name in ((alice, bob, "Alice"), (bob, alice, "Bob")):
            result = await me.call("set_name", name=name)
            assert (result["reducer"], result["status"], result.get("error")) == (
                "set_name",
                "ok",
                None,
            )
            old, new = user(me.identity, None, True), user(me.identity, name, True)
            cause = by_reducer("set_name", name=name)
            await me.expect("update", table="user", old=old, new=new, cause=cause)
            await other.expect("update", table="user", old=old, new=new, cause=TRANSACTION)

        # Messages, one of them long enough to travel compressed.
        before = time.time_ns() // 1000
        for me, other, text in ((alice, bob, "Hello, Bob!"), (bob, alice, LONG_TEXT)):
            assert (await me.call("send_message", text=text))["status"] == "ok"
            mine = await me.expect(
                "insert",
                table="message",
                row=lambda r, t=text: r["text"] == t,
                cause=by_reducer("send_message", text=text),
            )
            theirs = await other.expect(
                "insert", table="message", row=mine["row"], cause=TRANSACTION
            )
            assert theirs["row"]["sender"] == {"__identity__": me.identity}
            assert before <= micros(theirs["row"]) <= time.time_ns() // 1000

        # The module's SenderError text reaches the caller; nothing is committed.
        failed = await alice.call("set_name", name="")
        assert (failed["reducer"], failed["status"], failed["error"]) == (
            "set_name",
            "err",
            "Names must not be empty",
        )
        failed = await bob.call("send_message", text="")
        assert (failed["status"], failed["error"]) == ("err", "Messages must not be empty")
        assert await alice.cache("user") == await bob.cache("user")
        assert sorted(r["name"] for r in await alice.cache("user")) == ["Alice", "Bob"]
        for c in (alice, bob):
            assert c.unclaimed("insert") == c.unclaimed("update") == c.unclaimed("delete") == []

        # Unsubscribe: Alice's rows leave her cache with delete events; Bob keeps his.
        await alice.unsubscribe("chat")
        expected_deletes = {("user", "Alice"), ("user", "Bob"), ("message", "Hello, Bob!")}
        expected_deletes.add(("message", LONG_TEXT))
        deletes = set()
        for _ in expected_deletes:
            event = await alice.expect("delete", cause=UNSUBSCRIBE_APPLIED)
            row = event["row"]
            deletes.add((event["table"], row.get("name", row.get("text"))))
        assert deletes == expected_deletes
        assert await alice.cache("user") == []
        assert await alice.cache("message") == []
        assert len(await bob.cache("message")) == 2

        # Unsubscribed, Alice hears nothing, not even about her own message; Bob hears both.
        assert (await bob.call("send_message", text="anyone there?"))["status"] == "ok"
        assert (await alice.call("send_message", text="still here"))["status"] == "ok"
        for text, cause in (
            ("anyone there?", by_reducer("send_message", text="anyone there?")),
            ("still here", TRANSACTION),
        ):
            await bob.expect(
                "insert", table="message", row=lambda r, t=text: r["text"] == t, cause=cause
            )
        # Bob's message committed before Alice's call ran, so her result came after any update.
        assert alice.unclaimed("insert") == []
        assert await alice.cache("message") == []

        # Reconnect with the saved token: same identity, name kept, online again.
        token, identity = alice.token, alice.identity
        assert (await alice.disconnect())["error"] is None
        offline = user(identity, "Alice", False)
        await bob.expect("update", table="user", new=offline, cause=TRANSACTION)
        alice = await stack.enter_async_context(launch("alice-again", protocols[0], token))
        clients.append(alice)
        assert alice.identity == identity
        if srv is not None:
            assert_negotiated(srv, alice, protocols[0], compression)
        online = user(identity, "Alice", True)
        await bob.expect("update", table="user", old=offline, new=online, cause=TRANSACTION)
        await alice.subscribe("again", *ALL_TABLES)
        await alice.expect(
            "insert", table="user", row=user(identity, "Alice", True), cause=SUBSCRIBE_APPLIED
        )
        texts = sorted(r["text"] for r in await alice.cache("message"))
        assert texts == sorted(["Hello, Bob!", LONG_TEXT, "anyone there?", "still here"])
    # The SDK logs protocol surprises (unknown request ids, tables, ...) as warnings: none.
    assert {c.label: c.stderr() for c in clients} == {c.label: "" for c in clients}


# ---- in-process server --------------------------------------------------------------------


@pytest.fixture(params=["py", "ts"])
def lang(request: pytest.FixtureRequest) -> str:
    """The language of the quickstart-chat module the test serves."""
    return str(request.param)


@contextlib.asynccontextmanager
async def chat_server(lang: str) -> AsyncIterator[LocalServer]:
    async with LocalServer(chat_module(lang), database=DB) as srv:  # type: ignore[arg-type]
        yield srv


@pytest.mark.parametrize(
    ("compression", "protocols"),
    [
        ("none", ("v3,v2", "v3,v2")),
        ("gzip", ("v3,v2", "v3,v2")),
        ("brotli", ("v3,v2", "v3,v2")),
        ("gzip", ("v2", "v2")),
        ("brotli", ("v3,v2", "v2")),
    ],
    ids=["v3-none", "v3-gzip", "v3-brotli", "v2only-gzip", "mixed-brotli"],
)
async def test_chat_flow(
    compression: str, protocols: tuple[str, str], frames: FrameLog, lang: str
) -> None:
    async with chat_server(lang) as srv:
        await chat_flow(srv.url, compression=compression, protocols=protocols, srv=srv)
    tag = COMPRESSIONS[compression].tag
    others = {c.tag for c in Compression} - {0, tag}
    assert frames.tags[0] > 0, "small messages travel uncompressed"
    assert all(frames.tags[t] == 0 for t in others), f"wrong compression used: {frames.tags}"
    if tag:
        assert frames.tags[tag] > 0, f"no {compression} frame was sent: {frames.tags}"


async def test_subscription_error_text(lang: str) -> None:
    async with chat_server(lang) as srv, TsChatClient.launch(srv.url, DB) as client:
        error = await client.subscribe("bad", "SELECT * FROM mesage")
        assert (error["event"], error["id"]) == ("subscription_error", "bad")
        # Upstream's wording: the table error, then which statement failed.
        assert error["error"].startswith("no such table: `mesage`")
        assert error["error"].endswith("executing: `SELECT * FROM mesage`")
        # The connection survives a bad query.
        assert (await client.subscribe("good", "SELECT * FROM user"))["event"] == (
            "subscription_applied"
        )


async def test_issued_token_gives_its_identity(lang: str) -> None:
    async with chat_server(lang) as srv:
        token = srv.issue_token("alice")
        async with TsChatClient.launch(srv.url, DB, token=token) as first:
            identity = first.identity
            assert first.token == token
        async with TsChatClient.launch(srv.url, DB, token=srv.issue_token("alice")) as second:
            assert second.identity == identity
        async with TsChatClient.launch(srv.url, DB, token=srv.issue_token("bob")) as third:
            assert third.identity != identity


# ---- the real command line ----------------------------------------------------------------


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("spacetimedb-py")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "spacetimedb_sdk.cli"]


@contextlib.asynccontextmanager
async def cli_server(lang: str) -> AsyncIterator[str]:
    """``spacetimedb-py serve`` on a free port; yields its URL, stops it with SIGINT."""
    if lang == "ts":
        use_repo_node_modules()  # the subprocess inherits NODE_PATH
    proc = await asyncio.create_subprocess_exec(
        *cli_command(),
        "serve",
        str(CHAT_TS if lang == "ts" else CHAT_PY),
        "--database",
        DB,
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
        found = re.match(rb"Serving database 'quickstart-chat' at (http://127\.0\.0\.1:\d+)", line)
        assert found, f"unexpected first line from serve: {line!r}"
        yield found.group(1).decode()
        proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(proc.stdout.read(), TIMEOUT)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0, rest.decode(errors="replace")
        assert b"Stopping." in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), TIMEOUT)


async def test_chat_flow_through_the_cli(lang: str) -> None:
    async with cli_server(lang) as url:
        await chat_flow(url, compression="gzip")
        # The CLI's server prefers v3 too (checked after the flow, which wants a fresh database).
        offered = [Subprotocol(SUBPROTOCOL_V3), Subprotocol(SUBPROTOCOL_V2)]
        probe = f"ws{url[4:]}/v1/database/{DB}/subscribe?compression=None"
        async with connect(probe, subprotocols=offered, open_timeout=TIMEOUT) as ws:
            assert ws.subprotocol == SUBPROTOCOL_V3
