"""A test module for the client end-to-end tests: primary-key, unique and btree tables,
an event table, a procedure with a return value and transactions, a failing reducer.

Modelled on upstream's ``modules/sdk-test`` scenarios (upstream-tests.md §1.2).
"""

from __future__ import annotations

import dataclasses

from spacetimedb_sdk.sats import I32, U32, U64
from spacetimedb_sdk.server import Module, ProcedureContext, ReducerContext, SenderError, column

module = Module("sdk-test")


@module.table(public=True)
class PkU32:
    n: U32 = column(primary_key=True)
    data: I32


@module.table(public=True)
class UniqueU32:
    n: U32 = column(unique=True)
    data: I32


@module.table(public=True)
class BtreeU32:
    n: U32 = column(index="btree")
    data: I32


@module.table(public=True, event=True)
class TestEvent:
    name: str
    value: U64


@module.reducer
def insert_pk_u32(ctx: ReducerContext, n: U32, data: I32) -> None:
    ctx.db.pk_u_32.insert(PkU32(n=n, data=data))


@module.reducer
def update_pk_u32(ctx: ReducerContext, n: U32, data: I32) -> None:
    row = ctx.db.pk_u_32.n.find(n)
    if row is None:
        raise SenderError(f"no row {n}")
    ctx.db.pk_u_32.n.update(dataclasses.replace(row, data=data))


@module.reducer
def delete_pk_u32(ctx: ReducerContext, n: U32) -> None:
    ctx.db.pk_u_32.n.delete(n)


@module.reducer
def insert_unique_u32(ctx: ReducerContext, n: U32, data: I32) -> None:
    ctx.db.unique_u_32.insert(UniqueU32(n=n, data=data))


@module.reducer
def insert_btree_u32(ctx: ReducerContext, rows: list[BtreeU32]) -> None:
    for r in rows:
        ctx.db.btree_u_32.insert(r)


@module.reducer
def emit_test_event(ctx: ReducerContext, name: str, value: U64) -> None:
    ctx.db.test_event.insert(TestEvent(name=name, value=value))


@module.reducer
def emit_three_events(ctx: ReducerContext) -> None:
    for i in range(3):
        ctx.db.test_event.insert(TestEvent(name=f"e{i}", value=i))


@module.reducer
def no_op_succeeds(ctx: ReducerContext) -> None:
    pass


@module.reducer
def always_fails(ctx: ReducerContext) -> None:
    ctx.db.pk_u_32.insert(PkU32(n=999, data=0))
    raise SenderError("this reducer always fails")


@module.procedure
def return_primitive(ctx: ProcedureContext, lhs: U32, rhs: U32) -> U32:
    return lhs + rhs


@module.procedure
def insert_with_tx(ctx: ProcedureContext, n: U32) -> U32:
    ctx.with_tx(lambda tx: tx.db.pk_u_32.insert(PkU32(n=n, data=-1)))
    return n
