"""Indexes of the client cache: unique find, btree filter, Range, prefixes, ordering."""

from __future__ import annotations

import enum
import math
import struct
import uuid
from typing import Any

import pytest
from cache_test_rows import (
    decode_pk_row,
    fire,
    new_cache,
    persistent,
    pk_row,
    query_rows,
    query_set,
    tx,
)

from spacetimedb_sdk.client.cache import ClientCache, TableCache
from spacetimedb_sdk.client.indexes import (
    BTreeIndex,
    IndexDef,
    Range,
    UniqueIndex,
    generic_order_key,
    hash_key,
    order_key_for_type,
)
from spacetimedb_sdk.sats.types import (
    AlgebraicType,
    ProductType,
    ProductTypeElement,
    SumType,
    SumTypeVariant,
)
from spacetimedb_sdk.sats.values import (
    Err,
    Identity,
    Ok,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

# ---- a table "cell" { id: u32 pk, x: i32, y: i32, tag: u8 } with a (x, y) btree index ------

_CELL = struct.Struct("<IiiB")


def cell(cid: int, x: int, y: int, tag: int = 0) -> bytes:
    return _CELL.pack(cid, x, y, tag)


def decode_cell(b: bytes) -> dict[str, Any]:
    cid, x, y, tag = _CELL.unpack(b)
    return {"id": cid, "x": x, "y": y, "tag": tag}


def cells_table() -> tuple[ClientCache, TableCache[dict[str, Any]]]:
    t = TableCache(
        "cell",
        decode_cell,
        primary_key="id",
        btree=[("x", "y"), "tag"],
        unique=[("x", "y", "tag")],
    )
    return new_cache(t), t


def grid(cache: ClientCache, n: int = 4) -> list[bytes]:
    rows = [cell(10 * x + y, x, y, (x + y) % 3) for x in range(n) for y in range(n)]
    fire(cache.apply_query_rows(1, query_rows(("cell", rows)), +1))
    return rows


def ids(rows: Any) -> list[int]:
    return sorted(r["id"] for r in rows)


def test_unique_and_primary_key_find() -> None:
    cache, t = cells_table()
    grid(cache)
    assert t.unique_index("id").find(12) == {"id": 12, "x": 1, "y": 2, "tag": 0}
    assert t.id.find(99) is None
    assert t.x_y_tag.find((1, 2, 0))["id"] == 12
    assert t.x_y_tag.find((1, 2, 1)) is None
    assert isinstance(t.index("id"), UniqueIndex) and isinstance(t.index("x_y"), BTreeIndex)


def test_btree_equality_prefix_and_full_key() -> None:
    cache, t = cells_table()
    grid(cache)
    assert ids(t.x_y.filter(2)) == [20, 21, 22, 23]
    assert ids(t.x_y.filter((2,))) == [20, 21, 22, 23]
    assert ids(t.x_y.filter((2, 1))) == [21]
    assert ids(t.x_y.filter((2, 7))) == []
    assert ids(t.tag.filter(0)) == [0, 3, 12, 21, 30, 33]
    # Results come in key order.
    assert [r["y"] for r in t.x_y.filter(1)] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("rng", "expected_x"),
    [
        (Range(ge=1), [1, 2, 3]),
        (Range(gt=1), [2, 3]),
        (Range(le=1), [0, 1]),
        (Range(lt=1), [0]),
        (Range(ge=1, lt=3), [1, 2]),
        (Range(gt=0, le=2), [1, 2]),
        (Range(), [0, 1, 2, 3]),
        (Range(ge=3, le=1), []),
        (Range(gt=-100, lt=100), [0, 1, 2, 3]),
    ],
)
def test_btree_range_on_first_column(rng: Range, expected_x: list[int]) -> None:
    cache, t = cells_table()
    grid(cache)
    got = sorted({r["x"] for r in t.x_y.filter(rng)})
    assert got == expected_x
    assert len(list(t.x_y.filter(rng))) == 4 * len(expected_x)


