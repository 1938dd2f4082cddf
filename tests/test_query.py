"""The typed query builder: exact SQL, checked by the local server's SQL front end.

The expected strings are the upstream TypeScript (``crates/bindings-typescript/tests/
query.test.ts``) and C# (``sdks/csharp/tests~/QueryBuilderTests.cs``) examples written
in our format, which is the TypeScript one: no parentheses around a lone comparison,
each operand of AND/OR parenthesized.  Every rendered query is also compiled by
``spacetimedb_sdk.server.sql.compile_subscription`` against the same tables, so the
server would accept it.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest

from spacetimedb_sdk import ConnectionId, Identity, Timestamp
from spacetimedb_sdk.query import (
    BoolExpr,
    QueryBuilder,
    and_,
    literal_sql,
    not_,
    or_,
    quote_identifier,
)
from spacetimedb_sdk.sats import I32, U32, AlgebraicType
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server import Module, column, index
from spacetimedb_sdk.server.describe import describe_v9
from spacetimedb_sdk.server.sql import SqlError, compile_subscription
from spacetimedb_sdk.server.sqlschema import ModuleSqlSchema

# ---- the TypeScript test's tables, plus the C# ones, as a module -------------------------------

# No case conversion, so the C# tables keep their PascalCase column names.
m = Module("query-test", case_conversion=None)


@m.table(name="person", public=True, indexes=[index("id_name_idx", btree=["id", "name"])])
class Person:
    id: Identity = column(unique=True)
    name: str
    age: U32
    active: bool
    created_at: Timestamp


@m.table(name="orders", public=True)
class Orders:
    order_id: Identity
    person_id: Identity = column(index="btree")
    item_name: str


@m.table(name='My"Table', public=True)
class Weird:
    Age: U32
    IsAdmin: bool


@m.table(name="T", public=True)
class TTable:
    Name: str
    Age: I32
    IsAdmin: bool
    CreatedAt: Timestamp
    conn: ConnectionId
    uid: uuid.UUID
    blob: bytes
    ratio: float
    maybe: str | None


@m.table(name="users", public=True)
class Users:
    id: I32 = column(primary_key=True)


@m.table(name="other", public=True)
class Other:
    uid: I32 = column(unique=True)


SCHEMA = ModuleSchema.from_json(describe_v9(m))
SQL_SCHEMA = ModuleSqlSchema(m)


@pytest.fixture
def q() -> Any:
    return QueryBuilder(SCHEMA)


def sql(query: Any) -> str:
    """The query's SQL, after checking that the local server accepts it."""
    text: str = query.to_sql()
    compile_subscription(text, SQL_SCHEMA)
    return text


IDENT = Identity.from_hex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")


# ---- the TypeScript examples ---------------------------------------------------------------------


def test_full_table_scan(q: Any) -> None:
    assert sql(q.person) == 'SELECT * FROM "person"'


def test_string_literal_quotes_are_doubled(q: Any) -> None:
    assert (
        sql(q.person.where(q.person.name == "O'Brian"))
        == """SELECT * FROM "person" WHERE "person"."name" = 'O''Brian'"""
    )


def test_numeric_literal(q: Any) -> None:
    assert sql(q.person.where(q.person.age == 42)) == (
        'SELECT * FROM "person" WHERE "person"."age" = 42'
    )


def test_and_of_two_predicates(q: Any) -> None:
    expected = (
        """SELECT * FROM "person" WHERE ("person"."name" = 'Alice') AND ("person"."age" = 30)"""
    )
    assert sql(q.person.where(and_(q.person.name == "Alice", q.person.age == 30))) == expected
    assert sql(q.person.where((q.person.name == "Alice") & (q.person.age == 30))) == expected


