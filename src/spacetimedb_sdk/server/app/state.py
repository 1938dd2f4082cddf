"""The web app's state: its settings and the databases it serves.

One :class:`_State` per aiohttp application (under the :data:`_STATE` key) holds the token
issuer, the databases (found by name or identity) and the open WebSocket tasks; every route
reads it from the request.  Serving several databases is a matter of this list.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from ...protocol.framing import COMPRESSION_THRESHOLD, SERVER_MAX_INCOMING_MESSAGE_SIZE
from ...sats.values import Identity
from ..auth import TokenIssuer
from ..host import Database
from ..oidc import OidcValidator


@dataclass
class ServerSettings:
    """Timers and limits of the WebSocket endpoint (upstream's ``WebSocketOptions``).

    Example::

        >>> ServerSettings(ping_interval=1.0).idle_timeout
        30.0
    """

    ping_interval: float = 15.0
    idle_timeout: float = 30.0
    max_message_size: int = SERVER_MAX_INCOMING_MESSAGE_SIZE
    close_timeout: float = 2.0
    compression_threshold: int = COMPRESSION_THRESHOLD


@dataclass
class _State:
    issuer: TokenIssuer
    databases: list[Database]
    settings: ServerSettings
    sockets: set[asyncio.Task[None]] = field(default_factory=set)
    validator: OidcValidator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = OidcValidator(self.issuer)

    def find(self, name_or_identity: str) -> Database | None:
        ident = _parse_identity(name_or_identity)
        for db in self.databases:
            if db.name == name_or_identity or (ident is not None and ident == db.identity):
                return db
        return None


_STATE = web.AppKey("spacetimedb_state", _State)


def _parse_identity(text: str) -> Identity | None:
    try:
        return Identity.from_hex(text)
    except ValueError:
        return None
