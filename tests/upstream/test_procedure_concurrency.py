"""Upstream's procedure-concurrency scenarios (``procedure-concurrency-client``) on
``sdk-test-procedure-concurrency``.

A procedure inserts a row, waits until someone else's transaction has inserted one, and
inserts again: the rows' auto-increment ``insertion_order`` proves that a reducer called by
another client, by the same client, or by the scheduler ran between the procedure's
transactions.  A scheduled procedure, though, holds the scheduler while it sleeps (upstream
tracks that as a behaviour it means to change), so a reducer scheduled meanwhile runs after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import TIMEOUT, Checks, Db, subscribe_these_then

from spacetimedb_sdk.client.events import Committed

MODULE = "sdk_test_procedure_concurrency"

SUBSCRIBE_ALL = ["SELECT * FROM procedure_concurrency_row;"]


class Observed:
    """The ``insertion_order`` of each ``insertion_context`` one connection saw (each once)."""

    def __init__(self, checks: Checks, contexts: tuple[str, str, str], order: Any) -> None:
        self.checks = checks
        self.contexts = contexts
        self.order = order  # the check of the expected order
        self.seen: dict[str, int] = {}

    def on_insert(self, row: Any) -> None:
        if row.insertion_context not in self.contexts:
            self.checks.unexpected(f"unexpected insertion context {row.insertion_context!r}")
            return
        if row.insertion_context in self.seen:
            self.checks.unexpected(f"{row.insertion_context!r} inserted twice")
            return
        self.seen[row.insertion_context] = row.insertion_order
        if len(self.seen) == 3:
            first, middle, last = (self.seen[c] for c in self.contexts)
            with self.order:
                assert first < middle < last, f"wrong insertion order: {self.seen}"


def _empty_then(check: Any) -> Any:
    def on_applied(ctx: Any) -> None:
        with check:
            assert ctx.db.procedure_concurrency_row.count() == 0

    return on_applied


def _procedure_done(check: Any, call: Any) -> None:
    async def run() -> None:
        with check:
            await asyncio.wait_for(call, TIMEOUT)

    check.checks.spawn(run())


def _reducer_done(check: Any) -> Any:
    def callback(ctx: Any) -> None:
        with check:
            assert isinstance(ctx.event.status, Committed), ctx.event.status

    return callback


async def test_procedure_reducer_interleaving(db: Db) -> None:
    init = Checks()
    checks = Checks()
    procedure_done = checks.add("procedure_sleep_between_inserts_callback")
    reducer_done = checks.add("insert_reducer_row_callback")
    contexts = ("procedure_before", "reducer", "procedure_after")
    on_procedure_conn = Observed(checks, contexts, checks.add("procedure_connection_order"))
    on_reducer_conn = Observed(checks, contexts, checks.add("reducer_connection_order"))

    def procedure_side(conn: Any) -> None:
        conn.db.procedure_concurrency_row.on_insert(
            lambda ev, row: on_procedure_conn.on_insert(row)
        )
        subscribe_these_then(
            conn, SUBSCRIBE_ALL, init, _empty_then(init.add("procedure_on_subscription_applied"))
        )

    def reducer_side(conn: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            # When the procedure's first row arrives, this other client calls the reducer.
            if row.insertion_context == "procedure_before" and not reducer_done.done:
                ev.reducers.insert_reducer_row.then(_reducer_done(reducer_done))
            on_reducer_conn.on_insert(row)

        conn.db.procedure_concurrency_row.on_insert(on_insert)
        subscribe_these_then(
            conn, SUBSCRIBE_ALL, init, _empty_then(init.add("reducer_on_subscription_applied"))
        )

    procedure_conn = await db.connect(init, suffix="procedure", then=procedure_side)
    await db.connect(init, suffix="reducer", then=reducer_side)
    await init.wait()
    _procedure_done(procedure_done, procedure_conn.procedures.procedure_sleep_between_inserts())
    await checks.wait()


async def test_procedure_reducer_same_client_not_interleaved(db: Db) -> None:
    # Named "not interleaved" in test.rs; the handler it runs
    # (`procedure-reducer-same-client-interleaved`) asserts that the same client's reducer call
    # does run between its procedure's transactions.
    checks = Checks()
    applied = checks.add("on_subscription_applied_nothing")
    procedure_done = checks.add("procedure_sleep_between_inserts_callback")
    reducer_done = checks.add("insert_reducer_row_callback")
    observed = Observed(
        checks,
        ("procedure_before", "reducer", "procedure_after"),
        checks.add("procedure_reducer_same_client_order"),
    )

    def then(conn: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            if row.insertion_context == "procedure_before" and not reducer_done.done:
                ev.reducers.insert_reducer_row.then(_reducer_done(reducer_done))
            observed.on_insert(row)

        conn.db.procedure_concurrency_row.on_insert(on_insert)

        def on_applied(ctx: Any) -> None:
            _empty_then(applied)(ctx)
            _procedure_done(procedure_done, ctx.procedures.procedure_sleep_between_inserts())

        subscribe_these_then(conn, SUBSCRIBE_ALL, checks, on_applied)

    await db.connect(checks, then=then)
    await checks.wait()


async def test_procedure_concurrent_with_scheduled_reducer(db: Db) -> None:
    checks = Checks()
    applied = checks.add("on_subscription_applied_nothing")
    procedure_done = checks.add("procedure_schedule_reducer_between_inserts_callback")
    observed = Observed(
        checks,
        ("procedure_before", "scheduled_reducer", "procedure_after"),
        checks.add("procedure_scheduled_reducer_order"),
    )

    def then(conn: Any) -> None:
        conn.db.procedure_concurrency_row.on_insert(lambda ev, row: observed.on_insert(row))

        def on_applied(ctx: Any) -> None:
            _empty_then(applied)(ctx)
            _procedure_done(
                procedure_done, ctx.procedures.procedure_schedule_reducer_between_inserts()
            )

        subscribe_these_then(conn, SUBSCRIBE_ALL, checks, on_applied)

    await db.connect(checks, then=then)
    await checks.wait()


async def test_scheduled_procedure_scheduled_reducer_not_interleaved(db: Db) -> None:
    checks = Checks()
    applied = checks.add("on_subscription_applied_nothing")
    reducer_done = checks.add("schedule_procedure_then_reducer_callback")
    observed = Observed(
        checks,
        ("scheduled_procedure_before", "scheduled_procedure_after", "scheduled_reducer"),
        checks.add("scheduled_procedure_scheduled_reducer_order"),
    )

    def then(conn: Any) -> None:
        conn.db.procedure_concurrency_row.on_insert(lambda ev, row: observed.on_insert(row))

        def on_applied(ctx: Any) -> None:
            _empty_then(applied)(ctx)
            ctx.reducers.schedule_procedure_then_reducer.then(_reducer_done(reducer_done))

        subscribe_these_then(conn, SUBSCRIBE_ALL, checks, on_applied)

    await db.connect(checks, then=then)
    await checks.wait()
