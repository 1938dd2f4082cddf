"""The ``/v1/database/{db}`` HTTP routes: info, identity, schema, ``/call/{name}`` and ``/sql``.

Bodies are bounded as upstream's axum extractors bound them (2 MiB; 413 past it).

Routes, status codes and error texts follow upstream's ``client-api`` crate (protocol.md §4.1,
§6).  The routes authenticate and parse the request; the database (:mod:`..host.http_calls`)
does the work.
"""

from __future__ import annotations

from aiohttp import web

from ...sats.sats_json import to_json
from ...sats.types import AlgebraicType
from ..describe import describe_v9, describe_v10
from .bodies import DEFAULT_BODY_LIMIT, body_bytes
from .requests import _Auth, _from_http, _json, _query_bool, _text, authenticated
from .resolve import name_or_identity, resolve_identity, resolved_database


@authenticated
async def _db_info(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    identity_type = AlgebraicType.identity()
    body = {
        "database_identity": to_json(identity_type, db.identity),
        "owner_identity": to_json(identity_type, db.owner_identity),
        "host_type": {"Wasm": []},
        "initial_program": f"0x{db.initial_program}",
    }
    return _json(body)


@authenticated
async def _db_identity(request: web.Request, auth: _Auth) -> web.StreamResponse:
    # Upstream resolves a name here, and gives an identity back as it is, database or not.
    return _text(200, resolve_identity(request, name_or_identity(request)).to_hex())


@authenticated
async def _schema(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    version = request.query.get("version")
    if version is None:
        return _text(400, "Failed to deserialize query string: missing field `version`")
    if version not in ("9", "10"):
        return _text(
            400,
            f"Failed to deserialize query string: unknown variant `{version}`, expected `9` or `10`",
        )
    doc = describe_v9(db.module) if version == "9" else describe_v10(db.module)
    return _json(doc)


@authenticated
async def _call(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return _text(400, "Header of type `content-type` was missing")
    if content_type.strip().lower() != "application/json":
        return _text(415, "Expected request with `Content-Type: application/json`")
    body = await body_bytes(request, DEFAULT_BODY_LIMIT)
    result = await db.http_call_async(
        auth.claims.identity, request.match_info["name"], body, auth.token
    )
    return _from_http(result)


@authenticated
async def _sql(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    confirmed = _query_bool(request, "confirmed")
    try:
        sql = (await body_bytes(request, DEFAULT_BODY_LIMIT)).decode()
    except UnicodeDecodeError:
        return _text(400, "Request body didn't contain valid UTF-8")
    result = await db.http_sql_async(auth.claims.identity, sql, auth.token)
    if confirmed is not False:  # upstream's default: answer once what it saw is durable
        await db.wait_durable_async()
    return _from_http(result)
