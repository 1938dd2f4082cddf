"""Upstream's case-conversion scenarios (``case-conversion-client``) on
``sdk-test-case-conversion``.

Names with digits and mixed case under the snake-case policy: the table ``Player1Canonical``
(accessor ``player1``), columns like ``player_1_id`` and ``current_level_2``, the nested struct
``Person3Info``, the enum variant ``active1``, the explicitly named reducer ``banPlayer1``, query
builder filters and joins over such columns, and the query view ``Level2Person``.
"""

from __future__ import annotations

from typing import Any

from harness import Checks, Db, committed

MODULE = "sdk_test_case_conversion"


async def _run(db: Db, queries: list[Any], on_applied: Any) -> None:
    checks = on_applied.checks

    def then(conn: Any) -> None:
        builder = conn.subscription_builder().on_error(
            lambda ctx, err: checks.unexpected(f"subscription errored: {err!r}")
        )
        for query in queries:
            builder = builder.add_query(query)
        builder.on_applied(on_applied).subscribe()

    await db.connect(checks, suffix="", then=then)
    await checks.wait()


class _Applied:
    """An ``on_applied`` callback that runs ``body(ctx)`` and knows its checks."""

    def __init__(self, checks: Checks, body: Any) -> None:
        self.checks = checks
        self.body = body

    def __call__(self, ctx: Any) -> None:
        try:
            self.body(ctx)
        except Exception as e:
            self.checks.unexpected(f"on_applied raised {e!r}")


async def test_insert_player(db: Db) -> None:
    checks = Checks()
    inserted = checks.add("insert_player")
    status = db.bindings.Player2Status

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            with inserted:
                assert row.player_name == "Alice"
                assert row.current_level_2 == 5
                assert row.status_3_field == status.active1()

        ctx.db.player1.on_insert(on_insert)
        ctx.reducers.create_player1.then(committed(checks, "create_player_1"), "Alice", 5)

    await _run(db, [lambda q: q.player1], _Applied(checks, body))


async def test_insert_person(db: Db) -> None:
    checks = Checks()
    inserted = checks.add("insert_person")

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, person: Any) -> None:
            with inserted:
                assert person.first_name == "Bob"
                assert person.person_info.age_value_1 == 25
                assert person.person_info.score_total == 1000

        def player_created(ev: Any) -> None:
            player = next(iter(ev.db.player1), None)
            if player is None:
                checks.unexpected("the player should exist")
                return
            ev.reducers.add_person2.then(
                committed(checks, "add_person_2"), "Bob", player.player_1_id, 25, 1000
            )

        ctx.db.person2.on_insert(on_insert)
        ctx.reducers.create_player1.then(player_created, "PlayerForPerson", 1)

    await _run(db, [lambda q: q.player1, lambda q: q.person2], _Applied(checks, body))


async def test_ban_player(db: Db) -> None:
    checks = Checks()
    updated = checks.add("ban_player_update")
    status = db.bindings.Player2Status

    def body(ctx: Any) -> None:
        def on_update(ev: Any, old: Any, new: Any) -> None:
            with updated:
                assert new.status_3_field == status.bannedUntil(9999)

        def player_created(ev: Any) -> None:
            player = next(iter(ev.db.player1), None)
            if player is None:
                checks.unexpected("the player should exist")
                return
            # The reducer's explicit canonical name is banPlayer1.
            ev.reducers.ban_player1.then(committed(checks, "banPlayer1"), player.player_1_id, 9999)

        ctx.db.player1.on_update(on_update)
        ctx.reducers.create_player1.then(player_created, "ToBan", 1)

    await _run(db, [lambda q: q.player1], _Applied(checks, body))


async def test_query_builder_filter(db: Db) -> None:
    checks = Checks()
    matched = checks.add("insert_matching_filter")

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            with matched:  # only the level-5 player comes through the filter
                assert row.current_level_2 == 5
                assert row.player_name == "FilterMatch"

        ctx.db.player1.on_insert(on_insert)
        ctx.reducers.create_player1.then(committed(checks, "create_player_1"), "NoMatch", 3)
        ctx.reducers.create_player1.then(committed(checks, "create_player_1"), "FilterMatch", 5)

    await _run(
        db, [lambda q: q.player1.where(lambda p: p.current_level_2 == 5)], _Applied(checks, body)
    )


async def test_query_builder_join(db: Db) -> None:
    checks = Checks()
    joined = checks.add("join_insert")

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            if row.first_name != "JoinPerson":
                return
            with joined:
                assert row.person_info.age_value_1 == 30
                assert row.person_info.score_total == 500

        def player_created(ev: Any) -> None:
            player = next((p for p in ev.db.player1 if p.player_name == "JoinedPlayer"), None)
            if player is None:
                checks.unexpected("JoinedPlayer should exist")
                return
            ev.reducers.add_person2.then(
                committed(checks, "add_person_2"), "JoinPerson", player.player_1_id, 30, 500
            )

        ctx.db.person2.on_insert(on_insert)
        ctx.reducers.create_player1.then(player_created, "JoinedPlayer", 7)

    await _run(
        db,
        [
            lambda q: q.player1.right_semijoin(
                q.person2, lambda player, person: player.player_1_id == person.player_ref
            ),
            lambda q: q.player1,
        ],
        _Applied(checks, body),
    )


async def test_query_view(db: Db) -> None:
    checks = Checks()
    viewed = checks.add("view_query")

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            with viewed:
                assert row.first_name == "ViewPerson"
                assert row.person_info.age_value_1 == 20
                assert row.person_info.score_total == 200

        ctx.db.person_at_level_2.on_insert(on_insert)
        ctx.reducers.create_player1.then(committed(checks, "create_player_1"), "Level2Player", 2)
        # player_ref 1 is the first player's auto-incremented id.
        ctx.reducers.add_person2.then(committed(checks, "add_person_2"), "ViewPerson", 1, 20, 200)

    await _run(db, [lambda q: q.person_at_level_2], _Applied(checks, body))
