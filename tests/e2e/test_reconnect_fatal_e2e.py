"""Reconnection against the local server when retrying cannot help (issue 12).

The server restarts with another signing key (the saved token is no longer valid: 401), or
without the database (404).  A client built ``with_reconnect`` must stop, tell
``on_disconnect`` why, fail what is pending and end its subscriptions, instead of retrying
forever.  Every wait is bounded; nothing sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sdk_module

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.errors import ConnectionRejectedError, DisconnectedError
from spacetimedb_sdk.server import LocalServer

T = 10.0


@pytest.mark.parametrize(
    ("same_key", "database", "status"),
    [(False, "sdk-test", 401), (True, "another-db", 404)],
    ids=["new-signing-key", "database-gone"],
)
async def test_restart_that_invalidates_the_connection_ends_it(
    same_key: bool, database: str, status: int
) -> None:
    srv = LocalServer(sdk_module.module, database="sdk-test")
    await srv.start_async()
    port, issuer = srv.port, srv.issuer
    loop = asyncio.get_running_loop()
    disconnected: asyncio.Future[Exception | None] = loop.create_future()
    attempts: list[int] = []
    conn: DbConnection = await asyncio.wait_for(
        DbConnection.builder()
        .with_uri(srv.url)
        .with_database_name("sdk-test")
        .with_reconnect(min_delay=0.05, max_delay=0.2, jitter=0.1)
        .on_reconnecting(lambda c, e, n: attempts.append(n))
        .on_disconnect(lambda ctx, e: disconnected.set_result(e))
        .connect(),
        T,
    )
    srv2: LocalServer | None = None
    try:
        handle = await asyncio.wait_for(
            conn.subscription_builder().subscribe("SELECT * FROM pk_u_32"), T
        )
        await asyncio.wait_for(conn.reducers.insert_pk_u32(n=1, data=1), T)
        await srv.stop_async()
        kwargs: dict[str, Any] = {"issuer": issuer} if same_key else {}
        srv2 = LocalServer(sdk_module.module, database=database, port=port, **kwargs)
        await srv2.start_async()
        late = conn.reducers.insert_pk_u32(n=2, data=2)  # queued while reconnecting
        err = await asyncio.wait_for(disconnected, T)
        assert isinstance(err, ConnectionRejectedError) and err.status == status
        if status == 401:
            assert "rejected the token" in str(err) and "clear saved credentials" in str(err)
        assert conn.token is not None and conn.token not in str(err)
        with pytest.raises(DisconnectedError) as info:
            await asyncio.wait_for(late, T)
        assert info.value.__cause__ is err
        assert handle.is_ended and not conn.is_active
        assert attempts  # it did try (the first tries may find the port closed: retried)
        # The cache keeps the last rows the first server confirmed (as the official SDKs do).
        assert [(r.n, r.data) for r in conn.db.pk_u_32] == [(1, 1)]
    finally:
        if srv2 is not None:
            await srv2.stop_async()
        if srv._runner is not None:
            await srv.stop_async()
