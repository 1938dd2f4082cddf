"""The aiohttp application: :func:`create_app` (the route table) and its shutdown.

New ``/v1`` routes are registered here and live in the route module of their kind
(:mod:`.identity_routes`, :mod:`.database_routes`, :mod:`.name_routes`, :mod:`.publish_routes`,
:mod:`.logs_route`, :mod:`.misc_routes`, :mod:`.mcp_routes`, :mod:`.websocket`).  The table
follows upstream's ``DatabaseRoutes`` and ``routes::router``; a path served with another
method answers 405 with the methods it accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from ..auth import TokenIssuer
from ..control import Control, DatabaseDefaults
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
from .logs_route import _logs
from .mcp_routes import _mcp_database, _mcp_root
from .misc_routes import (
    _add_energy,
    _energy,
    _health,
    _lock,
    _metrics,
    _prometheus,
    _set_energy,
    _timestamp,
)
from .name_routes import _add_name, _get_names, _set_names
from .publish_routes import _delete, _pre_publish, _publish_new, _publish_to, _reset_route
from .requests import _cors
from .state import _STATE, ServerSettings, _State
from .websocket import _subscribe


def create_app(
    databases: Control | Database | Sequence[Database],
    issuer: TokenIssuer,
    settings: ServerSettings | None = None,
) -> web.Application:
    """The aiohttp application serving ``databases`` (by name or identity), signing with ``issuer``.

    ``databases`` is the server's :class:`~..control.Control`, or the databases to host (each
    under its name).  Every database should use the same ``issuer`` (the server has one key).

    Example::

        app = create_app(Database(module, issuer=issuer), issuer)
    """
    if isinstance(databases, Control):
        control = databases
    else:
        control = Control(DatabaseDefaults(issuer))
        for db in [databases] if isinstance(databases, Database) else databases:
            control.add(db, [db.name])
    app = web.Application(middlewares=[_cors])
    app[_STATE] = _State(issuer, control, settings or ServerSettings())
    r = app.router
    r.add_post("/v1/identity", _create_identity)
    r.add_post("/v1/identity/websocket-token", _websocket_token)
    r.add_get("/v1/identity/public-key", _public_key)
    r.add_get("/v1/identity/{identity}/verify", _verify)
    r.add_get("/v1/identity/{identity}/databases", _databases_of)
    r.add_get("/v1/ping", _ping)
    r.add_get("/v1/health", _health)
    r.add_get("/v1/energy/{identity}", _energy)
    r.add_post("/v1/energy/{identity}", _add_energy)
    r.add_put("/v1/energy/{identity}", _set_energy)
    r.add_get("/v1/metrics", _metrics)
    r.add_get("/v1/prometheus/sd_config", _prometheus)
    r.add_post("/v1/mcp", _mcp_root)
    r.add_post("/v1/database", _publish_new)
    r.add_get("/v1/database/{db}", _db_info)
    r.add_put("/v1/database/{db}", _publish_to)
    r.add_delete("/v1/database/{db}", _delete)
    r.add_get("/v1/database/{db}/names", _get_names)
    r.add_post("/v1/database/{db}/names", _add_name)
    r.add_put("/v1/database/{db}/names", _set_names)
    r.add_get("/v1/database/{db}/identity", _db_identity)
    r.add_get("/v1/database/{db}/schema", _schema)
    r.add_post("/v1/database/{db}/call/{name}", _call)
    r.add_post("/v1/database/{db}/sql", _sql)
    r.add_get("/v1/database/{db}/logs", _logs)
    r.add_get("/v1/database/{db}/unstable/timestamp", _timestamp)
    r.add_post("/v1/database/{db}/pre_publish", _pre_publish)
    r.add_put("/v1/database/{db}/reset", _reset_route)
    r.add_post("/v1/database/{db}/lock", _lock)
    r.add_post("/v1/database/{db}/unlock", _lock)
    r.add_get("/v1/database/{db}/subscribe", _subscribe)
    r.add_post("/v1/database/{db}/mcp", _mcp_database)
    app.on_shutdown.append(_close_sockets)
    return app


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, tell clients the module exited and give them a moment to go; end log
    streams."""
    state = app[_STATE]
    for task in list(state.streams):
        task.cancel()
    for db in state.databases:
        db.stop()
    tasks = [*state.sockets, *state.streams]
    if tasks:
        await asyncio.wait(tasks, timeout=state.settings.close_timeout + 1)
