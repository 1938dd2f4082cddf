"""One accepted WebSocket of protocol v2/v3: :class:`_Session` (reader, writer, pinger).

The endpoint (:mod:`.websocket`) accepts the socket and runs a session; the v1 session
(:mod:`.websocket_v1`) extends this one with v1's frames.  A session reads frames and hands
the decoded messages to the database, writes what the database queued on the client, pings
every ``ping_interval`` seconds (when the previous ping was answered), drops a connection that
sends nothing for ``idle_timeout`` seconds, and closes with 1011 and the error text when a
client message cannot be handled.
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
    compress,
    decode_client_frame,
)
from ..durability import DurabilityFailed
from ..host import ClientConnection, Database, FatalClientError
from ..host.clients import _Close
from .state import ServerSettings
from .websocket_frames import _close_reason, _v3_bodies, encode_once

log = get_logger("spacetimedb_sdk.server")


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
            if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                try:
                    if msg.type is WSMsgType.BINARY:
                        self._handle_frame(msg.data)
                    else:
                        self._handle_text(msg.data)
                except FatalClientError as e:
                    # After the replies to the messages this frame already queued.
                    self.db.enqueue_close(self.client, 1011, str(e))
                    return True
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                self.got_pong = True
            else:  # CLOSE, CLOSING, CLOSED, ERROR (e.g. a message over the size limit)
                return False

    def _handle_text(self, data: str) -> None:
        version = "v3" if self.v3 else "v2"
        raise FatalClientError(f"{version} websocket does not support text messages")

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
            if client.confirmed:
                batch = await self._confirmed(batch)
            pending: list[m.ServerMessage] = []
            for item in batch:
                if isinstance(item, _Close):
                    await self._send(pending)
                    await ws.close(code=item.code, message=_close_reason(item.reason))
                    return
                pending.append(item)
            await self._send(pending)

    async def _confirmed(
        self, batch: list[m.ServerMessage | _Close]
    ) -> list[m.ServerMessage | _Close]:
        """Confirmed reads: send what reports no commit at once, then wait until every commit
        made before the batch was taken is synced, and return the rest.

        Every message in the batch was queued after its commit was written, so waiting for
        what is written *now* covers them all (at most one group commit more than needed).
        """
        durability = self.db.storage.durability if self.db.storage is not None else None
        if durability is None or durability.durable >= durability.committed:
            return batch
        first = next(
            (i for i, item in enumerate(batch) if not _reports_no_commit(item)), len(batch)
        )
        if first:
            await self._send([item for item in batch[:first] if not isinstance(item, _Close)])
        try:
            await self.db.wait_durable_async()
        except DurabilityFailed as e:  # nothing more can be confirmed: say so, and close
            return [_Close(1011, str(e))]
        return batch[first:]

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


def _reports_no_commit(item: m.ServerMessage | _Close) -> bool:
    """Messages confirmed reads need not hold: they tell of no committed change (upstream
    sends them without a transaction offset)."""
    if isinstance(item, m.ReducerResult):
        return not isinstance(item.result, m.ReducerOk)
    return isinstance(item, m.InitialConnection | m.SubscriptionError)
