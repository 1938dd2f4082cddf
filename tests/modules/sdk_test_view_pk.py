"""A Python port of upstream's ``modules/sdk-test-view-pk`` (``src/lib.rs``).

Three query-builder views (``Query[ViewPkPlayer]``) over a table with a primary key: the views
inherit that key, so clients get ``on_update`` for their rows and may semijoin them.
"""

from __future__ import annotations

from spacetimedb_sdk.sats import U64
from spacetimedb_sdk.server import Module, Query, ReducerContext, ViewContext, column

module = Module("sdk-test-view-pk")


@module.table(public=True)
class ViewPkPlayer:
    id: U64 = column(primary_key=True)
    name: str


@module.table(public=True)
class ViewPkMembership:
    id: U64 = column(primary_key=True)
    player_id: U64 = column(index="btree")


@module.table(public=True)
class ViewPkMembershipSecondary:
    id: U64 = column(primary_key=True)
    player_id: U64 = column(index="btree")


@module.reducer
def insert_view_pk_player(ctx: ReducerContext, id: U64, name: str) -> None:
    ctx.db.view_pk_player.insert(ViewPkPlayer(id=id, name=name))


@module.reducer
def update_view_pk_player(ctx: ReducerContext, id: U64, name: str) -> None:
    ctx.db.view_pk_player.id.update(ViewPkPlayer(id=id, name=name))


@module.reducer
def insert_view_pk_membership(ctx: ReducerContext, id: U64, player_id: U64) -> None:
    ctx.db.view_pk_membership.insert(ViewPkMembership(id=id, player_id=player_id))


@module.reducer
def insert_view_pk_membership_secondary(ctx: ReducerContext, id: U64, player_id: U64) -> None:
    ctx.db.view_pk_membership_secondary.insert(
        ViewPkMembershipSecondary(id=id, player_id=player_id)
    )


@module.view(public=True)
def all_view_pk_players(ctx: ViewContext) -> Query[ViewPkPlayer]:
    return ctx.from_.view_pk_player


@module.view(public=True)
def sender_view_pk_players_a(ctx: ViewContext) -> Query[ViewPkPlayer]:
    return ctx.from_.view_pk_membership.right_semijoin(
        ctx.from_.view_pk_player, lambda membership, player: membership.player_id == player.id
    )


@module.view(public=True)
def sender_view_pk_players_b(ctx: ViewContext) -> Query[ViewPkPlayer]:
    return ctx.from_.view_pk_membership_secondary.right_semijoin(
        ctx.from_.view_pk_player, lambda membership, player: membership.player_id == player.id
    )
