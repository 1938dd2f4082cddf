"""A module using every feature: its types, names and v9/v10 schema JSON."""

from __future__ import annotations

import dataclasses
import enum
import json

import pytest

from spacetimedb_sdk import Identity, ScheduleAt, Timestamp
from spacetimedb_sdk.errors import SchemaError
from spacetimedb_sdk.sats import F32, U32, U64, AlgebraicType
from spacetimedb_sdk.sats.types import ArrayType, ProductType, RefType, SumType
from spacetimedb_sdk.server import (
    Module,
    ProcedureContext,
    ReducerContext,
    ViewContext,
    column,
    index,
    sum_type,
)
from spacetimedb_sdk.server.describe import canonical_typespace

m = Module("every-feature")


class Color(enum.Enum):
    RED = 1
    DarkGreen = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: F32
    y: F32


@sum_type
class Shape:
    Circle: float
    Polygon: list[Point]
    Empty: None


@m.table(public=True, indexes=[index("player_id_snazz_index", btree=["player_id", "snazz"])])
class PlayerItem:
    id: U64 = column(primary_key=True, auto_inc=True)
    player_id: U32 = column(index="btree")
    snazz: str
    code: str = column(unique=True)
    color: Color
    shape: Shape
    spots: list[Point]
    nick: str | None
    level: U32 = column(default=1)


@m.table(name="EventLog", event=True)
class GameEvent:
    text: str


@m.table(scheduled="tick")
class TickTimer:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@m.reducer
def tick(ctx: ReducerContext, timer: TickTimer) -> None:
    ctx.db.game_event.insert(GameEvent(text="tick"))


@m.reducer(name="addItem")
def add_item(ctx: ReducerContext, player: U32, color: Color, where: Point | None) -> None:
    ctx.db.player_item.insert(
        PlayerItem(0, player, "x", f"c{player}", color, Shape.Empty(), [], None)
    )


@m.client_connected
def on_connect(ctx: ReducerContext) -> None:
    pass


@m.procedure
def sum_two(ctx: ProcedureContext, a: U32, b: U32) -> U32:
    return a + b


@m.view(public=True)
def my_items(ctx: ViewContext) -> list[PlayerItem]:
    return list(ctx.db.player_item.iter())


@m.view(anonymous=True)
def first_item(ctx: object) -> PlayerItem | None:
    return None


m.client_visibility_filter("SELECT * FROM player_item WHERE player_id = 1")


def test_row_class_is_a_frozen_value() -> None:
    a = PlayerItem(0, 1, "s", "c", Color.RED, Shape.Circle(1.0), [Point(1, 2)], None)
    b = PlayerItem(0, 1, "s", "c", Color.RED, Shape.Circle(1.0), [Point(1, 2)], None, 1)
    assert a == b and a.level == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.level = 2  # type: ignore[misc]


def test_row_type_and_named_types() -> None:
    schema = m.table_schema("player_item")
    ts = m.typespace
    assert schema.product_type_ref == 0
    assert schema.row_type.names() == [
        "id", "player_id", "snazz", "code", "color", "shape", "spots", "nick", "level",
    ]  # fmt: skip
    types = [e.algebraic_type for e in schema.row_type.elements]
    assert types[0] == AlgebraicType.U64 and types[1] == AlgebraicType.U32
    color_ref, shape_ref = types[4], types[5]
    assert isinstance(color_ref, RefType) and isinstance(shape_ref, RefType)
    color = ts.types[color_ref.index]
    assert isinstance(color, SumType) and [v.name for v in color.variants] == ["RED", "DarkGreen"]
    shape = ts.types[shape_ref.index]
    assert isinstance(shape, SumType)
    assert [v.name for v in shape.variants] == ["Circle", "Polygon", "Empty"]
    assert shape.variants[0].algebraic_type == AlgebraicType.F64
    assert shape.variants[2].algebraic_type == AlgebraicType.unit()
    point_ref = shape.variants[1].algebraic_type
    assert isinstance(point_ref, ArrayType) and isinstance(point_ref.elem, RefType)
    assert types[6] == point_ref  # the same named Point type is reused
    assert types[7] == AlgebraicType.option(AlgebraicType.STRING)
    point = ts.types[point_ref.elem.index]
    assert point == AlgebraicType.product({"x": AlgebraicType.F32, "y": AlgebraicType.F32})
    names = {name for name, _ in m.build().named_types}
    assert {"PlayerItem", "Color", "Shape", "Point", "GameEvent", "TickTimer"} <= names
    assert m.classes[color_ref.index] is Color and m.classes[shape_ref.index] is Shape