def test_not_is_pushed_down_because_the_server_has_no_not(q: Any) -> None:
    # TypeScript renders NOT ("person"."name" = 'Bob'); SpacetimeDB's SQL rejects NOT.
    expected = """SELECT * FROM "person" WHERE "person"."name" <> 'Bob'"""
    assert sql(q.person.where(not_(q.person.name == "Bob"))) == expected
    assert sql(q.person.where(~(q.person.name == "Bob"))) == expected
    assert sql(q.person.where((q.person.name == "Bob").not_())) == expected


def test_where_twice_is_and(q: Any) -> None:
    query = q.person.where(q.person.name == "Eve").where(q.person.age == 25)
    assert sql(query) == (
        """SELECT * FROM "person" WHERE ("person"."name" = 'Eve') AND ("person"."age" = 25)"""
    )


def test_or_of_two_predicates(q: Any) -> None:
    expected = (
        """SELECT * FROM "person" WHERE ("person"."name" = 'Carol') OR ("person"."name" = 'Dave')"""
    )
    assert sql(q.person.where(or_(q.person.name == "Carol", q.person.name == "Dave"))) == expected
    assert sql(q.person.where((q.person.name == "Carol") | (q.person.name == "Dave"))) == expected
    assert sql(q.person.where((q.person.name == "Carol").or_(q.person.name == "Dave"))) == expected


def test_bool_column_as_predicate(q: Any) -> None:
    expected = 'SELECT * FROM "person" WHERE "person"."active" = TRUE'
    assert sql(q.person.where(q.person.active)) == expected
    assert sql(q.person.where(lambda p: p.active)) == expected
    assert sql(q.person.where(q.person.active == True)) == expected  # noqa: E712
    assert sql(q.person.where(~q.person.active)) == (
        'SELECT * FROM "person" WHERE "person"."active" = FALSE'
    )


def test_identity_literal_is_hex(q: Any) -> None:
    assert sql(q.person.where(q.person.id == IDENT)) == (
        'SELECT * FROM "person" WHERE "person"."id" = '
        "0x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )


def test_timestamp_literal_and_comparison(q: Any) -> None:
    ts = Timestamp.from_datetime(dt.datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=dt.timezone.utc))
    assert sql(q.person.where(q.person.created_at == ts)) == (
        """SELECT * FROM "person" WHERE "person"."created_at" = '2024-01-01T00:00:00.123000Z'"""
    )
    assert sql(q.person.where(q.person.created_at > ts)) == (
        """SELECT * FROM "person" WHERE "person"."created_at" > '2024-01-01T00:00:00.123000Z'"""
    )


def test_semijoin_without_filters(q: Any) -> None:
    query = q.person.right_semijoin(q.orders, on=lambda person, order: order.person_id == person.id)
    assert sql(query) == (
        'SELECT "orders".* FROM "person" JOIN "orders" ON "orders"."person_id" = "person"."id"'
    )


def test_semijoin_after_a_filter_escapes_literals(q: Any) -> None:
    on = q.orders.person_id == q.person.id
    assert sql(q.person.where(q.person.age == 42).right_semijoin(q.orders, on=on)) == (
        'SELECT "orders".* FROM "person" JOIN "orders" ON "orders"."person_id" = "person"."id" '
        'WHERE "person"."age" = 42'
    )
    assert sql(q.person.where(q.person.name == "O'Brian").right_semijoin(q.orders, on=on)) == (
        'SELECT "orders".* FROM "person" JOIN "orders" ON "orders"."person_id" = "person"."id" '
        """WHERE "person"."name" = 'O''Brian'"""
    )
    both = (q.person.name == "Alice") & (q.person.age == 30)
    assert sql(q.person.where(both).right_semijoin(q.orders, on=on)) == (
        'SELECT "orders".* FROM "person" JOIN "orders" ON "orders"."person_id" = "person"."id" '
        """WHERE ("person"."name" = 'Alice') AND ("person"."age" = 30)"""
    )


