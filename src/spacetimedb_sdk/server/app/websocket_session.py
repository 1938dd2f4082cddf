"""One accepted WebSocket of protocol v2/v3: :class:`_Session` (reader, writer, pinger, guard).

The endpoint (:mod:`.websocket`) accepts the socket and runs a session; the v1 session
(:mod:`.websocket_v1`) extends this one with v1's frames.  A session reads frames and hands
the decoded messages to the database, writes what the database queued on the client, pings
every ``ping_interval`` seconds (when the previous ping was answered), drops a connection that
sends nothing for ``idle_timeout`` seconds, and closes with 1011 and the error text when a
client message cannot be handled.

Bounded work (:class:`~..limits.ServerLimits`): a client with ``incoming_queue_length``
messages waiting for the database thread is closed with 1013 ``too many requests`` (as
upstream) and what it queued is dropped; a v3 frame is decoded message by message, giving the
event loop back every few hundred messages and stopping at the limit, so a frame of fifty
thousand messages neither fills memory nor holds the loop.  A client that falls too far behind
is closed by the host (:meth:`~..host.ClientConnection.abort`); the session's guard then stops
the writer, however blocked, sends the close frame, and drops the socket if the client does not
take it, which frees what was buffered for it.  Messages arrive here encoded (by the thread
that sent them); the event loop only batches, compresses (big bodies on a worker thread) and
writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import sys
from collections.abc import Callable
from typing import cast

from aiohttp import WSMsgType, web

from ..._log import get_logger
from ...errors import ProtocolError
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
from ..host.clients import Outgoing, Prompt, PromptText, _Close
from ..limits import INCOMING_QUEUE_FULL
from .state import ServerSettings
from .websocket_frames import _close_reason, _v3_bodies

log = get_logger("spacetimedb_sdk.server")

#: A v3 frame's decoder gives the event loop back after this many messages.
_DECODE_SLICE = 256
#: Bodies at least this big are compressed on a worker thread, not on the event loop.
_COMPRESS_OFFLOAD = 64 * 1024


def _drop(request: web.Request) -> None:
    """Close the TCP connection without a close frame (clients see an abnormal close).

    What is still buffered for a client that does not read is discarded, not kept until it
    reads (a plain close would wait for that).
    """
    transport = request.transport
    if transport is None:
        return
    if transport.get_write_buffer_size():
        transport.abort()
    else:
        transport.close()


class _Session:
    """One accepted WebSocket: a reader (this task), a writer, a pinger and a guard."""

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
        self.incoming_limit = db.limits.incoming_queue_length

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        pinger = asyncio.create_task(self._ping())
        guard = asyncio.create_task(self._guard(writer))
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
            if self.client.abort_close is None:
                guard.cancel()
            for task in (writer, guard):
                try:
                    await asyncio.wait_for(task, self.settings.close_timeout + 1)
                except asyncio.TimeoutError:
                    # Its close frame could not be written: the client reads nothing.
                    _drop_if_stuck(self.request)
                except (asyncio.CancelledError, ConnectionError):
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
                if self.client.abort_close is not None:
                    continue  # closing at once: what still arrives is dropped, as upstream
                try:
                    if msg.type is WSMsgType.BINARY:
                        await self._handle_binary(msg.data)
                    else:
                        await self._handle_text(msg.data)
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

    def _admit(self) -> bool:
        """Whether one more message may wait for the database thread; if not, close the
        client with upstream's 1013 ``too many requests`` (its queued messages are dropped)."""
        limit = self.incoming_limit
        if limit is None or self.client.incoming_queued < limit:
            return True
        code, reason = INCOMING_QUEUE_FULL
        self.client.abort(code, reason, "incoming_queue_disconnects")
        return False

    async def _handle_text(self, data: str) -> None:
        version = "v3" if self.v3 else "v2"
        raise FatalClientError(f"{version} websocket does not support text messages")

    async def _handle_binary(self, data: bytes) -> None:
        if not self.v3:
            try:
                (message,) = decode_client_frame(data, SUBPROTOCOL_V2)
            except ProtocolError as e:
                raise FatalClientError(str(e)) from None
            if self._admit():
                self.db.enqueue(self.client, message)
            return
        if not data:
            raise FatalClientError(
                "v3 websocket binary payload must contain at least one v2 client message"
            )
        # Each message is queued before the next is decoded, so a bad tail spares the head
        # (as upstream): the close is queued after the head's messages.
        pos = decoded = 0
        while pos < len(data):
            try:
                message, pos = decode_client_message(data, pos)
            except ProtocolError as e:
                raise FatalClientError(str(e)) from None
            if not self._admit():
                return
            self.db.enqueue(self.client, message)
            decoded += 1
            if decoded % _DECODE_SLICE == 0:
                await asyncio.sleep(0)  # let the other sockets in
                if self.client.closed_by_server:
                    return  # closed meanwhile: the rest would be dropped anyway

    # -- writing

    async def _write(self) -> None:
        client, ws = self.client, self.ws
        while True:
            batch = await client.next_batch()
            if client.confirmed:
                batch = await self._confirmed(batch)
            pending: list[bytes | str] = []
            for item in batch:
                if isinstance(item, _Close):
                    await self._send(pending)
                    await ws.close(code=item.code, message=_close_reason(item.reason))
                    return
                pending.append(_encoded(item))
            await self._send(pending)

    async def _confirmed(self, batch: list[Outgoing]) -> list[Outgoing]:
        """Confirmed reads: send what tells of no commit at once, then wait until every commit
        made before the batch was taken is synced, and return the rest.

        Every message in the batch was queued after its commit was written, so waiting for
        what is written *now* covers them all (at most one group commit more than needed).
        """
        durability = self.db.storage.durability if self.db.storage is not None else None
        if durability is None or durability.durable >= durability.committed:
            return batch
        first = next(
            (i for i, item in enumerate(batch) if not isinstance(item, Prompt | PromptText)),
            len(batch),
        )
        if first:
            await self._send([_encoded(item) for item in batch[:first]])
        try:
            await self.db.wait_durable_async()
        except DurabilityFailed as e:  # nothing more can be confirmed: say so, and close
            return [_Close(1011, str(e))]
        return batch[first:]

    async def _send(self, bodies: list[bytes | str]) -> None:
        if not bodies:
            return
        if not self.v3:
            for body in bodies:
                assert isinstance(body, bytes)
                await self.ws.send_bytes(await self._frame(body))
                self.client.written(1, len(body))
            return
        for count, body in _v3_bodies(bodies):
            await self.ws.send_bytes(await self._frame(body))
            self.client.written(count, len(body))

    async def _frame(self, body: bytes) -> bytes:
        """The frame of one body: the compression tag, then the (maybe compressed) body."""
        compression = self.client.compression
        if compression is Compression.NONE or len(body) <= self.settings.compression_threshold:
            return b"\x00" + body
        if len(body) < _COMPRESS_OFFLOAD:
            return bytes((compression.tag,)) + compress(compression, body)
        loop = asyncio.get_running_loop()
        packed = await loop.run_in_executor(None, compress, compression, body)
        return bytes((compression.tag,)) + packed

    async def _guard(self, writer: asyncio.Task[None]) -> None:
        """When the host aborts the client: stop the writer, close, free the socket."""
        close = await self.client.wait_aborted()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
        # The close runs as a task of its own: cancelling the writer cancelled the socket's
        # shared drain waiter too (aiohttp), so the close may end at once with a
        # CancelledError that is not ours, its frame still buffered.  A client that reads
        # again within close_timeout gets what was buffered and the close frame; then the
        # socket is dropped.
        closing = asyncio.ensure_future(
            self.ws.close(code=close.code, message=_close_reason(close.reason))
        )
        closing.add_done_callback(_ignore_outcome)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.close_timeout
        while not closing.done() or _buffered(self.request):
            left = deadline - loop.time()
            if left <= 0:
                break
            if closing.done():
                await asyncio.sleep(min(left, 0.05))  # the buffer drains as the client reads
            else:
                await asyncio.wait({closing}, timeout=left)
        if not closing.done():
            closing.cancel()
        _drop_if_stuck(self.request)
        # What the client had queued (up to the outgoing limit) is free now; give it back.
        await asyncio.get_running_loop().run_in_executor(None, _trim_heap)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            if self.got_pong and not self.ws.closed:
                self.got_pong = False
                await self.ws.ping()


def _encoded(item: Outgoing) -> bytes | str:
    assert isinstance(item, (bytes, str)), "the web app's clients are created with an encoder"
    return item


def _load_malloc_trim() -> Callable[[int], int] | None:
    if sys.platform != "linux":
        return None
    try:
        return cast(Callable[[int], int], ctypes.CDLL("libc.so.6").malloc_trim)
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _ignore_outcome(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: the socket is being dropped anyway


def _trim_heap() -> None:
    """Return freed heap memory to the OS (glibc keeps it in the process otherwise)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _buffered(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and bool(transport.get_write_buffer_size())


def _drop_if_stuck(request: web.Request) -> None:
    """Drop the socket if bytes are still buffered for it (a client that does not read)."""
    if _buffered(request):
        assert request.transport is not None
        request.transport.abort()
