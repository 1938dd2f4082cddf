"""A Python port of upstream's ``modules/sdk-test-case-conversion`` (``src/lib.rs``).

Names with digit boundaries and mixed case under the default snake-case policy: the table
``Player1`` has the explicit canonical name ``Player1Canonical`` (accessor ``player1``), columns
like ``Player1Id`` become ``player_1_id``, the reducer ``BanPlayer1`` is explicitly named
``banPlayer1``, and the anonymous query view ``person_at_level_2`` is named ``Level2Person``.
"""

from __future__ import annotations

import dataclasses

from spacetimedb_sdk.sats import U8, U32
from spacetimedb_sdk.server import (
    AnonymousViewContext,
    Module,
    Query,
    ReducerContext,
    column,
    sum_type,
)

module = Module("sdk-test-case-conversion")


@sum_type
class Player2Status:
    Active1: None
    BannedUntil: U32


@dataclasses.dataclass(frozen=True)
class Person3Info:
    AgeValue1: U8
    ScoreTotal: U32


@module.table(name="Player1Canonical", accessor="player1", public=True)
class Player1:
    Player1Id: U32 = column(primary_key=True, auto_inc=True)
    player_name: str
    currentLevel2: U32
    status3Field: Player2Status


@module.table(accessor="person2", public=True)
class Person2:
    Person2Id: U32 = column(primary_key=True, auto_inc=True)
    FirstName: str
    playerRef: U32 = column(index="btree")
    personInfo: Person3Info


@module.reducer
def CreatePlayer1(ctx: ReducerContext, Player1Name: str, Start2Level: U32) -> None:
    ctx.db.player1.insert(
        Player1(
            Player1Id=0,
            player_name=Player1Name,
            currentLevel2=Start2Level,
            status3Field=Player2Status.Active1(),
        )
    )


@module.reducer
def AddPerson2(
    ctx: ReducerContext,
    First3Name: str,
    playerRef: U32,
    AgeValue: U8,
    ScoreTotal: U32,
) -> None:
    ctx.db.person2.insert(
        Person2(
            Person2Id=0,
            FirstName=First3Name,
            playerRef=playerRef,
            personInfo=Person3Info(AgeValue1=AgeValue, ScoreTotal=ScoreTotal),
        )
    )


@module.reducer(name="banPlayer1")
def BanPlayer1(ctx: ReducerContext, Player1Id: U32, BanUntil6: U32) -> None:
    player = ctx.db.player1.Player1Id.find(Player1Id)
    if player is not None:
        banned = Player2Status.BannedUntil(BanUntil6)
        ctx.db.player1.Player1Id.update(dataclasses.replace(player, status3Field=banned))


@module.view(name="Level2Person", public=True, anonymous=True)
def person_at_level_2(ctx: AnonymousViewContext) -> Query[Person2]:
    return ctx.from_.player1.where(lambda pl: pl.currentLevel2 == 2).right_semijoin(
        ctx.from_.person2, lambda pl, per: pl.Player1Id == per.playerRef
    )
