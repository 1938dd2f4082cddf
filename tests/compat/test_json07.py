"""0.7's JSON shapes (compat/json07.py): what 0.7 bindings read and what 0.7 apps pass."""

from __future__ import annotations

import enum
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.compat.json07 import from_json07, to_json07
from spacetimedb_sdk.sats import AlgebraicType as T
from spacetimedb_sdk.sats import (
    ConnectionId,
    Identity,
    ScheduleAt,
    SumValue,
    TimeDuration,
    Timestamp,
)
from spacetimedb_sdk.sats.sats_json import SatsJsonError
from strategies import schemas, strict_equal, values

HEX = "c2" + "00" * 30 + "2a"


@given(schemas().flatmap(lambda s: st.tuples(st.just(s), values(*s))))
@settings(max_examples=300, deadline=None)
def test_every_value_round_trips_through_the_07_shape(case: tuple[Any, Any]) -> None:
    (ty, ts), value = case
    assert strict_equal(from_json07(ty, to_json07(ty, value, ts), ts), value)


def test_the_shapes_07_bindings_read() -> None:
    # The quickstart's User and Message rows as 0.7 sent them: identity [hex], option
    # {"0": v}/{"1": []}, the timestamp a number of microseconds.
    user = T.product({"identity": T.identity(), "name": T.option(T.STRING), "online": T.BOOL})
    assert to_json07(user, {"identity": Identity.from_hex(HEX), "name": "Ada", "online": True}) == [
        [HEX],
        {"0": "Ada"},
        True,
    ]
    assert to_json07(T.option(T.STRING), None) == {"1": []}
    assert to_json07(T.timestamp(), Timestamp(5)) == 5
    assert to_json07(T.array(T.U8), b"\x01\xff") == "01ff"
    color = T.sum({"Red": T.unit(), "Green": T.unit()})
    assert to_json07(color, SumValue("Green")) == {"1": []}
    shape = T.sum({"Circle": T.F64, "Empty": T.unit()})
    assert to_json07(shape, SumValue("Circle", 2.0)) == {"0": 2.0}
    assert to_json07(T.schedule_at(), ScheduleAt.Interval(TimeDuration(7))) == {"0": 7}


class Color07(enum.Enum):  # how the 0.7 CLI generated enums: members numbered from 1
    Red = 1
    Green = 2


def test_what_07_apps_passed_as_arguments() -> None:
    point = T.product({"x": T.I32, "y": T.I32})
    assert from_json07(point, {"x": 1, "y": 2}) == from_json07(point, [1, 2]) == {"x": 1, "y": 2}
    ident = Identity.from_hex(HEX)
    for form in (ident, HEX, [HEX], {"__identity_bytes": HEX}):
        assert from_json07(T.identity(), form) == ident
    assert from_json07(T.connection_id(), None) == ConnectionId(0)  # 0.7: all-zero was None
    color = T.sum({"Red": T.unit(), "Green": T.unit()})
    for form in (Color07.Green, {"1": []}, {"Green": []}, "Green", SumValue("Green")):
        assert from_json07(color, form) == SumValue("Green", None)
    opt = T.option(T.STRING)
    for none in (None, {}, {"1": []}):
        assert from_json07(opt, none) is None
    for some in ("x", {"0": "x"}, {"0": ["x"]}):  # {'0': [v]}: what 0.7 rows' encode() wrote
        assert from_json07(opt, some) == "x"
    assert from_json07(T.timestamp(), 1_700_000_000_000_000) == Timestamp(1_700_000_000_000_000)
    assert from_json07(T.uuid(), "00000000-0000-0000-0000-000000000001") == uuid.UUID(int=1)

    class Row07:  # a 0.7 row object: fields in .data
        def __init__(self) -> None:
            self.data = {"x": 5, "y": 6}

    assert from_json07(T.array(point), [Row07()]) == [{"x": 5, "y": 6}]


def test_values_that_fit_nowhere_name_their_path() -> None:
    point = T.product({"x": T.I32, "y": T.I32})
    with pytest.raises(SatsJsonError, match="y"):
        from_json07(point, {"x": 1, "y": "no"})
    with pytest.raises(SatsJsonError):
        from_json07(T.sum({"A": T.unit()}), Color07.Green)
