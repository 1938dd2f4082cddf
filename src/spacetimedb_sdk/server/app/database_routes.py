"""The ``/v1/database/{db}`` HTTP routes: info, identity, schema, ``/call/{name}`` and ``/sql``.

Routes, status codes and error texts follow upstream's ``client-api`` crate (protocol.md §4.1,
§6).  The routes authenticate and parse the request; the database (:mod:`..host.http_calls`)
does the work.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from ...sats.sats_json import to_json
from ...sats.types import AlgebraicType
from ..describe import describe_v9, describe_v10
from .requests import _authenticate, _database, _from_http, _query_bool, _text, _with_auth


async def _db_info(request: web.Request) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    identity_type = AlgebraicType.identity()
    program = hashlib.sha256(db.module.name.encode()).hexdigest()
    body = {
        "database_identity": to_json(identity_type, db.identity),
        "owner_identity": to_json(identity_type, db.owner_identity),
        "host_type": {"Wasm": []},
        "initial_program": program,
    }
    return _with_auth(web.json_response(body), auth)


async def _db_identity(request: web.Request) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    return _with_auth(_text(200, _database(request).identity.to_hex()), auth)


async def _schema(request: web.Request) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    version = request.query.get("version")
    if version is None:
        return _text(400, "Failed to deserialize query string: missing field `version`")
    if version not in ("9", "10"):
        return _text(
            400,
            f"Failed to deserialize query string: unknown variant `{version}`, expected `9` or `10`",
        )
    doc = describe_v9(db.module) if version == "9" else describe_v10(db.module)
    return _with_auth(web.json_response(doc), auth)


async def _call(request: web.Request) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return _with_auth(_text(400, "Header of type `content-type` was missing"), auth)
    if content_type.strip().lower() != "application/json":
        return _with_auth(
            _text(415, "Expected request with `Content-Type: application/json`"), auth
        )
    body = await request.read()
    result = await db.http_call_async(
        auth.claims.identity, request.match_info["name"], body, auth.token
    )
    return _with_auth(_from_http(result), auth)


async def _sql(request: web.Request) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    confirmed = _query_bool(request, "confirmed")
    try:
        sql = (await request.read()).decode()
    except UnicodeDecodeError:
        return _with_auth(_text(400, "Request body didn't contain valid UTF-8"), auth)
    result = await db.http_sql_async(auth.claims.identity, sql, auth.token)
    if confirmed is not False:  # upstream's default: answer once what it saw is durable
        await db.wait_durable_async()
    return _with_auth(_from_http(result), auth)