def test_canonical_typespace_converts_names_but_not_special_types() -> None:
    ts = canonical_typespace(m)
    color = ts.types[m.build().classes and _ref_of(Color)]
    assert isinstance(color, SumType) and [v.name for v in color.variants] == ["red", "darkGreen"]
    timer = ts.types[m.table_schema("tick_timer").product_type_ref]
    assert isinstance(timer, ProductType)
    assert timer.elements[1].algebraic_type.is_schedule_at()  # variants stay Interval/Time


def _ref_of(cls: type) -> int:
    return next(ref for ref, c in m.classes.items() if c is cls)


def test_indexes_constraints_sequences_names() -> None:
    t = m.table_schema("player_item")
    assert {(ix.accessor, ix.name, ix.columns, ix.unique) for ix in t.indexes} == {
        ("id", "player_item_id_idx_btree", (0,), True),
        ("player_id", "player_item_player_id_idx_btree", (1,), False),
        ("code", "player_item_code_idx_btree", (3,), True),
        ("player_id_snazz_index", "player_item_player_id_snazz_idx_btree", (1, 2), False),
    }
    assert [s.name for s in t.sequences] == ["player_item_id_seq"]
    assert t.primary_key == 0


def test_v9_json() -> None:
    v9 = m.describe_v9()
    json.dumps(v9)  # serializable as is
    assert list(v9) == [
        "typespace", "tables", "reducers", "types", "misc_exports", "row_level_security",
    ]  # fmt: skip
    tables = {t["name"]: t for t in v9["tables"]}
    assert [t["name"] for t in v9["tables"]] == sorted(tables)  # upstream sorts by name
    assert "EventLog" in tables  # explicit name kept verbatim
    item = tables["player_item"]
    assert item["primary_key"] == [0]
    assert item["indexes"] == [
        {"name": {"some": "player_item_code_idx_btree"}, "accessor_name": {"some": "code"}, "algorithm": {"BTree": [3]}},
        {"name": {"some": "player_item_id_idx_btree"}, "accessor_name": {"some": "id"}, "algorithm": {"BTree": [0]}},
        {"name": {"some": "player_item_player_id_idx_btree"}, "accessor_name": {"some": "player_id"}, "algorithm": {"BTree": [1]}},
        {"name": {"some": "player_item_player_id_snazz_idx_btree"}, "accessor_name": {"some": "player_id_snazz_index"}, "algorithm": {"BTree": [1, 2]}},
    ]  # fmt: skip
    assert item["constraints"] == [
        {"name": {"some": "player_item_code_key"}, "data": {"Unique": {"columns": [3]}}},
        {"name": {"some": "player_item_id_key"}, "data": {"Unique": {"columns": [0]}}},
    ]
    assert item["sequences"] == [
        {
            "name": {"some": "player_item_id_seq"},
            "column": 0,
            "start": {"none": []},
            "min_value": {"none": []},
            "max_value": {"none": []},
            "increment": 1,
        }
    ]
    assert item["table_access"] == {"Public": []} and item["schedule"] == {"none": []}
    assert tables["tick_timer"]["schedule"] == {
        "some": {
            "name": {"some": "tick_timer_sched"},
            "reducer_name": "tick",
            "scheduled_at_column": 1,
        }
    }
    assert tables["tick_timer"]["table_access"] == {"Private": []}
    reducers = [(r["name"], r["lifecycle"]) for r in v9["reducers"]]
    assert reducers == [
        ("tick", {"none": []}),
        ("addItem", {"none": []}),
        ("on_connect", {"some": {"OnConnect": []}}),
    ]
    add = v9["reducers"][1]["params"]["elements"]
    assert [e["name"] for e in add] == [{"some": "player"}, {"some": "color"}, {"some": "where"}]
    type_names = [t["name"]["name"] for t in v9["types"]]
    assert type_names == sorted(type_names) and "PlayerItem" in type_names
    misc = v9["misc_exports"]
    assert misc[0] == {
        "ColumnDefaultValue": {"table": "player_item", "col_id": 8, "value": "01000000"}
    }
    assert misc[1] == {
        "Procedure": {
            "name": "sum_two",
            "params": {
                "elements": [
                    {"name": {"some": "a"}, "algebraic_type": {"U32": []}},
                    {"name": {"some": "b"}, "algebraic_type": {"U32": []}},
                ]
            },
            "return_type": {"U32": []},
        }
    }
    ref = m.table_schema("player_item").product_type_ref
    assert misc[2] == {
        "View": {
            "name": "my_items", "index": 0, "is_public": True, "is_anonymous": False,
            "params": {"elements": []}, "return_type": {"Array": {"Ref": ref}},
        }
    }  # fmt: skip
    assert misc[3]["View"]["is_anonymous"] is True and misc[3]["View"]["index"] == 0
    assert misc[3]["View"]["return_type"] == AlgebraicType.option(RefType(ref)).to_json()
    assert v9["row_level_security"] == [{"sql": "SELECT * FROM player_item WHERE player_id = 1"}]


