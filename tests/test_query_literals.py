"""Literal rendering round-trips through the local server's SQL parser, for any value.

Whatever a user compares a column with, the SQL the builder renders must parse back
to exactly that value (no injection, no precision loss, no quoting mistakes).
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk import ConnectionId, Identity, Timestamp
from spacetimedb_sdk.query import QueryBuilder
from spacetimedb_sdk.sats import F64, I64, U256
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server import Module
from spacetimedb_sdk.server.describe import describe_v9
from spacetimedb_sdk.server.sql import Compare, Const, compile_subscription
from spacetimedb_sdk.server.sqlschema import ModuleSqlSchema

m = Module("literal-test", case_conversion=None)


@m.table(name="t", public=True)
class Row:
    s: str
    i: I64
    big: U256
    f: F64
    ident: Identity
    conn: ConnectionId
    ts: Timestamp
    uid: uuid.UUID
    blob: bytes
    flag: bool


Q = QueryBuilder(ModuleSchema.from_json(describe_v9(m)))
SQL_SCHEMA = ModuleSqlSchema(m)
T = Q["t"]


def parsed(column: str, value: Any) -> Any:
    sql = T.where(getattr(T, column) == value).to_sql()
    plan = compile_subscription(sql, SQL_SCHEMA)
    cond = plan.select.filter
    assert isinstance(cond, Compare) and isinstance(cond.right, Const)
    return cond.right.value


@given(st.text())
def test_any_string(value: str) -> None:
    assert parsed("s", value) == value


@given(st.integers(-(2**63), 2**63 - 1))
def test_any_i64(value: int) -> None:
    assert parsed("i", value) == value


@given(st.integers(0, 2**256 - 1))
def test_any_u256(value: int) -> None:
    assert parsed("big", value) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_f64(value: float) -> None:
    assert parsed("f", value) == value


@given(st.integers(0, 2**256 - 1))
def test_any_identity(value: int) -> None:
    assert parsed("ident", Identity(value)) == Identity(value)


@given(st.integers(0, 2**128 - 1))
def test_any_connection_id(value: int) -> None:
    assert parsed("conn", ConnectionId(value)) == ConnectionId(value)


@given(st.integers(-62135596800 * 10**6, 253402300799 * 10**6 + 999999))
def test_any_timestamp_in_years_1_to_9999(micros: int) -> None:
    assert parsed("ts", Timestamp(micros)) == Timestamp(micros)


@given(st.uuids())
def test_any_uuid(value: uuid.UUID) -> None:
    assert parsed("uid", value) == value


@given(st.binary())
def test_any_bytes(value: bytes) -> None:
    assert parsed("blob", value) == value


@given(st.booleans())
def test_bools(value: bool) -> None:
    assert parsed("flag", value) is value
