"""What every route does with a request: authenticate it, refuse it, find its database.

Every ``/v1/database/...`` request is authenticated like upstream's ``anon_auth_middleware``:
a valid bearer token (the ``Authorization`` header, else ``?token=``) or, without one, a
brand-new anonymous identity minted for that request; the response carries
``spacetime-identity`` and ``spacetime-identity-token`` either way.  A token that fails
validation is answered with 401.  A route ends early by raising :class:`_Refused`, which the
:func:`_cors` middleware turns into the response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..auth import Claims, InvalidTokenError
from ..host import Database, HttpResponse
from .state import _STATE


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


def _json(value: Any, status: int = 200) -> web.Response:
    """A JSON body with ``Content-Type: application/json`` exactly, as axum's ``Json`` sends it
    (the official CLI refuses ``application/json; charset=utf-8``)."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def _from_http(resp: HttpResponse) -> web.Response:
    out = web.Response(status=resp.status, headers=resp.headers)
    out.body = resp.body if isinstance(resp.body, bytes) else resp.body.encode()
    out.content_type = resp.content_type.split(";")[0]
    # A charset only where the host named one: `application/json` goes out exactly so, as
    # upstream sends it (the official CLI compares the header to that).
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
    if not response.prepared:
        response.headers.update(auth.headers())
    return response


_Route = Callable[[web.Request, _Auth], Awaitable[web.StreamResponse]]


def authenticated(route: _Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Run ``route`` behind upstream's ``anon_auth_middleware``: a bad token is refused first,
    and every answer (refusals included) carries the caller's identity headers.

    Example::

        @authenticated
        async def _names(request: web.Request, auth: _Auth) -> web.StreamResponse: ...
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        auth = await _authenticate(request, anonymous=True)
        assert auth is not None
        try:
            response = await route(request, auth)
        except _Refused as e:
            response = e.response
        return _with_auth(response, auth)

    handler.__name__ = route.__name__
    handler.__doc__ = route.__doc__
    return handler


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
    except web.HTTPMethodNotAllowed as e:
        allowed = ", ".join(sorted(e.allowed_methods))
        response = _text(
            405, f"Method Not Allowed: {request.path} accepts {allowed}, not {request.method}"
        )
        response.headers["Allow"] = allowed
    if not response.prepared:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


def forbid_unless_owner(auth: _Auth, db: Database, action: str) -> None:
    """403 unless the caller owns ``db`` (upstream's ``authorize_action`` and its text)."""
    if not db.is_owner(auth.claims.identity):
        raise _Refused(
            _text(
                403,
                f"{auth.claims.identity.to_hex()} is not authorized to perform action on "
                f"database {db.identity.to_hex()}: {action}",
            )
        )


def _query_bool(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise _Refused(
        _text(400, "Failed to deserialize query string: provided string was not `true` or `false`")
    )