def test_btree_range_after_a_prefix() -> None:
    cache, t = cells_table()
    grid(cache)
    assert ids(t.x_y.filter((1, Range(gt=0, lt=3)))) == [11, 12]
    assert ids(t.x_y.filter((3, Range(ge=2)))) == [32, 33]
    assert ids(t.x_y.filter((0, Range(le=0)))) == [0]
    assert ids(t.x_y.filter((9, Range()))) == []


def test_filter_rejects_bad_queries() -> None:
    cache, t = cells_table()
    grid(cache)
    with pytest.raises(ValueError, match="2 column"):
        list(t.x_y.filter((1, 2, 3)))
    with pytest.raises(ValueError, match="only allowed as the last"):
        list(t.x_y.filter((Range(ge=1), 2)))
    with pytest.raises(ValueError, match="at least one"):
        list(t.x_y.filter(()))
    with pytest.raises(ValueError, match="lower bound"):
        Range(ge=1, gt=2)
    with pytest.raises(ValueError, match="upper bound"):
        Range(le=1, lt=2)


def test_indexes_stay_consistent_after_deletes_and_updates() -> None:
    cache, t = cells_table()
    rows = grid(cache)
    # delete every cell with x == 1, move cell 22 to (0, 9) (an update: same pk)
    moved = cell(22, 0, 9, 2)
    msg = tx(
        query_set(
            1,
            (
                "cell",
                [
                    persistent(
                        [moved], [r for r in rows if decode_cell(r)["x"] == 1] + [cell(22, 2, 2, 1)]
                    )
                ],
            ),
        )
    )
    changes = fire(cache.apply_transaction(msg))
    assert sum(type(c).__name__ == "Update" for c in changes) == 1
    assert ids(t.x_y.filter(1)) == []
    assert ids(t.x_y.filter(2)) == [20, 21, 23]
    assert ids(t.x_y.filter((0, Range(ge=3)))) == [3, 22]
    assert t.id.find(22) == decode_cell(moved) and t.id.find(11) is None
    assert t.x_y_tag.find((2, 2, 1)) is None and t.x_y_tag.find((0, 9, 2))["id"] == 22
    every = list(t)
    for tag in range(3):
        assert ids(t.tag.filter(tag)) == ids(r for r in every if r["tag"] == tag)
    assert len(t.index("x_y")) == len(t.index("id")) == t.count() == 12


def test_bulk_and_single_row_paths_agree() -> None:
    bulk_cache, bulk = cells_table()
    one_cache, one = cells_table()
    rows = [cell(i, (i * 7919) % 50, i % 3) for i in range(300)]
    fire(bulk_cache.apply_query_rows(1, query_rows(("cell", rows)), +1))
    for r in rows:
        fire(one_cache.apply_query_rows(1, query_rows(("cell", [r])), +1))
    for rng in (Range(ge=10, lt=20), 7, (3, 1), (3, Range(gt=0))):
        assert list(bulk.x_y.filter(rng)) == list(one.x_y.filter(rng))
    # bulk removal of most rows, then single removals
    fire(bulk_cache.apply_query_rows(1, query_rows(("cell", rows[:250])), -1))
    for r in rows[:250]:
        fire(one_cache.apply_query_rows(1, query_rows(("cell", [r])), -1))
    assert list(bulk.x_y.filter(Range())) == list(one.x_y.filter(Range()))
    assert len(bulk.index("x_y")) == 50


def test_index_accessors_by_attribute_and_name() -> None:
    _, t = cells_table()
    assert t.x_y is t.index("x_y")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = t.nope
    with pytest.raises(KeyError, match="indexes: "):
        t.index("nope")
    with pytest.raises(ValueError, match="two indexes named"):
        TableCache("t", decode_pk_row, btree=["a"], indexes=[IndexDef("a", ("b",))])


def test_primary_key_by_function_and_by_column_tuple() -> None:
    by_fn = TableCache("a", decode_pk_row, primary_key=lambda r: r["n"] % 100)
    by_cols = TableCache("b", decode_pk_row, primary_key=("n", "data"))
    cache = new_cache(by_fn, by_cols)
    fire(cache.apply_query_rows(1, query_rows(("a", [pk_row(105, 1)]), ("b", [pk_row(1, 2)])), +1))
    assert by_fn.unique_index("primary_key").find(5) == {"n": 105, "data": 1}
    assert by_cols.unique_index("n_data").find((1, 2)) == {"n": 1, "data": 2}
    changes = list(
        cache.apply_transaction(
            tx(query_set(1, ("a", [persistent([pk_row(205, 2)], [pk_row(105, 1)])])))
        )
    )
    assert [type(c).__name__ for c in changes] == ["Update"]


