"""Timers for the rows of scheduled tables: :class:`Scheduler`, and the interval arithmetic.

The scheduler only arms and cancels timers from the commits it observes; when one fires, the
database runs the function (:meth:`~.execution.Execution._run_scheduled`).  It sees its database
through :class:`ScheduledCallRunner`, so this file sits below the execution code that owns it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..._log import get_logger
from ...sats.values import ScheduleAt, TimeDuration, Timestamp
from ..datastore import Datastore, TableSchema, TxResult
from ..module import Module

log = get_logger("spacetimedb_sdk.server")


class ScheduledCallRunner(Protocol):
    """What the scheduler needs of its database: the tables, and a way to run a scheduled row."""

    module: Module
    datastore: Datastore

    def _find_schedule_row(self, schema: TableSchema, schedule_id: Any) -> Any | None: ...

    def _run_scheduled(
        self, schema: TableSchema, schedule_id: Any, intended: Timestamp, scheduler: Scheduler
    ) -> None: ...


@dataclass
class _Armed:
    handle: asyncio.TimerHandle
    intended: Timestamp


class Scheduler:
    """Timers for the rows of scheduled tables (protocol.md §7.4).

    :meth:`observe` is told about every commit; inserts arm a timer keyed by
    (table, schedule id), deletes cancel it (an update does both).  When a timer
    fires and the row still exists, the database calls the row's function with
    the row.  ``ScheduleAt.Time`` rows are deleted afterwards in their own
    transaction; ``ScheduleAt.Interval`` rows re-arm for the next tick after now,
    anchored at the intended time so delays do not accumulate (as upstream).

    Timers live on the database's event loop; without one (no :meth:`start`)
    nothing fires, which suits pure unit tests.

    Example::

        >>> Scheduler(Database(Module("m"))).pending()
        []
    """

    def __init__(self, db: ScheduledCallRunner) -> None:
        self._db = db
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed: dict[tuple[str, Any], _Armed] = {}
        self._stopped = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arm timers on ``loop`` from now on (and for rows already present)."""
        self._loop = loop
        for schema in self._db.module.table_schemas():
            if schema.schedule is not None:
                for row in list(self._db.datastore.store(schema.name).iter_rows()):
                    self._in_loop(self._arm, schema, row)

    def stop(self) -> None:
        """Cancel every timer; nothing fires after this."""
        self._stopped = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            self._in_loop(self._cancel_all)

    def pending(self) -> list[tuple[str, Any]]:
        """The (table, schedule id) pairs with an armed timer."""
        return list(self._armed)

    def observe(self, tx: TxResult) -> None:
        """Cancel/arm timers for the scheduled rows this transaction deleted/inserted."""
        if self._loop is None or self._stopped:
            return
        for name in tx.tables():
            schema = self._db.datastore.store(name).schema
            if schema.schedule is None:
                continue
            for row in tx.deletes.get(name, ()):
                self._in_loop(self._cancel, schema, row)
            for row in tx.inserts.get(name, ()):
                self._in_loop(self._arm, schema, row)

    # -- on the loop

    def _in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            # FIFO, so cancels and arms keep commit order.
            loop.call_soon_threadsafe(fn, *args)

    @staticmethod
    def _key(schema: TableSchema, row: Any) -> tuple[str, Any]:
        assert schema.schedule is not None
        return schema.name, getattr(row, schema.columns[schema.schedule.id_column].attr)

    def _cancel(self, schema: TableSchema, row: Any) -> None:
        armed = self._armed.pop(self._key(schema, row), None)
        if armed is not None:
            armed.handle.cancel()

    def _cancel_all(self) -> None:
        for armed in self._armed.values():
            armed.handle.cancel()
        self._armed.clear()

    def _arm(self, schema: TableSchema, row: Any) -> None:
        if self._stopped:
            return
        assert schema.schedule is not None and self._loop is not None
        key = self._key(schema, row)
        self._cancel(schema, row)
        at = getattr(row, schema.columns[schema.schedule.at_column].attr)
        now = Timestamp.now()
        if isinstance(at, ScheduleAt.Interval):
            intended = now + abs_duration(at.duration)
        elif isinstance(at, ScheduleAt.Time):
            intended = at.time
        else:
            log.warning("row %r of %s has no ScheduleAt value; not scheduled", key, schema.name)
            return
        self._arm_at(schema, key, intended)

    def _arm_at(self, schema: TableSchema, key: tuple[str, Any], intended: Timestamp) -> None:
        assert self._loop is not None
        delay = max(0.0, (intended.micros - Timestamp.now().micros) / 1e6)
        handle = self._loop.call_later(delay, self._fire, schema, key)
        self._armed[key] = _Armed(handle, intended)

    def _fire(self, schema: TableSchema, key: tuple[str, Any]) -> None:
        armed = self._armed.pop(key, None)
        if armed is None or self._stopped:
            return
        try:
            self._db._run_scheduled(schema, key[1], armed.intended, self)
        except Exception:  # a timer must never take the loop down
            log.exception("scheduled call for %s id %r failed", schema.name, key[1])

    def _after_run(self, schema: TableSchema, key: tuple[str, Any], intended: Timestamp) -> bool:
        """Re-arm an interval row; returns whether a one-shot row should be deleted."""
        if key in self._armed or self._stopped:
            return False  # the function itself rescheduled (updated) its row
        row = self._db._find_schedule_row(schema, key[1])
        if row is None:
            return False
        assert schema.schedule is not None
        at = getattr(row, schema.columns[schema.schedule.at_column].attr)
        if isinstance(at, ScheduleAt.Interval):
            self._arm_at(schema, key, next_tick(intended, abs_duration(at.duration)))
            return False
        return True


def abs_duration(d: TimeDuration) -> TimeDuration:
    """``|d|`` (upstream treats a negative interval as its absolute value)."""
    return TimeDuration(abs(d.micros))


def next_tick(
    last_intended: Timestamp, interval: TimeDuration, now: Timestamp | None = None
) -> Timestamp:
    """The first interval tick strictly after ``now``, anchored at ``last_intended``.

    Example::

        >>> next_tick(Timestamp(0), TimeDuration(10), Timestamp(25))
        Timestamp(micros=30)
    """
    now = now if now is not None else Timestamp.now()
    step = interval.micros
    if step == 0:
        return last_intended + interval
    elapsed = now.micros - last_intended.micros
    ticks = 1 if elapsed <= 0 else elapsed // step + 1
    return Timestamp(last_intended.micros + ticks * step)