def test_v10_json() -> None:
    v10 = m.describe_v10()
    json.dumps(v10)
    order = [next(iter(s)) for s in v10["sections"]]
    assert order == [
        "Typespace", "Types", "Tables", "Reducers", "Procedures", "Views", "Schedules",
        "LifeCycleReducers", "RowLevelSecurity", "ExplicitNames",
    ]  # fmt: skip
    sec = {next(iter(s)): next(iter(s.values())) for s in v10["sections"]}
    tables = {t["source_name"]: t for t in sec["Tables"]}
    assert list(tables) == ["player_item", "game_event", "tick_timer"]  # accessor names
    assert tables["game_event"]["is_event"] is True
    assert tables["player_item"]["default_values"] == [{"col_id": 8, "value": "01000000"}]
    assert tables["player_item"]["indexes"][0] == {
        "source_name": {"some": "player_item_code_idx_btree"},
        "accessor_name": {"some": "code"},
        "algorithm": {"BTree": [3]},
    }
    assert tables["player_item"]["constraints"][1] == {
        "source_name": {"some": "player_item_id_key"},
        "data": {"Unique": {"columns": [0]}},
    }
    assert tables["player_item"]["sequences"][0]["source_name"] == {"some": "player_item_id_seq"}
    reducers = {r["source_name"]: r for r in sec["Reducers"]}
    assert list(reducers) == ["tick", "add_item", "on_connect"]
    assert reducers["add_item"]["visibility"] == {"ClientCallable": []}
    assert reducers["tick"]["visibility"] == {"Private": []}  # scheduled
    assert reducers["on_connect"]["visibility"] == {"Private": []}  # lifecycle
    assert reducers["tick"]["ok_return_type"] == {"Product": {"elements": []}}
    assert reducers["tick"]["err_return_type"] == {"String": []}
    assert sec["Procedures"] == [
        {
            "source_name": "sum_two",
            "params": m.procedures[0].params.to_json()["Product"],
            "return_type": {"U32": []},
            "visibility": {"ClientCallable": []},
        }
    ]
    assert [v["source_name"] for v in sec["Views"]] == ["my_items", "first_item"]
    assert sec["Schedules"] == [
        {
            "source_name": {"some": "tick_timer_sched"},
            "table_name": "tick_timer",
            "schedule_at_col": 1,
            "function_name": "tick",
        }
    ]
    assert sec["LifeCycleReducers"] == [
        {"lifecycle_spec": {"OnConnect": []}, "function_name": "on_connect"}
    ]
    assert sec["ExplicitNames"]["entries"] == [
        {"Table": {"source_name": "player_item", "canonical_name": "player_item"}},
        {"Table": {"source_name": "game_event", "canonical_name": "EventLog"}},
        {"Table": {"source_name": "tick_timer", "canonical_name": "tick_timer"}},
        {"Function": {"source_name": "tick", "canonical_name": "tick"}},
        {"Function": {"source_name": "add_item", "canonical_name": "addItem"}},
        {"Function": {"source_name": "on_connect", "canonical_name": "on_connect"}},
        {"Function": {"source_name": "sum_two", "canonical_name": "sum_two"}},
        {"Function": {"source_name": "my_items", "canonical_name": "my_items"}},
        {"Function": {"source_name": "first_item", "canonical_name": "first_item"}},
    ]
    type_names = [t["source_name"]["source_name"] for t in sec["Types"]]
    assert type_names[0] == "PlayerItem" and "Shape" in type_names


