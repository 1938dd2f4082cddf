"""The WebSocket endpoint ``GET /v1/database/{db}/subscribe`` and the session of one socket.

The session never runs module code: it queues each decoded message on the database thread
(:meth:`~..host.Database.enqueue`, in order) and reads on, and its writer sends what the
database thread queued on the client, so a long reducer holds up no other socket.

It picks the subprotocol by the *server's* preference, as upstream (``v3``, ``v2``,
``v1.bsatn``, ``v1.json``), runs ``client_connected`` after the upgrade (a rejection drops the
socket without a close frame), sends ``InitialConnection`` (v1: ``IdentityToken``) first and
runs the socket's session (:mod:`.websocket_session`, :mod:`.websocket_v1`).  ``confirmed``
(default: true for v2/v3, false for v1, as upstream) asks for confirmed reads: with a data
directory, nothing about a commit is sent before the commit is synced to disk.  The ``light``
parameter is accepted for v1 clients; it changes nothing here, because upstream hides reducer
details from non-callers of 2.x (V10) modules whatever it says, and the local server's modules
are 2.x modules.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ..._log import get_logger
from ...protocol import messages as m
from ...protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3, Compression, brotli_available
from ...protocol.v1 import SUBPROTOCOL_V1_BSATN, SUBPROTOCOL_V1_JSON
from ...protocol.v1 import messages as v1
from ...sats.values import ConnectionId
from ..host import ClientConnection, ConnectionRejected
from ..host.v1_clients import V1ClientConnection
from .requests import _authenticate, _query_bool, _Refused, _text
from .resolve import resolved_database
from .state import _STATE
from .websocket_frames import encode_once
from .websocket_session import _drop, _Session
from .websocket_v1 import V1Session, new_v1_client

log = get_logger("spacetimedb_sdk.server")


_PREFERENCE = (SUBPROTOCOL_V3, SUBPROTOCOL_V2, SUBPROTOCOL_V1_BSATN, SUBPROTOCOL_V1_JSON)
"""Upstream's order: the server's preference decides, whatever order the client offers."""


def _negotiate(request: web.Request) -> str | None:
    offered: list[str] = []
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered.extend(p.strip() for p in header.split(","))
    for protocol in _PREFERENCE:
        if protocol in offered:
            return protocol
    return None


def _compression(request: web.Request) -> Compression:
    value = request.query.get("compression", "Brotli")
    try:
        compression = Compression.from_query_value(value)
    except ValueError:
        raise _Refused(
            _text(
                400,
                f"Failed to deserialize query string: unknown variant `{value}`, "
                "expected one of `None`, `Brotli`, `Gzip`",
            )
        ) from None
    if compression is Compression.BROTLI and not brotli_available():
        raise _Refused(
            _text(
                400,
                "Brotli compression needs the 'brotli' package on the server: "
                "pip install 'spacetimedb-sdk[brotli]', or connect with compression=Gzip or None",
            )
        )
    return compression


def _connection_id(request: web.Request) -> ConnectionId:
    value = request.query.get("connection_id")
    if value is None:
        return ConnectionId.random()
    try:
        connection_id = ConnectionId.from_hex(value)
    except ValueError as e:
        raise _Refused(_text(400, f"Failed to deserialize query string: {e}")) from None
    if connection_id.is_zero():
        raise _Refused(_text(400, "Invalid connection ID: the all-zeros ConnectionId is reserved."))
    return connection_id


async def _subscribe(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    auth = await _authenticate(request, anonymous=True)
    assert auth is not None
    compression = _compression(request)
    connection_id = _connection_id(request)
    confirmed = _query_bool(request, "confirmed")
    _query_bool(request, "light")  # v1 only
    db = await resolved_database(request)
    protocol = _negotiate(request)
    if protocol is None:
        return _text(400, "no valid protocol selected")
    if confirmed is None:  # upstream's default: confirmed reads for v2/v3, not for v1
        confirmed = protocol in (SUBPROTOCOL_V2, SUBPROTOCOL_V3)
    settings = state.settings
    ws = web.WebSocketResponse(
        protocols=(protocol,),
        autoping=False,
        compress=False,
        max_msg_size=settings.max_message_size,
        timeout=settings.close_timeout,
    )
    ws.headers.update(auth.headers())
    await ws.prepare(request)
    limits = db.limits
    options: dict[str, Any] = {
        "is_owner": db.is_owner(auth.claims.identity),
        "protocol": protocol,
        "compression": compression,
        "loop": asyncio.get_running_loop(),
        "confirmed": confirmed,
        "max_queued": limits.outgoing_queue_length,
        "max_queued_bytes": limits.outgoing_queue_bytes,
        "counters": db.counters,
    }
    identity, token = auth.claims.identity, auth.token
    client = (
        new_v1_client(db, identity, connection_id, token, **options)
        if protocol in (SUBPROTOCOL_V1_BSATN, SUBPROTOCOL_V1_JSON)
        else ClientConnection(identity, connection_id, token, encoder=encode_once, **options)
    )
    try:
        await db.connect_async(client)
    except ConnectionRejected as e:
        log.info("client %s rejected: %s", client.identity, e.message)
        _drop(request)
        return ws
    task = asyncio.current_task()
    if task is not None:
        state.sockets.add(task)
    try:
        if isinstance(client, V1ClientConnection):
            client.send_v1(v1.IdentityToken(client.identity, auth.token, connection_id))
            await V1Session(request, ws, db, client, settings).run()
        else:
            client.send(m.InitialConnection(client.identity, connection_id, auth.token))
            await _Session(request, ws, db, client, settings).run()
    finally:
        if task is not None:
            state.sockets.discard(task)
        await db.disconnect_async(client)
    return ws
