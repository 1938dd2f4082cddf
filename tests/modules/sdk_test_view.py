"""A Python port of upstream's ``modules/sdk-test-view`` (``src/lib.rs``).

Views over a player/level/location schema: an anonymous view (``players_at_level_0``),
per-caller views returning a table row (``my_player``), a non-table type
(``my_player_and_level``) and rows of a private table (``nearby_players``).
"""

from __future__ import annotations

import dataclasses

from spacetimedb_sdk import Identity
from spacetimedb_sdk.sats import I32, U64
from spacetimedb_sdk.server import (
    AnonymousViewContext,
    Module,
    ReducerContext,
    ViewContext,
    column,
)

module = Module("sdk-test-view")


@module.table(public=True)
class Player:
    entity_id: U64 = column(primary_key=True, auto_inc=True)
    identity: Identity = column(unique=True)


@module.table(public=True)
class PlayerLevel:
    entity_id: U64 = column(unique=True)
    level: U64 = column(index="btree")


@module.table
class PlayerLocation:
    entity_id: U64 = column(unique=True)
    active: bool = column(index="btree")
    x: I32
    y: I32


@dataclasses.dataclass(frozen=True)
class PlayerAndLevel:
    entity_id: U64
    identity: Identity
    level: U64


@module.reducer
def insert_player(ctx: ReducerContext, identity: Identity, level: U64) -> None:
    player = ctx.db.player.insert(Player(entity_id=0, identity=identity))
    ctx.db.player_level.insert(PlayerLevel(entity_id=player.entity_id, level=level))


@module.reducer
def delete_player(ctx: ReducerContext, identity: Identity) -> None:
    player = ctx.db.player.identity.find(identity)
    if player is not None:
        ctx.db.player.entity_id.delete(player.entity_id)
        ctx.db.player_level.entity_id.delete(player.entity_id)


@module.reducer
def move_player(ctx: ReducerContext, dx: I32, dy: I32) -> None:
    my_player = ctx.db.player.identity.find(ctx.sender)
    if my_player is None:
        my_player = ctx.db.player.insert(Player(entity_id=0, identity=ctx.sender))
    loc = ctx.db.player_location.entity_id.find(my_player.entity_id)
    if loc is not None:
        ctx.db.player_location.entity_id.delete(loc.entity_id)
        ctx.db.player_location.insert(
            PlayerLocation(entity_id=loc.entity_id, active=loc.active, x=loc.x + dx, y=loc.y + dy)
        )
    else:
        ctx.db.player_location.insert(
            PlayerLocation(entity_id=my_player.entity_id, active=True, x=dx, y=dy)
        )


@module.view(public=True)
def my_player(ctx: ViewContext) -> Player | None:
    return ctx.db.player.identity.find(ctx.sender)


@module.view(public=True)
def my_player_and_level(ctx: ViewContext) -> PlayerAndLevel | None:
    player = ctx.db.player.identity.find(ctx.sender)
    if player is None:
        return None
    level = ctx.db.player_level.entity_id.find(player.entity_id)
    if level is None:
        return None
    return PlayerAndLevel(entity_id=player.entity_id, identity=player.identity, level=level.level)


@module.view(public=True, anonymous=True)
def players_at_level_0(ctx: AnonymousViewContext) -> list[Player]:
    found = (ctx.db.player.entity_id.find(p.entity_id) for p in ctx.db.player_level.level.filter(0))
    return [p for p in found if p is not None]


@module.view(public=True)
def nearby_players(ctx: ViewContext) -> list[PlayerLocation]:
    me = ctx.db.player.identity.find(ctx.sender)
    my_loc = None if me is None else ctx.db.player_location.entity_id.find(me.entity_id)
    if my_loc is None:
        return []
    return [
        loc
        for loc in ctx.db.player_location.active.filter(True)
        if loc.entity_id != my_loc.entity_id
        and abs(loc.x - my_loc.x) < 5
        and abs(loc.y - my_loc.y) < 5
    ]
