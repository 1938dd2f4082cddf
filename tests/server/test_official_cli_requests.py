"""The requests the official ``spacetime`` CLI makes, replayed against the local server.

Each row below is transcribed (not copied) from upstream's CLI at v2.8.3
(``crates/cli/src/api.rs``, ``util.rs`` and ``subcommands/{publish,describe,call,sql,logs,list,
dns,delete}.rs``): the method, path, query, headers and body of one request, and what the CLI
then does with the answer (its ``ensure_content_type("application/json")`` compares the header
exactly; ``json_or_error`` parses ``PublishResult``, ``SetDomainsResult`` and friends; ``logs``
parses each line as its ``Record``).  The rows run in the order a session would make them:
publish a new database, look it up, describe it, call a reducer, query it, read its logs, list
the caller's databases, rename it, publish again, and delete it.

The official CLI builds WebAssembly or JavaScript programs and names them with ``host_type``;
this server runs Python modules, so the replayed uploads carry a module's source with
``host_type=Python``.  An upload of another kind is answered with a clear 500, as upstream
answers a program it cannot run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from publish_support import V1, V2
from server_test_support import TIMEOUT

from spacetimedb_sdk import Identity
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server.local import LocalServer

USER_AGENT = "spacetimedb-cli/2.8.3"  # api.rs: concat!(CARGO_PKG_NAME, "/", CARGO_PKG_VERSION)
LOG_LEVELS = {"Error", "Warn", "Info", "Debug", "Trace", "Panic"}  # logs.rs LogLevel


@dataclass(frozen=True)
class CliRequest:
    """One request of the official CLI, and what it needs of the answer."""

    command: str  # the `spacetime` command making it
    source: str  # where upstream's CLI makes it (v2.8.3)
    method: str
    path: str  # {identity}: the database identity the CLI resolved first; {name}: its name
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    auth: bool = True  # the saved login token, as `Authorization: Bearer`
    status: int = 200
    content_type: str | None = None  # compared exactly, as the CLI does
    check: Callable[[httpx.Response, dict[str, Any]], None] | None = None


def _identity_text(r: httpx.Response, s: dict[str, Any]) -> None:
    # util.rs spacetime_dns: the body must parse as an Identity.
    assert Identity.from_hex(r.text) == s["identity"]


def _publish_result(op: str) -> Callable[[httpx.Response, dict[str, Any]], None]:
    def check(r: httpx.Response, s: dict[str, Any]) -> None:
        success = r.json()["Success"]  # PublishResult::Success
        assert success == {
            "domain": "scores",
            "database_identity": success["database_identity"],
            "op": op,
        }
        s["identity"] = Identity.from_hex(success["database_identity"])

    return check


def _schema(r: httpx.Response, s: dict[str, Any]) -> None:
    # api.rs module_def: RawModuleDefV10 (the CLI deserializes it; here the SDK's reader).
    assert [t.name for t in ModuleSchema.from_json(r.json()).tables] == ["score"]


def _sql(r: httpx.Response, s: dict[str, Any]) -> None:
    # sql.rs: Vec<SqlStmtResult { schema, rows, total_duration_micros, stats }>
    [stmt] = r.json()
    assert set(stmt) >= {"schema", "rows", "total_duration_micros"}
    assert sorted(stmt["rows"]) == [[0, 0], [7, 70]]
    assert isinstance(stmt["total_duration_micros"], int)


def _log_records(r: httpx.Response, s: dict[str, Any]) -> None:
    # logs.rs Record: ts (i64 micros), level (LogLevel), optional target/filename/line_number/
    # function, message, optional trace.
    records = [json.loads(line) for line in r.text.splitlines()]
    assert len(records) == 3
    for record in records:
        assert record["level"] in LOG_LEVELS and isinstance(record["ts"], int)
        assert isinstance(record["message"], str)
        assert set(record) <= {
            "ts", "level", "target", "filename", "line_number", "function", "message", "trace",
        }  # fmt: skip
    assert records[-1]["message"] == "adding 7" and records[-1]["function"] == "add"


def _databases(r: httpx.Response, s: dict[str, Any]) -> None:
    # list.rs DatabasesResult { identities: Vec<Identity> }
    assert r.json() == {"identities": [s["identity"].to_hex()]}


def _names(expected: list[str]) -> Callable[[httpx.Response, dict[str, Any]], None]:
    def check(r: httpx.Response, s: dict[str, Any]) -> None:
        assert r.json() == {"names": expected}  # util.rs GetNamesResponse

    return check


def _renamed(r: httpx.Response, s: dict[str, Any]) -> None:
    assert r.json() == "Success"  # dns.rs SetDomainsResult::Success


def _auto_migrate(r: httpx.Response, s: dict[str, Any]) -> None:
    auto = r.json()["AutoMigrate"]  # publish.rs PrePublishResult::AutoMigrate
    assert set(auto) == {"migrate_plan", "break_clients", "token", "major_version_upgrade"}
    assert auto["break_clients"] is False and auto["token"].startswith("0x")


JSON = "application/json"
PYTHON = {"Content-Type": "text/x-python"}  # reqwest sends bytes bodies with no type
SESSION = [
    CliRequest(
        "publish", "publish.rs call_pre_publish", "POST", "/v1/database/scores/pre_publish",
        {"pretty_print_style": "NoColor", "host_type": "Python"}, body=V1, status=404,
    ),  # 404: a new database, nothing to check
    CliRequest(
        "publish", "publish.rs execute_publish_configs", "PUT", "/v1/database/scores",
        {"host_type": "Python"}, PYTHON, V1, content_type=JSON, check=_publish_result("created"),
    ),
    CliRequest(
        "sql/call/describe/logs", "util.rs spacetime_dns", "GET", "/v1/database/{name}/identity",
        auth=False, check=_identity_text,
    ),
    CliRequest(
        "describe", "api.rs ClientApi::module_def", "GET", "/v1/database/{identity}/schema",
        {"version": "10"}, content_type=JSON, check=_schema,
    ),
    CliRequest(
        "call", "api.rs ClientApi::call", "POST", "/v1/database/{identity}/call/add",
        headers={"Content-Type": "application/json"}, body="[7, 70]",
    ),
    CliRequest(
        "sql", "sql.rs run_sql", "POST", "/v1/database/{identity}/sql",
        {"confirmed": "true"}, body="SELECT * FROM score", content_type=JSON, check=_sql,
    ),
    CliRequest(
        "logs", "logs.rs exec", "GET", "/v1/database/{identity}/logs",
        {"num_lines": "3", "follow": "false"}, check=_log_records,
    ),
    CliRequest(
        "list", "list.rs exec", "GET", "/v1/identity/{owner}/databases",
        content_type=JSON, check=_databases,
    ),
    CliRequest(
        "list", "util.rs spacetime_reverse_dns", "GET", "/v1/database/{identity}/names",
        auth=False, content_type=JSON, check=_names(["scores"]),
    ),
    CliRequest(
        "rename", "dns.rs exec", "PUT", "/v1/database/{identity}/names",
        headers={"Content-Type": "application/json"}, body='["high-scores"]',
        content_type=JSON, check=_renamed,
    ),
    CliRequest(
        "list", "util.rs spacetime_reverse_dns", "GET", "/v1/database/{identity}/names",
        auth=False, content_type=JSON, check=_names(["high-scores"]),
    ),
    CliRequest(
        "publish", "publish.rs call_pre_publish", "POST", "/v1/database/high-scores/pre_publish",
        {"pretty_print_style": "NoColor", "host_type": "Python"}, body=V2,
        content_type=JSON, check=_auto_migrate,
    ),
    CliRequest(
        "delete", "delete.rs send_request", "DELETE", "/v1/database/{identity}",
    ),
    CliRequest(
        "sql/call/describe/logs", "util.rs spacetime_dns", "GET", "/v1/database/{identity}",
        auth=False, status=404,
    ),
]  # fmt: skip


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(None) as server:
        yield server


async def test_a_session_of_the_official_cli(srv: LocalServer) -> None:
    state: dict[str, Any] = {}
    token = srv.owner_token
    async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http:
        for step, req in enumerate(SESSION):
            path = req.path.format(
                name="scores",
                identity=state["identity"].to_hex() if "identity" in state else "",
                owner=srv.owner_identity.to_hex(),
            )
            headers = {"User-Agent": USER_AGENT, **req.headers}
            if req.auth:
                headers["Authorization"] = f"Bearer {token}"
            r = await http.request(
                req.method,
                path,
                params=req.query,
                headers=headers,
                content=req.body.encode() if req.body is not None else None,
            )
            where = f"step {step}: {req.command} ({req.source}) {req.method} {path}"
            assert r.status_code == req.status, f"{where}: {r.status_code} {r.text}"
            if req.content_type is not None:
                assert r.headers.get("content-type") == req.content_type, where
            if req.check is not None:
                req.check(r, state)


async def test_programs_this_server_cannot_run_are_refused_clearly(srv: LocalServer) -> None:
    # Js programs (TypeScript modules) run in Node: see tests/server/test_tsmodule_publish.py.
    async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http:
        r = await http.put(
            "/v1/database/scores",
            params={"host_type": "Wasm"},
            content=b"\0asm\1\0\0\0",
            headers={"Authorization": f"Bearer {srv.owner_token}"},
        )
    assert r.status_code == 500
    assert r.text.startswith("this server cannot run Wasm modules: it runs Js, Python modules")
    assert srv.databases == []