@pytest.mark.parametrize(
    ("op", "sym"),
    [("__eq__", "="), ("__ne__", "<>"), ("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">=")],
)  # fmt: skip
def test_comparison_operators(q: Any, op: str, sym: str) -> None:
    cond = getattr(q.orders.item_name, op)("Gadget")
    assert sql(q.orders.where(cond)) == (
        f"""SELECT * FROM "orders" WHERE "orders"."item_name" {sym} 'Gadget'"""
    )


@pytest.mark.parametrize(
    ("method", "sym"),
    [("eq", "="), ("ne", "<>"), ("lt", "<"), ("lte", "<="), ("gt", ">"), ("gte", ">=")],
)
def test_typescript_method_names(q: Any, method: str, sym: str) -> None:
    cond = getattr(q.orders.item_name, method)("Gadget")
    assert cond.to_sql() == f""""orders"."item_name" {sym} 'Gadget'"""


def test_left_and_right_semijoin(q: Any) -> None:
    on = lambda p, o: p.id == o.person_id  # noqa: E731
    assert sql(q.person.right_semijoin(q.orders, on=on)) == (
        'SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id"'
    )
    assert sql(q.person.left_semijoin(q.orders, on=on)) == (
        'SELECT "person".* FROM "orders" JOIN "person" ON "person"."id" = "orders"."person_id"'
    )


def test_chained_and_or(q: Any) -> None:
    assert sql(q.person.where((q.person.age > 20).and_(q.person.age < 30))) == (
        'SELECT * FROM "person" WHERE ("person"."age" > 20) AND ("person"."age" < 30)'
    )


def test_semijoin_with_filters_on_both_sides(q: Any) -> None:
    query = (
        q.person.where(q.person.age == 42)
        .right_semijoin(q.orders, on=lambda p, o: p.id == o.person_id)
        .where(lambda o: o.item_name == "Gadget")
    )
    assert sql(query) == (
        'SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id" '
        """WHERE ("person"."age" = 42) AND ("orders"."item_name" = 'Gadget')"""
    )


def test_canonical_column_names_are_used(q: Any) -> None:
    # The TS test's renamed columns: SQL always uses the canonical (wire) names.
    assert "created_at" in [c.name for c in q.person.columns]
    assert sql(q.person.where(q.person.created_at > Timestamp(0))).startswith(
        'SELECT * FROM "person" WHERE "person"."created_at" >'
    )


# ---- the C# examples -------------------------------------------------------------------------------


def test_identifier_quotes_are_doubled(q: Any) -> None:
    assert quote_identifier('My"Table') == '"My""Table"'
    assert sql(q['My"Table']) == 'SELECT * FROM "My""Table"'
    assert sql(q['My"Table'].where(q['My"Table'].Age > 123)) == (
        'SELECT * FROM "My""Table" WHERE "My""Table"."Age" > 123'
    )


def test_csharp_literals(q: Any) -> None:
    t = q["T"]
    assert (
        sql(t.where(t.Name == "O'Reilly")) == """SELECT * FROM "T" WHERE "T"."Name" = 'O''Reilly'"""
    )
    assert sql(t.where(t.Age > 123)) == 'SELECT * FROM "T" WHERE "T"."Age" > 123'
    assert sql(t.where(t.IsAdmin == False)) == 'SELECT * FROM "T" WHERE "T"."IsAdmin" = FALSE'  # noqa: E712
    assert sql(t.where(t.Age > 1).where(t.IsAdmin == True)) == (  # noqa: E712
        'SELECT * FROM "T" WHERE ("T"."Age" > 1) AND ("T"."IsAdmin" = TRUE)'
    )
    expr = ((t.Age > 1) & (t.Name != "x")) | (t.IsAdmin == True)  # noqa: E712
    assert expr.to_sql() == (
        """(("T"."Age" > 1) AND ("T"."Name" <> 'x')) OR ("T"."IsAdmin" = TRUE)"""
    )
    sql(t.where(expr))


def test_csharp_special_literals(q: Any) -> None:
    t = q["T"]
    conn = ConnectionId.from_hex("0" * 31 + "1")
    assert (
        sql(t.where(t.conn == conn)) == 'SELECT * FROM "T" WHERE "T"."conn" = 0x' + "0" * 31 + "1"
    )
    nil = uuid.UUID("00000000-0000-0000-0000-000000000000")
    assert sql(t.where(t.uid == nil)) == 'SELECT * FROM "T" WHERE "T"."uid" = 0x' + "0" * 32
    some = uuid.UUID("12345678-90ab-cdef-1234-567890abcdef")
    assert t.uid.eq(some).to_sql() == '"T"."uid" = 0x1234567890abcdef1234567890abcdef'
    ts = Timestamp(1_737_582_793_990_639)
    for op, sym in [("ne", "<>"), ("lt", "<"), ("lte", "<="), ("gt", ">"), ("gte", ">=")]:
        assert sql(t.where(getattr(t.CreatedAt, op)(ts))) == (
            f"""SELECT * FROM "T" WHERE "T"."CreatedAt" {sym} '2025-01-22T21:53:13.990639Z'"""
        )


def test_csharp_not_forms(q: Any) -> None:
    t = q["T"]
    assert (~(t.Age > 18)).to_sql() == '"T"."Age" <= 18'
    assert (~(t.Age > 18) & (t.IsAdmin == True)).to_sql() == (  # noqa: E712
        '("T"."Age" <= 18) AND ("T"."IsAdmin" = TRUE)'
    )
    # De Morgan keeps the meaning of NOT (a AND b) without NOT.
    assert (~((t.Age > 1) & (t.Name == "x"))).to_sql() == (
        """("T"."Age" <= 1) OR ("T"."Name" <> 'x')"""
    )


def test_csharp_semijoins(q: Any) -> None:
    on = lambda u, o: u.id == o.uid  # noqa: E731
    assert sql(q.users.left_semijoin(q.other, on=on)) == (
        'SELECT "users".* FROM "other" JOIN "users" ON "users"."id" = "other"."uid"'
    )
    query = (
        q.users.where(q.users.id == 1).right_semijoin(q.other, on=on).where(lambda o: o.uid > 10)
    )
    assert sql(query) == (
        'SELECT "other".* FROM "users" JOIN "other" ON "users"."id" = "other"."uid" '
        'WHERE ("users"."id" = 1) AND ("other"."uid" > 10)'
    )


# ---- literal rendering -------------------------------------------------------------------------------


def test_more_literals(q: Any) -> None:
    t = q["T"]
    assert sql(t.where(t.blob == b"\x00\xff")) == 'SELECT * FROM "T" WHERE "T"."blob" = 0x00ff'
    assert sql(t.where(t.ratio < 1e-7)) == 'SELECT * FROM "T" WHERE "T"."ratio" < 0.0000001'
    assert sql(t.where(t.ratio >= -2)) == 'SELECT * FROM "T" WHERE "T"."ratio" >= -2'
    assert sql(t.where(t.Age == -(2**31))) == 'SELECT * FROM "T" WHERE "T"."Age" = -2147483648'
    assert literal_sql(2**256 - 1, AlgebraicType.U256) == str(2**256 - 1)
    assert literal_sql("a\nb'", AlgebraicType.STRING) == "'a\nb'''"


def test_timestamp_before_1970_and_far_future(q: Any) -> None:
    before = Timestamp.from_datetime(
        dt.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=dt.timezone.utc)
    )
    assert literal_sql(before, AlgebraicType.timestamp()) == "'1969-12-31T23:59:59.500000Z'"
    year_5 = Timestamp.from_datetime(dt.datetime(5, 1, 1, tzinfo=dt.timezone.utc))
    assert literal_sql(year_5, AlgebraicType.timestamp()) == "'0005-01-01T00:00:00.000000Z'"
    sql(q["T"].where(q["T"].CreatedAt > before))


@pytest.mark.parametrize(
    ("column", "value", "error", "fragment"),
    [
        ("Age", "12", TypeError, 'column "T"."Age" is I32, got str'),
        ("Age", True, TypeError, "is I32, got bool"),
        ("Age", 2**31, ValueError, "out of range for I32"),
        ("IsAdmin", 1, TypeError, "is Bool, got int"),
        ("Name", 5, TypeError, "is String, got int"),
        ("CreatedAt", "2024-01-01", TypeError, "is Timestamp, got str"),
        ("conn", IDENT, TypeError, "is ConnectionId, got Identity"),
        ("ratio", math.nan, ValueError, "has no SQL literal"),
        ("ratio", math.inf, ValueError, "has no SQL literal"),
        ("Name", None, TypeError, "SQL has no NULL"),
        ("maybe", "x", TypeError, "cannot be compared in SQL"),
    ],
)
def test_bad_literals_fail_where_written(
    q: Any, column: str, value: object, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as e:
        _ = getattr(q["T"], column) == value
    assert fragment in str(e.value)


# ---- misuse --------------------------------------------------------------------------------------------


def test_python_boolean_operators_are_refused(q: Any) -> None:
    cond = q.person.age > 1
    assert isinstance(cond, BoolExpr)
    with pytest.raises(TypeError, match="combine conditions with &"):
        _ = cond and (q.person.age < 5)
    with pytest.raises(TypeError, match="chained comparisons"):
        _ = 1 < q.person.age < 5
    with pytest.raises(TypeError, match="no truth value"):
        bool(q.person.active)


def test_where_must_use_its_own_table(q: Any) -> None:
    with pytest.raises(ValueError, match="can only read its own columns"):
        q.person.where(q.orders.item_name == "x")


def test_join_needs_indexed_columns(q: Any) -> None:
    with pytest.raises(ValueError, match=r'cannot join on "orders"\."item_name"'):
        q.orders.right_semijoin(q.person, on=lambda o, p: o.item_name == p.name)
    # The first column of a multi-column index is not enough for the server either.
    with pytest.raises(ValueError, match=r'cannot join on "person"\."name"'):
        q.person.right_semijoin(q.orders, on=lambda p, o: p.name == o.item_name)


def test_join_condition_shape(q: Any) -> None:
    with pytest.raises(ValueError, match="one equality"):
        q.person.right_semijoin(q.orders, on=lambda p, o: p.id != o.person_id)
    with pytest.raises(ValueError, match="must compare a column of 'person'"):
        q.person.right_semijoin(q.orders, on=q.person.id == IDENT)
    with pytest.raises(ValueError, match="to itself"):
        q.person.right_semijoin(q.person, on=lambda a, b: a.id == b.id)


def test_column_comparisons_need_equal_types(q: Any) -> None:
    with pytest.raises(TypeError, match="the types differ"):
        _ = q.person.age == q.person.name
    assert sql(q.person.where(q.person.name == q.person.name)) == (
        'SELECT * FROM "person" WHERE "person"."name" = "person"."name"'
    )


def test_unknown_names_list_the_known_ones(q: Any) -> None:
    with pytest.raises(AttributeError, match=r"no table or view named 'persons'.*'person'"):
        _ = q.persons
    with pytest.raises(AttributeError, match=r"no column 'nme'; columns: \['id', 'name'"):
        _ = q.person.nme
    with pytest.raises(KeyError):
        _ = q["nope"]


def test_queries_are_accepted_by_subscription_builder_to_sql(q: Any) -> None:
    # Every query object renders through str() too (what add_query falls back to).
    assert str(q.person.where(q.person.age == 1)) == q.person.where(q.person.age == 1).to_sql()


def test_server_rejects_what_the_builder_refuses() -> None:
    # The checks above mirror the server: a join on an unindexed column is rejected there too.
    with pytest.raises(SqlError, match="require indexes"):
        compile_subscription(
            'SELECT "orders".* FROM "person" JOIN "orders" ON "person"."name" = "orders"."item_name"',
            SQL_SCHEMA,
        )
