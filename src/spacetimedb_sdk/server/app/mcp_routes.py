"""The MCP endpoint for AI agents: ``POST /v1/mcp`` (host-wide) and ``POST /v1/database/{db}/mcp``.

JSON-RPC 2.0 over plain HTTP POST (the Model Context Protocol's streamable-HTTP transport
answering with ``application/json``), protocol version ``2025-06-18``, as upstream's
``client-api/src/routes/mcp.rs``:

* a message without ``id`` is a notification: ``202 Accepted``, no body;
* methods ``initialize``, ``ping``, ``tools/list`` and ``tools/call``; any other is
  ``-32601 method not found: <name>``; no ``method`` is ``-32600``; bad tool parameters
  are ``-32602``;
* tools: ``list_databases`` (host-wide only: the caller's own databases), ``ping``,
  ``get_schema`` (``RawModuleDefV9`` JSON), ``sql`` (the ``/sql`` response body) and
  ``call`` (a reducer with positional JSON ``args``).  Host-wide tools take a ``database``
  argument (name or identity); scoped ones use the URL's.  What fails while running a tool
  (unknown database, bad SQL, a failing reducer) is an ``isError`` result carrying the HTTP
  error text, never a JSON-RPC error.

Requests are authenticated like every ``/v1/database`` route (a token, or a fresh anonymous
identity).  The body goes through axum's ``Json`` rules upstream: ``Content-Type:
application/json`` (else 415), valid JSON (else 400), at most 2 MiB (else 413).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..host import Database, HttpResponse
from .bodies import is_json_content_type, read_limited
from .requests import _Auth, _authenticate, _json, _text, _with_auth
from .resolve import lookup_database
from .state import _STATE

PROTOCOL_VERSION = "2025-06-18"
"""The MCP revision upstream speaks."""

INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

SERVER_VERSION = "2.8.3"
"""The SpacetimeDB release whose behaviour this server reproduces (upstream reports its own
``CARGO_PKG_VERSION`` in ``serverInfo``)."""

MAX_BODY_BYTES = 2 * 1024 * 1024
"""axum's default body limit, which upstream's MCP route keeps."""

_HOST_WIDE_INSTRUCTIONS = (
    "Tools for the SpacetimeDB databases you can reach on this host. Every data tool takes a "
    "`database` argument, either a name or an identity. Use list_databases to see the ones you "
    "own, get_schema to see a database's tables and reducers, sql to query data, and call to "
    "invoke a reducer. Reducers are the usual way to write, and SQL writes require ownership. "
    "Everything runs with your identity, exactly as over the HTTP API."
)
_SCOPED_INSTRUCTIONS = (
    "Tools for the addressed SpacetimeDB database: ping, get_schema, sql, and call. Use "
    "get_schema to see its tables and reducers, sql to query data, and call to invoke a "
    "reducer. Reducers are the usual way to write, and SQL writes require ownership. "
    "Everything runs with your identity, exactly as over the HTTP API."
)


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _ToolFailed(Exception):
    """A tool ran and failed the way an HTTP route would: becomes an ``isError`` result."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


async def _mcp_root(request: web.Request) -> web.StreamResponse:
    return await _handle(request, None)


async def _mcp_database(request: web.Request) -> web.StreamResponse:
    return await _handle(request, request.match_info["db"])


