"""The module of the durability tests: keyed rows, an auto-increment table, scheduled rows, and
connect/disconnect reducers that keep an ``online`` flag (like quickstart-chat's ``user``).

``fired`` (module state, not a table) tells a test that a scheduled reducer ran, so the test
awaits it instead of sleeping.  No ``from __future__ import annotations`` here: the tables are
declared inside :func:`build`, so their annotations must be evaluated where they are written.
"""

import dataclasses
import threading
from typing import Any

from spacetimedb_sdk import ScheduleAt, TimeDuration, Timestamp
from spacetimedb_sdk.sats import U64
from spacetimedb_sdk.server import Module, ReducerContext, SenderError, column

fired = threading.Event()
inits: list[int] = []


def build(
    *,
    extra_reducer: bool = False,
    value_type: Any = U64,
    extra_column: bool = False,
    unique_value: bool = False,
    extra_table: bool = False,
    with_rang: bool = True,
) -> Module:
    """The module, or a changed version of it (for the schema-change tests).

    ``extra_reducer`` adds a reducer (tables unchanged); ``value_type`` changes the type of
    ``item.value`` (refused by the migration rules); ``extra_column`` appends ``item.tag`` with
    a default; ``unique_value`` makes ``item.value`` unique; ``extra_table`` adds a table;
    ``with_rang=False`` removes the ``rang`` table.
    """
    module = Module("durable")

    if extra_column:

        @module.table(public=True)
        class Item:
            id: U64 = column(primary_key=True)
            value: value_type  # type: ignore[valid-type]
            tag: str = column(default="untagged")

    else:

        @module.table(public=True)
        class Item:  # type: ignore[no-redef]
            id: U64 = column(primary_key=True)
            value: value_type = column(unique=unique_value)  # type: ignore[valid-type]

    if extra_table:

        @module.table(public=True)
        class Extra:
            id: U64 = column(primary_key=True)

    @module.table(public=True)
    class Note:
        id: U64 = column(primary_key=True, auto_inc=True)
        text: str

    @module.table(public=True)
    class Online:
        client: str = column(primary_key=True)
        online: bool

    @module.table(scheduled="on_alarm", public=True)
    class Alarm:
        scheduled_id: U64 = column(primary_key=True, auto_inc=True)
        scheduled_at: ScheduleAt
        label: str

    if with_rang:

        @module.table(public=True)
        class Rang:
            label: str = column(primary_key=True)

    @module.init
    def init(ctx: ReducerContext) -> None:
        inits.append(1)
        ctx.db.note.insert(Note(id=0, text="made by init"))

    @module.client_connected
    def connected(ctx: ReducerContext) -> None:
        _set_online(ctx, True)

    @module.client_disconnected
    def disconnected(ctx: ReducerContext) -> None:
        _set_online(ctx, False)

    def _set_online(ctx: ReducerContext, online: bool) -> None:
        key = ctx.sender.to_hex()
        if ctx.db.online.client.find(key) is None:
            ctx.db.online.insert(Online(client=key, online=online))
        else:
            ctx.db.online.client.update(Online(client=key, online=online))

    @module.reducer
    def put(ctx: ReducerContext, id: U64, value: U64) -> None:
        row = ctx.db.item.id.find(id)
        if row is None:
            ctx.db.item.insert(Item(id=id, value=value))
        else:
            ctx.db.item.id.update(dataclasses.replace(row, value=value))

    @module.reducer
    def remove(ctx: ReducerContext, id: U64) -> None:
        ctx.db.item.id.delete(id)

    @module.reducer
    def batch(
        ctx: ReducerContext, put_ids: list[U64], put_values: list[U64], removes: list[U64]
    ) -> None:
        """Several puts and removes in one transaction (removes first)."""
        for id in removes:
            ctx.db.item.id.delete(id)
        for id, value in zip(put_ids, put_values, strict=True):
            put(ctx, id, value)

    @module.reducer
    def add_note(ctx: ReducerContext, text: str) -> None:
        ctx.db.note.insert(Note(id=0, text=text))

    @module.reducer
    def add_note_then_fail(ctx: ReducerContext, text: str) -> None:
        """Takes a sequence value, then rolls back: the value must never be handed out again."""
        ctx.db.note.insert(Note(id=0, text=text))
        raise SenderError("rolled back on purpose")

    @module.reducer
    def set_alarm(ctx: ReducerContext, label: str, in_micros: U64) -> None:
        at = ScheduleAt.Time(Timestamp(ctx.timestamp.micros + in_micros))
        ctx.db.alarm.insert(Alarm(scheduled_id=0, scheduled_at=at, label=label))

    @module.reducer
    def set_repeating(ctx: ReducerContext, label: str, every_micros: U64) -> None:
        at = ScheduleAt.Interval(TimeDuration(every_micros))
        ctx.db.alarm.insert(Alarm(scheduled_id=0, scheduled_at=at, label=label))

    @module.reducer
    def on_alarm(ctx: ReducerContext, alarm: Alarm) -> None:
        if ctx.db.rang.label.find(alarm.label) is None:
            ctx.db.rang.insert(Rang(label=alarm.label))
        fired.set()

    if extra_reducer:

        @module.reducer
        def shout(ctx: ReducerContext) -> None:
            pass

    return module


module = build()
Item = module.table_schema("item").row_class
