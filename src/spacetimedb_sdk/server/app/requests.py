"""What every route does with a request: authenticate it, refuse it, find its database.

Every ``/v1/database/...`` request is authenticated like upstream's ``anon_auth_middleware``:
a valid bearer token (the ``Authorization`` header, else ``?token=``) or, without one, a
brand-new anonymous identity minted for that request; the response carries
``spacetime-identity`` and ``spacetime-identity-token`` either way.  A token that fails
validation is answered with 401.  A route ends early by raising :class:`_Refused`, which the
:func:`_cors` middleware turns into the response.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..auth import Claims, InvalidTokenError
from ..host import Database, HttpResponse
from .state import _STATE, _parse_identity, _State


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


def _from_http(resp: HttpResponse) -> web.Response:
    out = web.Response(status=resp.status, headers=resp.headers)
    if isinstance(resp.body, bytes):
        out.body = resp.body
    else:
        out.text = resp.body
    out.content_type = resp.content_type.split(";")[0]
    if "charset=" in resp.content_type:
        out.charset = resp.content_type.split("charset=")[1]
    return out


@dataclass
class _Auth:
    claims: Claims
    token: str

    def headers(self) -> dict[str, str]:
        return {
            "spacetime-identity": self.claims.identity.to_hex(),
            "spacetime-identity-token": self.token,
        }


class _Refused(Exception):
    """Ends a request early with ``response`` (bad token, bad parameter, unknown database)."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def _presented_token(request: web.Request) -> str | None:
    """The bearer token of the request: the header wins over ``?token=``."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        # As upstream's typed `Authorization: Bearer` header: visible ASCII only.
        if scheme.lower() != "bearer" or not token or not _VISIBLE_ASCII.fullmatch(token):
            raise _Refused(_text(400, "Authorization is invalid: malformed token"))
        return token
    return request.query.get("token")


async def _authenticate(request: web.Request, *, anonymous: bool) -> _Auth | None:
    """Validate the presented token (the server's own, or an OIDC issuer's); mint an anonymous
    one if allowed and none was given."""
    state = request.app[_STATE]
    token = _presented_token(request)
    if token is None:
        if not anonymous:
            return None
        token = state.issuer.mint()
    try:
        return _Auth(await state.validator.validate(token), token)
    except InvalidTokenError as e:
        raise _Refused(_text(401, e.reason)) from None


def _with_auth(response: web.StreamResponse, auth: _Auth) -> web.StreamResponse:
    response.headers.update(auth.headers())
    return response


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Any origin may call the API, as upstream's permissive CORS layer allows."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return web.Response(
            status=200,
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", "*"
                ),
            },
        )
    try:
        response = await handler(request)
    except _Refused as e:
        response = e.response
    if not response.prepared:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


def _database(request: web.Request) -> Database:
    db = request.app[_STATE].find(request.match_info["db"])
    if db is None:
        raise _Refused(_text(404, "No such database."))
    return db


def _query_bool(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise _Refused(
        _text(400, "Failed to deserialize query string: provided string was not `true` or `false`")
    )


def find_database(state: _State, name_or_identity: str) -> tuple[Database | None, str]:
    """The database a name or identity names, or ``None`` and upstream's 404 text.

    An identity that names no database is ``No such database.``; an unknown name is
    `` `name` not found`` (upstream's ``NameOrIdentity::resolve``).
    """
    db = state.find(name_or_identity)
    if db is not None:
        return db, ""
    if _parse_identity(name_or_identity) is not None:
        return None, "No such database."
    return None, f"`{name_or_identity}` not found"


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The request body, or ``None`` once it passes ``limit`` bytes (the rest is drained)."""
    if request.content_length is not None and request.content_length > limit:
        await _drain(request)
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            await _drain(request)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(request: web.Request) -> None:
    """Read and drop the rest of a refused body, so the client sees the answer, not a reset."""
    async for _ in request.content.iter_chunked(64 * 1024):
        pass
