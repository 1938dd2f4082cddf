"""A Python port of upstream's ``modules/sdk-test-procedural-view-pk`` (``src/lib.rs``).

Two per-caller procedural views declare a primary key (``primary_key="id"``), so clients get
``on_update`` for their rows and may semijoin them on that key.
"""

from __future__ import annotations

from spacetimedb_sdk import Identity
from spacetimedb_sdk.sats import U64
from spacetimedb_sdk.server import Module, ReducerContext, ViewContext, column

module = Module("sdk-test-procedural-view-pk")


@module.table(public=True)
class LeftSource:
    id: U64 = column(primary_key=True)
    sender: Identity = column(index="btree")
    filter: U64


@module.table(public=True)
class RightSource:
    id: U64 = column(primary_key=True)
    sender: Identity = column(index="btree")
    filter: U64


@module.reducer
def insert_left(ctx: ReducerContext, id: U64, filter: U64) -> None:
    ctx.db.left_source.insert(LeftSource(id=id, sender=ctx.sender, filter=filter))


@module.reducer
def update_left(ctx: ReducerContext, id: U64, filter: U64) -> None:
    ctx.db.left_source.id.update(LeftSource(id=id, sender=ctx.sender, filter=filter))


@module.reducer
def insert_right(ctx: ReducerContext, id: U64, filter: U64) -> None:
    ctx.db.right_source.insert(RightSource(id=id, sender=ctx.sender, filter=filter))


@module.view(public=True, primary_key="id")
def sender_left_view(ctx: ViewContext) -> list[LeftSource]:
    return list(ctx.db.left_source.sender.filter(ctx.sender))


@module.view(public=True, primary_key="id")
def sender_right_view(ctx: ViewContext) -> list[RightSource]:
    return list(ctx.db.right_source.sender.filter(ctx.sender))
