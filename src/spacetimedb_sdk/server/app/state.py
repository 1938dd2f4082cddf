"""The web app's state: its settings and the databases it serves.

One :class:`_State` per aiohttp application (under the :data:`_STATE` key) holds the token
issuer, the :class:`~..control.Control` (the databases, found by name or identity, and their
names), the open WebSocket tasks and the open log streams; every route reads it from the
request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from ...protocol.framing import COMPRESSION_THRESHOLD, SERVER_MAX_INCOMING_MESSAGE_SIZE
from ...sats.values import Identity
from ..auth import TokenIssuer
from ..control import Control, parse_identity
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
    control: Control
    settings: ServerSettings
    sockets: set[asyncio.Task[None]] = field(default_factory=set)
    streams: set[asyncio.Task[None]] = field(default_factory=set)
    validator: OidcValidator = field(init=False)

    def __post_init__(self) -> None:
        self.validator = OidcValidator(self.issuer)

    @property
    def databases(self) -> list[Database]:
        """The hosted databases, oldest first."""
        return self.control.databases

    def find(self, name_or_identity: str) -> Database | None:
        return self.control.find(name_or_identity)


_STATE = web.AppKey("spacetimedb_state", _State)


def _parse_identity(text: str) -> Identity | None:
    return parse_identity(text)