# ---- ordering of index keys ---------------------------------------------------------------------


# Order keys follow SATS order (upstream's AlgebraicValue order, which the local server and the
# Rust SDK's client btree indexes use too): an empty option is tag 1, so None sorts AFTER every
# present value, and floats follow IEEE-754 total order, NaN after every number.


def test_generic_order_key_puts_none_last_and_nan_after_numbers() -> None:
    floats = [3.5, float("nan"), -1.0, 0.0, float("-inf")]
    ordered = sorted(floats, key=generic_order_key)
    assert ordered[:4] == [float("-inf"), -1.0, 0.0, 3.5] and math.isnan(ordered[4])
    assert sorted([3, None, 0, -2], key=generic_order_key) == [-2, 0, 3, None]
    assert sorted([0.5, None, float("nan")], key=generic_order_key)[-1] is None


def test_generic_order_key_for_special_and_composite_values() -> None:
    class Color(enum.Enum):
        RED = "r"
        GREEN = "g"

    assert sorted([Identity(5), Identity(2)], key=generic_order_key) == [Identity(2), Identity(5)]
    assert sorted([Timestamp(9), Timestamp(-1)], key=generic_order_key)[0] == Timestamp(-1)
    assert sorted([Color.GREEN, Color.RED], key=generic_order_key) == [Color.RED, Color.GREEN]
    assert sorted([Err("x"), Ok(2), Ok(1)], key=generic_order_key) == [Ok(1), Ok(2), Err("x")]
    assert sorted([[1, 2], [1], [0, 9]], key=generic_order_key) == [[0, 9], [1], [1, 2]]
    assert sorted([{"a": 2}, {"a": 1}], key=generic_order_key) == [{"a": 1}, {"a": 2}]
    # Option<Option<T>>: some(some(2)) < some(none) < none (tag 0 before tag 1 at each level).
    assert sorted([Some(2), None, Some(None)], key=generic_order_key) == [Some(2), Some(None), None]
    u1, u2 = uuid.UUID(int=1), uuid.UUID(int=2)
    assert sorted([u2, u1], key=generic_order_key) == [u1, u2]
    sched = [ScheduleAt.Time(Timestamp(0)), ScheduleAt.Interval(TimeDuration(5))]
    assert sorted(sched, key=generic_order_key)[0] == ScheduleAt.Interval(TimeDuration(5))


def test_order_key_for_type_orders_sums_by_variant_index() -> None:
    shape = SumType(
        (
            SumTypeVariant("Square", AlgebraicType.U32),
            SumTypeVariant("Circle", AlgebraicType.F64),
            SumTypeVariant("Empty", ProductType(())),
        )
    )
    key = order_key_for_type(shape)
    values = [
        SumValue("Empty"),
        SumValue("Circle", 1.5),
        SumValue("Square", 9),
        SumValue("Square", 2),
    ]
    assert sorted(values, key=key) == [
        SumValue("Square", 2),
        SumValue("Square", 9),
        SumValue("Circle", 1.5),
        SumValue("Empty"),
    ]