async def _handle(request: web.Request, scope: str | None) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    content_type = request.headers.get("Content-Type", "")
    if not is_json_content_type(content_type):
        return _with_auth(
            _text(415, "Expected request with `Content-Type: application/json`"), auth
        )
    body = await read_limited(request, MAX_BODY_BYTES)
    if body is None:
        return _with_auth(
            _text(413, "Failed to buffer the request body: length limit exceeded"), auth
        )
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        return _with_auth(_text(400, f"Failed to parse the request body as JSON: {e}"), auth)
    except RecursionError:
        return _with_auth(
            _text(400, "Failed to parse the request body as JSON: recursion limit exceeded"), auth
        )
    if not isinstance(message, dict) or "id" not in message:
        # A notification (or anything without an id) gets no response.
        return _with_auth(web.Response(status=202), auth)
    rpc_id = message["id"]
    method = message.get("method")
    if not isinstance(method, str):
        reply = _error(rpc_id, INVALID_REQUEST, "invalid request: missing method")
    elif method == "initialize":
        reply = _result(rpc_id, _initialize_result(scope is None))
    elif method == "ping":
        reply = _result(rpc_id, {})
    elif method == "tools/list":
        reply = _result(rpc_id, _tools_list(scope is None))
    elif method == "tools/call":
        try:
            reply = _result(rpc_id, await _tools_call(request, scope, auth, message.get("params")))
        except _RpcError as e:
            reply = _error(rpc_id, e.code, e.message)
    else:
        reply = _error(rpc_id, METHOD_NOT_FOUND, f"method not found: {method}")
    return _with_auth(_json(reply), auth)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _result(rpc_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "result": result}


def _error(rpc_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}}


def _initialize_result(host_wide: bool) -> dict[str, Any]:
    return {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {"tools": {}},
        "serverInfo": {"name": "spacetimedb", "version": SERVER_VERSION},
        "instructions": _HOST_WIDE_INSTRUCTIONS if host_wide else _SCOPED_INSTRUCTIONS,
    }


def _annotations(title: str, *, read_only: bool) -> dict[str, Any]:
    return {
        "title": title,
        "readOnlyHint": read_only,
        "destructiveHint": not read_only,
        "openWorldHint": False,
    }


def _input_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _tools_list(host_wide: bool) -> dict[str, Any]:
    database = {"type": "string", "description": "The name or identity of the target database."}
    schema_props: dict[str, Any] = {}
    sql_props: dict[str, Any] = {
        "sql": {"type": "string", "description": "The SQL statement to execute."},
        "confirmed": {
            "type": "boolean",
            "description": "Wait for the read to be durably confirmed.",
        },
    }
    call_props: dict[str, Any] = {
        "reducer": {"type": "string", "description": "The name of the reducer to invoke."},
        "args": {
            "type": "array",
            "description": "A JSON array of arguments to the reducer, in order. "
            "Omit or pass [] for none.",
        },
    }
    schema_required: list[str] = []
    sql_required, call_required = ["sql"], ["reducer"]
    if host_wide:
        for props in (schema_props, sql_props, call_props):
            props["database"] = database
        schema_required.append("database")
        sql_required.insert(0, "database")
        call_required.insert(0, "database")
    tools: list[dict[str, Any]] = []
    if host_wide:
        tools.append(
            {
                "name": "list_databases",
                "description": "List the databases you own on this host, with their identity "
                "and names.",
                "inputSchema": {"type": "object", "properties": {}},
                "annotations": _annotations("List databases", read_only=True),
            }
        )
    tools += [
        {
            "name": "ping",
            "description": "Health check that echoes an optional message back.",
            "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}},
            "annotations": _annotations("Ping", read_only=True),
        },
        {
            "name": "get_schema",
            "description": "Get the schema for the database as JSON, including its typespace, "
            "tables, and reducers.",
            "inputSchema": _input_schema(schema_props, schema_required),
            "annotations": _annotations("Get schema", read_only=True),
        },
        {
            "name": "sql",
            "description": "Run a SQL query against the database and return the rows as JSON. "
            "Write queries require ownership of the database.",
            "inputSchema": _input_schema(sql_props, sql_required),
            "annotations": _annotations("Run SQL", read_only=False),
        },
        {
            "name": "call",
            "description": 'Invoke a reducer with positional JSON arguments, for example ["alice"] '
            "or [42]. The reducer runs with your identity and is the standard way to write.",
            "inputSchema": _input_schema(call_props, call_required),
            "annotations": _annotations("Call reducer", read_only=False),
        },
    ]
    return {"tools": tools}


# ---- tools/call ---------------------------------------------------------------------------


