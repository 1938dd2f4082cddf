"""The 0.7 asyncio client, in process, with the example's generated 0.7 bindings.

Every callback records what it got; the tests wait (bounded) for the record that
proves the behaviour, never for time to pass.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from compat_support import CHAT_MODULE, T, binding, example_bindings

from spacetimedb_sdk import compat
from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.errors import SpacetimeDBError
from spacetimedb_sdk.server.local import LocalServer, load_module
from spacetimedb_sdk.spacetimedb_async_client import SpacetimeDBAsyncClient, SpacetimeDBException
from spacetimedb_sdk.spacetimedb_client import Address, Identity, ReducerEvent, SpacetimeDBClient

CHAT = load_module(CHAT_MODULE)
QUERIES = ["SELECT * FROM user", "SELECT * FROM message"]


@pytest.fixture
async def chat() -> AsyncIterator[LocalServer]:
    async with LocalServer(CHAT, database="quickstart-chat") as srv:
        yield srv
    SpacetimeDBClient.instance = None  # the next test starts without a current client


class Recorder:
    """Everything the 0.7 callbacks received, in order, and a way to wait for more."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.rows: list[tuple[str, str, Any, Any, ReducerEvent | None]] = []
        self.reducers: list[tuple[Any, ...]] = []
        self.connected: list[tuple[str, Identity]] = []
        self._changed = asyncio.Event()

    def poke(self, entry: str) -> None:
        self.log.append(entry)
        self._changed.set()

    def row(self, table: str) -> Callable[[str, Any, Any, ReducerEvent | None], None]:
        def callback(op: str, old: Any, new: Any, event: ReducerEvent | None) -> None:
            self.rows.append((table, op, old, new, event))
            self.poke(f"{table}:{op}")

        return callback

    def reducer(self, name: str) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            self.reducers.append((name, *args))
            self.poke(f"reducer:{name}")

        return callback

    def on_connect(self, token: str, identity: Identity) -> None:
        self.connected.append((token, identity))
        self.poke("connect")

    async def until(self, done: Callable[[], bool], what: str) -> None:
        async def loop() -> None:
            while not done():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), T)
        except asyncio.TimeoutError:
            raise AssertionError(f"timed out waiting for {what}; saw {self.log}") from None


def start(client: SpacetimeDBAsyncClient, srv: LocalServer, rec: Recorder) -> asyncio.Task[None]:
    host = f"localhost:{srv.port}"
    return asyncio.create_task(
        client.run(None, host, "quickstart-chat", False, rec.on_connect, QUERIES)
    )


async def stop(client: SpacetimeDBAsyncClient, runner: asyncio.Task[None]) -> None:
    client.force_close()
    await asyncio.wait_for(runner, T)


def chat_client(rec: Recorder) -> SpacetimeDBAsyncClient:
    """The client as the 0.7 quickstart sets it up, every callback recorded."""
    client = SpacetimeDBAsyncClient(example_bindings())
    client.register_on_subscription_applied(lambda: rec.poke("applied"))
    binding("user").User.register_row_update(rec.row("user"))
    binding("message").Message.register_row_update(rec.row("message"))
    binding("send_message_reducer").register_on_send_message(rec.reducer("send_message"))
    binding("set_name_reducer").register_on_set_name(rec.reducer("set_name"))
    return client


