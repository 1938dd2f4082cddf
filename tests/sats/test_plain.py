"""Plain JSON (``sats.to_plain`` / ``sats.from_plain``): the forms per type kind, what it
cannot say, the friendlier forms it reads, its errors, and round trips over random types."""

from __future__ import annotations

import dataclasses
import doctest
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk import sats
from spacetimedb_sdk.errors import SchemaError
from spacetimedb_sdk.sats import (
    AlgebraicType,
    ConnectionId,
    Err,
    Identity,
    Ok,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
    Typespace,
    from_plain,
    to_plain,
)
from spacetimedb_sdk.sats import plain as plain_module
from spacetimedb_sdk.sats.sats_json import SatsJsonError
from strategies import LINKED_LIST, TREE, algebraic_types, schemas, strict_equal, values

T = AlgebraicType
SHAPE = T.sum({"Circle": T.U32, "Empty": T.unit()})
UNNAMED_SUM = T.sum([(None, T.U8), (None, T.unit())])
PAIR = T.product([(None, T.U8), (None, T.STRING)])
ROW = T.product({"id": T.U64, "name": T.option(T.STRING), "tags": T.array(T.STRING)})
LISTS = Typespace((LINKED_LIST, TREE))


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(plain_module).failed == 0


def test_exported_from_sats() -> None:
    assert "to_plain" in sats.__all__ and "from_plain" in sats.__all__
    assert sats.to_plain is to_plain and sats.from_plain is from_plain


# (type, value, its plain JSON): each is written as shown and read back to the same value.
ROUND_TRIPS: list[tuple[str, AlgebraicType, Any, Any]] = [
    ("bool", T.BOOL, True, True),
    ("u8", T.U8, 255, 255),
    ("i64 negative", T.I64, -(1 << 63), -(1 << 63)),
    ("u128 max", T.U128, (1 << 128) - 1, (1 << 128) - 1),
    ("u256 max", T.U256, (1 << 256) - 1, (1 << 256) - 1),
    ("i256 min", T.I256, -(1 << 255), -(1 << 255)),
    ("i256 max", T.I256, (1 << 255) - 1, (1 << 255) - 1),
    ("f64", T.F64, -2.5, -2.5),
    ("f32", T.F32, 0.375, 0.375),
    ("string", T.STRING, 'naïve "quoted"', 'naïve "quoted"'),
    ("empty string", T.STRING, "", ""),
    ("bytes", T.array(T.U8), b"\x01\xff", "01ff"),
    ("empty bytes", T.array(T.U8), b"", ""),
    ("array", T.array(T.I16), [1, -2], [1, -2]),
    ("nested array", T.array(T.array(T.STRING)), [["a"], []], [["a"], []]),
    ("option none", T.option(T.STRING), None, None),
    ("option some", T.option(T.STRING), "x", "x"),
    ("nested option none", T.option(T.option(T.U8)), None, None),
    ("nested option some", T.option(T.option(T.U8)), Some(5), 5),
    (
        "product",
        ROW,
        {"id": 1, "name": None, "tags": ["a"]},
        {"id": 1, "name": None, "tags": ["a"]},
    ),
    ("unnamed fields", PAIR, {"0": 1, "1": "x"}, {"0": 1, "1": "x"}),
    ("unit", T.unit(), {}, {}),
    ("variant with payload", SHAPE, SumValue("Circle", 3), {"Circle": 3}),
    ("unit variant", SHAPE, SumValue("Empty"), "Empty"),
    ("unnamed variant", UNNAMED_SUM, SumValue("0", 4), {"0": 4}),
    ("unnamed unit variant", UNNAMED_SUM, SumValue("1"), "1"),
    ("plain enum", T.sum({"Red": T.unit(), "Green": T.unit()}), SumValue("Green"), "Green"),
    ("result ok", T.result(T.U8, T.STRING), Ok(1), {"ok": 1}),
    ("result err", T.result(T.U8, T.STRING), Err("no"), {"err": "no"}),
    ("identity", T.identity(), Identity(0xC2 << 248), "c2" + "0" * 62),
    ("connection id", T.connection_id(), ConnectionId(0x2A), "0" * 30 + "2a"),
    (
        "timestamp",
        T.timestamp(),
        Timestamp(1_704_067_200_123_456),
        "2024-01-01T00:00:00.123456Z",
    ),
    ("timestamp before 1970", T.timestamp(), Timestamp(-1), "1969-12-31T23:59:59.999999Z"),
    ("timestamp past year 9999", T.timestamp(), Timestamp(1 << 62), 1 << 62),
    ("timestamp minimum", T.timestamp(), Timestamp(-(1 << 63)), -(1 << 63)),
    ("time duration", T.time_duration(), TimeDuration(-1500), -1500),
    ("uuid", T.uuid(), uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("schedule interval", T.schedule_at(), ScheduleAt.Interval(TimeDuration(5)), {"Interval": 5}),
    (
        "schedule time",
        T.schedule_at(),
        ScheduleAt.Time(Timestamp(0)),
        {"Time": "1970-01-01T00:00:00.000000Z"},
    ),
    (
        "special types inside a product",
        T.product({"who": T.identity(), "at": T.option(T.timestamp())}),
        {"who": Identity(1), "at": Timestamp(0)},
        {"who": "0" * 63 + "1", "at": "1970-01-01T00:00:00.000000Z"},
    ),
]


@pytest.mark.parametrize(
    ("ty", "value", "plain"), [c[1:] for c in ROUND_TRIPS], ids=[c[0] for c in ROUND_TRIPS]
)
def test_each_kind_is_written_and_read_back(ty: AlgebraicType, value: Any, plain: Any) -> None:
    written = to_plain(ty, value)
    assert written == plain and type(written) is type(plain)
    assert strict_equal(from_plain(ty, plain), value)


def test_refs_resolve_through_the_typespace() -> None:
    ty = T.ref(0)  # the linked list: {"head": I32, "tail": Option<Ref(0)>}
    value = {"head": 1, "tail": {"head": 2, "tail": None}}
    assert to_plain(ty, value, LISTS) == value
    assert from_plain(ty, value, LISTS) == value
    tree = SumValue("Node", [SumValue("Leaf", 1), SumValue("Node", [])])
    assert to_plain(T.ref(1), tree, LISTS) == {"Node": [{"Leaf": 1}, {"Node": []}]}
    assert strict_equal(from_plain(T.ref(1), to_plain(T.ref(1), tree, LISTS), LISTS), tree)


def test_an_unresolvable_ref_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="outside the typespace"):
        to_plain(T.ref(0), 5)
    with pytest.raises(SchemaError, match="outside the typespace"):
        from_plain(T.ref(0), 5)


