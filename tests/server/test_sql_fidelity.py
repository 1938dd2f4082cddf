"""``/sql`` as upstream answers it: self-contained result schemas, ``st_var`` with ``SET``/``SHOW``,
the ``row_limit`` check and its cardinality estimate, and the ``st_*`` system tables.

References: ``crates/client-api/src/lib.rs`` (``exec_sql`` builds the schema from the statement's
resolved column types), ``crates/expr/src/statement.rs`` (``SET`` = insert into ``st_var``,
``SHOW`` = select from it), ``crates/core/src/estimation.rs`` and ``crates/physical-plan`` (the
estimate), ``crates/datastore/src/system_tables.rs`` (tables, ids, columns).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

import httpx
import pytest
from server_test_support import TIMEOUT, WsClient

from spacetimedb_sdk import Identity
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats import U32, U64, AlgebraicType
from spacetimedb_sdk.sats.types import ArrayType, ProductType, SumType
from spacetimedb_sdk.server import Module, ReducerContext, column, sum_type
from spacetimedb_sdk.server.host import Database, SqlFailed
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.server.subscriptions import SubscriptionFailure
from spacetimedb_sdk.server.system_tables import STVAR_VALUE_TYPE, SYSTEM_TABLE_IDS

fid = Module("sql-fidelity")


class Mood(enum.Enum):
    HAPPY = 1
    GRUMPY = 2


@dataclasses.dataclass(frozen=True)
class Spot:
    x: U32
    y: U32


@sum_type
class Pet:
    Cat: str
    NoPet: None


@fid.table(public=True)
class Thing:
    id: U64 = column(primary_key=True, auto_inc=True)
    group_id: U32 = column(index="btree")
    mood: Mood
    spot: Spot
    pets: list[Pet]
    score: U32


@fid.table(public=True)
class Team:
    id: U32 = column(primary_key=True)
    name: str


@fid.table
class Secret:
    code: str


@fid.reducer
def add_things(ctx: ReducerContext, count: U32, groups: U32) -> None:
    for i in range(count):
        ctx.db.thing.insert(Thing(0, i % groups, Mood.HAPPY, Spot(i, i), [], i))  # type: ignore[call-arg]
    for g in range(groups):
        if ctx.db.team.id.find(g) is None:
            ctx.db.team.insert(Team(g, f"g{g}"))  # type: ignore[call-arg]


def _walk(obj: Any) -> list[str]:
    """Every object key in a JSON value."""
    if isinstance(obj, dict):
        return [k for k, v in obj.items() for k in (k, *_walk(v))]
    if isinstance(obj, list):
        return [k for v in obj for k in _walk(v)]
    return []


def _db(rows: int = 10, groups: int = 5) -> Database:
    db = Database(fid)
    db.start()
    assert db.call_reducer("add_things", rows, groups).ok
    return db


# ---- result schemas ------------------------------------------------------------------------


def test_result_schema_has_no_refs_and_canonical_names() -> None:
    db = _db()
    (result,) = db.sql("SELECT * FROM thing")
    schema = result["schema"]
    assert "Ref" not in _walk(schema)
    elements = {
        e["name"]["some"]: AlgebraicType.from_json(e["algebraic_type"]) for e in schema["elements"]
    }
    mood = elements["mood"]
    assert isinstance(mood, SumType)
    # Enum variants are camelCase in canonical form, as in the typespace the schema route serves.
    assert [v.name for v in mood.variants] == ["happy", "grumpy"]
    spot = elements["spot"]
    assert isinstance(spot, ProductType) and spot.names() == ["x", "y"]
    pets = elements["pets"]
    assert isinstance(pets, ArrayType) and isinstance(pets.elem, SumType)
    # A projection carries the same self-contained types.
    (projected,) = db.sql("SELECT mood, spot FROM thing")
    assert "Ref" not in _walk(projected["schema"])
    assert [e["name"]["some"] for e in projected["schema"]["elements"]] == ["mood", "spot"]
    assert projected["rows"][0] == [[0, []], [0, 0]]


# ---- st_var, SET and SHOW --------------------------------------------------------------------


def test_set_and_show_use_st_var() -> None:
    db = _db()
    (shown,) = db.sql("SHOW row_limit")
    assert shown["rows"] == []
    (set_result,) = db.sql("SET row_limit = 7")
    assert set_result["schema"] == {"elements": []}
    assert set_result["stats"]["rows_inserted"] == 1
    (shown,) = db.sql("SHOW row_limit")
    # SHOW is `SELECT value FROM st_var WHERE name = 'row_limit'`: the StVarValue sum.
    assert shown["schema"] == {
        "elements": [{"name": {"some": "value"}, "algebraic_type": STVAR_VALUE_TYPE.to_json()}]
    }
    assert shown["rows"] == [[[8, 7]]]
    assert db.sql("SELECT * FROM st_var")[0]["rows"] == [["row_limit", [8, 7]]]
    # st_var's name is its primary key: a second SET collides, as upstream.
    with pytest.raises(SqlFailed, match="Unique constraint violation 'st_var_name_idx_btree'"):
        db.sql("SET row_limit = 9")
    assert db.sql("SET row_limit = 7")[0]["stats"]["rows_inserted"] == 0
    db.sql("DELETE FROM st_var WHERE name = 'row_limit'")
    db.sql("SET row_limit = 9")
    assert db.sql("SHOW row_limit")[0]["rows"] == [[[8, 9]]]
    with pytest.raises(SqlFailed, match="row_limt is not a valid system variable"):
        db.sql("SET row_limt = 1")
    with pytest.raises(SqlFailed, match="only lets SQL write `st_var`"):
        db.sql("DELETE FROM st_table")


def test_only_the_owner_sets_variables() -> None:
    db = _db()
    stranger = Identity(7)
    with pytest.raises(SqlFailed, match="not authorized to run SQL DML"):
        db.sql("SET row_limit = 1", sender=stranger)
    with pytest.raises(SqlFailed, match="not authorized to run SQL DML"):
        db.sql("DELETE FROM st_var", sender=stranger)
    db.sql("SET row_limit = 3")
    assert db.sql("SHOW row_limit", sender=stranger)[0]["rows"] == [[[8, 3]]]


# ---- row_limit and the estimate --------------------------------------------------------------

ESTIMATES = [
    # a full scan: every row
    ("SELECT * FROM thing", 10),
    # a filter over a scan scans the table, then its rows again (upstream's Filter formula)
    ("SELECT * FROM thing WHERE score = 0", 20),
    # an equality on an indexed column is an index probe: rows / distinct keys
    ("SELECT * FROM thing WHERE group_id = 1", 2),
    # ... and a residual filter above it scans those again
    ("SELECT * FROM thing WHERE group_id = 1 AND score = 0", 4),
    # a unique key probes one row
    ("SELECT * FROM thing WHERE id = 3", 1),
    # an index join on a unique column: left scanned + left rows
    ("SELECT thing.* FROM thing JOIN team ON thing.group_id = team.id", 20),
    # filtered left side (index probe on the unique key), unique right: 1 + 1
    (
        "SELECT team.* FROM team JOIN thing ON team.id = thing.group_id WHERE team.id = 1",
        1 + 1 * 2,
    ),
]


@pytest.mark.parametrize(("sql", "expected"), ESTIMATES)
def test_cardinality_estimates(sql: str, expected: int) -> None:
    """The estimate is what makes the limit trip: exactly at it passes, one below fails."""
    db = _db(rows=10, groups=5)
    stranger = Identity(7)
    db.sql(f"SET row_limit = {expected}")
    db.sql(sql, sender=stranger)  # at the limit: allowed
    db.sql("DELETE FROM st_var WHERE name = 'row_limit'")
    db.sql(f"SET row_limit = {expected - 1}")
    with pytest.raises(SqlFailed) as e:
        db.sql(sql, sender=stranger)
    assert str(e.value) == (
        f"Estimated cardinality ({expected} rows) exceeds limit ({expected - 1} rows)"
    )
    db.sql(sql)  # the owner may exceed the limit


def test_limit_pushes_into_a_bare_scan() -> None:
    db = _db(rows=10)
    db.sql("SET row_limit = 3")
    assert len(db.sql("SELECT * FROM thing LIMIT 3", sender=Identity(7))[0]["rows"]) == 3
    with pytest.raises(SqlFailed, match=r"Estimated cardinality \(10 rows\)"):
        db.sql("SELECT id FROM thing LIMIT 3", sender=Identity(7))


def test_row_limit_applies_to_subscriptions_and_one_off_queries() -> None:
    db = _db(rows=10)
    db.sql("SET row_limit = 5")
    manager = db.subscriptions
    stranger = Identity(7)
    with pytest.raises(SubscriptionFailure) as e:
        manager.subscribe("c", stranger, 1, ["SELECT * FROM thing"])
    assert e.value.message == "Estimated cardinality (10 rows) exceeds limit (5 rows)"
    # Two queries of one set add up.
    with pytest.raises(SubscriptionFailure, match=r"Estimated cardinality \(6 rows\)"):
        manager.subscribe(
            "c", stranger, 2, ["SELECT * FROM team", "SELECT * FROM thing WHERE id = 1"]
        )
    assert manager.query_sets("c") == []
    manager.subscribe("c", stranger, 3, ["SELECT * FROM team"])
    with pytest.raises(SubscriptionFailure, match=r"Estimated cardinality \(10 rows\)"):
        manager.one_off_query(stranger, "SELECT * FROM thing")
    assert manager.one_off_query(stranger, "SELECT * FROM thing WHERE id = 1").tables
    manager.subscribe("owner", db.owner_identity, 4, ["SELECT * FROM thing"], is_owner=True)


async def test_row_limit_over_the_wire() -> None:
    async with (
        LocalServer(fid) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http,
    ):
        srv.db.call_reducer("add_things", 10, 5)
        owner = {"Authorization": f"Bearer {srv.owner_token}"}
        r = await http.post(
            f"/v1/database/{srv.database}/sql", content="SET row_limit = 4", headers=owner
        )
        assert r.status_code == 200
        r = await http.post(f"/v1/database/{srv.database}/sql", content="SELECT * FROM thing")
        assert (r.status_code, r.text) == (
            400,
            "Estimated cardinality (10 rows) exceeds limit (4 rows)",
        )
        c = await WsClient.connect(srv.ws_url)
        await c.initial()
        await c.send(m.Subscribe(1, 1, ["SELECT * FROM thing"]))
        error = await c.recv()
        assert isinstance(error, m.SubscriptionError)
        assert error.error == "Estimated cardinality (10 rows) exceeds limit (4 rows)"
        await c.send(m.OneOffQuery(2, "SELECT * FROM thing"))
        one_off = await c.recv()
        assert isinstance(one_off, m.OneOffQueryResult)
        assert one_off.result.error == "Estimated cardinality (10 rows) exceeds limit (4 rows)"  # type: ignore[union-attr]
        await c.close()


# ---- st_* system tables ----------------------------------------------------------------------


def _rows(db: Database, sql: str, sender: Identity | None = None) -> list[Any]:
    rows: list[Any] = db.sql(sql, sender=sender)[0]["rows"]
    return rows


def test_st_table_and_st_column() -> None:
    db = _db()
    tables = {r[1]: r for r in _rows(db, "SELECT * FROM st_table")}
    assert tables["st_table"] == [1, "st_table", "system", "public", [0, [0]]]
    assert tables["thing"] == [4096, "thing", "user", "public", [0, [0]]]
    assert tables["team"][0] == 4097
    assert tables["secret"] == [4098, "secret", "user", "private", [1, []]]
    assert {name: r[0] for name, r in tables.items() if r[2] == "system"} == SYSTEM_TABLE_IDS
    schema = db.sql("SELECT * FROM st_table")[0]["schema"]
    assert [e["name"]["some"] for e in schema["elements"]] == [
        "table_id",
        "table_name",
        "table_type",
        "table_access",
        "table_primary_key",
    ]
    columns = _rows(db, "SELECT col_pos, col_name, col_type FROM st_column WHERE table_id = 4096")
    assert [(pos, name) for pos, name, _ in columns] == [
        (0, "id"),
        (1, "group_id"),
        (2, "mood"),
        (3, "spot"),
        (4, "pets"),
        (5, "score"),
    ]
    # col_type is the BSATN of the column's (self-contained) type, as bytes (hex in JSON).
    assert AlgebraicType.from_bsatn(bytes.fromhex(columns[0][2])) == AlgebraicType.U64
    mood = AlgebraicType.from_bsatn(bytes.fromhex(columns[2][2]))
    assert isinstance(mood, SumType) and [v.name for v in mood.variants] == ["happy", "grumpy"]


def test_st_index_constraint_sequence_scheduled() -> None:
    db = _db()
    indexes = {r[2]: r for r in _rows(db, "SELECT * FROM st_index WHERE table_id = 4096")}
    assert indexes["thing_id_idx_btree"][3] == [1, [[0]]]  # BTree { columns: [0] }
    assert indexes["thing_group_id_idx_btree"][3] == [1, [[1]]]
    constraints = _rows(db, "SELECT constraint_name, table_id, constraint_data FROM st_constraint")
    assert ["thing_id_key", 4096, [1, [[0]]]] in constraints
    (seq,) = _rows(db, "SELECT * FROM st_sequence WHERE table_id = 4096")
    assert seq[1:5] == ["thing_id_seq", 4096, 0, 1]
    assert seq[8] == 11  # ten rows inserted: the next value is 11
    assert _rows(db, "SELECT * FROM st_scheduled") == []


async def test_st_client_lists_connections() -> None:
    async with LocalServer(fid) as srv:
        c = await WsClient.connect(srv.ws_url)
        hello = await c.initial()
        rows = srv.db.sql("SELECT * FROM st_client")[0]["rows"]
        assert [r[0] for r in rows] == [f"0x{hello.identity.to_hex()}"]
        await c.close()


def test_system_tables_are_public_as_upstream() -> None:
    db = _db()
    stranger = Identity(7)
    assert len(_rows(db, "SELECT * FROM st_table", sender=stranger)) >= 3
    # The private user table is listed, but not readable.
    with pytest.raises(SqlFailed, match="no such table: `secret`"):
        db.sql("SELECT * FROM secret", sender=stranger)


async def test_sql_route_schema_is_self_contained() -> None:
    async with (
        LocalServer(fid) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http,
    ):
        srv.db.call_reducer("add_things", 1, 1)
        r = await http.post(f"/v1/database/{srv.database}/sql", content="SELECT * FROM thing")
        assert r.status_code == 200
        body = json.loads(r.text)
        assert "Ref" not in _walk(body[0]["schema"])
