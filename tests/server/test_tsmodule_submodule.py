"""A TypeScript module that mounts another (a submodule), on the local server.

``tests/modules_ts/submodule-test`` mounts ``tally_lib`` as ``tallies``.  The server flattens the
submodule: its table and functions are named ``tallies.<name>``; the parent's reducer and
procedure reach them through ``ctx.as.tallies``.
"""

from __future__ import annotations

import asyncio

from ts_support import logged, needs_node

from node_support import TS_MODULES, load_once
from spacetimedb_sdk.server.local import LocalServer

pytestmark = needs_node()


async def test_a_submodules_table_and_functions_are_namespaced() -> None:
    module = load_once(TS_MODULES / "submodule-test")
    async with LocalServer(module) as srv:  # type: ignore[arg-type]
        db = srv.db
        assert {t.name for t in db.module.table_schemas()} == {"event", "tallies.tally"}
        assert [r.name for r in db.module.reducers] == ["add_both", "tallies.add_tally"]
        assert db.call_reducer("add_both", "through the parent").ok
        assert db.call_reducer("tallies.add_tally", "directly").ok
        assert [r.label for r in db.rows("tallies.tally")] == ["through the parent", "directly"]
        assert [r.text for r in db.rows("event")] == ["added through the parent"]
        counted = await asyncio.to_thread(db.call_procedure, "count_through_lib")
        assert counted.return_value == 2
        rows = db.sql('SELECT label FROM "tallies.tally" WHERE id = 2')[0]["rows"]
        assert rows == [["directly"]]
        assert ("Info", "tallies.add_tally", "addTally: directly") in logged(db)
        tables = [
            t["source_name"]
            for s in db.module.describe_v10()["sections"]
            for t in s.get("Tables", [])
        ]
        assert tables == ["event", "tallies.tally"]
