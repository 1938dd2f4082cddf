"""Upstream's view scenarios (``view-client``) on ``sdk-test-view``.

Subscriptions to an anonymous view, to per-caller views (returning a table's rows or another
type), query-builder subscriptions, view updates as the rows they read change, and a per-caller
view that keeps updating after another client disconnects.
"""

from __future__ import annotations

from typing import Any

from harness import Checks, Db, committed, subscribe_these_then

from spacetimedb_sdk import Identity

MODULE = "sdk_test_view"


def identity_of(byte: int) -> Identity:
    """``Identity::from_byte_array([byte; 32])``."""
    return Identity.from_bytes(bytes([byte]) * 32)


def _insert_four_delete_one(ctx: Any, checks: Checks) -> None:
    r = ctx.reducers
    r.insert_player.then(committed(checks, "insert_player"), identity_of(1), 1)
    r.insert_player.then(committed(checks, "insert_player"), identity_of(2), 0)
    r.insert_player.then(committed(checks, "insert_player"), identity_of(3), 1)
    r.insert_player.then(committed(checks, "insert_player"), identity_of(4), 0)
    r.delete_player.then(committed(checks, "delete_player"), identity_of(4))


def _level_0_callbacks(table: Any, checks: Checks) -> None:
    insert_0, insert_1 = checks.add("insert_0"), checks.add("insert_1")
    delete_1 = checks.add("delete_1")

    def on_insert(ctx: Any, player: Any) -> None:
        if player.identity == identity_of(2):
            insert_0.ok()
        elif player.identity == identity_of(4):
            insert_1.ok()
        else:
            checks.unexpected(f"unexpected identity on insert: {player.identity}")

    def on_delete(ctx: Any, player: Any) -> None:
        if player.identity == identity_of(4):
            delete_1.ok()
        else:
            checks.unexpected(f"unexpected identity on delete: {player.identity}")

    table.on_insert(on_insert)
    table.on_delete(on_delete)


async def test_subscribe_anonymous_view(db: Db) -> None:
    checks = Checks()

    def on_applied(ctx: Any) -> None:
        _level_0_callbacks(ctx.db.players_at_level_0, checks)
        _insert_four_delete_one(ctx, checks)

    await db.connect(
        checks,
        then=lambda c: subscribe_these_then(
            c, ["SELECT * FROM players_at_level_0"], checks, on_applied
        ),
    )
    await checks.wait()


async def test_subscribe_anonymous_view_query_builder(db: Db) -> None:
    checks = Checks()

    def on_applied(ctx: Any) -> None:
        _level_0_callbacks(ctx.db.player, checks)
        _insert_four_delete_one(ctx, checks)

    def then(conn: Any) -> None:
        (
            conn.subscription_builder()
            .on_error(lambda ctx, err: checks.unexpected(f"subscription errored: {err!r}"))
            .on_applied(on_applied)
            .add_query(
                lambda q: q.player_level.where(lambda pl: pl.level == 0).right_semijoin(
                    q.player, lambda lvl, pl: lvl.entity_id == pl.entity_id
                )
            )
            .subscribe()
        )

    await db.connect(checks, then=then)
    await checks.wait()


def _my_rows_then_others(ctx: Any, checks: Checks, table: Any, level: int, fields: Any) -> None:
    """Insert a row for someone else and for me, then delete both: only mine shows."""
    me = ctx.identity
    inserted, deleted = checks.add("insert"), checks.add("delete")

    def on_insert(ev: Any, row: Any) -> None:
        with inserted:
            assert row.identity == me
            fields(row)

    def on_delete(ev: Any, row: Any) -> None:
        with deleted:
            assert row.identity == me
            fields(row)

    table.on_insert(on_insert)
    table.on_delete(on_delete)
    r = ctx.reducers
    r.insert_player.then(committed(checks, "insert_player"), identity_of(1), 0)
    r.insert_player.then(committed(checks, "insert_player"), me, level)
    r.delete_player.then(committed(checks, "delete_player"), identity_of(1))
    r.delete_player.then(committed(checks, "delete_player"), me)


async def test_subscribe_non_anonymous_view(db: Db) -> None:
    checks = Checks()

    def on_applied(ctx: Any) -> None:
        _my_rows_then_others(ctx, checks, ctx.db.my_player, 0, lambda row: None)

    await db.connect(
        checks,
        then=lambda c: subscribe_these_then(c, ["SELECT * FROM my_player"], checks, on_applied),
    )
    await checks.wait()


def _level_is_1(row: Any) -> None:
    assert row.level == 1


async def test_subscribe_view_non_table_return(db: Db) -> None:
    checks = Checks()

    def on_applied(ctx: Any) -> None:
        _my_rows_then_others(ctx, checks, ctx.db.my_player_and_level, 1, _level_is_1)

    await db.connect(
        checks,
        then=lambda c: subscribe_these_then(
            c, ["SELECT * FROM my_player_and_level"], checks, on_applied
        ),
    )
    await checks.wait()


