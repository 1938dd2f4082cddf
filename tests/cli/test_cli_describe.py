"""``spacetimedb-py describe`` against the local server."""

from __future__ import annotations

import json
from collections.abc import Callable

from conftest import Result, on

from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]


def test_summary_lists_tables_columns_and_callable_functions(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "describe"))
    assert r.code == 0 and r.err == ""
    lines = r.out.splitlines()
    assert "  thing  (public; primary key: id)" in lines
    assert "    spot   Option<Point>" in lines
    assert any(
        line.startswith("  add_thing(id: U32, color: Color, shape: Shape,") for line in lines
    )
    assert "  add(a: U32, b: U32) -> U32" in lines
    assert "views: none" in lines


def test_lifecycle_reducers_are_marked(cli: Cli, chat: LocalServer) -> None:
    r = cli(*on(chat, "describe"))
    assert "  identity_connected()  [OnConnect]" in r.out.splitlines()


def test_json_summary(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "describe", "--json"))
    assert r.code == 0
    summary = json.loads(r.out)
    thing = next(t for t in summary["tables"] if t["name"] == "thing")
    assert thing["primary_key"] == ["id"] and thing["public"] is True
    assert {"name": "big", "type": "U128"} in thing["columns"]
    assert [p["name"] for p in summary["procedures"]] == ["add", "mirror"]
    fail = next(x for x in summary["reducers"] if x["name"] == "fail")
    assert fail == {"name": "fail", "params": [], "lifecycle": None, "callable": True}


def test_raw_is_the_servers_schema_document(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "describe", "--raw"))
    assert r.code == 0
    schema = ModuleSchema.from_json(json.loads(r.out))
    assert [t.name for t in schema.tables] == ["thing", "num"]


def test_unknown_database(cli: Cli, things: LocalServer) -> None:
    r = cli("describe", "--server", things.url, "--database", "nope")
    assert r.code == 1 and r.out == ""
    assert r.err == f"error: database 'nope' not found on {things.url}\n"


def test_connection_refused(cli: Cli, things: LocalServer) -> None:
    port = things.port
    things.stop()
    r = cli("describe", "--server", f"http://127.0.0.1:{port}", "--database", "cli-test")
    assert r.code == 1
    assert r.err.startswith(f"error: cannot reach SpacetimeDB at http://127.0.0.1:{port}")
    assert r.err.count("\n") == 1


def test_missing_database_is_a_usage_error(cli: Cli) -> None:
    r = cli("describe")
    assert r.code == 2
    assert r.err == "error: no database given: pass --database NAME (describe)\n"


def test_bad_server_url_is_a_usage_error(cli: Cli) -> None:
    r = cli("describe", "--server", "ftp://x", "--database", "db")
    assert r.code == 2 and r.err.startswith("error: bad --server: unsupported URI scheme 'ftp'")
