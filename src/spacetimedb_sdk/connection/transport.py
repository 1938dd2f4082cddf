"""The asyncio WebSocket transport (over the ``websockets`` library).

This module only moves frames: it opens the socket with the right URL,
subprotocols and headers, turns handshake failures into clear
:class:`~spacetimedb_sdk.errors.ConnectError` messages, and reads and writes
binary frames.  Everything the frames mean lives in the sans-I/O
:mod:`spacetimedb_sdk.client.core`; the user-facing connection is
:class:`spacetimedb_sdk.connection.DbConnection`.

Example::

    t = await WebSocketTransport.open(url, token=None)
    t.subprotocol          # 'v3.bsatn.spacetimedb'
    frame = await t.recv() # bytes, or None once the server closed
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import urllib.request
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect_http_proxy, connect_socks_proxy
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import USER_AGENT
from websockets.protocol import State
from websockets.proxy import get_proxy, parse_proxy
from websockets.typing import Subprotocol
from websockets.uri import WebSocketURI, parse_uri

from .._log import RedactingAdapter, get_logger, protect_third_party_loggers, redact
from ..errors import (
    ConnectError,
    ConnectionRejectedError,
    ConnectTimeoutError,
    ProtocolError,
    ServerClosedError,
)
from ..protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3, Compression
from .frame_reader import FrameReader

log = get_logger("spacetimedb_sdk.transport")

DEFAULT_SUBPROTOCOLS: tuple[str, ...] = (SUBPROTOCOL_V3, SUBPROTOCOL_V2)

_BINARY, _TEXT, _CONT, _PONG = Opcode.BINARY, Opcode.TEXT, Opcode.CONT, Opcode.PONG
_OPEN = State.OPEN  # read per frame: a global costs less than an enum's attribute


def subscribe_url(
    uri: str,
    database: str,
    *,
    compression: Compression,
    confirmed: bool | None = None,
    connection_id: str | None = None,
) -> str:
    """The ``ws(s)://…/v1/database/{db}/subscribe?…`` URL for a server URI.

    Example::

        >>> subscribe_url("http://localhost:3000", "chat", compression=Compression.GZIP)
        'ws://localhost:3000/v1/database/chat/subscribe?compression=Gzip'
    """
    if "://" not in uri:
        uri = "http://" + uri
    parts = urlsplit(uri)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(
            f"unsupported URI scheme {parts.scheme!r} in {uri!r}: use http, https, ws or wss"
        )
    if not database:
        raise ValueError("a database name or identity is required (with_database_name)")
    path = f"{parts.path.rstrip('/')}/v1/database/{quote(database, safe='')}/subscribe"
    params: dict[str, str] = {"compression": compression.query_value}
    if confirmed is not None:
        params["confirmed"] = "true" if confirmed else "false"
    if connection_id is not None:
        params["connection_id"] = connection_id
    return urlunsplit((scheme, parts.netloc, path, urlencode(params), ""))


#: Frames buffered for :meth:`WebSocketTransport.recv` before the socket stops being read
#: (backpressure on the server instead of unbounded memory), and the level to resume at.
_QUEUE_HIGH = 64
_QUEUE_LOW = 16
#: Keepalive: ping after this many idle seconds; no pong within the timeout ends the socket
#: (keeps the connection off the server's 30 s idle clock, as before).
_PING_INTERVAL = 20.0
_PING_TIMEOUT = 20.0
#: How long a closing handshake may take before the TCP connection is dropped.
_CLOSE_TIMEOUT = 5.0


class _WireProtocol(asyncio.BufferedProtocol):
    """Drives websockets' sans-I/O :class:`ClientProtocol` from asyncio's socket callbacks.

    The socket is read into a :class:`~.frame_reader.FrameReader`, which hands whole binary
    frames over directly and everything else to the protocol; complete binary messages land
    in :attr:`frames` (``None`` marks a text message) and wake the one reader. Control frames
    (pings, pongs, close) are answered by the protocol itself: whatever it has to send is
    written after every event. Compared with the ``websockets`` asyncio connection this skips
    its message assembler, locks and per-message futures, which cost more per small frame
    than parsing the frame does.

    Example::

        protocol = ClientProtocol(parse_uri("ws://localhost:3000/"))
        _, ws = await loop.create_connection(lambda: _WireProtocol(protocol, loop), host, port)
    """

    def __init__(
        self,
        protocol: ClientProtocol,
        loop: asyncio.AbstractEventLoop,
        max_size: int | None = None,
    ) -> None:
        self.protocol = protocol
        self.loop = loop
        #: The protocol's limit on a message's size (it checks it too; this is for framing).
        self.max_size = max_size
        self.transport: asyncio.Transport | None = None
        self.frames: deque[bytes | None] = deque()
        #: The reader's future while it waits for a frame.
        self.waiter: asyncio.Future[None] | None = None
        #: Applies a frame on the spot (see :meth:`WebSocketTransport.set_frame_handler`).
        self.handler: Callable[[bytes], Awaitable[None] | None] | None = None
        #: The rest of a frame's handling that the handler could not finish on the spot:
        #: the reader awaits it before it reads on.
        self.pending: Awaitable[None] | None = None
        #: Set at the handshake's response (or when the socket ends before one).
        self.response: asyncio.Future[None] = loop.create_future()
        #: Set when the TCP connection is gone.
        self.lost: asyncio.Future[None] = loop.create_future()
        self.reading_paused = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        #: The parts of a fragmented message so far (the server sends whole ones, but may not).
        self._fragments: list[bytes] = []
        self._fragmented_text = False
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_data: bytes | None = None
        #: Why this side gave up on the connection (no pong), reported once it is gone.
        self.failure: Exception | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self.reader = reader = FrameReader(self, max_size)
        # asyncio calls these on every read: the reader's own, not methods that call them.
        self.get_buffer = reader.get_buffer  # type: ignore[method-assign]
        self.buffer_updated = reader.received  # type: ignore[method-assign]

    # ---- asyncio.Protocol callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Bytes from a transport that does not read into buffers."""
        self.reader.write(data)

    # ---- what the frame reader hands on (FrameSink) ---------------------------------------

    def feed(self, data: bytes) -> None:
        """Hand bytes to the protocol and act on what it makes of them."""
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        out = protocol.data_to_send()  # pongs, a close frame's echo: usually nothing
        if out:
            self.write_out(out)
        for event in events:
            if type(event) is Frame and event.opcode is _BINARY and event.fin:
                self.deliver(bytes(event.data))  # one whole binary frame
            else:
                self._event(event)

    def responded(self) -> bool:
        return self.response.done()

    def may_split(self) -> bool:
        return not self._fragments and self.protocol.state is _OPEN

    def eof_received(self) -> bool | None:
        self.reader.flush()
        self.protocol.receive_eof()
        events = self.protocol.events_received()
        self.write_out()
        for event in events:  # a handshake response without Content-Length ends at EOF
            self._event(event)
        return None  # let asyncio close the socket: a WebSocket never writes after EOF

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.flush()
        self.protocol.receive_eof()  # idempotent; the protocol's state becomes CLOSED
        for event in self.protocol.events_received():
            self._event(event)
        for timer in (self._ping_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._close_timer = None
        for fut in (self.response, self.lost, self.waiter):
            if fut is not None and not fut.done():
                fut.set_result(None)
        self._release_writers()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_writers()

    # ---- receiving ------------------------------------------------------------------------

    def deliver(self, message: bytes | None) -> None:
        frames = self.frames
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            handler = self.handler
            if handler is not None and message is not None and not frames:
                # The reader is idle and nothing is queued, so this frame is next in order:
                # apply it here, saving the wake-up of the reader task (a loop iteration and
                # a future per frame, more than parsing the frame costs).
                rest = handler(message)
                if rest is not None:  # it suspended: the reader finishes it before reading on
                    self.pending = rest
                    waiter.set_result(None)
                return
            waiter.set_result(None)
        frames.append(message)
        if len(frames) >= _QUEUE_HIGH and not self.reading_paused and self.transport is not None:
            # The reader is behind: let the server's writes wait in TCP instead of here.
            self.reading_paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        self.reading_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _event(self, event: object) -> None:
        if not self.response.done():
            self.response.set_result(None)  # the first event is the handshake's response
            return
        if not isinstance(event, Frame):
            return
        opcode = event.opcode
        if opcode is _BINARY or opcode is _TEXT:
            self._fragmented_text = opcode is _TEXT
            self._fragments = [bytes(event.data)]
        elif opcode is _CONT:
            self._fragments.append(bytes(event.data))
        elif opcode is _PONG:
            if self._ping_data is not None and event.data == self._ping_data:
                self._ping_data = None
                self._schedule_ping()
            return
        else:
            return  # pings are answered, close frames handled by the protocol
        if event.fin:
            parts, self._fragments = self._fragments, []
            self.deliver(None if self._fragmented_text else b"".join(parts))

    # ---- sending --------------------------------------------------------------------------

    def write_out(self, out: list[bytes] | None = None) -> None:
        """Write what the protocol has to send (``out`` if already taken from it); an empty
        chunk means half-close."""
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send() if out is None else out:
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                with contextlib.suppress(Exception):
                    transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()
        if self._close_timer is None and self.protocol.close_expected():
            # Closing: the server should end TCP now; do not wait for it forever.
            self._close_timer = self.loop.call_later(_CLOSE_TIMEOUT, self.abort)

    async def send(self, frame: bytes) -> None:
        protocol = self.protocol
        if protocol.state is State.CLOSED:
            raise protocol.close_exc
        protocol.send_binary(frame)  # raises InvalidState once closing
        self.write_out()
        if self._write_paused and not self.lost.done():
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def _release_writers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def close(self, code: int, reason: str) -> None:
        """Send a close frame (when still open) and wait for the TCP connection to end."""
        state = self.protocol.state
        if state is State.OPEN:
            self.protocol.send_close(code, reason)
            self.write_out()
        elif state is State.CONNECTING:
            self.abort()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), _CLOSE_TIMEOUT)
        except asyncio.TimeoutError:
            self.abort()
            await asyncio.shield(self.lost)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # ---- keepalive ------------------------------------------------------------------------

    def start_keepalive(self) -> None:
        self._schedule_ping()

    def _schedule_ping(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        if not self.lost.done():
            self._ping_timer = self.loop.call_later(_PING_INTERVAL, self._ping)

    def _ping(self) -> None:
        self._ping_timer = None
        if self.protocol.state is not State.OPEN:
            return
        self._ping_data = os.urandom(4)
        self.protocol.send_ping(self._ping_data)
        self.write_out()
        self._ping_timer = self.loop.call_later(_PING_TIMEOUT, self._ping_timed_out)

    def _ping_timed_out(self) -> None:
        self._ping_timer = None
        if self.protocol.state is State.OPEN:
            self.failure = TimeoutError(
                f"the server did not answer a keepalive ping within {_PING_TIMEOUT:g} s"
            )
            self.protocol.fail(1011, "keepalive ping timeout")
            self.write_out()


class WebSocketTransport:
    """One open WebSocket to a SpacetimeDB database (binary frames only).

    Example::

        t = await WebSocketTransport.open("ws://localhost:3000/v1/database/chat/subscribe")
        await t.send(frame)
        reply = await t.recv()
        await t.close()
    """

    def __init__(self, ws: _WireProtocol, url: str) -> None:
        self._ws = ws
        self.url = url
        self.subprotocol: str | None = ws.protocol.subprotocol

    def set_frame_handler(self, handler: Callable[[bytes], Awaitable[None] | None]) -> None:
        """Apply frames with ``handler`` as they arrive, while :meth:`recv` waits.

        When a binary frame arrives while a :meth:`recv` call is waiting and no earlier frame
        is queued, ``handler(frame)`` runs right in the socket's callback instead of
        :meth:`recv` returning it. It returns ``None`` when it is done with the frame, or an
        awaitable with the rest of its work, which the waiting :meth:`recv` awaits before it
        takes the next frame, so frames are still handled one at a time, in order. Exceptions
        must not escape ``handler``: return an awaitable that raises them instead.

        Example::

            transport.set_frame_handler(lambda frame: print(len(frame)))
            await transport.recv()  # returns frames only when the handler did not take them
        """
        self._ws.handler = handler

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        token: str | None = None,
        subprotocols: Sequence[str] = DEFAULT_SUBPROTOCOLS,
        open_timeout: float = 10.0,
        max_size: int | None = 256 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> WebSocketTransport:
        """Open the socket; raises :class:`ConnectError` saying why it failed."""
        # websockets logs the handshake's headers at DEBUG: give it a logger that hides the token.
        protect_third_party_loggers()
        ws_logger = RedactingAdapter(logging.getLogger("websockets.client"), [token or ""])
        try:
            wsuri = parse_uri(url)
        except InvalidURI as e:
            raise ConnectError(f"invalid server URL {url!r}: {e}") from None
        protocol = ClientProtocol(
            wsuri,
            subprotocols=[Subprotocol(p) for p in subprotocols],
            # The server does not negotiate permessage-deflate; it compresses bodies itself.
            extensions=None,
            max_size=max_size,
            logger=ws_logger,
        )
        opened: list[_WireProtocol] = []
        try:
            await asyncio.wait_for(
                _handshake(protocol, wsuri, token, ssl_context, max_size, opened), open_timeout
            )
        except BaseException as e:
            if opened:
                opened[0].abort()
            if isinstance(e, InvalidStatus):
                raise _status_error(url, e) from None
            if isinstance(e, (InvalidHandshake, ValueError)):
                raise ConnectError(f"WebSocket handshake with {_redact(url)} failed: {e}") from None
            if isinstance(e, asyncio.TimeoutError):  # the builtin only from Python 3.11
                raise ConnectTimeoutError(
                    f"timed out after {open_timeout:g} s opening {_redact(url)} "
                    "(the WebSocket handshake got no answer)"
                ) from None
            if isinstance(e, OSError):
                raise ConnectError(
                    f"cannot reach {_redact(url)}: {e.strerror or e}. Is the server running?"
                ) from None
            raise
        ws = opened[0]
        ws.start_keepalive()
        return cls(ws, url)

    async def recv(self) -> bytes | None:
        """The next binary frame, or ``None`` once the connection closed cleanly."""
        ws = self._ws
        frames = ws.frames
        while ws.pending is not None or not frames:
            if ws.pending is not None:
                # A frame the handler began: finish it before any later frame is returned.
                rest, ws.pending = ws.pending, None
                await rest
                continue
            if ws.lost.done():
                self._raise_if_abnormal()
                return None
            waiter = ws.loop.create_future()
            ws.waiter = waiter
            try:
                await waiter
            finally:
                ws.waiter = None
        data = frames.popleft()
        if ws.reading_paused and len(frames) <= _QUEUE_LOW:
            ws.resume()
        if data is None:
            raise ProtocolError(
                "server sent a text frame; v2/v3 connections carry only binary frames"
            )
        return data

    def _raise_if_abnormal(self) -> None:
        """Once the socket is gone and every frame was read: raise unless it closed cleanly."""
        if self._ws.failure is not None:
            raise self._ws.failure
        protocol = self._ws.protocol
        rcvd, sent = protocol.close_rcvd, protocol.close_sent
        if rcvd is not None and rcvd.code not in (1000, 1001):
            raise ServerClosedError(rcvd.code, rcvd.reason)
        if rcvd is None and sent is None:
            raise ConnectionResetError("connection lost without a close frame")

    async def send(self, frame: bytes) -> None:
        """Send one binary frame; waits while the socket's write buffer is full."""
        await self._ws.send(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait (at most ``close_timeout``) for its end."""
        await self._ws.close(code, reason)

    @property
    def close_code(self) -> int | None:
        return self._ws.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        return self._ws.protocol.close_reason

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self._ws.abort()


def _proxy_for(wsuri: WebSocketURI) -> str | None:
    """The proxy to reach ``wsuri`` through: the one websockets picks (from ``WS(S)_PROXY``,
    ``SOCKS_PROXY``, ``HTTPS_PROXY``, ``HTTP_PROXY``, minus ``NO_PROXY``), else ``ALL_PROXY``,
    which websockets ignores but httpx (the schema fetch, the HTTP API) honours: the socket
    takes the same way as the requests before it."""
    proxy = get_proxy(wsuri)
    if proxy is None and not urllib.request.proxy_bypass(f"{wsuri.host}:{wsuri.port}"):
        proxy = urllib.request.getproxies().get("all")
    return proxy


async def _handshake(
    protocol: ClientProtocol,
    wsuri: WebSocketURI,
    token: str | None,
    ssl_context: ssl.SSLContext | None,
    max_size: int | None,
    opened: list[_WireProtocol],
) -> None:
    """Connect TCP (and TLS for wss), send the upgrade request and wait for its answer.

    The connection is appended to ``opened`` as soon as it exists, so that the caller can
    abort it if the handshake fails or times out.
    """
    loop = asyncio.get_running_loop()
    tls: ssl.SSLContext | None = None
    if wsuri.secure:
        # Without a custom context, verify with the default one (as websockets does).
        tls = ssl_context or ssl.create_default_context()
    hostname = wsuri.host if tls is not None else None
    ws = _WireProtocol(protocol, loop, max_size)
    proxy = _proxy_for(wsuri)
    if proxy is None:
        await loop.create_connection(
            lambda: ws, wsuri.host, wsuri.port, ssl=tls, server_hostname=hostname
        )
    elif parse_proxy(proxy).scheme.startswith("socks"):
        sock = await connect_socks_proxy(parse_proxy(proxy), wsuri)
        await loop.create_connection(lambda: ws, sock=sock, ssl=tls, server_hostname=hostname)
    else:
        via = parse_proxy(proxy)
        tunnel = await connect_http_proxy(
            via, wsuri, user_agent_header=USER_AGENT, ssl=via.scheme == "https" or None
        )
        tunnel.set_protocol(ws)
        if tls is not None:
            try:
                upgraded = await loop.start_tls(tunnel, ws, tls, server_hostname=hostname)
            except BaseException:
                tunnel.abort()
                raise
            assert upgraded is not None
            tunnel = upgraded
        ws.connection_made(tunnel)
    opened.append(ws)
    request = protocol.connect()
    if token:
        request.headers["Authorization"] = f"Bearer {token}"
    request.headers.setdefault("User-Agent", USER_AGENT)
    protocol.send_request(request)
    ws.write_out()
    await ws.response
    # Set when the socket ended before a response, or the response refused the upgrade. The
    # state may already be past OPEN here: a close frame can arrive right behind the response.
    if protocol.handshake_exc is not None:
        raise protocol.handshake_exc


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _status_error(url: str, e: InvalidStatus) -> ConnectError:
    status = e.response.status_code
    body = e.response.body.decode("utf-8", "replace").strip() if e.response.body else ""
    detail = f" (server said: {redact(body)[:300]})" if body else ""
    where = _redact(url)
    if status in _RETRYABLE_4XX or not 400 <= status < 500:
        hint = "a server error; retrying may help" if status >= 500 else "retrying may help"
        err = ConnectError(f"connecting to {where} failed with HTTP {status} ({hint}){detail}")
        err.status = status
        return err
    what = {
        400: "the server rejected the request",
        401: (
            "the server rejected the token: it has expired, or it was signed by another key "
            "(was the server reset?). Connect without a token to get a new identity, and clear "
            "saved credentials (credentials.File(key).clear())"
        ),
        403: (
            "the server refused this client: the module's client_connected reducer rejected "
            "it, or this identity may not connect"
        ),
        404: (
            "no such database on this server: it may have been deleted or renamed; "
            "check with_database_name() and the server URI"
        ),
    }.get(status, "the server refused the connection")
    return ConnectionRejectedError(
        f"connecting to {where} failed with HTTP {status} ({what}){detail}", status=status
    )


#: 4xx answers that a later attempt may not get (timeouts, rate limits).
_RETRYABLE_4XX = frozenset({408, 425, 429})


__all__ = ["DEFAULT_SUBPROTOCOLS", "WebSocketTransport", "subscribe_url"]
