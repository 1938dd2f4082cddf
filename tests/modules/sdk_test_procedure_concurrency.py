"""A Python port of upstream's ``modules/sdk-test-procedure-concurrency`` (``src/lib.rs``).

Procedures that insert a row, wait (``sleep_until``) until another transaction has inserted one,
then insert again: the rows' auto-increment ``insertion_order`` shows whether a reducer, the same
client's reducer or a scheduled reducer ran between a procedure's transactions.  A scheduled
procedure holds the scheduler's single slot while it sleeps, so the scheduled reducer due during
that time runs after it (upstream tracks this as a behaviour it means to change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spacetimedb_sdk import ScheduleAt, TimeDuration
from spacetimedb_sdk.sats import U32, U64
from spacetimedb_sdk.server import Module, ProcedureContext, ReducerContext, column

module = Module("sdk-test-procedure-concurrency")


@module.table(public=True)
class ProcedureConcurrencyRow:
    insertion_order: U32 = column(auto_inc=True)
    insertion_context: str


def _insert_row(tx: ReducerContext, insertion_context: str) -> None:
    tx.db.procedure_concurrency_row.insert(
        ProcedureConcurrencyRow(insertion_order=0, insertion_context=insertion_context)
    )


@module.reducer
def insert_reducer_row(ctx: ReducerContext) -> None:
    _insert_row(ctx, "reducer")


def _poll_until_tx_true(
    ctx: ProcedureContext,
    pred: Callable[[ReducerContext], bool],
    timeout: TimeDuration = TimeDuration(10_000_000),  # noqa: B008 (immutable)
    poll_interval: TimeDuration = TimeDuration(100_000),  # noqa: B008 (immutable)
) -> None:
    deadline = ctx.timestamp + timeout
    while ctx.timestamp < deadline:
        ctx.sleep_until(ctx.timestamp + poll_interval)
        if ctx.with_tx(pred):
            return
    raise RuntimeError(f"poll_until_tx_true: exceeded timeout {timeout}")


def _someone_else_inserted(tx: ReducerContext) -> bool:
    return any(
        row.insertion_context != "procedure_before" for row in tx.db.procedure_concurrency_row
    )


@module.procedure
def procedure_sleep_between_inserts(ctx: ProcedureContext) -> None:
    ctx.with_tx(lambda tx: _insert_row(tx, "procedure_before"))
    _poll_until_tx_true(ctx, _someone_else_inserted)
    ctx.with_tx(lambda tx: _insert_row(tx, "procedure_after"))


@module.table(scheduled="insert_scheduled_reducer")
class ScheduledReducerRow:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.reducer
def insert_scheduled_reducer(ctx: ReducerContext, _schedule: ScheduledReducerRow) -> None:
    _insert_row(ctx, "scheduled_reducer")


@module.procedure
def procedure_schedule_reducer_between_inserts(ctx: ProcedureContext) -> None:
    def before(tx: ReducerContext) -> None:
        _insert_row(tx, "procedure_before")
        tx.db.scheduled_reducer_row.insert(
            ScheduledReducerRow(scheduled_id=0, scheduled_at=_at(tx.timestamp))
        )

    ctx.with_tx(before)
    _poll_until_tx_true(ctx, _someone_else_inserted)
    ctx.with_tx(lambda tx: _insert_row(tx, "procedure_after"))


@module.table(scheduled="scheduled_procedure_sleep_between_inserts")
class ScheduledProcedureRow:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.procedure
def scheduled_procedure_sleep_between_inserts(
    ctx: ProcedureContext, _schedule: ScheduledProcedureRow
) -> None:
    ctx.with_tx(lambda tx: _insert_row(tx, "scheduled_procedure_before"))
    # Upstream cannot poll here: the scheduled reducer does not run until this procedure ends.
    ctx.sleep_until(ctx.timestamp + TimeDuration(10_000_000))
    ctx.with_tx(lambda tx: _insert_row(tx, "scheduled_procedure_after"))


@module.reducer
def schedule_procedure_then_reducer(ctx: ReducerContext) -> None:
    ctx.db.scheduled_procedure_row.insert(
        ScheduledProcedureRow(scheduled_id=0, scheduled_at=_at(ctx.timestamp))
    )
    ctx.db.scheduled_reducer_row.insert(
        ScheduledReducerRow(
            scheduled_id=0, scheduled_at=_at(ctx.timestamp + TimeDuration(2_000_000))
        )
    )


def _at(when: Any) -> ScheduleAt:
    return ScheduleAt.Time(when)
