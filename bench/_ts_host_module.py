"""The module ``bench/ts_host.py`` measures in Python: the twin of ``bench/ts_host_module``."""

from __future__ import annotations

import dataclasses

from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ReducerContext, column

module = Module("bench-items")


@module.table(name="item", public=True)
class Item:
    id: U32 = column(primary_key=True)
    owner: U32
    name: str


@module.reducer
def insert_item(ctx: ReducerContext, id: U32, owner: U32, name: str) -> None:
    ctx.db.item.insert(Item(id=id, owner=owner, name=name))  # type: ignore[call-arg]


@module.reducer
def rename_item(ctx: ReducerContext, id: U32, name: str) -> None:
    found = ctx.db.item.id.find(id)
    if found is not None:
        ctx.db.item.id.update(dataclasses.replace(found, name=name))


@module.reducer
def scan_items(ctx: ReducerContext) -> None:
    owners = 0
    for row in ctx.db.item.iter():
        owners += row.owner
    if owners < 0:
        raise AssertionError("unreachable")
