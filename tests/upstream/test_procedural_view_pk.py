"""Upstream's procedural-view-primary-key scenarios (``procedural-view-pk-client``) on
``sdk-test-procedural-view-pk``.

Per-caller procedural views declaring a primary key: each client gets ``on_update`` for its own
rows only, and semijoins between two such views (filtered on either side) return the rows of
the view the query names.
"""

from __future__ import annotations

from typing import Any

from harness import Checks, Db, committed

MODULE = "sdk_test_procedural_view_pk"


def _subscribe(conn: Any, checks: Checks, query: Any, on_applied: Any) -> None:
    (
        conn.subscription_builder()
        .on_error(lambda ctx, err: checks.unexpected(f"subscription errored: {err!r}"))
        .on_applied(on_applied)
        .add_query(query)
        .subscribe()
    )


async def test_sender_scoped_procedural_pk_view(db: Db) -> None:
    # Both clients stay connected: each inserts and updates a different key, and receiving the
    # other's update would fail the assertions.
    checks = Checks()
    for client, (key, before, after) in (("a", (1, 10, 11)), ("b", (2, 20, 21))):
        updated = checks.add(f"sender_{client}_update")

        def on_applied(
            ctx: Any,
            updated: Any = updated,
            key: int = key,
            before: int = before,
            after: int = after,
        ) -> None:
            def on_update(ev: Any, old: Any, new: Any) -> None:
                with updated:
                    assert (old.id, old.filter) == (key, before)
                    assert (new.id, new.filter) == (key, after)

            ctx.db.sender_left_view.on_update(on_update)
            ctx.reducers.insert_left.then(committed(checks, "insert_left"), key, before)
            ctx.reducers.update_left.then(committed(checks, "update_left"), key, after)

        await db.connect(
            checks,
            suffix=client,
            then=lambda c, on_applied=on_applied: _subscribe(
                c, checks, lambda q: q.sender_left_view, on_applied
            ),
        )
    await checks.wait()


def _insert_semijoin_source_rows(ctx: Any, checks: Checks) -> None:
    # Both views hold ids 10 and 20, so the key semijoin alone keeps both; the side filters
    # (left.filter == 100, right.filter == 300) keep only id 10.
    r = ctx.reducers
    r.insert_left.then(committed(checks, "insert_left"), 10, 100)
    r.insert_left.then(committed(checks, "insert_left"), 20, 200)
    r.insert_right.then(committed(checks, "insert_right"), 10, 300)
    r.insert_right.then(committed(checks, "insert_right"), 20, 400)


async def _semijoin(db: Db, result: str, view: str, query: Any, expected_filter: int) -> None:
    checks = Checks()
    joined = checks.add(result)

    def on_applied(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            with joined:
                assert getattr(ev.db, view).count() == 1
                assert (row.id, row.filter) == (10, expected_filter)

        getattr(ctx.db, view).on_insert(on_insert)
        _insert_semijoin_source_rows(ctx, checks)

    await db.connect(checks, then=lambda c: _subscribe(c, checks, query, on_applied))
    await checks.wait()


async def test_procedural_view_pk_left_semijoin(db: Db) -> None:
    await _semijoin(
        db,
        "left_semijoin_insert",
        "sender_left_view",
        lambda q: (
            q.sender_right_view.where(lambda right: right.filter == 300)
            .right_semijoin(q.sender_left_view, lambda right, left: right.id == left.id)
            .where(lambda left: left.filter == 100)
        ),
        100,
    )


async def test_procedural_view_pk_right_semijoin(db: Db) -> None:
    await _semijoin(
        db,
        "right_semijoin_insert",
        "sender_right_view",
        lambda q: (
            q.sender_left_view.where(lambda left: left.filter == 100)
            .right_semijoin(q.sender_right_view, lambda left, right: left.id == right.id)
            .where(lambda right: right.filter == 300)
        ),
        300,
    )
