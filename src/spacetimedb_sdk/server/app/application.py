"""The aiohttp application: :func:`create_app` (the route table) and its shutdown.

New ``/v1`` routes are registered here and live in the route module of their kind
(:mod:`.identity_routes`, :mod:`.database_routes`, :mod:`.websocket`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from ..auth import TokenIssuer
from ..host import Database
from .database_routes import _call, _db_identity, _db_info, _schema, _sql
from .identity_routes import (
    _create_identity,
    _databases_of,
    _ping,
    _public_key,
    _verify,
    _websocket_token,
)
from .mcp_routes import _mcp_database, _mcp_root
from .requests import _cors
from .state import _STATE, ServerSettings, _State
from .websocket import _subscribe


def create_app(
    databases: Database | Sequence[Database],
    issuer: TokenIssuer,
    settings: ServerSettings | None = None,
) -> web.Application:
    """The aiohttp application serving ``databases`` (by name or identity), signing with ``issuer``.

    Every database should use the same ``issuer`` (the server has one key).

    Example::

        app = create_app(Database(module, issuer=issuer), issuer)
    """
    dbs = [databases] if isinstance(databases, Database) else list(databases)
    app = web.Application(middlewares=[_cors])
    app[_STATE] = _State(issuer, dbs, settings or ServerSettings())
    app.router.add_post("/v1/identity", _create_identity)
    app.router.add_post("/v1/identity/websocket-token", _websocket_token)
    app.router.add_get("/v1/identity/public-key", _public_key)
    app.router.add_get("/v1/identity/{identity}/verify", _verify)
    app.router.add_get("/v1/identity/{identity}/databases", _databases_of)
    app.router.add_get("/v1/ping", _ping)
    app.router.add_post("/v1/mcp", _mcp_root)
    app.router.add_get("/v1/database/{db}", _db_info)
    app.router.add_get("/v1/database/{db}/identity", _db_identity)
    app.router.add_get("/v1/database/{db}/schema", _schema)
    app.router.add_post("/v1/database/{db}/call/{name}", _call)
    app.router.add_post("/v1/database/{db}/sql", _sql)
    app.router.add_get("/v1/database/{db}/subscribe", _subscribe)
    app.router.add_post("/v1/database/{db}/mcp", _mcp_database)
    app.on_shutdown.append(_close_sockets)
    return app


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, tell clients the module exited and give them a moment to go."""
    state = app[_STATE]
    for db in state.databases:
        db.stop()
    tasks = list(state.sockets)
    if tasks:
        await asyncio.wait(tasks, timeout=state.settings.close_timeout + 1)
