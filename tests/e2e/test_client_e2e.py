"""The Python client against the local server, end to end (python-api.md §3–8).

The tests on the quickstart-chat module run on it in Python and in TypeScript (``[py]``,
``[ts]``: ``examples/quickstart-chat-ts``, run in Node by the server).

Every wait is bounded (``asyncio.wait_for`` / ``result(timeout)``); nothing sleeps to
wait for propagation: tests await the event that proves it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sdk_module

from node_support import chat_module, requires_node
from spacetimedb_sdk import Identity
from spacetimedb_sdk.client.events import Committed, Failed, ReducerEvent, Transaction
from spacetimedb_sdk.connection import DbConnection, Pending
from spacetimedb_sdk.errors import (
    InternalError,
    ProcedureError,
    QueryError,
    ReducerError,
    SubscriptionError,
)
from spacetimedb_sdk.server import LocalServer
from spacetimedb_sdk.server.local import load_module

ROOT = Path(__file__).resolve().parents[2]
CHAT = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")
T = 10.0  # seconds: the bound on every wait


async def wait(aw: Any, timeout: float = T) -> Any:
    return await asyncio.wait_for(aw, timeout)


@pytest.fixture(params=["py", pytest.param("ts", marks=requires_node())])
async def chat(request: pytest.FixtureRequest) -> AsyncIterator[LocalServer]:
    module = CHAT if request.param == "py" else chat_module("ts")
    async with LocalServer(module, database="quickstart-chat") as srv:  # type: ignore[arg-type]
        yield srv


@pytest.fixture
async def sdk() -> AsyncIterator[LocalServer]:
    async with LocalServer(sdk_module.module, database="sdk-test") as srv:
        yield srv


def builder(srv: LocalServer, token: str | None = None) -> Any:
    return (
        DbConnection.builder()
        .with_uri(srv.url)
        .with_database_name(srv.database)
        .with_token(token)
        .with_compression("gzip")
    )


async def connect(srv: LocalServer, token: str | None = None) -> DbConnection:
    conn: DbConnection = await wait(builder(srv, token).connect())
    return conn


# ---- connecting ------------------------------------------------------------------------------


async def test_connect_identity_token_and_schema_fetch(chat: LocalServer) -> None:
    seen: list[tuple[Identity, str]] = []
    conn = await wait(
        builder(chat).on_connect(lambda c, ident, tok: seen.append((ident, tok))).connect()
    )
    try:
        assert conn.is_active and conn.identity is not None and conn.token
        assert seen == [(conn.identity, conn.token)]
        assert sorted(dir(conn.db)) == ["message", "user"]
        assert "identity" in dir(conn.db.user) and "on_insert" in dir(conn.db.user)
        assert "token" not in repr(conn) or "eyJ" not in repr(conn)
    finally:
        await wait(conn.disconnect())
    assert not conn.is_active


async def test_reconnect_with_saved_token_keeps_identity(chat: LocalServer) -> None:
    first = await connect(chat)
    identity, token, conn_id = first.identity, first.token, first.connection_id
    await wait(first.disconnect())
    second = await connect(chat, token)
    try:
        assert second.identity == identity
        assert second.token == token
        assert second.connection_id != conn_id  # reconnect_different_connection_id
    finally:
        await wait(second.disconnect())


# ---- reducers, callbacks, events ---------------------------------------------------------------


async def test_caller_gets_reducer_events_others_get_transactions(chat: LocalServer) -> None:
    alice, bob = await connect(chat), await connect(chat)
    try:
        alice_seen: list[Any] = []
        bob_seen: asyncio.Queue[Any] = asyncio.Queue()
        alice.db.user.on_update(lambda ctx, old, new: alice_seen.append((ctx.event, old, new)))
        bob.db.user.on_update(lambda ctx, old, new: bob_seen.put_nowait((ctx.event, old, new)))
        await wait(
            alice.subscription_builder().subscribe(["SELECT * FROM user", "SELECT * FROM message"])
        )
        await wait(
            bob.subscription_builder().subscribe(["SELECT * FROM user", "SELECT * FROM message"])
        )
        assert {u.identity for u in alice.db.user} == {alice.identity, bob.identity}

        result = await wait(alice.reducers.set_name(name="Alice"))
        assert result is None
        # The reducer's own row callbacks ran before the call resolved.
        [(event, old, new)] = alice_seen
        assert isinstance(event, ReducerEvent) and isinstance(event.status, Committed)
        assert event.reducer.name == "set_name" and event.reducer.args == {"name": "Alice"}
        assert (old.name, new.name) == (None, "Alice") and new.identity == alice.identity

        bob_event, _, bob_new = await wait(bob_seen.get())
        assert isinstance(bob_event, Transaction) and bob_new.name == "Alice"
        assert bob.db.user.identity.find(alice.identity).name == "Alice"

        got: asyncio.Queue[Any] = asyncio.Queue()
        bob.db.message.on_insert(lambda ctx, row: got.put_nowait((ctx.event, row)))
        await wait(alice.reducers.send_message(text="hello Bob"))
        ev, row = await wait(got.get())
        assert (
            isinstance(ev, Transaction) and row.text == "hello Bob" and row.sender == alice.identity
        )
    finally:
        await wait(alice.disconnect())
        await wait(bob.disconnect())


async def test_reducer_error_is_raised_and_changes_nothing(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        await wait(conn.subscription_builder().subscribe("SELECT * FROM user"))
        events: list[Any] = []
        with pytest.raises(ReducerError, match="Names must not be empty"):
            await wait(conn.reducers.set_name.then(lambda ctx: events.append(ctx.event), name=""))
        [event] = events
        assert (
            isinstance(event.status, Failed) and event.status.message == "Names must not be empty"
        )
        assert conn.db.user.identity.find(conn.identity).name is None
        # caller_always_notified: a no-op still completes for the caller.
        await wait(conn.reducers.set_name(name="ok"))
    finally:
        await wait(conn.disconnect())


async def test_unsubscribe_removes_rows_with_on_delete(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        deleted: list[Any] = []
        conn.db.user.on_delete(lambda ctx, row: deleted.append(row))
        handle = await wait(conn.subscription_builder().subscribe("SELECT * FROM user"))
        assert handle.is_active and conn.db.user.count() == 1
        await wait(handle.unsubscribe())
        assert handle.is_ended and not handle.is_active
        assert conn.db.user.count() == 0 and [r.identity for r in deleted] == [conn.identity]
    finally:
        await wait(conn.disconnect())


async def test_subscription_error_calls_on_error_never_on_applied(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        applied: list[Any] = []
        errors: list[Exception] = []
        sub = (
            conn.subscription_builder()
            .on_applied(applied.append)
            .on_error(lambda ctx, err: errors.append(err))
            .subscribe("SELEcCT * FROM user")
        )
        with pytest.raises(SubscriptionError):
            await wait(sub)
        assert applied == [] and len(errors) == 1 and sub.is_ended
        with pytest.raises(SubscriptionError, match=r"no such table: `message_typo`"):
            await wait(conn.subscription_builder().subscribe("SELECT * FROM message_typo"))
        assert conn.is_active  # errors are per subscription, not fatal
    finally:
        await wait(conn.disconnect())


async def test_subscribe_and_cancel(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        applied: list[Any] = []
        handle = (
            conn.subscription_builder().on_applied(applied.append).subscribe("SELECT * FROM user")
        )
        assert not handle.is_active and not handle.is_ended
        await wait(handle.unsubscribe())
        assert handle.is_ended and applied == [] and conn.db.user.count() == 0
    finally:
        await wait(conn.disconnect())


async def test_overlapping_subscriptions_deduplicate_rows(sdk: LocalServer) -> None:
    """upstream row_deduplication: n<100 and n<200 overlap; one callback per change."""
    conn = await connect(sdk)
    try:
        log: list[tuple[Any, ...]] = []
        t = conn.db.pk_u_32
        t.on_insert(lambda ctx, r: log.append(("insert", r.n, r.data)))
        t.on_delete(lambda ctx, r: log.append(("delete", r.n, r.data)))
        t.on_update(lambda ctx, o, n: log.append(("update", n.n, o.data, n.data)))
        await wait(conn.subscription_builder().subscribe("SELECT * FROM pk_u_32 WHERE n < 100"))
        await wait(conn.subscription_builder().subscribe("SELECT * FROM pk_u_32 WHERE n < 200"))
        await wait(conn.reducers.insert_pk_u32(n=24, data=0xBEEF))
        await wait(conn.reducers.insert_pk_u32(n=42, data=0xBEEF))
        await wait(conn.reducers.delete_pk_u32(n=24))
        await wait(conn.reducers.update_pk_u32(n=42, data=0xFEEB))
        assert log == [
            ("insert", 24, 0xBEEF),
            ("insert", 42, 0xBEEF),
            ("delete", 24, 0xBEEF),
            ("update", 42, 0xBEEF, 0xFEEB),
        ]
        assert [(r.n, r.data) for r in t] == [(42, 0xFEEB)]
        assert t.n.find(42).data == 0xFEEB
    finally:
        await wait(conn.disconnect())


async def test_failed_reducer_rolls_back_and_keeps_cache(sdk: LocalServer) -> None:
    conn = await connect(sdk)
    try:
        await wait(conn.subscription_builder().subscribe("SELECT * FROM pk_u_32"))
        await wait(conn.reducers.insert_pk_u32(n=128, data=1))
        with pytest.raises(ReducerError, match="this reducer always fails"):
            await wait(conn.reducers.always_fails())
        with pytest.raises(
            InternalError, match=r"Unique constraint violation 'pk_u_32_n_idx_btree'"
        ):
            await wait(conn.reducers.insert_pk_u32(n=128, data=2))
        assert [(r.n, r.data) for r in conn.db.pk_u_32] == [(128, 1)]
    finally:
        await wait(conn.disconnect())


async def test_btree_index_filter_over_live_rows(sdk: LocalServer) -> None:
    conn = await connect(sdk)
    try:
        await wait(conn.subscription_builder().subscribe("SELECT * FROM btree_u_32"))
        Row = conn.db.btree_u_32._binding.row_class
        await wait(conn.reducers.insert_btree_u32(rows=[Row(n=i % 5, data=i) for i in range(20)]))
        from spacetimedb_sdk.client.indexes import Range

        assert sorted(r.data for r in conn.db.btree_u_32.n.filter(3)) == [3, 8, 13, 18]
        assert len(list(conn.db.btree_u_32.n.filter(Range(ge=1, lt=3)))) == 8
    finally:
        await wait(conn.disconnect())


async def test_event_tables_deliver_inserts_and_store_nothing(sdk: LocalServer) -> None:
    conn = await connect(sdk)
    try:
        got: list[tuple[Any, str, int]] = []
        conn.db.test_event.on_insert(lambda ctx, r: got.append((ctx.event, r.name, r.value)))
        await wait(conn.subscription_builder().subscribe("SELECT * FROM test_event"))
        await wait(conn.reducers.emit_test_event(name="hello", value=42))
        assert [(n, v) for _, n, v in got] == [("hello", 42)]
        assert isinstance(got[0][0], ReducerEvent) and conn.db.test_event.count() == 0
        await wait(conn.reducers.emit_three_events())
        assert [n for _, n, _ in got[1:]] == ["e0", "e1", "e2"]
        await wait(conn.reducers.no_op_succeeds())  # events_dont_persist
        assert len(got) == 4 and conn.db.test_event.count() == 0
    finally:
        await wait(conn.disconnect())


async def test_procedures_return_values_and_transactions(sdk: LocalServer) -> None:
    conn = await connect(sdk)
    try:
        assert await wait(conn.procedures.return_primitive(lhs=2, rhs=3)) == 5
        assert await wait(conn.procedures.return_primitive(40, 2)) == 42
        inserted: asyncio.Queue[Any] = asyncio.Queue()
        conn.db.pk_u_32.on_insert(lambda ctx, r: inserted.put_nowait(r))
        await wait(conn.subscription_builder().subscribe("SELECT * FROM pk_u_32"))
        assert await wait(conn.procedures.insert_with_tx(n=7)) == 7
        row = await wait(inserted.get())
        assert (row.n, row.data) == (7, -1)
        await wait(conn.reducers.insert_pk_u32(n=8, data=1))
        with pytest.raises(ProcedureError, match="Unique constraint violation"):
            await wait(conn.procedures.insert_with_tx(n=8))  # duplicate key inside its transaction
        assert conn.db.pk_u_32.n.find(8).data == 1
    finally:
        await wait(conn.disconnect())


async def test_one_off_queries(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        rows = await wait(conn.one_off_query("SELECT * FROM user"))
        assert [r.identity for r in rows] == [conn.identity]
        assert conn.db.user.count() == 0  # one-off queries do not touch the cache
        with pytest.raises(QueryError):
            await wait(conn.one_off_query("SELECT * FROM nope"))
    finally:
        await wait(conn.disconnect())


async def test_changes_async_iterator(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        await wait(conn.subscription_builder().subscribe("SELECT * FROM message"))
        stream = conn.db.message.changes()
        await wait(conn.reducers.send_message(text="one"))
        change = await wait(stream.__anext__())
        assert type(change).__name__ == "Insert" and change.row.text == "one"
        await stream.aclose()
    finally:
        await wait(conn.disconnect())


@pytest.mark.parametrize("compression", ["none", "gzip", "brotli"])
async def test_compressions_and_v2_only(chat: LocalServer, compression: str) -> None:
    other = await connect(chat)
    try:
        for i in range(40):  # enough rows that the snapshot exceeds the 1024-byte threshold
            await wait(other.reducers.send_message(text=f"message number {i} " + "x" * 20))
        for protocols in (
            ["v3.bsatn.spacetimedb", "v2.bsatn.spacetimedb"],
            ["v2.bsatn.spacetimedb"],
        ):
            conn = await wait(
                builder(chat).with_compression(compression).with_subprotocols(protocols).connect()  # type: ignore[arg-type]
            )
            try:
                await wait(conn.subscription_builder().subscribe("SELECT * FROM message"))
                assert conn.db.message.count() == 40
            finally:
                await wait(conn.disconnect())
    finally:
        await wait(other.disconnect())


# ---- synchronous front ends ----------------------------------------------------------------------


def test_thread_mode(tmp_path: Path) -> None:
    with LocalServer(CHAT, database="quickstart-chat") as srv:
        conn = builder(srv).connect_sync(mode="thread")
        try:
            threads: list[str] = []
            conn.db.user.on_update(
                lambda ctx, old, new: threads.append(threading.current_thread().name)
            )
            handle = conn.subscription_builder().subscribe_sync("SELECT * FROM user", timeout=T)
            assert handle.is_active and conn.db.user.count() == 1
            conn.reducers.set_name(name="Thread").result(T)
            assert conn.db.user.identity.find(conn.identity).name == "Thread"
            assert threads and threads[0] != threading.current_thread().name
            assert conn.procedures  # attribute view exists in every mode
        finally:
            conn.disconnect().result(T)


def test_tick_mode_runs_callbacks_only_in_frame_tick() -> None:
    with LocalServer(CHAT, database="quickstart-chat") as srv:
        conn = builder(srv).connect_sync(mode="tick")
        try:
            main = threading.current_thread().name
            seen: list[str] = []
            conn.db.message.on_insert(lambda ctx, row: seen.append(threading.current_thread().name))
            conn.subscription_builder().subscribe_sync("SELECT * FROM message", timeout=T)
            call = conn.reducers.send_message(text="tick tock")
            call.result(T)  # ticks while waiting
            assert seen == [main]
            # Another client's message arrives on the network thread but waits for a tick.
            other = builder(srv).connect_sync(mode="thread")
            try:
                other.reducers.send_message(text="from other").result(T)
            finally:
                other.disconnect().result(T)
            deadline = threading.Event()
            for _ in range(200):
                conn.frame_tick()
                if len(seen) == 2:
                    break
                conn._driver.tick_ready.wait(0.05) or deadline.is_set()
            assert seen == [main, main] and conn.db.message.count() == 2
        finally:
            conn.disconnect().result(T)


# ---- reconnection ----------------------------------------------------------------------------------


async def test_reconnect_across_server_restart_reconciles_cache() -> None:
    srv = LocalServer(sdk_module.module, database="sdk-test")
    await srv.start_async()
    port, issuer = srv.port, srv.issuer
    reconnected = asyncio.Event()
    conn = await wait(
        builder(srv)
        .with_reconnect(min_delay=0.05, max_delay=0.2, jitter=0.1)
        .on_reconnected(lambda c: reconnected.set())
        .connect()
    )
    log: list[tuple[Any, ...]] = []
    try:
        t = conn.db.pk_u_32
        await wait(conn.subscription_builder().subscribe("SELECT * FROM pk_u_32"))
        for n in (1, 2, 3):
            await wait(conn.reducers.insert_pk_u32(n=n, data=n))
        identity = conn.identity
        t.on_insert(lambda ctx, r: log.append(("insert", r.n)))
        t.on_delete(lambda ctx, r: log.append(("delete", r.n)))
        t.on_update(lambda ctx, o, n: log.append(("update", n.n, o.data, n.data)))
        await srv.stop_async()

        # The restarted server has: 1 unchanged, 2 changed, 3 gone, 4 new.
        srv2 = LocalServer(sdk_module.module, database="sdk-test", port=port, issuer=issuer)
        for n, data in ((1, 1), (2, 20), (4, 4)):
            srv2.db.call_reducer("insert_pk_u32", n, data, sender=srv2.owner_identity)
        await srv2.start_async()
        try:
            await wait(reconnected.wait())
            await wait(conn.reducers.no_op_succeeds())  # the resubscription is applied by now
            assert sorted(log) == [("delete", 3), ("insert", 4), ("update", 2, 2, 20)]
            assert sorted((r.n, r.data) for r in t) == [(1, 1), (2, 20), (4, 4)]
            assert conn.identity == identity
        finally:
            await wait(conn.disconnect())
            await srv2.stop_async()
    finally:
        if srv._runner is not None:
            await srv.stop_async()


async def test_subscribe_to_all_tables(sdk: LocalServer) -> None:
    conn = await connect(sdk)
    try:
        await wait(conn.reducers.insert_pk_u32(n=1, data=1))
        handle = await wait(conn.subscription_builder().subscribe_to_all_tables())
        assert sorted(handle.queries) == sorted(
            f'SELECT * FROM "{t}"' for t in ("pk_u_32", "unique_u_32", "btree_u_32", "test_event")
        )
        assert [(r.n, r.data) for r in conn.db.pk_u_32] == [(1, 1)]
    finally:
        await wait(conn.disconnect())


async def test_many_connections_in_one_process_are_independent(chat: LocalServer) -> None:
    conns = [await connect(chat) for _ in range(5)]
    try:
        await wait(conns[0].subscription_builder().subscribe("SELECT * FROM user"))
        assert conns[0].db.user.count() == 5 and all(c.db.user.count() == 0 for c in conns[1:])
        assert len({c.identity for c in conns}) == 5
    finally:
        for c in conns:
            await wait(c.disconnect())


async def test_cancelling_one_awaiter_does_not_cancel_the_call(chat: LocalServer) -> None:
    conn = await connect(chat)
    try:
        pending: Pending[int] = Pending(conn, "a call")
        first = asyncio.ensure_future(_await(pending))
        second = asyncio.ensure_future(_await(pending))
        await asyncio.sleep(0)  # let both awaiters start waiting (a scheduling yield)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        pending._set(5)
        assert await wait(second) == 5  # still completes for the other awaiter
        assert pending.done() and await pending == 5
    finally:
        await wait(conn.disconnect())


async def _await(p: Any) -> Any:
    return await p


@pytest.mark.parametrize("mode", ["thread", "tick"])
def test_sync_modes_leave_no_thread_or_loop_behind(mode: str) -> None:
    with LocalServer(CHAT, database="quickstart-chat") as srv:
        conn = builder(srv).connect_sync(mode=mode)  # type: ignore[arg-type]
        thread, loop = conn._driver.thread, conn._driver.loop
        assert thread is not None and thread.is_alive()
        conn.disconnect().result(T)
        if mode == "tick":
            conn.frame_tick()
        thread.join(T)
        assert not thread.is_alive() and loop is not None and loop.is_closed()
        assert getattr(conn._driver, "tick_loop", None) is None


async def test_to_pandas_builds_a_frame_from_the_cached_rows(
    chat: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pandas is not a dependency: a stand-in module records what to_pandas hands it."""
    import sys
    import types

    class DataFrame:
        def __init__(self, data: list[dict[str, Any]], columns: list[str]) -> None:
            self.data, self.columns = data, columns

    monkeypatch.setitem(sys.modules, "pandas", types.SimpleNamespace(DataFrame=DataFrame))
    conn = await connect(chat)
    try:
        await wait(conn.subscription_builder().subscribe("SELECT * FROM user"))
        frame = conn.db.user.to_pandas()
        assert frame.columns == ["identity", "name", "online"]
        assert frame.data == [{"identity": conn.identity, "name": None, "online": True}]
    finally:
        await wait(conn.disconnect())
    monkeypatch.delitem(sys.modules, "pandas")
    monkeypatch.setattr("builtins.__import__", _no_pandas(__import__))
    with pytest.raises(ImportError, match="pip install pandas"):
        conn.db.user.to_pandas()


