"""A schema full of names Python reserves: table ``class``, column ``from``, reducer ``count``,
a module type called ``Identity``, a column called ``str``, enum members ``name``/``value``.

The schema (``schemas/escaping.v9.json``) is written by hand.  Python names get a trailing
``_`` where needed; wire names, SQL and codecs keep the originals.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from codegen_support import Generated

from spacetimedb_sdk import Identity, Timestamp
from spacetimedb_sdk.codegen.runtime import BTreeIndexAccessor, UniqueIndexAccessor
from spacetimedb_sdk.query import table_infos
from spacetimedb_sdk.server.sql import StaticSchema, StaticTable, compile_subscription

PACKAGE = "bindings_escaping"


@pytest.fixture
def mod(generated: Generated) -> Any:
    return generated.load(PACKAGE)


@pytest.fixture
def conn(mod: Any) -> Any:
    return mod.DbConnection.builder().with_uri("http://127.0.0.1:1").with_database_name("x").build()


def row(mod: Any, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "from_": 1,
        "count": 2,
        "where": True,
        "self": "me",
        "l": -1,
        "Identity": mod.Identity(id=5, from_="x"),
        "owner": Identity(7),
        "status": mod.Status.value_,
        "shape": mod.Shape.circle(1.5),
        "str": "s",
        "at": Timestamp(5),
        "maybe": None,
    }
    fields.update(changes)
    return mod.class_(**fields)


def test_module_type_named_identity_keeps_its_name(mod: Any) -> None:
    assert mod.Identity is not Identity
    assert mod.Identity.__sats_fields__ == ("id", "from_")
    assert mod.Identity.__sats_wire_names__ == ("id", "from")
    # ... and the row still uses the SDK's Identity for the special column.
    assert inspect.get_annotations(mod.class_)["owner"] == "_Identity"


def test_keyword_and_builtin_names_are_escaped_in_python_only(mod: Any) -> None:
    assert mod.class_.__sats_fields__[:5] == ("from_", "count", "where", "self", "l")
    assert mod.class_.__sats_wire_names__[:5] == ("from", "count", "where", "self", "l")
    assert [m.name for m in mod.Status] == ["name_", "value_", "Active"]
    assert [m.value for m in mod.Status] == ["name", "value", "Active"]
    assert mod.Shape.class_.__qualname__ == "Shape.class_"


def test_rows_round_trip_through_the_codecs(conn: Any, mod: Any) -> None:
    table = conn._bindings.table("class")
    for shape in (mod.Shape.circle(2.5), mod.Shape.class_("c"), mod.Shape.empty()):
        for status in mod.Status:
            value = row(mod, shape=shape, status=status, maybe="m")
            assert table.codec.decode(table.codec.encode(value)) == value


def test_sum_variants_work_in_match(mod: Any) -> None:
    def area(shape: Any) -> float:
        match shape:
            case mod.Shape.circle(value=r):
                return float(r) * 2
            case mod.Shape.class_(value=name):
                return float(len(name))
            case mod.Shape.empty():
                return 0.0
        raise AssertionError(shape)

    assert [area(mod.Shape.circle(1.5)), area(mod.Shape.class_("ab")), area(mod.Shape.empty())] == [
        3.0,
        2.0,
        0.0,
    ]


def test_table_handles_and_indexes(conn: Any, mod: Any) -> None:
    handle = conn.db.class_
    assert isinstance(handle, mod.ClassTable)
    assert handle.table_name == "class"
    # `count` is the handle's method; the index on column `count` is `count_`.
    assert handle.count() == 0
    assert isinstance(handle.count_, UniqueIndexAccessor)
    assert isinstance(handle.from_, UniqueIndexAccessor)
    assert isinstance(handle.status, BTreeIndexAccessor)
    assert handle.from_.find(1) is None
    assert list(handle.status.filter(mod.Status.Active)) == []
    assert isinstance(conn.db.list, mod.ListTable)
    assert isinstance(conn.db.secret, mod.SecretTable)  # --include-private


def test_reducers_named_like_keywords_and_methods(conn: Any, mod: Any) -> None:
    count = conn.reducers.count
    assert isinstance(count, mod.CountReducer)
    params = list(inspect.signature(count.__call__).parameters)
    assert params == ["from_", "self_", "callback_", "l"]
    binding = count._caller._binding
    assert binding.name == "count"
    assert binding.params.names() == ["from", "self", "callback", "l"]
    assert isinstance(conn.reducers.class_, mod.ClassReducer)
    assert conn.reducers.class_._caller._binding.name == "class"
    assert not hasattr(conn.reducers, "init")  # lifecycle reducers are not callable


def test_queries_use_wire_names_and_pass_the_sql_checker(generated: Generated, mod: Any) -> None:
    schema = generated.schemas[PACKAGE]
    checker = StaticSchema(
        [
            StaticTable(
                t.name,
                [(wire, ty) for wire, _, ty, _ in t.columns],
                indexes=[[i] for i, c in enumerate(t.columns) if c[3]],
            )
            for t in table_infos(schema)
        ]
    )
    q = mod.QueryBuilder()
    queries = {
        q.class_.where(q.class_.where_ & (q.class_.from_ == 3)): (
            'SELECT * FROM "class" WHERE ("class"."where" = TRUE) AND ("class"."from" = 3)'
        ),
        q.class_.where(q.class_.str == "it's"): (
            """SELECT * FROM "class" WHERE "class"."str" = 'it''s'"""
        ),
        q.class_.right_semijoin(q.list, on=lambda c, li: c.from_ == li.from_): (
            'SELECT "list".* FROM "class" JOIN "list" ON "class"."from" = "list"."from"'
        ),
        q.list.left_semijoin(q.class_, on=q.list.from_ == q.class_.from_): (
            'SELECT "list".* FROM "class" JOIN "list" ON "list"."from" = "class"."from"'
        ),
    }
    for query, expected in queries.items():
        assert query.to_sql() == expected
        compile_subscription(expected, checker)
    assert q["class"].col("from") is q.class_.from_