def test_v9_and_v10_parse_with_the_schema_loader() -> None:
    schema_mod = pytest.importorskip("spacetimedb_sdk.schema")
    for doc in (m.describe_v9(), m.describe_v10()):
        schema = schema_mod.ModuleSchema.from_json(json.dumps(doc))
        assert schema is not None


def test_reducer_procedure_and_view_calls() -> None:
    ds = m.new_datastore()
    me = Identity(7)
    r = m.call_reducer(ds, "addItem", {"player": 3, "color": Color.RED, "where": None}, sender=me)
    assert r.ok and r.tx is not None
    (row,) = r.tx.inserts["player_item"]
    assert row.id == 1 and row.code == "c3" and row.level == 1
    p = m.call_procedure(ds, "sum_two", (2, 3), sender=me)
    assert p.ok and p.return_value == 5
    assert m.call_view(ds, "my_items", sender=me) == [row]
    assert m.call_view(ds, "first_item") == []
    t = m.call_reducer(ds, "tick", (TickTimer(0, ScheduleAt.Time(Timestamp(0))),), sender=me)
    assert t.ok and t.tx is not None and len(t.tx.inserts["EventLog"]) == 1
    assert ds.store("EventLog").count() == 0  # event rows are never stored


# ---- definition errors -------------------------------------------------------------------------


def test_unsupported_annotation_is_named() -> None:
    bad = Module("bad")

    @bad.table
    class Thing:
        value: complex

    with pytest.raises(SchemaError, match=r"Thing\.value: complex is not a dataclass"):
        bad.build()


def test_scheduled_table_needs_u64_primary_key_and_schedule_at() -> None:
    bad = Module("bad")

    @bad.table(scheduled="run")
    class Job:
        id: U32 = column(primary_key=True)
        at: ScheduleAt

    @bad.reducer
    def run(ctx: ReducerContext, job: Job) -> None:
        pass

    with pytest.raises(SchemaError, match="primary key must be a U64"):
        bad.build()


def test_scheduled_function_must_take_the_row() -> None:
    bad = Module("bad")

    @bad.table(scheduled="run")
    class Job:
        id: U64 = column(primary_key=True, auto_inc=True)
        at: ScheduleAt

    @bad.reducer
    def run(ctx: ReducerContext) -> None:
        pass

    with pytest.raises(SchemaError, match="exactly one parameter of the row type"):
        bad.build()


def test_duplicate_lifecycle_and_names_are_rejected() -> None:
    bad = Module("bad")

    @bad.init
    def a(ctx: ReducerContext) -> None:
        pass

    with pytest.raises(SchemaError, match="already has a Init"):

        @bad.init
        def b(ctx: ReducerContext) -> None:
            pass

    @bad.reducer(name="x")
    def c(ctx: ReducerContext) -> None:
        pass

    @bad.reducer(name="x")
    def d(ctx: ReducerContext) -> None:
        pass

    with pytest.raises(SchemaError, match="same canonical name"):
        bad.build()


