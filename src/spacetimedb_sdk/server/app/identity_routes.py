"""The ``/v1/identity`` routes and ``/v1/ping``: minting, exchanging and verifying tokens.

Routes, status codes and error texts follow upstream's ``client-api`` crate (protocol.md §5).
"""

from __future__ import annotations

from aiohttp import web

from .requests import _authenticate, _json, _text
from .state import _STATE, _parse_identity


async def _create_identity(request: web.Request) -> web.StreamResponse:
    issuer = request.app[_STATE].issuer
    token = issuer.mint()
    identity = issuer.validate(token).identity
    return _json({"identity": identity.to_hex(), "token": token})


async def _websocket_token(request: web.Request) -> web.StreamResponse:
    auth = await _authenticate(request, anonymous=False)
    if auth is None:
        return _text(401, "Authorization required")
    token = request.app[_STATE].issuer.mint_websocket_token(auth.claims)
    return _json({"token": token})


async def _public_key(request: web.Request) -> web.StreamResponse:
    pem = request.app[_STATE].issuer.public_key_pem()
    return web.Response(
        body=pem.encode(), headers={"Content-Type": "application/pem-certificate-chain"}
    )


async def _verify(request: web.Request) -> web.StreamResponse:
    identity = _parse_identity(request.match_info["identity"])
    if identity is None:
        return _text(400, "Invalid identity: expected 64 hex digits")
    auth = await _authenticate(request, anonymous=False)
    if auth is None:
        return _text(401, "Authorization required")
    if auth.claims.identity != identity:
        return web.Response(status=400)
    return web.Response(status=204)


async def _databases_of(request: web.Request) -> web.StreamResponse:
    identity = _parse_identity(request.match_info["identity"])
    if identity is None:
        return _text(400, "Invalid identity: expected 64 hex digits")
    owned = [db.identity.to_hex() for db in request.app[_STATE].control.owned_by(identity)]
    return _json({"identities": owned})


async def _ping(request: web.Request) -> web.StreamResponse:
    await _authenticate(request, anonymous=False)
    return web.Response(status=200)
