"""The official TypeScript SDK 1.x (npm ``@clockworklabs/spacetimedb-sdk@1.3.3``, protocol
``v1.bsatn.spacetimedb``) against our local server, beside the 2.x client.

``node/src/v1_chat_client.mjs`` drives the quickstart-chat module over protocol v1: subscribe
(``SubscribeMulti``), call reducers (full updates for the caller, light ones for others, as
upstream does for 2.x modules), the ``NoSuccessNotify`` flag, errors, gzip-compressed frames,
unsubscribe, and a 1.x client and a 2.x client chatting with each other; each test serves the
chat module written in Python and in TypeScript.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from ts_chat_client import ROOT, TsChatClient

from node_support import chat_module, requires_node
from spacetimedb_sdk.protocol.v1 import SUBPROTOCOL_V1_BSATN
from spacetimedb_sdk.server.local import LocalServer

DB = "quickstart-chat"
V1_CLIENT = ROOT / "node" / "src" / "v1_chat_client.mjs"
ALL_TABLES = ("SELECT * FROM user", "SELECT * FROM message")
LONG_TEXT = " ".join(f"line {i}: the quick brown fox jumps over the lazy dog" for i in range(60))

pytestmark = requires_node()


def user(identity: str, name: str | None, online: bool) -> dict[str, Any]:
    return {"identity": {"__identity__": identity}, "name": name, "online": online}


REDUCER = "Reducer"
LIGHT = {"kind": "UnknownTransaction"}


def launch_v1(
    url: str,
    label: str,
    *,
    compression: str = "none",
    light: bool = False,
    token: str | None = None,
) -> contextlib.AbstractAsyncContextManager[TsChatClient]:
    extra = ("--light",) if light else ()
    return TsChatClient.launch(
        url,
        DB,
        token=token,
        compression=compression,
        label=label,
        script=V1_CLIENT,
        extra_args=extra,
    )


@pytest.fixture(params=["py", "ts"])
def lang(request: pytest.FixtureRequest) -> str:
    """The language of the quickstart-chat module the test serves (Python or TypeScript)."""
    return str(request.param)


@contextlib.asynccontextmanager
async def chat_server(lang: str) -> AsyncIterator[LocalServer]:
    async with LocalServer(chat_module(lang), database=DB) as srv:  # type: ignore[arg-type]
        yield srv


async def subscribe(c: TsChatClient, sub_id: str = "chat") -> None:
    await c.send({"cmd": "subscribe", "id": sub_id, "queries": list(ALL_TABLES)})
    assert (await c.expect("subscription_applied", id=sub_id))["id"] == sub_id


async def call(c: TsChatClient, reducer: str, flags: str = "FullUpdate", **args: Any) -> None:
    await c.send({"cmd": "call", "reducer": reducer, "args": args, "flags": flags})


@pytest.mark.parametrize(("compression", "light"), [("none", False), ("gzip", True)])
async def test_v1_chat_flow(compression: str, light: bool, lang: str) -> None:
    async with chat_server(lang) as srv, contextlib.AsyncExitStack() as stack:
        alice = await stack.enter_async_context(
            launch_v1(srv.url, "alice", compression=compression, light=light)
        )
        bob = await stack.enter_async_context(launch_v1(srv.url, "bob", compression=compression))
        protocols = {c.identity.to_hex(): c.protocol for c in srv.db.clients}
        assert protocols == {
            alice.identity: SUBPROTOCOL_V1_BSATN,
            bob.identity: SUBPROTOCOL_V1_BSATN,
        }
        for c in (alice, bob):
            await subscribe(c)
            for who in (alice, bob):
                row = user(who.identity, None, True)
                await c.expect("insert", table="user", row=row, cause={"kind": "SubscribeApplied"})

        # The caller gets its reducer event; the others a light update (a 2.x module).
        await call(alice, "set_name", name="Alice")
        result = await alice.expect("reducer_result", reducer="set_name")
        assert (result["status"], result["args"]) == ("ok", ["Alice"])
        old, new = user(alice.identity, None, True), user(alice.identity, "Alice", True)
        cause = {"kind": REDUCER, "reducer": "set_name", "args": {"name": "Alice"}}
        await alice.expect("update", table="user", old=old, new=new, cause=cause)
        await bob.expect("update", table="user", old=old, new=new, cause=LIGHT)

        # A long message travels gzip-compressed when asked.
        await call(bob, "send_message", text=LONG_TEXT)
        assert (await bob.expect("reducer_result", reducer="send_message"))["status"] == "ok"
        row = await alice.expect(
            "insert", table="message", row=lambda r: r["text"] == LONG_TEXT, cause=LIGHT
        )
        assert row["row"]["sender"] == {"__identity__": bob.identity}

        # Errors reach the caller as a failed TransactionUpdate with the module's text.
        await call(alice, "set_name", name="")
        failed = await alice.expect("reducer_result", reducer="set_name")
        assert (failed["status"], failed["error"]) == ("err", "Names must not be empty")

        # NoSuccessNotify: a success is seen like any subscriber sees it; a failure not at all.
        await call(bob, "send_message", flags="NoSuccessNotify", text="quiet")
        await bob.expect("insert", table="message", row=lambda r: r["text"] == "quiet", cause=LIGHT)
        await call(bob, "send_message", flags="NoSuccessNotify", text="")
        await call(bob, "send_message", text="loud")
        done = await bob.expect("reducer_result", reducer="send_message")
        assert done["args"] == ["loud"]  # the failed silent call answered nothing before it
        assert bob.unclaimed("reducer_result") == []

        # Unsubscribe empties the cache with delete events.
        await alice.send({"cmd": "unsubscribe", "id": "chat"})
        await alice.expect("unsubscribe_applied", id="chat")
        await alice.send({"cmd": "cache", "table": "message"})
        assert (await alice.expect("cache", table="message"))["rows"] == []
    assert {c.label: c.stderr().count("Error") for c in (alice, bob)} == {"alice": 0, "bob": 0}


async def test_v1_and_v2_clients_chat(lang: str) -> None:
    async with (
        chat_server(lang) as srv,
        launch_v1(srv.url, "old") as old,
        TsChatClient.launch(srv.url, DB, compression="none", label="new") as new,
    ):
        await subscribe(old)
        await new.subscribe("chat", *ALL_TABLES)
        await new.call("set_name", name="Newton")
        await old.expect(
            "update", table="user", new=user(new.identity, "Newton", True), cause=LIGHT
        )
        await call(old, "send_message", text="hello from 1.x")
        await new.expect(
            "insert",
            table="message",
            row=lambda r: r["text"] == "hello from 1.x",
            cause={"kind": "Transaction"},
        )


async def test_v1_subscription_error_and_token(lang: str) -> None:
    async with chat_server(lang) as srv:
        token = srv.issue_token("carol")
        async with launch_v1(srv.url, "carol", token=token) as carol:
            assert carol.identity == srv.issuer.validate(token).identity.to_hex()
            await carol.send({"cmd": "subscribe", "id": "bad", "queries": ["SELECT * FROM mesage"]})
            error = await carol.expect("subscription_error", id="bad")
            assert error["error"].startswith("no such table: `mesage`")
            await subscribe(carol, "good")
