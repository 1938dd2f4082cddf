"""A Python port of upstream's ``modules/sdk-test-event-table`` (``src/lib.rs``).

``test_event`` is an event table: rows its reducers insert reach subscribers of that transaction
as inserts and are never stored.
"""

from __future__ import annotations

from spacetimedb_sdk.sats import U64
from spacetimedb_sdk.server import Module, ReducerContext

module = Module("sdk-test-event-table")


@module.table(public=True, event=True)
class TestEvent:
    name: str
    value: U64


@module.reducer
def emit_test_event(ctx: ReducerContext, name: str, value: U64) -> None:
    ctx.db.test_event.insert(TestEvent(name=name, value=value))


@module.reducer
def emit_multiple_test_events(ctx: ReducerContext) -> None:
    ctx.db.test_event.insert(TestEvent(name="a", value=1))
    ctx.db.test_event.insert(TestEvent(name="b", value=2))
    ctx.db.test_event.insert(TestEvent(name="c", value=3))


@module.reducer
def noop(ctx: ReducerContext) -> None:
    """A no-op reducer that lets a client observe a later transaction."""
