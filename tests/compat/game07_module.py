"""The 2.x module behind the 0.7 types tests: what a 0.7 Rust game module declared.

A table with an identity key, an optional name, a plain enum, a struct, a list and a time;
reducers taking a struct, an enum and a list.  ``real07_types/game_bindings`` holds the
bindings the 0.7 CLI generated for the 0.7 version of this module.
"""

from __future__ import annotations

import dataclasses
import enum

from spacetimedb_sdk import Identity, Timestamp
from spacetimedb_sdk.sats import I32, U32
from spacetimedb_sdk.server import Module, ReducerContext, SenderError, Table, column

module = Module("game")


class Color(enum.Enum):
    Red = 0
    Green = 1
    Blue = 2


@dataclasses.dataclass(frozen=True)
class Position:
    x: I32
    y: I32


@module.table(public=True)
class Player(Table):
    identity: Identity = column(primary_key=True)
    name: str | None
    color: Color
    position: Position
    scores: list[U32]
    joined: Timestamp


def _me(ctx: ReducerContext) -> Player:
    me = ctx.db.player.identity.find(ctx.sender)
    if me is None:
        raise SenderError("join first")
    return me  # type: ignore[no-any-return]


@module.reducer
def join(ctx: ReducerContext, name: str, color: Color, position: Position) -> None:
    if ctx.db.player.identity.find(ctx.sender) is not None:
        raise SenderError("already joined")
    ctx.db.player.insert(
        Player(
            identity=ctx.sender,
            name=name or None,
            color=color,
            position=position,
            scores=[],
            joined=ctx.timestamp,
        )
    )


@module.reducer
def move_to(ctx: ReducerContext, position: Position) -> None:
    ctx.db.player.identity.update(dataclasses.replace(_me(ctx), position=position))


@module.reducer
def set_scores(ctx: ReducerContext, scores: list[U32]) -> None:
    ctx.db.player.identity.update(dataclasses.replace(_me(ctx), scores=scores))
