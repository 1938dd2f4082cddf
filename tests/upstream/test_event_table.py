"""Upstream's event-table scenarios (``event-table-client``) on ``sdk-test-event-table``.

Rows a reducer inserts into an event table reach subscribers as inserts of that transaction,
with the reducer's event, and are never cached.
"""

from __future__ import annotations

from typing import Any

from harness import Checks, Db, is_reducer_event, subscribe_these_then

MODULE = "sdk_test_event_table"


async def _subscribed(db: Db, checks: Checks, body: Any) -> None:
    applied = checks.add("subscription_applied")

    def on_applied(ctx: Any) -> None:
        with applied:
            assert len(list(ctx.db.test_event)) == 0  # event tables are empty when applied
        body(ctx)

    await db.connect(
        checks,
        suffix="",
        then=lambda c: subscribe_these_then(c, ["SELECT * FROM test_event;"], checks, on_applied),
    )
    await checks.wait()


async def test_event_table(db: Db) -> None:
    checks = Checks()
    inserted = checks.add("event-table-on-insert")

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            if inserted.done:
                return
            with inserted:
                assert (row.name, row.value) == ("hello", 42)
                assert is_reducer_event(ev, "emit_test_event"), ev.event
                # Event table rows are not cached.
                assert ev.db.test_event.count() == 0
                assert len(list(ev.db.test_event)) == 0

        ctx.db.test_event.on_insert(on_insert)
        ctx.reducers.emit_test_event.fire("hello", 42)

    await _subscribed(db, checks, body)


async def test_multiple_events(db: Db) -> None:
    checks = Checks()
    three = checks.add("multiple-events")
    received: list[Any] = []

    def body(ctx: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            received.append(row)
            if len(received) == 3:
                three.ok()

        ctx.db.test_event.on_insert(on_insert)
        ctx.reducers.emit_multiple_test_events.fire()

    await _subscribed(db, checks, body)


async def test_events_dont_persist(db: Db) -> None:
    checks = Checks()
    no_stale = checks.add("events-dont-persist")
    inserts: list[Any] = []

    def body(ctx: Any) -> None:
        ctx.db.test_event.on_insert(lambda ev, row: inserts.append(row))
        ctx.reducers.emit_test_event.fire("hello", 42)

        def after_noop(ev: Any) -> None:
            # Still the one insert of emit_test_event: nothing stale came with the no-op.
            with no_stale:
                assert len(inserts) == 1, f"expected 1 event insert, got {len(inserts)}"

        ctx.reducers.noop.then(after_noop)

    await _subscribed(db, checks, body)