def test_products_are_read_from_dicts_dataclasses_row_objects_and_tuples() -> None:
    ty = T.product({"from": T.U8, "b": T.STRING})

    @dataclasses.dataclass
    class Row:
        from_: int
        b: str

    class Declared:  # generated row classes name their fields in __sats_fields__
        __sats_fields__ = ("from_", "b")

        def __init__(self, from_: int, b: str) -> None:
            self.from_, self.b = from_, b

    expected = {"from": 1, "b": "x"}
    assert to_plain(ty, {"from": 1, "b": "x"}) == expected
    assert to_plain(ty, Row(1, "x")) == expected  # dataclass fields in order, not by name
    assert to_plain(ty, Declared(1, "x")) == expected
    assert to_plain(ty, (1, "x")) == expected
    assert to_plain(ty, {"b": "x"}) == {"from": None, "b": "x"}  # a missing key is null


def test_generic_wrappers_are_unwrapped_on_the_way_out() -> None:
    assert to_plain(T.option(T.U8), Some(3)) == 3
    assert to_plain(T.result(T.U8, T.STRING), 4) == {"ok": 4}  # a bare value is Ok
    assert to_plain(T.array(T.U8), bytearray(b"\x0a")) == "0a"
    assert to_plain(T.array(T.U8), memoryview(b"\x0b")) == "0b"
    assert to_plain(T.array(T.U8), [1, 2]) == [1, 2]  # a list stays a list
    assert to_plain(SHAPE, SumValue("Square", 1)) == "SumValue(tag='Square', value=1)"


# ---- what plain JSON cannot say ------------------------------------------------------------------


