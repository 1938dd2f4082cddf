"""Upstream's ``connect_disconnect_callbacks`` scenario (``connect_disconnect_client``) on
``sdk-test-connect-disconnect``: the module's lifecycle reducers record each connect and
disconnect, and a client sees its own after reconnecting.
"""

from __future__ import annotations

from typing import Any

from harness import Checks, Db

MODULE = "sdk_test_connect_disconnect"


async def test_connect_disconnect_callbacks(db: Db) -> None:
    disconnect_checks = Checks()
    disconnected = disconnect_checks.add("disconnect")
    checks = Checks()
    connected = checks.add("on_connect")
    connected_row = checks.add("connected_row")

    def on_connect(conn: Any, identity: Any, token: str) -> None:
        connected.ok()

        def on_applied(ctx: Any) -> None:
            with connected_row:
                assert ctx.db.connected.count() == 1
                assert next(iter(ctx.db.connected), None) is not None

        (
            conn.subscription_builder()
            .on_error(lambda ctx, err: checks.unexpected(f"subscription failed: {err!r}"))
            .on_applied(on_applied)
            .subscribe("SELECT * FROM connected")
        )

    def on_disconnect(ctx: Any, error: Exception | None) -> None:
        with disconnected:
            assert not ctx.is_active(), "on_disconnect callback, but ctx.is_active() is true"
            assert error is None, f"disconnected with an error: {error!r}"

    first = await db.connect(
        checks,
        suffix=None,
        configure=lambda b: b.on_connect(on_connect).on_disconnect(on_disconnect),
    )
    await checks.wait()
    await first.disconnect()
    await disconnect_checks.wait()

    checks = Checks()
    reconnected = checks.add("on_reconnect")
    disconnected_row = checks.add("disconnected_row")
    second = await db.connect(
        checks, suffix=None, configure=lambda b: b.on_connect(lambda c, i, t: reconnected.ok())
    )

    def on_applied(ctx: Any) -> None:
        with disconnected_row:
            assert ctx.db.disconnected.count() == 1
            assert next(iter(ctx.db.disconnected), None) is not None

    (
        second.subscription_builder()
        .on_applied(on_applied)
        .on_error(lambda ctx, err: checks.unexpected(f"subscription on_error: {err!r}"))
        .subscribe("SELECT * FROM disconnected")
    )
    await checks.wait()