def test_reducer_must_return_none_and_annotate_params() -> None:
    bad = Module("bad")

    @bad.reducer
    def r(ctx: ReducerContext, x) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(SchemaError, match="'x' needs a type annotation"):
        bad.build()


def test_defaults_must_come_last() -> None:
    bad = Module("bad")
    with pytest.raises(SchemaError, match="defaults after"):

        @bad.table
        class T:
            a: U32 = column(default=3)
            b: str


def test_auto_inc_needs_integer() -> None:
    bad = Module("bad")

    @bad.table
    class T:
        a: str = column(auto_inc=True)

    with pytest.raises(SchemaError, match="auto_inc needs an integer column"):
        bad.build()


def test_case_conversion_none_keeps_source_names() -> None:
    raw = Module("raw", case_conversion=None)

    @raw.table(accessor="fruitBasket")
    class FruitBasket:
        basketId: U32 = column(primary_key=True)

    t = raw.table_schema("fruitBasket")
    assert t.name == "fruitBasket" and t.columns[0].name == "basketId"
    assert raw.describe_v9()["tables"][0]["indexes"][0]["name"] == {
        "some": "fruitBasket_basketId_idx_btree"
    }


def test_snake_case_policy_on_camel_case_sources() -> None:
    mm = Module("cc")

    @mm.table(accessor="deliveryRecord")
    class DeliveryRecord:
        recordId: U64 = column(primary_key=True, auto_inc=True)
        ScheduledAt: ScheduleAt

    @mm.reducer
    def doDelivery(ctx: ReducerContext) -> None:
        pass

    t = mm.table_schema("deliveryRecord")
    assert t.name == "delivery_record"
    assert [c.name for c in t.columns] == ["record_id", "scheduled_at"]
    v9 = mm.describe_v9()
    assert v9["tables"][0]["indexes"][0]["name"] == {"some": "delivery_record_record_id_idx_btree"}
    assert v9["tables"][0]["sequences"][0]["name"] == {"some": "delivery_record_record_id_seq"}
    assert v9["reducers"][0]["name"] == "do_delivery"
    elems = v9["typespace"]["types"][0]["Product"]["elements"]
    assert [e["name"]["some"] for e in elems] == ["record_id", "scheduled_at"]
    v10 = mm.describe_v10()
    tables = next(s["Tables"] for s in v10["sections"] if "Tables" in s)
    # v10 keeps the module-side index name (accessor + source columns).
    assert tables[0]["indexes"][0]["source_name"] == {"some": "deliveryRecord_recordId_idx_btree"}
    names = next(s["ExplicitNames"] for s in v10["sections"] if "ExplicitNames" in s)
    assert names["entries"][0] == {
        "Table": {"source_name": "deliveryRecord", "canonical_name": "delivery_record"}
    }
    assert names["entries"][1] == {
        "Function": {"source_name": "doDelivery", "canonical_name": "do_delivery"}
    }


def test_rows_and_args_round_trip_through_bsatn() -> None:
    pytest.importorskip("spacetimedb_sdk.sats.bsatn")
    row = PlayerItem(
        5,
        2,
        "snaz",
        "code",
        Color.DarkGreen,
        Shape.Polygon([Point(1.5, -2.0)]),
        [Point(0, 0)],
        "n",
        7,
    )
    codec = m.row_codec("player_item")
    data = codec.encode(row)
    assert codec.decode(data) == row
    assert (
        m.row_codec("player_item").encode(dataclasses.replace(row, shape=Shape.Empty(), nick=None))
        != data
    )
    add = m.reducer_def("addItem")
    assert add is not None
    args = m.args_codec(add).decode(
        m.args_codec(add).encode({"player": 9, "color": Color.RED, "where": Point(1, 2)})
    )
    assert args == {"player": 9, "color": Color.RED, "where": Point(1, 2)}
    ds = m.new_datastore()
    assert m.call_reducer(ds, add, args, sender=Identity(1)).ok
    proc = m.procedure_def("sum_two")
    assert proc is not None and m.return_codec(proc).encode(5) == b"\x05\x00\x00\x00"