@pytest.mark.parametrize("x", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_written_as_null_and_not_read_back(x: float) -> None:
    assert to_plain(T.F64, x) is None
    assert to_plain(T.F32, x) is None
    assert to_plain(T.array(T.F64), [1.0, x]) == [1.0, None]
    with pytest.raises(SatsJsonError, match=r"^expected a number for F64, got None \(at <root>\)$"):
        from_plain(T.F64, None)


def test_some_none_in_a_nested_option_is_written_as_null_and_read_as_none() -> None:
    ty = T.option(T.option(T.U8))
    assert to_plain(ty, Some(None)) is None
    assert from_plain(ty, None) is None


# ---- friendlier forms that from_plain reads too --------------------------------------------------


@pytest.mark.parametrize(
    ("ty", "obj", "value"),
    [
        (T.identity(), "0x" + "ab" * 32, Identity(int("ab" * 32, 16))),
        (T.identity(), "ab", Identity(0xAB)),  # short hex is zero-padded
        (T.identity(), {"__identity__": "0x2a"}, Identity(0x2A)),  # SATS-JSON
        (T.connection_id(), "0x2a", ConnectionId(0x2A)),
        (T.connection_id(), {"__connection_id__": 42}, ConnectionId(42)),
        (T.timestamp(), "2024-01-01T00:00:00+00:00", Timestamp(1_704_067_200_000_000)),
        (T.timestamp(), "2024-01-01T01:00:00+01:00", Timestamp(1_704_067_200_000_000)),
        (T.timestamp(), "2024-01-01T00:00:00", Timestamp(1_704_067_200_000_000)),  # UTC
        (T.timestamp(), 7, Timestamp(7)),
        (T.time_duration(), {"__time_duration_micros__": 9}, TimeDuration(9)),
        (T.uuid(), "{00000000-0000-0000-0000-000000000002}", uuid.UUID(int=2)),
        (T.uuid(), 3, uuid.UUID(int=3)),
        (T.U256, "0x2a", 42),
        (T.I256, "-0x2a", -42),
        (T.array(T.U8), [1, 2], b"\x01\x02"),
        (T.array(T.U8), "0A0b", b"\x0a\x0b"),
        (PAIR, [1, "x"], {"0": 1, "1": "x"}),
        (ROW, [1, "n", []], {"id": 1, "name": "n", "tags": []}),
        (T.schedule_at(), {"Time": 5}, ScheduleAt.Time(Timestamp(5))),
        (T.schedule_at(), {"Time": "1970-01-01T00:00:01Z"}, ScheduleAt.Time(Timestamp(10**6))),
        (SHAPE, {"Empty": []}, SumValue("Empty")),
    ],
)
def test_other_forms_are_read(ty: AlgebraicType, obj: Any, value: Any) -> None:
    assert strict_equal(from_plain(ty, obj), value)


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ty", "obj", "message"),
    [
        (SHAPE, "Square", "unknown variant 'Square'; expected one of Circle, Empty (at <root>)"),
        # The variant-name check runs before the path is known, so it says <root> when nested.
        (
            T.product({"s": SHAPE}),
            {"s": "Square"},
            "unknown variant 'Square'; expected one of Circle, Empty (at <root>)",
        ),
        (
            T.schedule_at(),
            {"Later": 1},
            "unknown variant 'Later'; variants are ['Interval', 'Time'] (at <root>)",
        ),
        (SHAPE, "Circle", "expected an integer for U32, got [] (at <root>::Circle)"),
        (T.U8, 300, "300 is out of range for U8 [0, 255] (at <root>)"),
        (T.U32, "7", "expected an integer for U32, got '7' (at <root>)"),
        (T.BOOL, 1, "expected true/false, got 1 (at <root>)"),
        (T.option(T.U8), "x", "expected an integer for U8, got 'x' (at <root>::some)"),
        (
            T.result(T.U8, T.STRING),
            {"ok": "x"},
            "expected an integer for U8, got 'x' (at <root>::ok)",
        ),
        (T.array(T.U8), "0g", "invalid hex string for bytes: '0g' (at <root>)"),
        (ROW, {"id": 1}, "missing field 'name'; expected ['id', 'name', 'tags'] (at <root>)"),
        (
            T.product({"a": T.U8}),
            {"a": 1, "z": 2},
            "unknown field(s) ['z']; expected ['a'] (at <root>)",
        ),
        (
            T.identity(),
            "zz",
            "expected a 0x-prefixed hex string for U256, got '0xzz' (at <root>.__identity__)",
        ),
        (
            T.connection_id(),
            "nothex",
            "expected an integer for U128, got 'nothex' (at <root>.__connection_id__)",
        ),
        (
            T.timestamp(),
            "yesterday",
            "expected an integer for I64, got 'yesterday' "
            "(at <root>.__timestamp_micros_since_unix_epoch__)",
        ),
        (T.uuid(), "nope", "expected an integer for U128, got 'nope' (at <root>.__uuid__)"),
        (
            T.product({"when": T.time_duration()}),
            {"when": "1s"},
            "expected an integer for I64, got '1s' (at <root>.when.__time_duration_micros__)",
        ),
        (T.U256, -1, f"-1 is out of range for U256 [0, {(1 << 256) - 1}] (at <root>)"),
    ],
)
def test_bad_input_names_the_problem_and_where(ty: AlgebraicType, obj: Any, message: str) -> None:
    with pytest.raises(SatsJsonError) as info:
        from_plain(ty, obj)
    assert str(info.value) == message


