"""SATS-JSON: the server's typed and untyped output, and its lenient input (protocol.md §2).

Expected outputs follow ``crates/sats/src/ser/serde.rs`` and the special types'
derived serializers; lenient inputs include the upstream ``crates/lib/tests/serde.rs``
snapshot cases.  Round trips run over every value of ``bsatn/values.jsonl`` (bytes
from the official TypeScript package) and over random types and values.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

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
    bsatn,
)
from spacetimedb_sdk.sats.sats_json import SatsJsonError, from_json, to_json, to_json_untyped
from strategies import schemas, strict_equal, values

T = AlgebraicType
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALICE = Identity.from_hex("c200" + "00" * 27 + "0a11ce")


# ---- typed output (what the server writes for typed values) -------------------------------


@pytest.mark.parametrize(
    ("ty", "value", "typed", "untyped"),
    [
        (T.BOOL, True, True, True),
        (T.U64, 2**53 + 1, 2**53 + 1, 2**53 + 1),  # full precision, no string
        (T.I128, -(2**127), -(2**127), -(2**127)),
        (T.U256, 0x2A, "0x2a", "0x2a"),  # ethnum: 0x-prefixed, no leading zeros
        (T.U256, 0, "0x0", "0x0"),
        (T.I256, -0x2A, "-0x2a", "-0x2a"),
        (T.F64, 1.5, 1.5, 1.5),
        (T.F64, math.inf, None, None),  # serde_json writes null for non-finite floats
        (T.F32, math.nan, None, None),
        (T.STRING, "héllo", "héllo", "héllo"),
        (T.array(T.U8), b"\xaa\xbb", "aabb", "aabb"),  # bytes: lowercase hex, no 0x
        (T.array(T.U16), [1, 2], [1, 2], [1, 2]),
        (T.unit(), {}, [], []),
        (T.option(T.U32), 5, {"some": 5}, [0, 5]),
        (T.option(T.U32), None, {"none": []}, [1, []]),
        (T.option(T.option(T.I32)), Some(None), {"some": {"none": []}}, [0, [1, []]]),
        (T.result(T.U32, T.STRING), Ok(7), {"ok": 7}, [0, 7]),
        (T.result(T.U32, T.STRING), Err("boom"), {"err": "boom"}, [1, "boom"]),
        (
            T.product({"id": T.U64, "name": T.STRING}),
            {"id": 1, "name": "Bob"},
            {"id": 1, "name": "Bob"},
            [1, "Bob"],
        ),
        (
            T.sum({"Circle": T.F64, "Empty": T.unit()}),
            SumValue("Circle", 2.5),
            {"Circle": 2.5},
            [0, 2.5],
        ),
        (T.sum({"Red": T.unit(), "Green": T.unit()}), SumValue("Green"), {"Green": []}, [1, []]),
        (
            T.identity(),
            ALICE,
            {"__identity__": "0xc200" + "00" * 27 + "0a11ce"},
            ["0xc200" + "00" * 27 + "0a11ce"],
        ),
        (T.identity(), Identity(1), {"__identity__": "0x1"}, ["0x1"]),
        (T.connection_id(), ConnectionId(2**100), {"__connection_id__": 2**100}, [2**100]),
        (
            T.timestamp(),
            Timestamp(1_700_000_000_000_000),
            {"__timestamp_micros_since_unix_epoch__": 1_700_000_000_000_000},
            [1_700_000_000_000_000],
        ),
        (T.time_duration(), TimeDuration(-5), {"__time_duration_micros__": -5}, [-5]),
        (T.uuid(), uuid.UUID(int=258), {"__uuid__": 258}, [258]),
        (
            T.schedule_at(),
            ScheduleAt.Interval(TimeDuration(1_000_000)),
            {"Interval": {"__time_duration_micros__": 1_000_000}},
            [0, [1_000_000]],
        ),
        (
            T.schedule_at(),
            ScheduleAt.Time(Timestamp(3)),
            {"Time": {"__timestamp_micros_since_unix_epoch__": 3}},
            [1, [3]],
        ),
    ],
)
def test_typed_and_untyped_output(ty: AlgebraicType, value: Any, typed: Any, untyped: Any) -> None:
    assert to_json(ty, value) == typed
    assert to_json_untyped(ty, value) == untyped


def test_unnamed_product_elements_are_written_as_an_array() -> None:
    ty = T.product([(None, T.U8), (None, T.STRING)])
    assert to_json(ty, {"0": 1, "1": "x"}) == [1, "x"]
    assert from_json(ty, [1, "x"]) == {"0": 1, "1": "x"}


def test_refs_resolve_through_the_typespace() -> None:
    ts = Typespace((T.product({"head": T.I32, "tail": T.option(T.ref(0))}),))
    value = {"head": 1, "tail": {"head": 2, "tail": None}}
    typed = {"head": 1, "tail": {"some": {"head": 2, "tail": {"none": []}}}}
    assert to_json(T.ref(0), value, ts) == typed
    assert from_json(T.ref(0), typed, ts) == value
    with pytest.raises(SatsJsonError, match="needs a typespace"):
        to_json(T.ref(0), value)


@pytest.mark.parametrize(
    ("ty", "value", "message"),
    [
        (T.U8, 256, "out of range for U8"),
        (T.I8, True, "expected int"),
        (T.STRING, 3, "expected str"),
        (T.product({"a": T.U8}), {"a": 1, "b": 2}, "unknown field"),
        (T.product({"a": T.U8}), {}, "missing field"),
        (T.sum({"A": T.unit()}), SumValue("B"), "unknown variant 'B'"),
        (T.result(T.U8, T.U8), 3, "expected SumValue/Ok/Err"),
    ],
)
def test_bad_values_are_rejected_with_their_path(
    ty: AlgebraicType, value: Any, message: str
) -> None:
    wrapped = T.product({"outer": ty})
    with pytest.raises(SatsJsonError, match=message) as info:
        to_json(wrapped, {"outer": value})
    assert info.value.path.startswith("<root>.outer")


# ---- lenient input (what the server accepts) ----------------------------------------------


def test_upstream_serde_snapshot_cases() -> None:
    # The two inputs of `test_json_mappings` in crates/lib/tests/serde.rs, with the values
    # its insta snapshots record.
    schema = T.product(
        {
            "foo": T.U32,
            "bar": T.array(T.U8),
            "baz": T.array(T.STRING),
            "quux": T.sum({"Hash": T.array(T.U8), "Unit": T.unit()}),
            "and_peggy": T.option(T.F64),
            "result": T.result(T.U32, T.STRING),
            "identity": T.identity(),
        }
    )
    first = json.loads(
        '{"foo": 42, "bar": "404040FFFF0A48656C6C6F", "baz": ["heyyyyyy", "hooo"],'
        ' "quux": {"Hash": "54a3e6d2b0959deaacf102292b1cbd6fcbb8cf237f73306e27ed82c3153878aa"},'
        ' "and_peggy": {"some": 3.141592653589793238426}, "result": {"ok": 1},'
        ' "identity": ["0x0"]}'
    )
    assert from_json(schema, first) == {
        "foo": 42,
        "bar": bytes.fromhex("404040ffff0a48656c6c6f"),
        "baz": ["heyyyyyy", "hooo"],
        "quux": SumValue(
            "Hash",
            bytes.fromhex("54a3e6d2b0959deaacf102292b1cbd6fcbb8cf237f73306e27ed82c3153878aa"),
        ),
        "and_peggy": 3.141592653589793,
        "result": Ok(1),
        "identity": Identity(0),
    }
    second = json.loads(
        '{"foo": 5654, "bar": [1, 15, 44], "baz": ["it\'s 🥶°C"], "quux": {"Unit": []},'
        ' "and_peggy": null, "result": {"err": "sorry"}, "identity": ["0x0"]}'
    )
    assert from_json(schema, second) == {
        "foo": 5654,
        "bar": b"\x01\x0f\x2c",
        "baz": ["it's 🥶°C"],
        "quux": SumValue("Unit"),
        "and_peggy": None,
        "result": Err("sorry"),
        "identity": Identity(0),
    }


@pytest.mark.parametrize(
    "obj", [{"Circle": 2.5}, {"0": 2.5}, [0, 2.5], ["Circle", 2.5], ["0", 2.5]]
)
def test_sum_by_name_decimal_tag_or_pair(obj: Any) -> None:
    ty = T.sum({"Circle": T.F64, "Empty": T.unit()})
    assert from_json(ty, obj) == SumValue("Circle", 2.5)


@pytest.mark.parametrize("unit", [[], {}])
def test_unit_payload_as_array_or_object(unit: Any) -> None:
    # Derived Rust `()` is written `[]`, a dynamically typed unit product `{}`.
    assert from_json(T.sum({"A": T.unit()}), {"A": unit}) == SumValue("A")
    assert from_json(T.option(T.U8), {"none": unit}) is None


def test_nested_option_keeps_some_none() -> None:
    ty = T.option(T.option(T.I32))
    assert from_json(ty, {"some": {"none": []}}) == Some(None)
    assert from_json(ty, {"some": {"some": 5}}) == Some(5)
    assert from_json(ty, None) is None


def test_special_products_positional_or_named() -> None:
    hex_alice = "0xc200" + "00" * 27 + "0a11ce"
    assert from_json(T.identity(), [hex_alice]) == ALICE
    assert from_json(T.identity(), {"__identity__": hex_alice}) == ALICE
    assert from_json(T.connection_id(), [7]) == ConnectionId(7)
    assert from_json(T.uuid(), {"__uuid__": 258}) == uuid.UUID(int=258)
    assert from_json(T.schedule_at(), {"Time": [3]}) == ScheduleAt.Time(Timestamp(3))


@pytest.mark.parametrize(
    ("ty", "obj", "message"),
    [
        (T.U8, 256, "out of range"),
        (T.U32, 1.0, "expected an integer"),
        (T.BOOL, 1, "expected true/false"),
        (T.U256, 5, "0x-prefixed hex"),
        (T.U256, "2a", "0x-prefixed hex"),
        (T.U256, "-0x1", "out of range"),
        (T.array(T.U8), "abc", "invalid hex"),
        (T.array(T.U8), "0xab", "invalid hex"),
        (T.array(T.U8), [256], "out of range"),
        (T.product({"a": T.U8}), {"a": 1, "b": 2}, "unknown field"),
        (T.product({"a": T.U8}), {}, "missing field"),
        (T.product({"a": T.U8}), [1, 2], "array of 1 fields"),
        (T.sum({"A": T.unit()}), {"B": []}, "unknown variant"),
        (T.sum({"A": T.unit()}), {"3": []}, "out of range"),
        (T.sum({"A": T.unit()}), None, "expected {variant: payload}"),
        (T.identity(), "c200", "expected an object or array"),
    ],
)
def test_malformed_input_is_rejected(ty: AlgebraicType, obj: Any, message: str) -> None:
    with pytest.raises(SatsJsonError, match=message):
        from_json(T.product({"x": ty}), {"x": obj})


def test_tolerant_mode_fills_empty_fields_and_warns_on_extra_keys() -> None:
    ty = T.product(
        {"n": T.U8, "xs": T.array(T.STRING), "o": T.option(T.U8), "b": T.BOOL, "u": T.unit()}
    )
    with pytest.warns(UserWarning, match="ignoring unknown field 'extra'"):
        got = from_json(ty, {"n": 1, "extra": True}, tolerant=True)
    assert got == {"n": 1, "xs": [], "o": None, "b": False, "u": {}}
    with pytest.raises(SatsJsonError, match="missing field 'n'"):
        from_json(ty, {}, tolerant=True)


# ---- round trips ----------------------------------------------------------------------------


def _fixture_cases() -> list[Any]:
    cases = []
    for line in (FIXTURES / "bsatn" / "values.jsonl").read_text().splitlines():
        case = json.loads(line)
        ts = Typespace.from_json(case["typespace"]) if "typespace" in case else None
        ty = AlgebraicType.from_json(case["type"])
        cases.append(
            pytest.param(case["name"], ty, ts, bytes.fromhex(case["hex"]), id=case["name"])
        )
    return cases


@pytest.mark.parametrize(("name", "ty", "ts", "data"), _fixture_cases())
def test_roundtrip_of_official_fixture_values(
    name: str, ty: AlgebraicType, ts: Typespace | None, data: bytes
) -> None:
    value = bsatn.decode(ty, data, ts)
    for write in (to_json, to_json_untyped):
        text = json.dumps(write(ty, value, ts), allow_nan=False)
        if _has_nonfinite(value):
            assert "null" in text  # like serde_json: infinities cannot round-trip
            continue
        back = from_json(ty, json.loads(text), ts)
        assert strict_equal(back, value), name
        assert bsatn.encode(ty, back, ts) == data


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_nonfinite(v) for v in value)
    if isinstance(value, (SumValue, Ok, Some)):
        return _has_nonfinite(value.value)
    if isinstance(value, Err):
        return _has_nonfinite(value.error)
    return False


@settings(max_examples=300, deadline=None)
@given(schemas().flatmap(lambda s: st.tuples(st.just(s), values(*s))))
def test_random_values_roundtrip_through_json_text(case: Any) -> None:
    (ty, ts), value = case
    assume(not _has_nonfinite(value))
    for write in (to_json, to_json_untyped):
        text = json.dumps(write(ty, value, ts), allow_nan=False)
        assert strict_equal(from_json(ty, json.loads(text), ts), value)
