"""The session of a v1 WebSocket (``v1.bsatn.spacetimedb`` or ``v1.json.spacetimedb``).

Like upstream, the kind of each incoming frame decides how it is read (a binary frame is
BSATN, a text frame JSON) whichever v1 subprotocol was chosen; a frame that cannot be decoded
closes the socket with 1011 and the error, while a message that cannot be *executed* is answered
in-band (:mod:`..host.v1_messages`).  Outgoing messages are binary frames with the compression
envelope for ``v1.bsatn`` and bare JSON text frames for ``v1.json``.

Example::

    client = new_v1_client(db, identity, connection_id, token, json=False, loop=loop)
"""

from __future__ import annotations

from typing import Any

from ...errors import ProtocolError
from ...protocol.v1 import (
    SUBPROTOCOL_V1_JSON,
    decode_client_message,
    encode_server_message,
)
from ...sats.values import ConnectionId, Identity
from ..host import Database, FatalClientError
from ..host.v1_clients import V1ClientConnection, V1Rows
from ..host.v1_messages import drop_v1_subscriptions, enqueue_v1
from .websocket_session import _Session


def new_v1_client(
    db: Database,
    identity: Identity,
    connection_id: ConnectionId,
    token: str,
    *,
    protocol: str,
    **kw: Any,
) -> V1ClientConnection:
    """A v1 client of ``db`` speaking ``protocol``; its subscriptions drop as upstream's do."""
    json = protocol == SUBPROTOCOL_V1_JSON
    rows = V1Rows(db.module, json=json)
    return V1ClientConnection(
        identity,
        connection_id,
        token,
        rows=rows,
        on_dropped=lambda c: drop_v1_subscriptions(db, c),
        protocol=protocol,
        encoder=lambda msg: encode_server_message(msg, json=json),
        **kw,
    )


class V1Session(_Session):
    """A v1 socket: v1 frames in, v1 messages out (see the module docstring)."""

    client: V1ClientConnection

    async def _handle_binary(self, data: bytes) -> None:
        self._enqueue(data)

    async def _handle_text(self, data: str) -> None:
        self._enqueue(data)

    def _enqueue(self, data: bytes | str) -> None:
        try:
            message = decode_client_message(data)
        except ProtocolError as e:
            raise FatalClientError(str(e)) from None
        if self._admit():
            enqueue_v1(self.db, self.client, message)

    async def _send(self, bodies: list[bytes | str]) -> None:
        # One frame per message: BSATN with the compression envelope, or bare JSON text.
        for body in bodies:
            if isinstance(body, str):
                await self.ws.send_str(body)
            else:
                await self.ws.send_bytes(await self._frame(body))
            self.client.written(1, len(body))


__all__ = ["V1Session", "new_v1_client"]
