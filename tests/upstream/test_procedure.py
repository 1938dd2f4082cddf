"""Upstream's procedure scenarios (``procedure-client``) on ``sdk-test-procedure``.

Return values of several types, a procedure that panics, transactions a procedure commits or
rolls back, HTTP from a procedure (to this database's own schema route, and to a reserved
invalid host), and a reducer scheduling a procedure a second later.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from harness import TIMEOUT, Checks, Db, committed, subscribe_these_then

from spacetimedb_sdk.errors import ProcedureError

MODULE = "sdk_test_procedure"

SUBSCRIBE_ALL = [
    "SELECT * FROM my_table;",
    "SELECT * FROM proc_inserts_into;",
    "SELECT * FROM pk_uuid;",
]


def assert_all_tables_empty(ctx: Any) -> None:
    assert ctx.db.my_table.count() == 0, "expected table my_table to be empty"


async def call(pending: Any) -> Any:
    return await asyncio.wait_for(pending, TIMEOUT)


async def test_return_values(db: Db) -> None:
    b = db.bindings
    conn = await db.connect()
    assert await call(conn.procedures.return_primitive(1, 2)) == 3
    strukt = await call(conn.procedures.return_struct(1234, "foo"))
    assert (strukt.a, strukt.b) == (1234, "foo")
    assert await call(conn.procedures.return_enum_a(1234)) == b.ReturnEnum.a(1234)
    enum_b = await call(conn.procedures.return_enum_b("foo"))
    assert isinstance(enum_b, b.ReturnEnum.b) and enum_b.value == "foo"


async def test_observe_panic(db: Db) -> None:
    conn = await db.connect()
    with pytest.raises(ProcedureError):
        await call(conn.procedures.will_panic())


async def test_with_tx_commit(db: Db) -> None:
    b = db.bindings
    expected = b.ReturnStruct(a=42, b="magic")
    checks = Checks()
    applied = checks.add("on_subscription_applied_nothing")
    values = checks.add("insert_with_tx_commit_values")
    inserted = checks.add("insert_with_tx_commit_callback")

    def then(conn: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            with inserted:
                assert row.field == expected

        conn.db.my_table.on_insert(on_insert)

        def on_applied(ctx: Any) -> None:
            with applied:
                assert_all_tables_empty(ctx)

            async def run() -> None:
                with values:
                    await call(ctx.procedures.insert_with_tx_commit())
                    assert [row.field for row in ctx.db.my_table] == [expected]

            checks.spawn(run())

        subscribe_these_then(conn, SUBSCRIBE_ALL, checks, on_applied)

    await db.connect(checks, then=then)
    await checks.wait()


async def test_with_tx_rollback(db: Db) -> None:
    checks = Checks()
    applied = checks.add("on_subscription_applied_nothing")
    values = checks.add("insert_with_tx_rollback_values")

    def then(conn: Any) -> None:
        conn.db.my_table.on_insert(lambda ev, row: checks.unexpected("should not insert a row"))

        def on_applied(ctx: Any) -> None:
            with applied:
                assert_all_tables_empty(ctx)

            async def run() -> None:
                with values:
                    await call(ctx.procedures.insert_with_tx_rollback())
                    assert next(iter(ctx.db.my_table), None) is None

            checks.spawn(run())

        subscribe_these_then(conn, SUBSCRIBE_ALL, checks, on_applied)

    await db.connect(checks, then=then)
    await checks.wait()


async def test_http_ok(db: Db) -> None:
    # The procedure fetches this database's v9 schema over HTTP and returns the body; it must
    # describe that very procedure.
    conn = await db.connect()
    text = await call(conn.procedures.read_my_schema(db.url))
    module_def = json.loads(text)
    assert any(
        "Procedure" in export and export["Procedure"]["name"] == "read_my_schema"
        for export in module_def["misc_exports"]
    ), module_def["misc_exports"]


async def test_http_err(db: Db) -> None:
    conn = await db.connect()
    error = await call(conn.procedures.invalid_request())
    assert "error" in error and "http://foo.invalid/" in error, error


async def test_schedule_procedure(db: Db) -> None:
    checks = Checks()
    applied = checks.add("on_subscription_applied_nothing")
    inserted = checks.add("insert_with_tx_commit_callback")

    def then(conn: Any) -> None:
        def on_insert(ev: Any, row: Any) -> None:
            with inserted:
                assert (row.x, row.y) == (42, 24)
                # At least a second between the reducer and the procedure, at most two.
                elapsed = row.procedure_ts.micros - row.reducer_ts.micros
                assert 1_000_000 <= elapsed <= 2_000_000, elapsed

        conn.db.proc_inserts_into.on_insert(on_insert)

        def on_applied(ctx: Any) -> None:
            with applied:
                assert_all_tables_empty(ctx)
            ctx.reducers.schedule_proc.then(committed(checks, "schedule_proc"))

        subscribe_these_then(conn, SUBSCRIBE_ALL, checks, on_applied)

    await db.connect(checks, then=then)
    await checks.wait()


async def test_sorted_uuids_insert(db: Db) -> None:
    # Not in test.rs: the procedure-client's `sorted-uuids-insert` handler, which the scenario
    # list records.  1000 UUIDv7s inserted in one transaction arrive in increasing order.
    conn = await db.connect()
    await asyncio.wait_for(conn.subscription_builder().subscribe(SUBSCRIBE_ALL), TIMEOUT)
    await call(conn.procedures.sorted_uuids_insert())
    uuids = [row.u for row in conn.db.pk_uuid]
    assert len(uuids) == 1000
    assert all(a.int < b.int for a, b in itertools.pairwise(uuids))