def _no_pandas(real: Any) -> Any:
    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *args, **kwargs)

    return fake


async def test_async_callbacks_run_inside_a_task(chat: LocalServer) -> None:
    """An ``async`` callback may use what needs a task (``asyncio.timeout``,
    ``current_task``), though the transport applies frames in its socket callback."""
    alice = await connect(chat)
    try:
        seen: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()

        async def on_insert(ctx: Any, row: Any) -> None:
            async with asyncio.timeout(10):
                seen.put_nowait((row.text, asyncio.current_task() is not None))

        alice.db.message.on_insert(on_insert)
        await wait(alice.subscription_builder().subscribe("SELECT * FROM message"))
        await wait(alice.reducers.send_message(text="in a task"))
        assert await wait(seen.get()) == ("in a task", True)
    finally:
        await wait(alice.disconnect())


async def test_async_callback_holds_back_later_messages(chat: LocalServer) -> None:
    """Messages are applied one at a time, in order, even when an ``async`` row callback
    waits: the frames behind it stay unapplied until it is done."""
    alice, bob = await connect(chat), await connect(chat)
    try:
        gate = asyncio.Event()
        order: list[tuple[str, str, int]] = []
        started: asyncio.Queue[str] = asyncio.Queue()
        done: asyncio.Queue[str] = asyncio.Queue()

        async def on_insert(ctx: Any, row: Any) -> None:
            order.append(("start", row.text, bob.db.message.count()))
            started.put_nowait(row.text)
            if row.text == "one":
                await gate.wait()
            order.append(("end", row.text, bob.db.message.count()))
            done.put_nowait(row.text)

        bob.db.message.on_insert(on_insert)
        await wait(bob.subscription_builder().subscribe("SELECT * FROM message"))
        for text in ("one", "two", "three"):
            await wait(alice.reducers.send_message(text=text))
        assert await wait(started.get()) == "one"
        gate.set()
        assert [await wait(done.get()) for _ in range(3)] == ["one", "two", "three"]
        assert order == [
            ("start", "one", 1),
            ("end", "one", 1),
            ("start", "two", 2),
            ("end", "two", 2),
            ("start", "three", 3),
            ("end", "three", 3),
        ]
    finally:
        await wait(alice.disconnect())
        await wait(bob.disconnect())
