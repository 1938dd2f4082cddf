"""The plain JSON the CLI prints, and reading it back as ``call`` arguments."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.cli import (
    default_credentials_key,
    plain_json,
    token_identity,
    type_text,
)
from spacetimedb_sdk.sats import (
    AlgebraicType as T,
)
from spacetimedb_sdk.sats import (
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
)
from spacetimedb_sdk.sats.plain import _sats_from_plain
from spacetimedb_sdk.sats.sats_json import from_json
from spacetimedb_sdk.sats.types import ArrayType, PrimitiveType, ProductType, SumType
from strategies import schemas, strict_equal, values


def test_special_values_are_jq_friendly() -> None:
    row = T.product(
        {
            "who": T.identity(),
            "conn": T.connection_id(),
            "at": T.timestamp(),
            "wait": T.time_duration(),
            "id": T.uuid(),
        }
    )
    value = {
        "who": Identity(0xC200 << 240),
        "conn": ConnectionId(0x2A),
        "at": Timestamp(1_704_067_200_123_456),
        "wait": TimeDuration(1500),
        "id": uuid.UUID(int=1),
    }
    assert plain_json(row, value) == {
        "who": "c200" + "0" * 60,
        "conn": "0" * 30 + "2a",
        "at": "2024-01-01T00:00:00.123456Z",
        "wait": 1500,
        "id": "00000000-0000-0000-0000-000000000001",
    }


def test_sums_options_results_and_bytes() -> None:
    shape = T.sum({"Circle": T.U32, "Empty": T.unit()})
    assert plain_json(shape, SumValue("Circle", 3)) == {"Circle": 3}
    assert plain_json(shape, SumValue("Empty")) == "Empty"
    assert plain_json(T.option(T.STRING), None) is None
    assert plain_json(T.option(T.STRING), "x") == "x"
    assert plain_json(T.option(T.option(T.U8)), Some(None)) is None  # documented: ambiguous
    assert plain_json(T.result(T.U8, T.STRING), Ok(1)) == {"ok": 1}
    assert plain_json(T.result(T.U8, T.STRING), Err("no")) == {"err": "no"}
    assert plain_json(T.array(T.U8), b"\x01\xff") == "01ff"
    assert plain_json(T.schedule_at(), ScheduleAt.Interval(TimeDuration(5))) == {"Interval": 5}
    assert plain_json(T.schedule_at(), ScheduleAt.Time(Timestamp(0))) == {
        "Time": "1970-01-01T00:00:00.000000Z"
    }


def test_numbers_stay_exact_and_non_finite_floats_are_null() -> None:
    big = (1 << 128) - 1
    assert json.loads(json.dumps(plain_json(T.U128, big))) == big
    assert plain_json(T.F64, math.inf) is None
    assert plain_json(T.F64, math.nan) is None


def test_timestamps_outside_datetime_range_fall_back_to_micros() -> None:
    assert plain_json(T.timestamp(), Timestamp(-(1 << 63))) == -(1 << 63)


def test_dataclass_rows_use_the_schema_names_in_order() -> None:
    from spacetimedb_sdk.client.bindings import make_row_class

    ty = T.product({"from": T.U8, "b": T.STRING})
    cls = make_row_class("Row", ty)
    assert plain_json(ty, cls(1, "x")) == {"from": 1, "b": "x"}  # field `from_`, column `from`


def _contains(v: Any, bad: Callable[[Any], bool]) -> bool:
    """Whether ``bad`` holds for ``v`` or any value nested in it."""
    if bad(v):
        return True
    if isinstance(v, dict):
        return any(_contains(x, bad) for x in v.values())
    if isinstance(v, list | tuple):
        return any(_contains(x, bad) for x in v)
    return any(_contains(getattr(v, a), bad) for a in ("value", "error") if hasattr(v, a))


def _non_finite(v: Any) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _some_none(v: Any) -> bool:
    return isinstance(v, Some) and v.value is None


@settings(max_examples=300, deadline=None)
@given(schemas().flatmap(lambda s: st.tuples(st.just(s), values(*s))))
def test_printed_values_are_accepted_back_as_arguments(
    case: tuple[tuple[Any, Typespace], Any],
) -> None:
    (ty, ts), value = case
    # The two things plain JSON cannot say: non-finite floats and Some(None).
    assume(not _contains(value, _non_finite) and not _contains(value, _some_none))
    printed = json.loads(json.dumps(plain_json(ty, value, ts)))
    back = from_json(ty, _sats_from_plain(ty, printed, ts), ts)
    assert strict_equal(back, value), (printed, back, value)


def test_call_arguments_accept_friendly_forms() -> None:
    ts = Typespace(())
    assert from_json(T.identity(), _sats_from_plain(T.identity(), "0x" + "ab" * 32, ts)) == (
        Identity(int("ab" * 32, 16))
    )
    at = _sats_from_plain(T.timestamp(), "2024-01-01T00:00:00+00:00", ts)
    assert from_json(T.timestamp(), at) == Timestamp(1_704_067_200_000_000)
    assert from_json(T.timestamp(), _sats_from_plain(T.timestamp(), 7, ts)) == Timestamp(7)


def test_type_text() -> None:
    assert type_text(T.option(T.array(T.U32))) == "Option<Array<U32>>"
    assert type_text(T.result(T.STRING, T.identity())) == "Result<String, Identity>"
    assert type_text(T.sum({"A": T.unit(), "B": T.I8})) == "enum A | B(I8)"
    assert type_text(T.product({"x": T.F32})) == "(x: F32)"
    assert type_text(T.schedule_at()) == "ScheduleAt"
    assert isinstance(T.U8, PrimitiveType)
    assert not isinstance(T.array(T.U8), ProductType | SumType)
    assert isinstance(T.array(T.U8), ArrayType)


def test_default_credentials_key_is_one_plain_file_name_per_server() -> None:
    assert default_credentials_key("http://127.0.0.1:3000") == "spacetimedb-py_127.0.0.1_3000"
    assert default_credentials_key("https://maincloud.spacetimedb.com") == (
        "spacetimedb-py_maincloud.spacetimedb.com_443"
    )
    assert default_credentials_key("ws://[::1]:3000") == "spacetimedb-py___1_3000"


def test_token_identity_reads_the_claim_and_rejects_other_strings() -> None:
    import base64

    def part(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'ES256'})}.{part({'hex_identity': 'c2' + '00' * 31})}.sig"
    assert token_identity(token) == "c2" + "00" * 31
    assert token_identity("not-a-jwt") is None
    assert token_identity(f"{part({})}.{part({'sub': 'x'})}.sig") is None
