"""Timers for the rows of scheduled tables: :class:`Scheduler`, and the interval arithmetic.

The scheduler only arms and cancels timers from the commits it observes; when one fires, the
database runs the function (:meth:`~.execution.Execution._run_scheduled`).  It sees its database
through :class:`ScheduledCallRunner`, so this file sits below the execution code that owns it.

Everything here runs on the database thread (:mod:`.worker`): commits are observed there, and the
timers are that thread's own, so arming, cancelling and firing never race with a transaction.
Scheduled calls run one at a time, as upstream's scheduler awaits each one: a scheduled
*procedure* holds back the scheduled calls due after it until it has finished (upstream's
``scheduled-procedure-scheduled-reducer-not-interleaved`` scenario), while reducers and
procedures called by clients interleave with it freely.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from ..._log import get_logger
from ...sats.values import ScheduleAt, TimeDuration, Timestamp
from ..datastore import Datastore, TableSchema, TxResult
from ..module import Module
from .worker import DatabaseThread, TimerHandle

log = get_logger("spacetimedb_sdk.server")


class ScheduledCallRunner(Protocol):
    """What the scheduler needs of its database: the tables, and a way to run a scheduled row."""

    module: Module
    datastore: Datastore
    worker: DatabaseThread

    def _find_schedule_row(self, schema: TableSchema, schedule_id: Any) -> Any | None: ...

    def _run_scheduled(
        self, schema: TableSchema, schedule_id: Any, intended: Timestamp, scheduler: Scheduler
    ) -> None: ...


@dataclass
class _Armed:
    handle: TimerHandle
    intended: Timestamp


class Scheduler:
    """Timers for the rows of scheduled tables (protocol.md §7.4).

    :meth:`observe` is told about every commit; inserts arm a timer keyed by
    (table, schedule id), deletes cancel it (an update does both).  When a timer
    fires and the row still exists, the database calls the row's function with
    the row.  ``ScheduleAt.Time`` rows are deleted afterwards in their own
    transaction (before, for a procedure); ``ScheduleAt.Interval`` rows re-arm for
    the next tick after now, anchored at the intended time so delays do not
    accumulate (as upstream).

    Timers fire only once the database is serving (:meth:`start`); without that
    nothing fires, which suits pure unit tests.

    Example::

        >>> from spacetimedb_sdk.server.host import Database
        >>> Scheduler(Database(Module("m"))).pending()
        []
    """

    def __init__(self, db: ScheduledCallRunner) -> None:
        self._db = db
        self._armed: dict[tuple[str, Any], _Armed] = {}
        self._started = False
        self._stopped = False
        self._busy = False  # a scheduled procedure is running
        self._held: deque[tuple[TableSchema, tuple[str, Any], _Armed]] = deque()

    def start(self) -> None:
        """Arm timers from now on (and for rows already present).  On the database thread."""
        self._started = True
        self._stopped = False
        for schema in self._db.module.table_schemas():
            if schema.schedule is not None:
                for row in list(self._db.datastore.store(schema.name).iter_rows()):
                    self._arm(schema, row)

    def stop(self) -> None:
        """Cancel every timer; nothing fires after this.  On the database thread."""
        self._stopped = True
        for armed in self._armed.values():
            armed.handle.cancel()
        self._armed.clear()
        self._held.clear()

    def pending(self) -> list[tuple[str, Any]]:
        """The (table, schedule id) pairs with an armed timer."""
        return self._db.worker.call(lambda: list(self._armed))

    def observe(self, tx: TxResult) -> None:
        """Cancel/arm timers for the scheduled rows this transaction deleted/inserted."""
        if not self._started or self._stopped:
            return
        for name in tx.tables():
            schema = self._db.datastore.store(name).schema
            if schema.schedule is None:
                continue
            for row in tx.deletes.get(name, ()):
                self._cancel(schema, row)
            for row in tx.inserts.get(name, ()):
                self._arm(schema, row)

    # -- timers

    @staticmethod
    def _key(schema: TableSchema, row: Any) -> tuple[str, Any]:
        assert schema.schedule is not None
        return schema.name, getattr(row, schema.columns[schema.schedule.id_column].attr)

    def _cancel(self, schema: TableSchema, row: Any) -> None:
        armed = self._armed.pop(self._key(schema, row), None)
        if armed is not None:
            armed.handle.cancel()

    def _arm(self, schema: TableSchema, row: Any) -> None:
        if self._stopped:
            return
        assert schema.schedule is not None
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
        delay = max(0.0, (intended.micros - Timestamp.now().micros) / 1e6)
        handle = self._db.worker.call_later(delay, self._fire, schema, key)
        self._armed[key] = _Armed(handle, intended)

    def _fire(self, schema: TableSchema, key: tuple[str, Any]) -> None:
        armed = self._armed.get(key)
        if armed is None or self._stopped:
            return
        if self._busy:  # a scheduled procedure runs: this call waits its turn
            self._held.append((schema, key, armed))
            return
        self._run(schema, key, armed)

    def _run(self, schema: TableSchema, key: tuple[str, Any], armed: _Armed) -> None:
        if self._armed.get(key) is not armed:
            return  # cancelled or re-armed while it waited
        del self._armed[key]
        try:
            self._db._run_scheduled(schema, key[1], armed.intended, self)
        except Exception:  # a timer must never take the database thread down
            log.exception("scheduled call for %s id %r failed", schema.name, key[1])

    def _hold(self) -> None:
        """A scheduled procedure started: later scheduled calls wait for :meth:`_release`."""
        self._busy = True

    def _release(self) -> None:
        """The scheduled procedure ended: run the scheduled calls that came due meanwhile."""
        self._busy = False
        while self._held and not self._busy:
            schema, key, armed = self._held.popleft()
            self._run(schema, key, armed)

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
