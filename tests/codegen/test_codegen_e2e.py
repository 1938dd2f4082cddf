"""Bindings generated from a running local server's ``/schema`` drive that server end to end:
typed rows in callbacks, typed reducer calls, index lookups, query-builder subscriptions.

Every wait is bounded; nothing sleeps: each step awaits the event that proves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from codegen_support import CHAT_MODULE, SERVER_PACKAGE, Generated

from spacetimedb_sdk.errors import ReducerError
from spacetimedb_sdk.server.local import LocalServer, load_module

T = 10.0


async def wait(aw: Any) -> Any:
    return await asyncio.wait_for(aw, T)


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with LocalServer(load_module(CHAT_MODULE), database="quickstart-chat") as srv:
        yield srv


@pytest.fixture
def mb(generated: Generated) -> Any:
    return generated.load(SERVER_PACKAGE)


async def connect(mb: Any, srv: LocalServer) -> Any:
    builder = mb.DbConnection.builder().with_uri(srv.url).with_database_name(srv.database)
    return await wait(builder.connect())


async def test_generated_bindings_drive_the_local_server(mb: Any, server: LocalServer) -> None:
    conn = await connect(mb, server)
    other = None
    try:
        assert isinstance(conn.db, mb.RemoteTables)
        online: dict[Any, Any] = {}
        left = asyncio.get_running_loop().create_future()
        messages: asyncio.Queue[Any] = asyncio.Queue()
        renamed = asyncio.get_running_loop().create_future()

        def user_in(ctx: Any, user: Any) -> None:
            assert isinstance(user, mb.User)
            online[user.identity] = user

        def user_out(ctx: Any, user: Any) -> None:
            if user.identity != conn.identity and not left.done():
                left.set_result(user)

        def user_changed(ctx: Any, old: Any, new: Any) -> None:
            assert isinstance(old, mb.User) and isinstance(new, mb.User)
            if not renamed.done():
                renamed.set_result((old, new))

        conn.db.user.on_insert(user_in)
        conn.db.user.on_delete(user_out)
        conn.db.user.on_update(user_changed)
        conn.db.message.on_insert(lambda ctx, m: messages.put_nowait(m))

        # Typed queries: only online users, all messages.
        handle = await wait(
            conn.subscription_builder()
            .add_query(lambda q: q.user.where(q.user.online))
            .add_query(lambda q: q.message)
            .subscribe()
        )
        assert handle.queries == [
            'SELECT * FROM "user" WHERE "user"."online" = TRUE',
            'SELECT * FROM "message"',
        ]
        me = conn.db.user.identity.find(conn.identity)
        assert isinstance(me, mb.User) and me.online and me.name is None
        assert online[conn.identity] == me

        # Typed reducer calls; the row callbacks ran before the call resolves.
        await wait(conn.reducers.set_name(name="Alice"))
        old, new = renamed.result()
        assert (old.name, new.name) == (None, "Alice")
        assert conn.db.user.identity.find(conn.identity).name == "Alice"
        await wait(conn.reducers.send_message("hello"))
        msg = await wait(messages.get())
        assert isinstance(msg, mb.Message)
        assert (msg.sender, msg.text) == (conn.identity, "hello")
        assert [m.text for m in conn.db.message] == ["hello"]

        with pytest.raises(ReducerError, match="Names must not be empty"):
            await wait(conn.reducers.set_name(""))

        # Another client comes online, then leaves: it drops out of the online-only query.
        other = await connect(mb, server)
        other_id = other.identity
        await wait(other.disconnect())
        other = None
        gone = await wait(left)
        assert isinstance(gone, mb.User) and gone.identity == other_id
        assert conn.db.user.identity.find(other_id) is None
        assert conn.db.user.count() == 1

        # A semijoin-free typed filter on a non-indexed column works as a one-off query too.
        rows = await wait(
            conn.one_off_query(
                mb.QueryBuilder().message.where(mb.QueryBuilder().message.text == "hello").to_sql()
            )
        )
        assert [r.text for r in rows] == ["hello"]
    finally:
        if other is not None:
            await wait(other.disconnect())
        await wait(conn.disconnect())


async def test_dynamic_connection_offers_the_same_query_surface(server: LocalServer) -> None:
    from spacetimedb_sdk.connection import DbConnection

    conn = await wait(
        DbConnection.builder().with_uri(server.url).with_database_name(server.database).connect()
    )
    try:
        handle = await wait(
            conn.subscription_builder().add_query(lambda q: q.user.where(q.user.online)).subscribe()
        )
        assert handle.queries == ['SELECT * FROM "user" WHERE "user"."online" = TRUE']
        me = conn.db.user.identity.find(conn.identity)
        assert me is not None and me.online
    finally:
        await wait(conn.disconnect())
