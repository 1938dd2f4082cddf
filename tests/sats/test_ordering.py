"""SATS value ordering: one key compiler for the local server and the client cache.

The reference for the property tests is a slow comparator written here from the rules
(sum tag first, ``some`` before ``none``, floats in IEEE-754 total order, products element by
element, arrays lexicographically); equality is BSATN equality (the same bytes).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.client.bindings import ModuleBindings, make_row_class
from spacetimedb_sdk.client.indexes import generic_order_key, order_key_for_type
from spacetimedb_sdk.errors import BsatnEncodeError
from spacetimedb_sdk.sats import (
    I32,
    U32,
    AlgebraicType,
    ArrayType,
    Err,
    Ok,
    PrimitiveType,
    ProductType,
    ScheduleAt,
    Some,
    SumType,
    SumValue,
    TimeDuration,
    Timestamp,
    Typespace,
    bsatn,
)
from spacetimedb_sdk.sats.ordering import KEY_MAX, NONE_KEY, KeyCompiler, float_key
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server import Module, column, sum_type
from strategies import schemas, values

T = AlgebraicType
PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- the reference comparator -----------------------------------------------------------------


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def _float_rank(x: float) -> tuple[int, float, float]:
    # -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN, spelled out without bit tricks.
    if math.isnan(x):
        return (int(math.copysign(1, x)), 0.0, 0.0)
    return (0, x, math.copysign(1, x) if x == 0 else 0.0)


def _sum_parts(ty: SumType, ts: Typespace, v: Any) -> tuple[int, Any]:
    if ty.is_option():
        if v is None:
            return 1, None
        return 0, v.value if ts.resolve(ty.variants[0].algebraic_type).is_option() else v
    if ty.is_result():
        return (0, v.value) if isinstance(v, Ok) else (1, v.error)
    if ty.is_schedule_at():
        if isinstance(v, ScheduleAt.Interval):
            return 0, v.duration
        return 1, v.time
    assert isinstance(v, SumValue)
    names = [var.name if var.name is not None else str(i) for i, var in enumerate(ty.variants)]
    return names.index(v.tag), v.value


def ref_cmp(ty: AlgebraicType, ts: Typespace, a: Any, b: Any) -> int:
    """-1, 0 or 1: how ``a`` compares with ``b`` in SATS order."""
    t = ts.resolve(ty)
    if isinstance(t, PrimitiveType):
        if t.kind in ("F32", "F64"):
            return _cmp(_float_rank(a), _float_rank(b))
        return _cmp(a, b)
    if isinstance(t, ArrayType):
        if t.is_bytes():
            return _cmp(a, b)
        for x, y in zip(a, b, strict=False):
            c = ref_cmp(t.elem, ts, x, y)
            if c:
                return c
        return _cmp(len(a), len(b))
    if isinstance(t, ProductType):
        special = t.special_kind()
        if special is not None:
            return _cmp(_special_int(a), _special_int(b))
        for e, n in zip(t.elements, t.names(), strict=True):
            c = ref_cmp(e.algebraic_type, ts, a[n], b[n])
            if c:
                return c
        return 0
    assert isinstance(t, SumType)
    (ta, pa), (tb, pb) = _sum_parts(t, ts, a), _sum_parts(t, ts, b)
    if ta != tb:
        return _cmp(ta, tb)
    var_ty = t.variants[ta].algebraic_type
    if ts.resolve(var_ty).is_unit():
        return 0
    return ref_cmp(var_ty, ts, pa, pb)


def _special_int(v: Any) -> int:
    for attr in ("value", "micros", "int"):
        if hasattr(v, attr):
            return int(getattr(v, attr))
    raise AssertionError(v)


# ---- properties -------------------------------------------------------------------------------

Case = tuple[tuple[AlgebraicType, Typespace], list[Any]]


def typed_value_lists() -> st.SearchStrategy[Case]:
    return schemas().flatmap(
        lambda s: st.tuples(st.just(s), st.lists(values(s[0], s[1]), min_size=2, max_size=6))
    )


@PROPS
@given(typed_value_lists())
def test_key_order_agrees_with_the_reference_and_keys_are_equal_iff_values_are(case: Case) -> None:
    (ty, ts), vals = case
    server = KeyCompiler(ts, {}).key(ty)
    client = order_key_for_type(ty, ts)
    encoded = [bsatn.encode(ty, v, ts) for v in vals]
    for key in (server, client):
        keys = [key(v) for v in vals]
        for i, a in enumerate(vals):
            for j, b in enumerate(vals):
                expected = ref_cmp(ty, ts, a, b)
                got = _cmp(keys[i], keys[j])
                assert got == expected, (a, b, keys[i], keys[j])
                same = encoded[i] == encoded[j]
                assert (keys[i] == keys[j]) is same
                if same:
                    assert hash(keys[i]) == hash(keys[j])


@PROPS
@given(typed_value_lists())
def test_server_and_client_keys_sort_identically(case: Case) -> None:
    (ty, ts), vals = case
    server, client = KeyCompiler(ts, {}).key(ty), order_key_for_type(ty, ts)
    by_server = sorted(range(len(vals)), key=lambda i: (server(vals[i]), i))
    by_client = sorted(range(len(vals)), key=lambda i: (client(vals[i]), i))
    assert by_server == by_client


@pytest.mark.parametrize("kind", ["F32", "F64"])
def test_floats_follow_ieee_total_order_on_both_paths(kind: str) -> None:
    nan, inf = float("nan"), float("inf")
    neg_nan = struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_0000_0000))[0]
    ordered = [neg_nan, -inf, -2.5, -0.0, 0.0, 1e-3, inf, nan]
    ty = PrimitiveType(kind)
    for key in (KeyCompiler().key(ty), order_key_for_type(ty), generic_order_key):
        keys = [key(x) for x in ordered]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert key(float("nan")) == key(nan)  # NaNs with the same bits are one key
    assert float_key(-0.0) < float_key(0.0) < float_key(nan)


def test_option_some_sorts_before_none_everywhere() -> None:
    ty = T.option(T.option(T.I32))
    values_in_order = [Some(-1), Some(7), Some(None), None]
    for key in (KeyCompiler().key(ty), order_key_for_type(ty), generic_order_key):
        assert sorted(reversed(values_in_order), key=key) == values_in_order
    plain = T.option(T.STRING)
    for key in (KeyCompiler().key(plain), order_key_for_type(plain), generic_order_key):
        assert sorted([None, "b", "a"], key=key) == ["a", "b", None]
    assert NONE_KEY < KEY_MAX and (1, NONE_KEY) < (1, KEY_MAX) and not NONE_KEY < 10**80


def test_generic_order_key_agrees_with_typed_keys_on_generic_values() -> None:
    ty = T.product(
        {
            "n": T.option(T.U64),
            "when": T.timestamp(),
            "res": T.result(T.I32, T.STRING),
            "at": T.schedule_at(),
            "xs": T.array(T.F64),
        }
    )
    rows = [
        {
            "n": n,
            "when": Timestamp(w),
            "res": r,
            "at": at,
            "xs": xs,
        }
        for n, w, r, at, xs in [
            (None, 5, Ok(1), ScheduleAt.Time(Timestamp(1)), [1.0]),
            (3, 5, Err("x"), ScheduleAt.Interval(TimeDuration(9)), []),
            (3, -1, Ok(-4), ScheduleAt.Interval(TimeDuration(9)), [float("nan")]),
            (3, -1, Ok(-4), ScheduleAt.Interval(TimeDuration(9)), [-0.0, 2.0]),
            (0, 0, Err("a"), ScheduleAt.Time(Timestamp(-7)), [0.0]),
        ]
    ]
    typed = KeyCompiler().key(ty)
    assert sorted(rows, key=typed) == sorted(rows, key=generic_order_key)


def test_validation_is_on_for_the_server_and_off_for_the_client() -> None:
    with pytest.raises(BsatnEncodeError, match=r"out of range for U8 \(at row.n\)"):
        KeyCompiler().key(T.product({"n": T.U8}), "row")({"n": 256})
    with pytest.raises(BsatnEncodeError, match="expected String"):
        KeyCompiler().key(T.STRING)(5)
    assert order_key_for_type(T.U8)(256) == 256  # decoded rows always match their type


# ---- classes: row classes with escaped names, enums, sums with payloads -----------------------


def test_row_classes_with_escaped_field_names() -> None:
    point = T.product({"from": T.I32, "to": T.I32})
    Span = make_row_class("Span", point)
    ts = Typespace((point,))
    classes = {0: Span}
    rows = [Span(from_=2, to=1), Span(from_=1, to=9), Span(from_=1, to=3)]
    expected = [Span(from_=1, to=3), Span(from_=1, to=9), Span(from_=2, to=1)]
    for key in (
        KeyCompiler(ts, classes).key(T.ref(0)),
        order_key_for_type(T.ref(0), ts, classes),
        order_key_for_type(T.ref(0), ts),  # unbound: the value's own __sats_fields__
        generic_order_key,
    ):
        assert sorted(rows, key=key) == expected
    # The decoder builds those rows: keys of decoded rows equal keys of the dicts they came from.
    codec = bsatn.codec_for(T.ref(0), ts, classes=classes)
    decoded = codec.decode(bsatn.encode(point, {"from": 4, "to": 5}))
    assert order_key_for_type(T.ref(0), ts, classes)(decoded) == KeyCompiler(ts).key(point)(
        {"from": 4, "to": 5}
    )
    with pytest.raises(BsatnEncodeError, match="expected Span"):
        KeyCompiler(ts, classes).key(T.ref(0))({"from": 1, "to": 2})


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"
    MID = "mid"  # definition order is tag order, not value order


def test_enum_and_sum_classes_order_by_tag() -> None:
    levels = T.sum({"LOW": T.unit(), "HIGH": T.unit(), "MID": T.unit()})

    @sum_type
    class Shape:
        Square: U32
        Circle: float
        Empty: None

    shape = T.sum({"Square": T.U32, "Circle": T.F64, "Empty": T.unit()})
    ts = Typespace((levels, shape))
    classes: dict[int, type] = {0: Level, 1: Shape}
    shapes = [Shape.Empty(), Shape.Circle(1.5), Shape.Square(9), Shape.Square(2)]
    expected = [Shape.Square(2), Shape.Square(9), Shape.Circle(1.5), Shape.Empty()]
    for kc in (KeyCompiler(ts, classes), KeyCompiler(ts, classes, validate=False)):
        assert sorted(Level, key=kc.key(T.ref(0)), reverse=True) == [
            Level.MID,
            Level.HIGH,
            Level.LOW,
        ]
        assert sorted(shapes, key=kc.key(T.ref(1))) == expected
    generic = [SumValue("Empty"), SumValue("Circle", 1.5), SumValue("Square", 9)]
    assert [v.tag for v in sorted(generic, key=KeyCompiler(ts).key(T.ref(1)))] == [
        "Square",
        "Circle",
        "Empty",
    ]
    # A plain enum's key is its tag whether it arrives as a member or as a SumValue.
    assert KeyCompiler(ts, classes).key(T.ref(0))(Level.MID) == KeyCompiler(ts).key(T.ref(0))(
        SumValue("MID")
    )


# ---- end to end: a module's btree index and the client's index over the same rows -------------


m = Module("ordering-test")


class Mood(enum.Enum):
    SAD = 0
    OK = 1
    GLAD = 2


@sum_type
class Reward:
    Points: U32
    Badge: str
    Nothing: None


@dataclasses.dataclass(frozen=True)
class Pos:
    x: I32
    y: I32


@m.table(public=True)
class Entry:
    id: U32 = column(primary_key=True)
    note: str | None = column(index="btree")
    score: float = column(index="btree")
    mood: Mood = column(index="btree")
    reward: Reward = column(index="btree")
    pos: Pos = column(index="btree")


def _entries() -> list[Any]:
    notes = [None, "b", "a", None, "", "zz", "a", None]
    scores = [0.0, -0.0, float("nan"), -1.5, float("inf"), 2.0, -float("inf"), 0.5]
    moods = [Mood.GLAD, Mood.SAD, Mood.OK, Mood.SAD, Mood.GLAD, Mood.OK, Mood.OK, Mood.SAD]
    rewards = [
        Reward.Nothing(),
        Reward.Badge("gold"),
        Reward.Points(3),
        Reward.Badge("bronze"),
        Reward.Points(1),
        Reward.Nothing(),
        Reward.Points(3),
        Reward.Badge("gold"),
    ]
    positions = [
        Pos(1, 2),
        Pos(-1, 5),
        Pos(1, -2),
        Pos(0, 0),
        Pos(-1, 4),
        Pos(3, 3),
        Pos(0, 0),
        Pos(1, 2),
    ]
    return [
        Entry(i, n, s, mo, r, p)
        for i, (n, s, mo, r, p) in enumerate(
            zip(notes, scores, moods, rewards, positions, strict=True)
        )
    ]


@pytest.mark.parametrize("column_name", ["note", "score", "mood", "reward", "pos"])
def test_server_index_and_client_index_order_the_same_rows_identically(column_name: str) -> None:
    ds = m.new_datastore()
    with ds.transaction() as tx:
        for e in _entries():
            tx.db.entry.insert(e)
    store = ds.store("entry")
    ix = next(
        i for i in store.schema.indexes if store.schema.columns[i.columns[0]].attr == column_name
    )
    server_ids = [r.id for r in store.scan(ix, (), None)]

    bindings = ModuleBindings.from_schema(ModuleSchema.from_json(m.describe_v10()))
    table = bindings.table("entry")
    codec = m.row_codec("entry")
    rows = [table.decode_row(codec.encode(e)) for e in _entries()]
    # Runtime row classes (make_row_class), nested product included, as the cache stores them.
    assert hasattr(type(rows[0]), "__sats_fields__") and hasattr(
        type(rows[0].pos), "__sats_fields__"
    )
    index_def = next(d for d in table.indexes if d.columns == (column_name,))
    assert index_def.order_keys is not None
    key = index_def.order_keys[0]
    # The server's btree breaks ties by row key, whose first element is the id.
    client_ids = [r.id for r in sorted(rows, key=lambda r: (key(getattr(r, column_name)), r.id))]
    assert client_ids == server_ids
    if column_name == "note":
        by_id = {e.id: e for e in _entries()}
        assert [by_id[i].note for i in server_ids[-3:]] == [None, None, None]


def test_docstring_examples_run() -> None:
    import doctest

    from spacetimedb_sdk.sats import ordering

    result = doctest.testmod(ordering, verbose=False)
    assert result.attempted > 0 and result.failed == 0
