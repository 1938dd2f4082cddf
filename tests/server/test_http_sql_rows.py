"""``SqlResult.rows_as_dicts()`` / ``rows_as()``: ``/sql`` rows decoded into the SDK's values.

The server sends untyped SATS-JSON (an option is ``[0, v]``, an identity ``["0x…"]``); people
decoding that by hand get options wrong.  A table with every kind of column is read back over
HTTP and must come out as the values the module inserted: ``None``/value for options,
``SumValue`` for sums, ``Identity``/``Timestamp``/… as themselves, generated classes with
bindings.  The CLI's ``sql --json`` shows the same decoding.
"""

from __future__ import annotations

import enum
import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk import ConnectionId, Identity, SumValue, TimeDuration, Timestamp
from spacetimedb_sdk.cli import main as cli_main
from spacetimedb_sdk.codegen import generate
from spacetimedb_sdk.http import HttpClient, SqlResult
from spacetimedb_sdk.sats import U8, U64, U256, to_plain
from spacetimedb_sdk.sats.sats_json import SatsJsonError
from spacetimedb_sdk.sats.types import AlgebraicType, ProductType, ProductTypeElement
from spacetimedb_sdk.server import Module, ReducerContext, Table, column, sum_type
from spacetimedb_sdk.server.local import LocalServer

module = Module("rows")


class Color(enum.Enum):
    RED = 0
    GREEN = 1


@sum_type
class Shape:
    Circle: float
    Empty: None


@module.table(public=True)
class Point(Table):
    x: int
    y: int


@module.table(public=True)
class Thing(Table):
    id: U8 = column(primary_key=True)
    nick: str | None
    owner: Identity
    conn: ConnectionId
    at: Timestamp
    ttl: TimeDuration
    color: Color
    shape: Shape
    where: Point
    blob: bytes
    tags: list[str]
    maybe_list: list[int] | None
    big: U256
    key: uuid.UUID


ME = Identity(0xC2 << 248 | 7)
AT = Timestamp(1_700_000_000_123_456)
KEY = uuid.UUID("12345678-1234-5678-1234-567812345678")


@module.reducer
def seed(ctx: ReducerContext, n: U64) -> None:
    ctx.db.thing.insert(
        Thing(
            id=1, nick=None, owner=ME, conn=ConnectionId(5), at=AT, ttl=TimeDuration(-3),
            color=Color.GREEN, shape=Shape.Circle(2.5), where=Point(x=1, y=-2), blob=b"\x00\xff",
            tags=["a", "b"], maybe_list=[1, 2], big=1 << 200, key=KEY,
        )
    )  # fmt: skip
    ctx.db.thing.insert(
        Thing(
            id=2, nick="two", owner=ME, conn=ConnectionId(0), at=AT, ttl=TimeDuration(0),
            color=Color.RED, shape=Shape.Empty(), where=Point(x=0, y=0), blob=b"",
            tags=[], maybe_list=None, big=0, key=KEY,
        )
    )  # fmt: skip


EXPECTED = [
    {
        "id": 1, "nick": None, "owner": ME, "conn": ConnectionId(5), "at": AT,
        "ttl": TimeDuration(-3), "color": SumValue("green", None), "shape": SumValue("circle", 2.5),
        "where": {"x": 1, "y": -2}, "blob": b"\x00\xff", "tags": ["a", "b"],
        "maybe_list": [1, 2], "big": 1 << 200, "key": KEY,
    },
    {
        "id": 2, "nick": "two", "owner": ME, "conn": ConnectionId(0), "at": AT,
        "ttl": TimeDuration(0), "color": SumValue("red", None), "shape": SumValue("empty", None),
        "where": {"x": 0, "y": 0}, "blob": b"", "tags": [], "maybe_list": None, "big": 0,
        "key": KEY,
    },
]  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer(module, database="rows").start()
    try:
        with HttpClient(srv.url, token=srv.owner_token) as http:
            http.call("rows", "seed", [0])
        yield srv
    finally:
        srv.stop()


def select_all(srv: LocalServer, sql: str = "SELECT * FROM thing") -> Any:
    with HttpClient(srv.url) as http:
        [result] = http.sql("rows", sql)
    return result


def test_rows_as_dicts_gives_the_sdk_values(server: LocalServer) -> None:
    result = select_all(server)
    rows = sorted(result.rows_as_dicts(), key=lambda r: r["id"])
    assert rows == EXPECTED
    # The raw form is still there, as the server sent it.
    raw = next(r for r in result.rows if r[0] == 1)
    assert raw[1] in ([1, []], {"none": []})  # an option: tag 1 is "none"


def test_projection_and_the_cli_share_the_decoding(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    result = select_all(server, "SELECT nick, owner FROM thing WHERE id = 2")
    assert result.column_names == ["nick", "owner"]
    assert result.rows_as_dicts() == [{"nick": "two", "owner": ME}]
    code = cli_main(["sql", "--server", server.url, "--database", "rows", "--json",
                     "SELECT * FROM thing"])  # fmt: skip
    assert code == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    full = select_all(server)
    assert printed == [to_plain(full.schema, row) for row in full.rows_as_dicts()]


def test_rows_as_generated_row_classes(server: LocalServer, tmp_path: Path) -> None:
    with HttpClient(server.url) as http:
        generate(http.schema("rows"), tmp_path / "rows_bindings")
    sys.path.insert(0, str(tmp_path))
    try:
        bindings = importlib.import_module("rows_bindings")
        rows = select_all(server).rows_as(bindings.Thing, bindings.DbConnection)
        one = next(r for r in rows if r.id == 1)
        assert isinstance(one, bindings.Thing)
        assert one.color is bindings.Color.green
        assert isinstance(one.shape, bindings.Shape.circle) and one.shape.value == 2.5
        assert one.where == bindings.Point(x=1, y=-2)
        assert (one.nick, one.owner, one.at, one.key) == (None, ME, AT, KEY)
        with pytest.raises(ValueError, match=r"not those of Thing.*SELECT \*"):
            select_all(server, "SELECT nick FROM thing").rows_as(
                bindings.Thing, bindings.DbConnection
            )
        with pytest.raises(TypeError, match="generated bindings"):
            select_all(server).rows_as(bindings.Thing, object())
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.split(".")[0] == "rows_bindings"]:
            del sys.modules[name]


def test_a_value_that_does_not_fit_names_the_row(server: LocalServer) -> None:
    result = select_all(server, "SELECT id, nick FROM thing")
    broken = SqlResult(result.schema, [[1, [0, "ok"]], [2, "not an option"]])
    with pytest.raises(SatsJsonError, match=r"row 1: .*nick"):
        broken.rows_as_dicts()


def test_duplicate_column_names_are_refused_not_collapsed(server: LocalServer) -> None:
    result = select_all(server, "SELECT id, nick FROM thing")
    twice = ProductType((result.schema.elements[0], ProductTypeElement("id", AlgebraicType.U8)))
    with pytest.raises(SatsJsonError, match="several columns named 'id'"):
        SqlResult(twice, [[1, 2]]).rows_as_dicts()
