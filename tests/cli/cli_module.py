"""A module for the command-line tests: every value kind the plain-JSON output renders,
a table with a primary key (updates), procedures, a failing reducer and a bulk insert.
"""

from __future__ import annotations

import dataclasses
import enum

from spacetimedb_sdk import Identity, TimeDuration, Timestamp
from spacetimedb_sdk.sats import I32, U32, U128
from spacetimedb_sdk.server import (
    Module,
    ProcedureContext,
    ReducerContext,
    SenderError,
    column,
    sum_type,
)

module = Module("cli-test")


class Color(enum.Enum):
    RED = 1
    DarkGreen = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: I32
    y: I32


@sum_type
class Shape:
    Circle: U32
    Empty: None


@module.table(public=True)
class Thing:
    id: U32 = column(primary_key=True)
    owner: Identity
    at: Timestamp
    wait: TimeDuration
    color: Color
    shape: Shape
    spot: Point | None
    blob: bytes
    big: U128
    ratio: float
    tags: list[str]


@module.table(public=True)
class Num:
    n: U32 = column(primary_key=True)


@module.reducer
def add_thing(
    ctx: ReducerContext,
    id: U32,
    color: Color,
    shape: Shape,
    spot: Point | None,
    blob: bytes,
    big: U128,
    at: Timestamp,
    owner: Identity,
) -> None:
    ctx.db.thing.insert(
        Thing(id, owner, at, TimeDuration(1500), color, shape, spot, blob, big, 0.5, ["a", "b"])
    )


@module.reducer
def set_ratio(ctx: ReducerContext, id: U32, ratio: float) -> None:
    row = ctx.db.thing.id.find(id)
    if row is None:
        raise SenderError(f"no thing {id}")
    ctx.db.thing.id.update(dataclasses.replace(row, ratio=ratio))


@module.reducer
def delete_thing(ctx: ReducerContext, id: U32) -> None:
    ctx.db.thing.id.delete(id)


@module.reducer
def add_nums(ctx: ReducerContext, count: U32) -> None:
    for n in range(count):
        ctx.db.num.insert(Num(n))


@module.reducer
def fail(ctx: ReducerContext) -> None:
    raise SenderError("fail always fails")


@module.procedure
def add(ctx: ProcedureContext, a: U32, b: U32) -> U32:
    return a + b


@module.procedure
def mirror(ctx: ProcedureContext, p: Point) -> Point:
    return Point(p.y, p.x)
