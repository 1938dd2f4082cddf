"""``conn.identity`` / ``conn.connection_id`` are plain values once connected, errors before.

Like upstream's Rust SDK (``identity()`` panics before the server sent it, ``try_identity()``
returns an ``Option``), reading them before connecting raises a clear error instead of
handing out ``None``, so connected code is typed ``Identity`` without a ``None`` check.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from spacetimedb_sdk import ConnectionId, DbConnection, Identity, SpacetimeDBError
from spacetimedb_sdk.server import LocalServer
from spacetimedb_sdk.server.local import load_module

ROOT = Path(__file__).resolve().parents[2]
CHAT = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")
T = 10.0


async def test_identity_before_and_after_connect() -> None:
    async with LocalServer(CHAT, database="quickstart-chat") as srv:
        errors: list[tuple[Identity | None, Exception]] = []
        conn = (
            DbConnection.builder()
            .with_uri(srv.url)
            .with_database_name(srv.database)
            .on_connect_error(lambda ctx, e: errors.append((ctx.try_identity(), e)))
            .build()
        )
        assert conn.try_identity() is None and conn.try_connection_id() is None
        with pytest.raises(
            SpacetimeDBError, match=r"conn\.identity is not known yet.*try_identity"
        ):
            _ = conn.identity
        with pytest.raises(SpacetimeDBError, match=r"conn\.connection_id is not known yet"):
            _ = conn.connection_id
        assert "identity=None" in repr(conn)  # the repr never raises

        seen: list[Identity] = []
        async with conn:
            assert isinstance(conn.identity, Identity)
            assert isinstance(conn.connection_id, ConnectionId)
            assert conn.try_identity() == conn.identity
            await asyncio.wait_for(conn.subscription_builder().subscribe("SELECT * FROM user"), T)
            conn.db.user.on_update(lambda ctx, old, new: seen.append(ctx.identity))
            await asyncio.wait_for(conn.reducers.set_name(name="typed"), T)
            assert repr(conn.db) == "<conn.db: message (0 rows), user (1 rows)>"
            assert repr(conn.reducers) == "<conn.reducers: send_message(text), set_name(name)>"
            assert conn.token is not None and conn.token not in repr(conn)
        assert seen == [conn.identity]  # contexts give the same plain value
        assert conn.identity == seen[0]  # still known after disconnecting
        assert errors == []