async def _tools_call(
    request: web.Request, scope: str | None, auth: _Auth, params: Any
) -> dict[str, Any]:
    if params is None:
        raise _RpcError(INVALID_PARAMS, "missing params")
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str):
        raise _RpcError(INVALID_PARAMS, "missing tool name")
    arguments = params.get("arguments")
    args: dict[str, Any] = arguments if isinstance(arguments, dict) else {}
    try:
        if name == "ping":
            message = args.get("message")
            text = f"pong: {message}" if isinstance(message, str) else "pong"
        elif name == "list_databases" and scope is None:
            text = _list_databases(request, auth)
        elif name == "get_schema":
            db = _target(request, scope, args)
            text = _compact(db.module.describe_v9())
        elif name == "sql":
            target = _target_name(scope, args)
            sql = args.get("sql")
            if not isinstance(sql, str):
                raise _RpcError(INVALID_PARAMS, "sql argument must be a string")
            db = _lookup(request, target)
            result = await db.http_sql_async(auth.claims.identity, sql, auth.token)
            if args.get("confirmed") is not False:  # as the /sql route (upstream's default)
                await db.wait_durable_async()
            text = _compact(json.loads(_ok_text(result)))
        elif name == "call":
            target = _target_name(scope, args)
            reducer = args.get("reducer")
            if not isinstance(reducer, str):
                raise _RpcError(INVALID_PARAMS, "reducer argument must be a string")
            call_args = args.get("args")
            if call_args is not None and not isinstance(call_args, list):
                raise _RpcError(INVALID_PARAMS, "args must be a JSON array")
            text = await _call_reducer(_lookup(request, target), auth, reducer, call_args or [])
        else:
            raise _RpcError(INVALID_PARAMS, f"unknown tool: {name}")
    except _ToolFailed as e:
        shown = e.text.strip() or f"request failed with HTTP {e.status}"
        return {"content": [{"type": "text", "text": shown}], "isError": True}
    return {"content": [{"type": "text", "text": text}], "isError": False}


def _target_name(scope: str | None, args: dict[str, Any]) -> str:
    """The database a tool addresses: the URL's, else the ``database`` argument."""
    if scope is not None:
        return scope
    database = args.get("database")
    if not isinstance(database, str):
        raise _RpcError(INVALID_PARAMS, "database argument must be a string")
    if not database:
        raise _RpcError(INVALID_PARAMS, f"invalid database '{database}': name must not be empty")
    return database


def _lookup(request: web.Request, name_or_identity: str) -> Database:
    db, error = lookup_database(request, name_or_identity)
    if db is None:
        raise _ToolFailed(404, error)
    return db


def _target(request: web.Request, scope: str | None, args: dict[str, Any]) -> Database:
    return _lookup(request, _target_name(scope, args))


def _ok_text(response: HttpResponse) -> str:
    body = (
        response.body.decode(errors="replace")
        if isinstance(response.body, bytes)
        else response.body
    )
    if response.status != 200:
        raise _ToolFailed(response.status, body)
    return body


def _list_databases(request: web.Request, auth: _Auth) -> str:
    control = request.app[_STATE].control
    owned = [
        {"identity": db.identity.to_hex(), "names": control.names_of(db.identity)}
        for db in control.owned_by(auth.claims.identity)
    ]
    return _compact({"databases": owned})


async def _call_reducer(db: Database, auth: _Auth, reducer: str, args: list[Any]) -> str:
    """Call a *reducer* (never a procedure) as ``/call`` would; upstream's outcome texts."""
    if db.module.reducer_def(reducer) is None:
        raise _ToolFailed(404, "no such reducer")
    response = await db.http_call_async(
        auth.claims.identity, reducer, _compact(args).encode(), auth.token
    )
    if response.status == 200:
        return f"reducer '{reducer}' committed"
    body = (
        response.body.decode(errors="replace")
        if isinstance(response.body, bytes)
        else response.body
    )
    if response.status == 530:
        raise _ToolFailed(500, f"reducer '{reducer}' failed: {body}")
    raise _ToolFailed(response.status, body)