def test_order_key_for_type_options_products_arrays_and_floats() -> None:
    opt = order_key_for_type(AlgebraicType.option(AlgebraicType.I32))
    # SATS order (as the server and upstream AlgebraicValue): some (tag 0) before none (tag 1).
    assert sorted([4, None, -3], key=opt) == [-3, 4, None]
    nested = order_key_for_type(AlgebraicType.option(AlgebraicType.option(AlgebraicType.I32)))
    assert sorted([Some(1), None, Some(None)], key=nested) == [Some(1), Some(None), None]
    point = ProductType(
        (ProductTypeElement("x", AlgebraicType.I32), ProductTypeElement("y", AlgebraicType.I32))
    )
    pk = order_key_for_type(point)
    assert sorted([{"y": 0, "x": 2}, {"x": 1, "y": 5}], key=pk) == [
        {"x": 1, "y": 5},
        {"y": 0, "x": 2},
    ]
    arr = order_key_for_type(AlgebraicType.array(AlgebraicType.STRING))
    assert sorted([["b"], ["a", "z"]], key=arr) == [["a", "z"], ["b"]]
    f = order_key_for_type(AlgebraicType.F64)
    assert sorted([float("nan"), 2.0, -1.0], key=f)[:2] == [-1.0, 2.0]
    assert sorted([0.0, -0.0], key=f) == [-0.0, 0.0] and f(0.0) != f(-0.0)
    ident = order_key_for_type(AlgebraicType.identity())
    assert sorted([Identity(3), Identity(1)], key=ident) == [Identity(1), Identity(3)]


def test_typed_order_keys_in_a_btree_index() -> None:
    """An Option<i32> column indexed with an exact key: None last (SATS order, as the server
    and upstream AlgebraicValue), Range over values."""
    t = TableCache(
        "opt",
        lambda b: {"id": b[0], "v": None if b[1] == 0xFF else b[1] - 100},
        primary_key="id",
        indexes=[
            IndexDef(
                "v",
                ("v",),
                order_keys=(order_key_for_type(AlgebraicType.option(AlgebraicType.I32)),),
            )
        ],
    )
    cache = new_cache(t)
    fire(
        cache.apply_query_rows(
            1, query_rows(("opt", [bytes([1, 0xFF]), bytes([2, 90]), bytes([3, 110])])), +1
        )
    )
    assert [r["id"] for r in t.v.filter(Range())] == [2, 3, 1]
    assert [r["id"] for r in t.v.filter(None)] == [1]
    assert [r["id"] for r in t.v.filter(Range(lt=None))] == [2, 3]
    assert [r["id"] for r in t.v.filter(Range(ge=0))] == [3, 1]
    assert [r["id"] for r in t.v.filter(Range(ge=0, lt=None))] == [3]


def test_range_contains_and_repr() -> None:
    r = Range(ge=1, lt=3)
    assert 1 in r and 2 in r and 3 not in r and 0 not in r
    assert repr(r) == "Range(ge=1, lt=3)" and r == Range(ge=1, lt=3) and r != Range(ge=1)
    assert hash(r) == hash(Range(ge=1, lt=3))
    # None sorts after every value (SATS order: none is the option's tag 1).
    assert None in Range(le=None) and 5 in Range(le=None) and 5 not in Range(gt=None)


def test_hash_key_makes_composites_hashable() -> None:
    assert hash_key({"b": [1, 2], "a": 1}) == hash_key({"a": 1, "b": [1, 2]})
    assert hash_key(float("nan")) == hash_key(float("nan"))
    assert hash_key(SumValue("A", [1])) == hash_key(SumValue("A", [1]))
    t = TableCache("t", lambda b: {"k": {"a": b[0]}}, unique=["k"])
    cache = new_cache(t)
    fire(cache.apply_query_rows(1, query_rows(("t", [b"\x05"])), +1))
    assert t.k.find({"a": 5}) == {"k": {"a": 5}}


def test_index_def_validation() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        IndexDef("x", ())
    with pytest.raises(ValueError, match="order keys"):
        IndexDef("x", ("a",), order_keys=(generic_order_key, generic_order_key))


def test_typed_index_lookups_check_the_kind() -> None:
    _, t = cells_table()
    assert t.unique_index("id") is t.index("id") and t.btree_index("x_y") is t.index("x_y")
    with pytest.raises(TypeError, match="btree index: use filter"):
        t.unique_index("x_y")
    with pytest.raises(TypeError, match="unique index: use find"):
        t.btree_index("id")


def test_filter_with_a_value_of_the_wrong_type_names_the_index() -> None:
    cache, t = cells_table()
    grid(cache)
    with pytest.raises(TypeError, match=r"index 'x_y'.*cannot compare '1'"):
        list(t.x_y.filter("1"))
