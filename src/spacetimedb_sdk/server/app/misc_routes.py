"""The smaller ``/v1`` routes: health, energy, the database's clock, and the ones not served.

* ``GET /v1/health``: upstream standalone's ``{"package_name", "version", "nodes",
  "schedulable"}`` (one node, ``0``, schedulable);
* ``GET /v1/energy/{identity}``: ``{"balance": "<i128 as a string>"}`` (0 unless energy was
  added); ``POST /v1/energy/{identity}?amount=N`` adds to the caller's own balance (a token is
  required); ``PUT`` (setting a balance) is refused with 401 for everyone, as upstream;
* ``GET /v1/database/{db}/unstable/timestamp``: the server's time, typed SATS-JSON;
* ``/v1/metrics``, ``/v1/prometheus/sd_config``, ``POST /v1/database/{db}/lock`` and
  ``/unlock``: 501 with what to do instead (this server has no metrics and no database locks).

Example::

    GET /v1/health     ->  {"package_name":"spacetimedb-client-api","version":"2.8.3",...}
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ...sats.sats_json import to_json
from ...sats.types import AlgebraicType
from ...sats.values import Identity, Timestamp
from ..control import parse_identity
from .mcp_routes import SERVER_VERSION
from .requests import _Auth, _authenticate, _json, _Refused, _text, authenticated
from .resolve import resolved_database
from .state import _STATE

PACKAGE_NAME = "spacetimedb-client-api"
"""The package upstream's health route reports (its ``CARGO_PKG_NAME``)."""


async def _health(request: web.Request) -> web.StreamResponse:
    body = {
        "package_name": PACKAGE_NAME,
        "version": SERVER_VERSION,
        "nodes": [0],
        "schedulable": True,
    }
    return _json(body)


def _energy_identity(request: web.Request) -> Identity:
    identity = parse_identity(request.match_info["identity"])
    if identity is None:
        raise _Refused(_text(400, "Invalid identity: expected 64 hex digits"))
    return identity


async def _energy_caller(request: web.Request) -> _Auth:
    """The caller of a balance change: a token is required (upstream's ``SpacetimeAuthRequired``)."""
    _energy_identity(request)
    auth = await _authenticate(request, anonymous=False)
    if auth is None:
        raise _Refused(_text(401, "Authorization required"))
    return auth


async def _energy(request: web.Request) -> web.StreamResponse:
    identity = _energy_identity(request)
    # Balances are i128s, sent as strings so JavaScript keeps every digit.
    return _json({"balance": str(request.app[_STATE].control.energy(identity))})


async def _add_energy(request: web.Request) -> web.StreamResponse:
    auth = await _energy_caller(request)
    amount = request.query.get("amount")
    control = request.app[_STATE].control
    if amount is not None:
        if not amount.isascii() or not amount.isdigit() or int(amount) >= 1 << 128:
            return web.Response(status=400)
        control.add_energy(auth.claims.identity, int(amount))
    return _json({"balance": str(control.energy(auth.claims.identity))})


async def _set_energy(request: web.Request) -> web.StreamResponse:
    await _energy_caller(request)
    return web.Response(status=401)  # upstream lets no one set a balance


@authenticated
async def _timestamp(request: web.Request, auth: _Auth) -> web.StreamResponse:
    await resolved_database(request)
    return _json(to_json(AlgebraicType.timestamp(), Timestamp.now()))


def _not_served(what: str, instead: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return _text(501, f"{what} is not available on the local server: {instead}")

    return handler


_metrics = _not_served("/v1/metrics", "it keeps no Prometheus metrics")
_prometheus = _not_served("/v1/prometheus", "it has no nodes to discover")


@authenticated
async def _lock(request: web.Request, auth: _Auth) -> web.StreamResponse:
    await resolved_database(request)
    return _text(
        501,
        "Database locks are not available on the local server: delete and reset are never blocked",
    )
