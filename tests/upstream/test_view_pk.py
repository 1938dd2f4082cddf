"""Upstream's view-primary-key scenarios (``view-pk-client``) on ``sdk-test-view-pk``.

Query-builder views over a table with a primary key inherit it: the client gets ``on_update(old,
new)`` for a changed row, also when the view is on either side of a semijoin.
"""

from __future__ import annotations

from typing import Any

from harness import Checks, Db, committed, subscribe_these_then

MODULE = "sdk_test_view_pk"


def _expect_update(table: Any, check: Any) -> None:
    def on_update(ctx: Any, old: Any, new: Any) -> None:
        with check:
            assert (old.id, old.name) == (1, "before")
            assert (new.id, new.name) == (1, "after")

    table.on_update(on_update)


async def test_query_builder_view_with_pk_on_update_callback(db: Db) -> None:
    checks = Checks()
    updated = checks.add("on_update")

    def on_applied(ctx: Any) -> None:
        _expect_update(ctx.db.all_view_pk_players, updated)
        r = ctx.reducers
        r.insert_view_pk_player.then(committed(checks, "insert_view_pk_player"), 1, "before")
        r.update_view_pk_player.then(committed(checks, "update_view_pk_player"), 1, "after")

    await db.connect(
        checks,
        suffix="",
        then=lambda c: subscribe_these_then(
            c, ["SELECT * FROM all_view_pk_players"], checks, on_applied
        ),
    )
    await checks.wait()


async def _semijoin(db: Db, query: Any, view: str, setup: Any) -> None:
    checks = Checks()
    updated = checks.add("join_update")

    def on_applied(ctx: Any) -> None:
        _expect_update(getattr(ctx.db, view), updated)
        setup(ctx, checks)
        ctx.reducers.update_view_pk_player.then(
            committed(checks, "update_view_pk_player"), 1, "after"
        )

    def then(conn: Any) -> None:
        (
            conn.subscription_builder()
            .on_error(lambda ctx, err: checks.unexpected(f"subscription errored: {err!r}"))
            .on_applied(on_applied)
            .add_query(query)
            .subscribe()
        )

    await db.connect(checks, suffix="", then=then)
    await checks.wait()


async def test_query_builder_join_table_with_view_pk(db: Db) -> None:
    def setup(ctx: Any, checks: Checks) -> None:
        r = ctx.reducers
        r.insert_view_pk_player.then(committed(checks, "insert_view_pk_player"), 1, "before")
        r.insert_view_pk_membership.then(committed(checks, "insert_view_pk_membership"), 1, 1)

    await _semijoin(
        db,
        lambda q: q.view_pk_membership.right_semijoin(
            q.all_view_pk_players, lambda membership, player: membership.player_id == player.id
        ),
        "all_view_pk_players",
        setup,
    )


async def test_query_builder_semijoin_two_sender_views_with_pk(db: Db) -> None:
    def setup(ctx: Any, checks: Checks) -> None:
        r = ctx.reducers
        r.insert_view_pk_player.then(committed(checks, "insert_view_pk_player"), 1, "before")
        r.insert_view_pk_membership.then(committed(checks, "insert_view_pk_membership"), 1, 1)
        r.insert_view_pk_membership_secondary.then(
            committed(checks, "insert_view_pk_membership_secondary"), 1, 1
        )

    await _semijoin(
        db,
        lambda q: q.sender_view_pk_players_a.right_semijoin(
            q.sender_view_pk_players_b, lambda lhs, rhs: lhs.id == rhs.id
        ),
        "sender_view_pk_players_b",
        setup,
    )
