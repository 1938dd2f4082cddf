"""The MCP endpoint (``/v1/mcp``, ``/v1/database/{db}/mcp``) with the official ``mcp`` client.

Upstream's ``client-api/src/routes/mcp.rs`` is the reference: JSON-RPC 2.0, protocol
``2025-06-18``, tools ``list_databases`` (host-wide), ``ping``, ``get_schema``, ``sql``,
``call``; execution failures are ``isError`` results, bad requests are JSON-RPC errors.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from server_test_support import TIMEOUT

from spacetimedb_sdk.server.local import LocalServer


def _text(result: Any) -> str:
    (content,) = result.content
    assert content.type == "text"
    return str(content.text)


async def _session(url: str, token: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=TIMEOUT) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        yield session


async def test_official_client_on_a_database(srv: LocalServer) -> None:
    url = f"{srv.url}/v1/database/{srv.database}/mcp"
    async for session in _session(url, srv.owner_token):
        init = await session.initialize()
        assert init.protocol_version == "2025-06-18"
        assert init.server_info.name == "spacetimedb"
        tools = await session.list_tools()
        assert [t.name for t in tools.tools] == ["ping", "get_schema", "sql", "call"]
        sql_tool = next(t for t in tools.tools if t.name == "sql")
        assert sql_tool.input_schema["required"] == ["sql"]

        called = await session.call_tool("call", {"reducer": "bump", "args": [5]})
        assert (called.is_error, _text(called)) == (False, "reducer 'bump' committed")
        rows = await session.call_tool("sql", {"sql": "SELECT * FROM counter"})
        assert not rows.is_error
        (statement,) = json.loads(_text(rows))
        assert statement["rows"] == [[1, 5]]
        assert [e["name"] for e in statement["schema"]["elements"]] == [
            {"some": "id"},
            {"some": "n"},
        ]

        bad = await session.call_tool("sql", {"sql": "SELECT * FROM nowhere"})
        assert bad.is_error
        assert "nowhere" in _text(bad)
        failed = await session.call_tool("call", {"reducer": "fail"})
        assert (failed.is_error, _text(failed)) == (True, "reducer 'fail' failed: nope")
        missing = await session.call_tool("call", {"reducer": "add", "args": [1, 2]})
        assert (missing.is_error, _text(missing)) == (True, "no such reducer")
        pong = await session.call_tool("ping", {"message": "hi"})
        assert _text(pong) == "pong: hi"
        schema = json.loads(_text(await session.call_tool("get_schema", {})))
        assert {t["name"] for t in schema["tables"]} >= {"counter", "log"}
    assert srv.db.sql("SELECT n FROM counter")[0]["rows"] == [[5]]


async def test_official_client_host_wide(srv: LocalServer) -> None:
    async for session in _session(f"{srv.url}/v1/mcp", srv.owner_token):
        await session.initialize()
        names = [t.name for t in (await session.list_tools()).tools]
        assert names == ["list_databases", "ping", "get_schema", "sql", "call"]
        listed = json.loads(_text(await session.call_tool("list_databases", {})))
        assert listed == {
            "databases": [{"identity": srv.db.identity.to_hex(), "names": [srv.database]}]
        }
        by_identity = await session.call_tool(
            "sql", {"database": srv.db.identity.to_hex(), "sql": "SELECT * FROM counter"}
        )
        assert json.loads(_text(by_identity))[0]["rows"] == [[1, 0]]
        unknown = await session.call_tool("sql", {"database": "nowhere", "sql": "SELECT 1"})
        assert (unknown.is_error, _text(unknown)) == (True, "`nowhere` not found")
    # Someone else owns nothing here.
    async for session in _session(f"{srv.url}/v1/mcp", srv.issue_token("stranger")):
        await session.initialize()
        listed = json.loads(_text(await session.call_tool("list_databases", {})))
        assert listed == {"databases": []}


async def _rpc(http: httpx.AsyncClient, path: str, body: Any, **kw: Any) -> httpx.Response:
    return await http.post(path, json=body, **kw)


async def test_json_rpc_errors(srv: LocalServer, http: httpx.AsyncClient) -> None:
    path = f"/v1/database/{srv.database}/mcp"
    r = await _rpc(http, path, {"jsonrpc": "2.0", "id": 1, "method": "resources/list"})
    assert r.status_code == 200
    assert r.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32601, "message": "method not found: resources/list"},
    }
    assert r.headers["spacetime-identity"]  # anonymous callers get an identity, as elsewhere
    r = await _rpc(http, path, {"jsonrpc": "2.0", "id": "x"})
    assert r.json()["error"] == {"code": -32600, "message": "invalid request: missing method"}
    r = await _rpc(http, path, {"jsonrpc": "2.0", "id": 2, "method": "tools/call"})
    assert r.json()["error"] == {"code": -32602, "message": "missing params"}
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call"}
    r = await _rpc(http, path, {**call, "params": {"name": "list_databases"}})
    assert r.json()["error"] == {"code": -32602, "message": "unknown tool: list_databases"}
    r = await _rpc(http, path, {**call, "params": {"name": "call", "arguments": {"args": []}}})
    assert r.json()["error"]["message"] == "reducer argument must be a string"
    bad_args = {"name": "call", "arguments": {"reducer": "bump", "args": {"by": 1}}}
    r = await _rpc(http, path, {**call, "params": bad_args})
    assert r.json()["error"] == {"code": -32602, "message": "args must be a JSON array"}
    r = await _rpc(http, "/v1/mcp", {**call, "params": {"name": "sql", "arguments": {}}})
    assert r.json()["error"]["message"] == "database argument must be a string"
    # A notification gets 202 and no body.
    r = await _rpc(http, path, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (r.status_code, r.content) == (202, b"")


async def test_bad_http_input(srv: LocalServer, http: httpx.AsyncClient) -> None:
    path = f"/v1/database/{srv.database}/mcp"
    assert (await http.get(path)).status_code == 405
    assert (await http.get("/v1/mcp")).status_code == 405
    r = await http.post(path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.text.startswith("Failed to parse the request body as JSON")
    r = await http.post(path, content=b"{}", headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.text) == (
        415,
        "Expected request with `Content-Type: application/json`",
    )
    huge = b'{"jsonrpc":"2.0","id":1,"method":"ping","pad":"' + b"x" * (3 << 20) + b'"}'
    r = await http.post(path, content=huge, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.text) == (
        413,
        "Failed to buffer the request body: length limit exceeded",
    )
    r = await _rpc(
        http,
        path,
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"Authorization": "Bearer not.a.token"},
    )
    assert r.status_code == 401
    # Unknown database: protocol methods still answer; tools report the 404 in-band.
    r = await _rpc(http, "/v1/database/nowhere/mcp", {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert r.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
    r = await _rpc(
        http,
        "/v1/database/nowhere/mcp",
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_schema"}},
    )
    assert r.json()["result"] == {
        "content": [{"type": "text", "text": "`nowhere` not found"}],
        "isError": True,
    }
    # Nothing was lost: the server still serves.
    r = await _rpc(http, path, {"jsonrpc": "2.0", "id": 9, "method": "ping"})
    assert r.json()["result"] == {}