async def test_connect_subscribe_rows_and_own_reducer_calls(chat: LocalServer) -> None:
    User = binding("user").User
    Message = binding("message").Message
    send_message_reducer = binding("send_message_reducer")
    set_name_reducer = binding("set_name_reducer")
    rec = Recorder()
    client = chat_client(rec)
    runner = start(client, chat, rec)
    try:
        await rec.until(lambda: "applied" in rec.log, "the subscription")
        # on_connect first, then the subscribed rows, then "applied" (0.7's order).
        assert rec.log == ["connect", "user:insert", "applied"]
        [(token, identity)] = rec.connected
        assert identity == client.identity and isinstance(identity, Identity)
        assert token.startswith("eyJ") and isinstance(client.address, Address)
        me = User.filter_by_identity(identity)
        assert me is not None and me.online and me.name is None
        assert rec.rows == [("user", "insert", None, me, None)]  # no reducer event: history

        set_name_reducer.set_name("Alice")
        await rec.until(lambda: "reducer:set_name" in rec.log, "set_name's callback")
        assert rec.log[-2:] == ["user:update", "reducer:set_name"]  # rows before the reducer
        _, op, old, new, event = rec.rows[-1]
        assert (op, old, new) == ("update", me, User.filter_by_identity(identity))
        assert new.name == "Alice" and old.name is None
        assert event is not None
        assert (event.caller_identity, event.caller_address) == (identity, client.address)
        assert (event.reducer_name, event.status, event.message) == ("set_name", "committed", "")
        assert event.args == ["Alice"]
        assert rec.reducers == [("set_name", identity, client.address, "committed", "", "Alice")]
        assert User.filter_by_name("Alice") == [new] and User.filter_by_online(True) == [new]

        send_message_reducer.send_message("hello")
        await rec.until(lambda: "reducer:send_message" in rec.log, "send_message's callback")
        _, op, old, message, event = rec.rows[-1]
        assert (op, old, message.text, message.sender) == ("insert", None, "hello", identity)
        assert (
            event is not None and event.reducer_name == "send_message" and event.args == ["hello"]
        )
        assert rec.reducers[-1] == (
            "send_message",
            identity,
            client.address,
            "committed",
            "",
            "hello",
        )
        assert Message.filter_by_sender(identity) == [message] == list(Message.iter())
        assert User.filter_by_identity(message.sender).name == "Alice"

        result = await client.call_reducer("send_message", "again")
        assert result.transaction_type == "TransactionUpdate"
        assert (result.reducer_event.reducer_name, result.reducer_event.status) == (
            "send_message",
            "committed",
        )
        assert sorted(m.text for m in Message.iter()) == ["again", "hello"]
    finally:
        await stop(client, runner)
    assert not client.is_connected


async def test_a_reducer_called_in_on_connect_follows_the_subscription(chat: LocalServer) -> None:
    rec = Recorder()
    client = chat_client(rec)

    def on_connect(token: str, identity: Identity) -> None:
        rec.on_connect(token, identity)
        binding("set_name_reducer").set_name("Early")

    host = f"localhost:{chat.port}"
    runner = asyncio.create_task(
        client.run(None, host, "quickstart-chat", False, on_connect, QUERIES)
    )
    try:
        await rec.until(lambda: "reducer:set_name" in rec.log, "set_name's callback")
        # As in 0.7 the subscription went first, so the rename is a live update of a
        # subscribed row, with its reducer event.
        assert rec.log == ["connect", "user:insert", "applied", "user:update", "reducer:set_name"]
        event = rec.rows[-1][4]
        assert event is not None and (event.reducer_name, event.args) == ("set_name", ["Early"])
    finally:
        await stop(client, runner)


async def test_subscribe_replaces_the_previous_subscription(chat: LocalServer) -> None:
    User = binding("user").User
    rec = Recorder()
    client = chat_client(rec)
    runner = start(client, chat, rec)
    try:
        await rec.until(lambda: rec.log.count("applied") == 1, "the first subscription")
        me = User.filter_by_identity(client.identity)
        client.subscribe(["SELECT * FROM message"])  # 0.7: the new set replaces the old one
        await rec.until(lambda: "user:delete" in rec.log, "the user rows leaving")
        assert rec.log[-2:] == ["applied", "user:delete"]
        assert rec.rows[-1] == ("user", "delete", me, None, None)
        assert list(User.iter()) == [] and User.filter_by_identity(client.identity) is None
    finally:
        await stop(client, runner)


async def test_failing_reducer_reports_failed_with_the_message(chat: LocalServer) -> None:
    set_name_reducer = binding("set_name_reducer")
    rec = Recorder()
    client = chat_client(rec)
    runner = start(client, chat, rec)
    try:
        await rec.until(lambda: "applied" in rec.log, "the subscription")
        rows_before = len(rec.rows)
        set_name_reducer.set_name("")
        await rec.until(lambda: "reducer:set_name" in rec.log, "set_name's callback")
        assert rec.reducers == [
            ("set_name", client.identity, client.address, "failed", "Names must not be empty", "")
        ]
        assert len(rec.rows) == rows_before  # nothing changed
        result = await client.call_reducer("send_message", "")
        event = result.reducer_event
        assert (event.status, event.message) == ("failed", "Messages must not be empty")
    finally:
        await stop(client, runner)