# ---- round trips over random types and values ----------------------------------------------------


def _plain_can_say(value: Any) -> bool:
    # By design plain JSON writes a non-finite float and Some(None) (in a nested option)
    # as null, which reads back as no float at all and as None: the two values it cannot
    # say (see the module docstring and the tests above).  Everything else must round-trip.
    return not any(
        (isinstance(x, float) and not math.isfinite(x)) or (isinstance(x, Some) and x.value is None)
        for x in _inside(value)
    )


def _inside(value: Any) -> Iterator[Any]:
    """``value`` and every value nested in it, depth first."""
    yield value
    if isinstance(value, dict):
        value = list(value.values())
    elif isinstance(value, Ok | Some | SumValue):
        value = [value.value]
    elif isinstance(value, Err):
        value = [value.error]
    if isinstance(value, list | tuple):
        for x in value:
            yield from _inside(x)


def _printed(obj: Any) -> Any:
    """``obj`` through a JSON document and back, as another program would see it."""
    return json.loads(json.dumps(obj, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(schemas().flatmap(lambda s: st.tuples(st.just(s), values(*s).filter(_plain_can_say))))
def test_from_plain_inverts_to_plain(case: tuple[tuple[AlgebraicType, Typespace], Any]) -> None:
    (ty, ts), value = case
    printed = _printed(to_plain(ty, value, ts))
    back = from_plain(ty, printed, ts)
    assert strict_equal(back, value), (printed, back, value)


@settings(max_examples=200, deadline=None)
@given(algebraic_types().flatmap(lambda t: st.tuples(st.just(t), values(t).filter(_plain_can_say))))
def test_from_plain_inverts_to_plain_without_a_typespace(case: tuple[AlgebraicType, Any]) -> None:
    ty, value = case
    assert strict_equal(from_plain(ty, _printed(to_plain(ty, value)), None), value)


@settings(max_examples=200, deadline=None)
@given(schemas().flatmap(lambda s: st.tuples(st.just(s), values(*s))))
def test_to_plain_always_writes_json(case: tuple[tuple[AlgebraicType, Typespace], Any]) -> None:
    # Any value, the unsayable ones included: strict JSON (no NaN/Infinity), and made of
    # JSON's own types only (a tuple would come back as a list and compare unequal).
    (ty, ts), value = case
    written = to_plain(ty, value, ts)
    assert _printed(written) == written


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (-62135596800000000, "0001-01-01T00:00:00.000000Z"),
        (-30610224000000001, "0999-12-31T23:59:59.999999Z"),
        (253402300799999999, "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_timestamps_print_four_digit_years_and_read_back(micros: int, text: str) -> None:
    # Years before 1000 once printed as "999-..." (strftime's unpadded %Y), which no
    # RFC 3339 reader, ours included, accepts back.
    ty = AlgebraicType.timestamp()
    assert to_plain(ty, Timestamp(micros)) == text
    assert from_plain(ty, text) == Timestamp(micros)
