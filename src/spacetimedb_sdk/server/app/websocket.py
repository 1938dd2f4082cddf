"""The WebSocket endpoint ``GET /v1/database/{db}/subscribe`` and the session of one socket.

The session never runs module code: it queues each decoded message on the database thread
(:meth:`~..host.Database.enqueue`, in order) and reads on, and its writer sends what the
database thread queued on the client, so a long reducer holds up no other socket.

It picks the subprotocol by the *server's* preference (``v3`` over ``v2``), runs
``client_connected`` after the upgrade (a rejection drops the socket without a close frame),
sends ``InitialConnection`` first, pings every ``ping_interval`` seconds (when the previous ping
was answered), drops a connection that sends nothing for ``idle_timeout`` seconds, and closes
with 1011 and the error text when a client message cannot be handled.  A :class:`_Session`
reads frames and hands the decoded messages to the database, and writes what the database
queued on the client.
"""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web

from ..._log import get_logger
from ...errors import ProtocolError
from ...protocol import messages as m
from ...protocol.codec import decode_client_message
from ...protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    Compression,
    brotli_available,
    compress,
    decode_client_frame,
)
from ...sats.values import ConnectionId
from ..host import ClientConnection, ConnectionRejected, Database, FatalClientError
from ..host.clients import _Close
from .requests import _authenticate, _database, _query_bool, _Refused, _text
from .state import _STATE, ServerSettings
from .websocket_frames import _close_reason, _v3_bodies, encode_once

log = get_logger("spacetimedb_sdk.server")


def _negotiate(request: web.Request) -> str | None:
    offered: list[str] = []
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered.extend(p.strip() for p in header.split(","))
    for protocol in (SUBPROTOCOL_V3, SUBPROTOCOL_V2):
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
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    compression = _compression(request)
    connection_id = _connection_id(request)
    _query_bool(request, "confirmed")  # accepted: nothing here waits for durability
    _query_bool(request, "light")  # v1 only
    db = _database(request)
    protocol = _negotiate(request)
    if protocol is None:
        return _text(400, "no valid protocol selected")
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
    client = ClientConnection(
        auth.claims.identity,
        connection_id,
        auth.token,
        is_owner=db.is_owner(auth.claims.identity),
        protocol=protocol,
        compression=compression,
        loop=asyncio.get_running_loop(),
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
        client.send(m.InitialConnection(client.identity, connection_id, auth.token))
        await _Session(request, ws, db, client, settings).run()
    finally:
        if task is not None:
            state.sockets.discard(task)
        await db.disconnect_async(client)
    return ws


def _drop(request: web.Request) -> None:
    """Close the TCP connection without a close frame (clients see an abnormal close)."""
    if request.transport is not None:
        request.transport.close()


class _Session:
    """One accepted WebSocket: a reader (this task), a writer and a pinger."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        db: Database,
        client: ClientConnection,
        settings: ServerSettings,
    ) -> None:
        self.request = request
        self.ws = ws
        self.db = db
        self.client = client
        self.settings = settings
        self.v3 = client.protocol == SUBPROTOCOL_V3
        self.got_pong = True

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        pinger = asyncio.create_task(self._ping())
        closing = False
        try:
            closing = await self._read()
        finally:
            pinger.cancel()
            # A close we queued behind the client's pending messages is written by the writer;
            # otherwise the socket is gone and nothing more is sent.
            if not closing and not self.client.closing:
                self.client.closing = True
                writer.cancel()
            try:
                await asyncio.wait_for(writer, self.settings.close_timeout + 1)
            except (asyncio.CancelledError, asyncio.TimeoutError, ConnectionError):
                pass
            except Exception:  # the socket is gone; nothing more to tell anyone
                log.debug("websocket writer ended with an error", exc_info=True)

    async def _read(self) -> bool:
        """Read until the socket ends; returns whether a close was queued for the writer."""
        ws = self.ws
        while True:
            try:
                msg = await ws.receive(timeout=self.settings.idle_timeout)
            except asyncio.TimeoutError:
                log.info("closing idle connection of %s", self.client.identity)
                _drop(self.request)
                return False
            if msg.type is WSMsgType.BINARY:
                try:
                    self._handle_frame(msg.data)
                except FatalClientError as e:
                    # After the replies to the messages this frame already queued.
                    self.db.enqueue_close(self.client, 1011, str(e))
                    return True
            elif msg.type is WSMsgType.TEXT:
                version = "v3" if self.v3 else "v2"
                self.db.enqueue_close(
                    self.client, 1011, f"{version} websocket does not support text messages"
                )
                return True
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                self.got_pong = True
            else:  # CLOSE, CLOSING, CLOSED, ERROR (e.g. a message over the size limit)
                return False

    def _handle_frame(self, data: bytes) -> None:
        if not self.v3:
            try:
                (message,) = decode_client_frame(data, SUBPROTOCOL_V2)
            except ProtocolError as e:
                raise FatalClientError(str(e)) from None
            self.db.enqueue(self.client, message)
            return
        if not data:
            raise FatalClientError(
                "v3 websocket binary payload must contain at least one v2 client message"
            )
        # Each message is queued before the next is decoded, so a bad tail spares the head
        # (as upstream): the close is queued after the head's messages.
        pos = 0
        while pos < len(data):
            try:
                message, pos = decode_client_message(data, pos)
            except ProtocolError as e:
                raise FatalClientError(str(e)) from None
            self.db.enqueue(self.client, message)

    async def _write(self) -> None:
        client, ws = self.client, self.ws
        while True:
            batch = await client.next_batch()
            pending: list[m.ServerMessage] = []
            for item in batch:
                if isinstance(item, _Close):
                    await self._send(pending)
                    await ws.close(code=item.code, message=_close_reason(item.reason))
                    return
                pending.append(item)
            await self._send(pending)

    async def _send(self, messages: list[m.ServerMessage]) -> None:
        if not messages:
            return
        client, threshold = self.client, self.settings.compression_threshold
        bodies = [encode_once(msg) for msg in messages] if not self.v3 else _v3_bodies(messages)
        for body in bodies:
            if client.compression is Compression.NONE or len(body) <= threshold:
                frame = b"\x00" + body
            else:
                frame = bytes((client.compression.tag,)) + compress(client.compression, body)
            await self.ws.send_bytes(frame)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            if self.got_pong and not self.ws.closed:
                self.got_pong = False
                await self.ws.ping()