async def test_other_clients_changes_arrive_without_their_reducer(chat: LocalServer) -> None:
    rec = Recorder()
    client = chat_client(rec)
    runner = start(client, chat, rec)
    other = None
    try:
        await rec.until(lambda: "applied" in rec.log, "the subscription")
        other = await asyncio.wait_for(
            DbConnection.builder().with_uri(chat.url).with_database_name(chat.database).connect(),
            T,
        )
        await asyncio.wait_for(other.reducers.send_message(text="from bob"), T)
        await rec.until(lambda: "message:insert" in rec.log, "bob's message")
        _, op, _, message, event = next(r for r in rec.rows if r[0] == "message")
        assert (op, message.text, message.sender) == ("insert", "from bob", other.identity)
        # 2.x tells only the caller which reducer ran: the event says a transaction committed.
        assert event is not None and event.status == "committed"
        assert (event.reducer_name, event.caller_identity, event.caller_address) == (None,) * 3
        assert rec.reducers == []  # register_on_send_message covers this client's calls only
        bob = binding("user").User.filter_by_identity(other.identity)
        assert bob is not None and bob.online
    finally:
        if other is not None:
            await asyncio.wait_for(other.disconnect(), T)
        await stop(client, runner)


async def test_schedule_event_and_force_close_from_another_thread(chat: LocalServer) -> None:
    rec = Recorder()
    client = chat_client(rec)
    fired: list[tuple[Any, ...]] = []

    def tick(*args: Any) -> None:
        fired.append(args)
        rec.poke("tick")
        if len(fired) < 3:
            client.schedule_event(0.01, tick, *args)  # 0.7's way to repeat

    client.schedule_event(0.01, tick, "a", 1)  # before run: kept until the loop starts
    runner = start(client, chat, rec)
    await rec.until(lambda: len(fired) == 3, "three ticks")
    assert fired == [("a", 1)] * 3
    client.schedule_event(60, tick, "never")  # force_close does not wait for it
    closer = threading.Thread(target=client.force_close)
    closer.start()
    closer.join(T)
    await asyncio.wait_for(runner, T)
    assert client.is_closing and not client.is_connected
    assert not client.client.connection.is_active  # type: ignore[union-attr]


async def test_run_raises_when_the_server_goes_away(chat: LocalServer) -> None:
    rec = Recorder()
    client = chat_client(rec)
    runner = start(client, chat, rec)
    await rec.until(lambda: "applied" in rec.log, "the subscription")
    await chat.stop_async()
    with pytest.raises(SpacetimeDBException, match="connection closed"):
        await asyncio.wait_for(runner, T)


async def test_connect_failure_raises_spacetimedb_exception() -> None:
    client = SpacetimeDBAsyncClient(example_bindings())
    with pytest.raises(SpacetimeDBException, match="could not connect"):
        await asyncio.wait_for(client.connect(None, "127.0.0.1:1", "quickstart-chat", False), T)
    SpacetimeDBClient.instance = None


def test_bindings_need_a_current_client() -> None:
    SpacetimeDBClient.instance = None
    with pytest.raises(SpacetimeDBError, match="no SpacetimeDB client yet"):
        binding("user").User.filter_by_identity(Identity(1))
    client = SpacetimeDBAsyncClient(example_bindings())
    assert compat.current() is client.client is SpacetimeDBClient.instance
    # Before connecting the cache is empty, as in 0.7; calls need the connection.
    assert binding("user").User.filter_by_identity(Identity(1)) is None
    assert list(binding("message").Message.iter()) == []
    with pytest.raises(SpacetimeDBError, match="not connected yet"):
        binding("send_message_reducer").send_message("too early")
    SpacetimeDBClient.instance = None
