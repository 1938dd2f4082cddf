"""A Python port of upstream's ``modules/sdk-test-procedure`` (``src/lib.rs``).

Procedures returning primitives, a struct and enum variants; one that panics; HTTP from a
procedure (``read_my_schema`` fetches this database's own schema, ``invalid_request`` a
reserved invalid host); transactions that commit and roll back; a reducer scheduling a procedure
one second later; a procedure inserting 1000 sorted UUIDv7s in one transaction.

The procedure-context features (``ctx.http``, ``ctx.try_with_tx``, ``new_uuid_v7``) are the local
server's counterparts of upstream's ``ProcedureContext::http``, ``try_with_tx`` and
``TxContext::new_uuid_v7``; an ``Err`` returned from ``try_with_tx``'s body rolls it back, as
upstream's ``Err``.
"""

from __future__ import annotations

import dataclasses
import uuid

from spacetimedb_sdk import ScheduleAt, TimeDuration, Timestamp
from spacetimedb_sdk.sats import U8, U32, U64, Err
from spacetimedb_sdk.server import Module, ProcedureContext, ReducerContext, column, sum_type
from spacetimedb_sdk.server.module import HttpError

module = Module("sdk-test-procedure")


@dataclasses.dataclass(frozen=True)
class ReturnStruct:
    a: U32
    b: str


@sum_type
class ReturnEnum:
    A: U32
    B: str


@module.procedure
def return_primitive(ctx: ProcedureContext, lhs: U32, rhs: U32) -> U32:
    return lhs + rhs


@module.procedure
def return_struct(ctx: ProcedureContext, a: U32, b: str) -> ReturnStruct:
    return ReturnStruct(a=a, b=b)


@module.procedure
def return_enum_a(ctx: ProcedureContext, a: U32) -> ReturnEnum:
    return ReturnEnum.A(a)


@module.procedure
def return_enum_b(ctx: ProcedureContext, b: str) -> ReturnEnum:
    return ReturnEnum.B(b)


@module.procedure
def will_panic(ctx: ProcedureContext) -> None:
    raise RuntimeError("This procedure is expected to panic")


@module.procedure
def read_my_schema(ctx: ProcedureContext, server_url: str) -> str:
    module_identity = ctx.database_identity
    base = server_url.rstrip("/")
    # An HttpError propagates: the procedure fails, as upstream's panics.
    return ctx.http.get(f"{base}/v1/database/{module_identity}/schema?version=9").text()


@module.procedure
def invalid_request(ctx: ProcedureContext) -> str:
    try:
        response = ctx.http.get("http://foo.invalid/")
    except HttpError as e:
        return str(e)
    raise RuntimeError(
        f"Got result from requesting `http://foo.invalid`... huh?\n{response.text()}"
    )


@module.table(public=True)
class MyTable:
    field: ReturnStruct


def _insert_my_table(tx: ReducerContext) -> None:
    tx.db.my_table.insert(MyTable(field=ReturnStruct(a=42, b="magic")))


def _assert_row_count(ctx: ProcedureContext, count: int) -> None:
    def check(tx: ReducerContext) -> None:
        found = tx.db.my_table.count()
        if found != count:
            raise AssertionError(f"assertion failed: {count} != {found}")

    ctx.with_tx(check)


@module.procedure
def insert_with_tx_commit(ctx: ProcedureContext) -> None:
    ctx.with_tx(_insert_my_table)
    _assert_row_count(ctx, 1)


@module.procedure
def insert_with_tx_rollback(ctx: ProcedureContext) -> None:
    def body(tx: ReducerContext) -> Err[int]:
        _insert_my_table(tx)
        return Err(24)

    ctx.try_with_tx(body)
    _assert_row_count(ctx, 0)


@module.reducer
def schedule_proc(ctx: ReducerContext) -> None:
    """Schedule ``scheduled_proc`` to run in 1 s, remembering when this reducer ran."""
    ctx.db.scheduled_proc_table.insert(
        ScheduledProcTable(
            scheduled_id=0,
            scheduled_at=ScheduleAt.Interval(TimeDuration(1_000_000)),
            reducer_ts=ctx.timestamp,
            x=42,
            y=24,
        )
    )


@module.table(scheduled="scheduled_proc")
class ScheduledProcTable:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    reducer_ts: Timestamp
    x: U8
    y: U8


@module.procedure
def scheduled_proc(ctx: ProcedureContext, data: ScheduledProcTable) -> None:
    procedure_ts = ctx.timestamp
    ctx.with_tx(
        lambda tx: tx.db.proc_inserts_into.insert(
            ProcInsertsInto(
                reducer_ts=data.reducer_ts, procedure_ts=procedure_ts, x=data.x, y=data.y
            )
        )
    )


@module.table(public=True)
class ProcInsertsInto:
    reducer_ts: Timestamp
    procedure_ts: Timestamp
    x: U8
    y: U8


@module.table(public=True)
class PkUuid:
    u: uuid.UUID
    data: U8


@module.procedure
def sorted_uuids_insert(ctx: ProcedureContext) -> None:
    def body(tx: ReducerContext) -> None:
        for _ in range(1000):
            tx.db.pk_uuid.insert(PkUuid(u=tx.new_uuid_v7(), data=0))
        last: uuid.UUID | None = None
        for row in tx.db.pk_uuid:
            if last is not None and last.int >= row.u.int:
                raise RuntimeError("UUIDs are not sorted correctly")
            last = row.u

    ctx.with_tx(body)
