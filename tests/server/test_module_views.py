"""Module API additions the upstream test modules use: views with primary keys (procedural,
``primary_key=``; and query-builder views returning ``Query[Row]``, which inherit their
table's key), ``Ok[T] | Err[E]`` annotations, and sum variants named after their payload type.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from spacetimedb_sdk import DbConnection, Identity
from spacetimedb_sdk.errors import SchemaError
from spacetimedb_sdk.sats import I32, U64, AlgebraicType, Err, Ok
from spacetimedb_sdk.sats.types import ProductType, ProductTypeElement, RefType
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server import (
    AnonymousViewContext,
    Module,
    Query,
    ReducerContext,
    ViewContext,
    column,
    sum_type,
)
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.server.module.query import From
from spacetimedb_sdk.server.sqlschema import ModuleSqlSchema
from spacetimedb_sdk.server.types_from_py import TypespaceBuilder


@sum_type
class Payload:
    # Variants named after their payload types: the annotation means the type, not the variant.
    Identity: Identity
    Count: U64


def views_module() -> Module:
    m = Module("views")

    @m.table(public=True)
    class Player:
        id: U64 = column(primary_key=True)
        name: str
        level: U64 = column(index="btree")

    @m.table  # private: query views read it with the module's privileges
    class Membership:
        id: U64 = column(primary_key=True)
        player_id: U64 = column(index="btree")

    @m.reducer
    def add(ctx: ReducerContext, id: U64, name: str, level: U64) -> None:
        ctx.db.player.insert(Player(id=id, name=name, level=level))

    @m.reducer
    def rename(ctx: ReducerContext, id: U64, name: str) -> None:
        old = ctx.db.player.id.find(id)
        ctx.db.player.id.update(Player(id=id, name=name, level=old.level))

    @m.reducer
    def join(ctx: ReducerContext, id: U64, player_id: U64) -> None:
        ctx.db.membership.insert(Membership(id=id, player_id=player_id))

    @m.view(public=True, primary_key="id")
    def mine(ctx: ViewContext) -> list[Player]:
        return [p for p in ctx.db.player if p.level > 0]

    @m.view(public=True, anonymous=True)
    def high_level(ctx: AnonymousViewContext) -> Query[Player]:
        return ctx.from_.player.where(lambda p: p.level >= 10)

    @m.view(public=True)
    def members(ctx: ViewContext) -> Query[Player]:
        return ctx.from_.membership.right_semijoin(
            ctx.from_.player, lambda mb, p: mb.player_id == p.id
        )

    return m


# ---- schema ------------------------------------------------------------------------------------


def test_procedural_view_key_is_served_in_view_primary_keys() -> None:
    m = views_module()
    v10 = m.describe_v10()
    names = [next(iter(s)) for s in v10["sections"]]
    assert names.index("ViewPrimaryKeys") == names.index("Views") + 1
    [section] = [s["ViewPrimaryKeys"] for s in v10["sections"] if "ViewPrimaryKeys" in s]
    # Only the procedural view's key is written; query views' keys are inferred by readers.
    assert section == [{"view_source_name": "mine", "columns": ["id"]}]
    schema = ModuleSchema.from_json(v10)
    assert schema.view("mine").primary_key == (0,) and not schema.view("mine").is_query


def test_query_views_return_query_of_row_and_inherit_the_key() -> None:
    m = views_module()
    player_ref = m.table_schema("player").product_type_ref
    members = m.view_def("members")
    assert members is not None and members.is_query and members.primary_key == 0
    assert members.return_type == ProductType(
        (ProductTypeElement("__query__", RefType(player_ref)),)
    )
    schema = ModuleSchema.from_json(m.describe_v10())
    for name in ("members", "high_level"):
        view = schema.view(name)
        assert view.is_query and view.primary_key == (0,) and view.product_type_ref == player_ref


def test_views_with_a_key_have_an_index_on_it_for_joins() -> None:
    sql = ModuleSqlSchema(views_module())
    assert sql.table("mine").indexes == ((0,),)
    assert sql.table("members").indexes == ((0,),)


def test_view_declaration_errors_name_the_view() -> None:
    m = Module("bad")

    @m.table(public=True)
    class T:
        id: U64 = column(primary_key=True)

    @m.view(public=True, primary_key="nope")
    def v(ctx: ViewContext) -> list[T]:
        return []

    with pytest.raises(SchemaError, match=r"view v: primary_key='nope' is not a column"):
        m.build()

    m2 = Module("bad2")

    @m2.table(public=True)
    class T2:
        id: U64 = column(primary_key=True)

    @m2.view(public=True, primary_key="id")
    def q(ctx: ViewContext) -> Query[T2]:
        return ctx.from_.t2

    with pytest.raises(SchemaError, match="view q: a query view's primary key is its table's"):
        m2.build()


# ---- the query builder of views ------------------------------------------------------------------


def test_view_queries_render_sql() -> None:
    m = views_module()
    q = From({t.accessor: t for t in m.table_schemas()})
    assert q.player.to_sql() == 'SELECT * FROM "player"'
    assert (
        q.player.where(lambda p: (p.level >= 2) & (p.name != "it's")).to_sql()
        == """SELECT * FROM "player" WHERE ("player"."level" >= 2) AND ("player"."name" <> 'it''s')"""
    )
    semi = q.membership.where(lambda mb: mb.id > 1).right_semijoin(
        q.player, lambda mb, p: mb.player_id == p.id
    )
    assert semi.where(lambda p: p.level == 3).to_sql() == (
        'SELECT "player".* FROM "membership" JOIN "player" ON '
        '"membership"."player_id" = "player"."id" '
        'WHERE ("membership"."id" > 1) AND ("player"."level" = 3)'
    )
    assert q.player.left_semijoin(q.membership, lambda p, mb: p.id == mb.player_id).table.name == (
        "player"
    )


def test_view_query_mistakes_are_named() -> None:
    q = From({t.accessor: t for t in views_module().table_schemas()})
    with pytest.raises(AttributeError, match="no table 'players' to query"):
        _ = q.players
    with pytest.raises(AttributeError, match="has no column 'lvl'"):
        _ = q.player.lvl
    with pytest.raises(TypeError, match="on its own columns"):
        q.player.where(lambda p: p.id == q.membership.id)
    with pytest.raises(ValueError, match="to itself"):
        q.player.right_semijoin(q.player, lambda a, b: a.id == b.id)
    with pytest.raises(TypeError, match=r"combine query conditions with & and \|"):
        q.player.where(lambda p: (p.id == 1) and (p.id == 2))
    with pytest.raises(TypeError, match="cannot compare with bytes"):
        q.player.where(lambda p: p.name == b"x")


def test_a_query_view_returning_rows_is_an_error() -> None:
    m = Module("wrong")

    @m.table(public=True)
    class T:
        id: U64 = column(primary_key=True)

    @m.view(public=True, anonymous=True)
    def v(ctx: AnonymousViewContext) -> Query[T]:
        return [T(id=1)]  # type: ignore[return-value]

    with pytest.raises(TypeError, match="annotated to return a Query; it returned list"):
        m.call_view(m.new_datastore(), "v")


# ---- views over the wire ---------------------------------------------------------------------------


async def test_query_and_keyed_views_update_their_rows_for_subscribers() -> None:
    async with LocalServer(views_module()) as srv:
        conn = await DbConnection.builder().with_uri(srv.url).with_database_name("views").connect()
        try:
            log: list[tuple[Any, ...]] = []
            for name in ("mine", "members", "high_level"):
                table = getattr(conn.db, name)
                table.on_insert(lambda ctx, r, n=name: log.append((n, "insert", r.name)))
                table.on_update(lambda ctx, o, r, n=name: log.append((n, "update", o.name, r.name)))
                table.on_delete(lambda ctx, r, n=name: log.append((n, "delete", r.name)))
            await asyncio.wait_for(
                conn.subscription_builder().subscribe(
                    [
                        "SELECT * FROM mine",
                        "SELECT * FROM high_level",
                        # A join on the view's key column (it has an index there).
                        "SELECT members.* FROM player JOIN members ON player.id = members.id",
                    ]
                ),
                10,
            )
            await conn.reducers.add(id=1, name="ann", level=10)
            await conn.reducers.join(id=7, player_id=1)  # a private table, read by the view
            await conn.reducers.rename(id=1, name="bea")
            assert sorted(log) == sorted(
                [
                    ("mine", "insert", "ann"),
                    ("high_level", "insert", "ann"),
                    ("members", "insert", "ann"),
                    ("mine", "update", "ann", "bea"),
                    ("high_level", "update", "ann", "bea"),
                    ("members", "update", "ann", "bea"),
                ]
            )
        finally:
            await conn.disconnect()


async def test_a_view_without_a_key_cannot_be_joined() -> None:
    m = Module("nokey")

    @m.table(public=True)
    class T:
        id: U64 = column(primary_key=True)

    @m.view(public=True, anonymous=True)
    def all_t(ctx: AnonymousViewContext) -> list[T]:
        return list(ctx.db.t)

    async with LocalServer(m) as srv:
        conn = await DbConnection.builder().with_uri(srv.url).with_database_name("nokey").connect()
        try:
            with pytest.raises(Exception, match="Subscriptions require indexes on join columns"):
                await asyncio.wait_for(
                    conn.subscription_builder().subscribe(
                        "SELECT t.* FROM t JOIN all_t ON t.id = all_t.id"
                    ),
                    10,
                )
        finally:
            await conn.disconnect()


# ---- annotations -------------------------------------------------------------------------------


def test_ok_err_union_is_a_result() -> None:
    b = TypespaceBuilder()
    assert b.type_of(Ok[I32] | Err[str], where="r") == AlgebraicType.result(
        AlgebraicType.I32, AlgebraicType.STRING
    )
    assert b.type_of(Err[str] | Ok[list[I32]], where="r") == AlgebraicType.result(
        AlgebraicType.array(AlgebraicType.I32), AlgebraicType.STRING
    )
    with pytest.raises(SchemaError, match=r"write the payload types, e.g. Ok\[int\] \| Err\[str\]"):
        b.type_of(Ok | Err, where="r")
    with pytest.raises(SchemaError, match=r"only `T \| None`"):
        b.type_of(int | str, where="r")


def test_result_columns_round_trip() -> None:
    m = Module("results")

    @m.table(public=True)
    class R:
        r: Ok[I32] | Err[str]

    codec = m.row_codec("r")
    for value in (R(r=Ok(5)), R(r=Err("no"))):
        assert codec.decode(codec.encode(value)) == value


def test_variant_named_after_its_payload_type_means_the_type() -> None:
    b = TypespaceBuilder()
    ref = b.type_of(Payload, where="p")
    assert isinstance(ref, RefType)
    variants = b.typespace().types[ref.index].variants  # type: ignore[attr-defined]
    assert [v.name for v in variants] == ["Identity", "Count"]
    assert variants[0].algebraic_type == AlgebraicType.identity()
    assert Payload.Identity(Identity.ZERO).value == Identity.ZERO  # type: ignore[attr-defined]


def test_sql_of_a_per_caller_view_counts_the_callers_rows_for_the_row_limit() -> None:
    # The row-limit estimate of a non-owner's /sql computes a per-caller view for that caller
    # (it once asked for the view without a caller and failed).
    with LocalServer(views_module()) as srv:
        assert srv.db.call_reducer("add", 1, "ann", 3).ok
        caller = Identity(7)
        [result] = srv.db.sql("SELECT * FROM mine", sender=caller)
        assert result["rows"] == [[1, "ann", 3]]