async def test_subscribe_view_non_table_query_builder_return(db: Db) -> None:
    checks = Checks()

    def on_applied(ctx: Any) -> None:
        _my_rows_then_others(ctx, checks, ctx.db.my_player_and_level, 1, _level_is_1)

    def then(conn: Any) -> None:
        (
            conn.subscription_builder()
            .on_error(lambda ctx, err: checks.unexpected(f"subscription errored: {err!r}"))
            .on_applied(on_applied)
            .add_query(lambda q: q.my_player_and_level.where(lambda p: p.level == 1))
            .subscribe()
        )

    await db.connect(checks, then=then)
    await checks.wait()


async def test_subscription_updates_for_view(db: Db) -> None:
    checks = Checks()
    insert_0, delete_0 = checks.add("insert_0"), checks.add("delete_0")

    def on_applied_0(ctx: Any) -> None:
        def on_insert(ev: Any, loc: Any) -> None:
            with insert_0:
                assert (loc.x, loc.y) == (2, 2)

        def on_delete(ev: Any, loc: Any) -> None:
            with delete_0:
                assert (loc.x, loc.y) == (2, 2)

        ctx.db.nearby_players.on_insert(on_insert)
        ctx.db.nearby_players.on_delete(on_delete)
        # Player 0 at (0, 0).
        ctx.reducers.move_player.then(committed(checks, "move_player"), 0, 0)

    await db.connect(
        checks,
        suffix="0",
        then=lambda c: subscribe_these_then(
            c, ["SELECT * FROM nearby_players"], checks, on_applied_0
        ),
    )

    insert_1, delete_1 = checks.add("insert_1"), checks.add("delete_1")

    def on_applied_1(ctx: Any) -> None:
        def on_insert(ev: Any, loc: Any) -> None:
            with insert_1:
                assert (loc.x, loc.y) == (0, 0)
            # Move player 1 out of player 0's sight.
            ev.reducers.move_player.then(committed(checks, "move_player"), 3, 3)

        def on_delete(ev: Any, loc: Any) -> None:
            with delete_1:
                assert (loc.x, loc.y) == (0, 0)

        ctx.db.nearby_players.on_insert(on_insert)
        ctx.db.nearby_players.on_delete(on_delete)
        # Player 1 at (2, 2).
        ctx.reducers.move_player.then(committed(checks, "move_player"), 2, 2)

    await db.connect(
        checks,
        suffix="1",
        then=lambda c: subscribe_these_then(
            c, ["SELECT * FROM nearby_players"], checks, on_applied_1
        ),
    )
    await checks.wait()


async def _connect_my_player_client(
    db: Db, checks: Checks, inserted: Any, deleted: Any, disconnected: Any
) -> Any:
    """Subscribe to ``my_player`` and create this client's player."""

    def on_disconnect(ctx: Any, error: Exception | None) -> None:
        if ctx.is_active():
            checks.unexpected("on_disconnect callback, but ctx.is_active() is true")
        if disconnected is not None:
            with disconnected:
                assert error is None, error
        elif error is not None:
            checks.unexpected(f"disconnect errored: {error!r}")

    def on_applied(ctx: Any) -> None:
        me = ctx.identity

        def on_insert(ev: Any, player: Any) -> None:
            if player.identity == me and inserted is not None and not inserted.done:
                inserted.ok()

        def on_delete(ev: Any, player: Any) -> None:
            if player.identity == me and deleted is not None and not deleted.done:
                deleted.ok()

        ctx.db.my_player.on_insert(on_insert)
        ctx.db.my_player.on_delete(on_delete)
        ctx.reducers.insert_player.then(committed(checks, "insert_player"), me, 0)

    return await db.connect(
        checks,
        suffix=None,
        configure=lambda b: b.on_disconnect(on_disconnect),
        then=lambda c: subscribe_these_then(c, ["SELECT * FROM my_player"], checks, on_applied),
    )


async def test_disconnect_does_not_break_sender_view_updates(db: Db) -> None:
    conn1_insert, conn1_delete = Checks(), Checks()
    conn1 = await _connect_my_player_client(
        db,
        conn1_insert,
        conn1_insert.add("conn1 initial insert"),
        conn1_delete.add("conn1 delete after disconnect"),
        None,
    )
    await conn1_insert.wait()

    conn2_insert, conn2_disconnect = Checks(), Checks()
    conn2 = await _connect_my_player_client(
        db, conn2_insert, conn2_insert.add("conn2 initial insert"), None,
        conn2_disconnect.add("conn2 disconnect"),
    )  # fmt: skip
    await conn2_insert.wait()

    # After client 2 disconnects, client 1 still gets deletes from the per-caller view.
    await conn2.disconnect()
    await conn2_disconnect.wait()
    conn1.reducers.delete_player.then(committed(conn1_delete, "delete_player"), conn1.identity)
    await conn1_delete.wait()
    await conn1.disconnect()
