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
import logging
import ssl
from collections.abc import Sequence
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from .._log import RedactingAdapter, get_logger, protect_third_party_loggers, redact
from ..errors import (
    ConnectError,
    ConnectionRejectedError,
    ConnectTimeoutError,
    ProtocolError,
    ServerClosedError,
)
from ..protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3, Compression

log = get_logger("spacetimedb_sdk.transport")

DEFAULT_SUBPROTOCOLS: tuple[str, ...] = (SUBPROTOCOL_V3, SUBPROTOCOL_V2)


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


class WebSocketTransport:
    """One open WebSocket to a SpacetimeDB database (binary frames only)."""

    def __init__(self, ws: ClientConnection, url: str) -> None:
        self._ws = ws
        self.url = url
        self.subprotocol: str | None = ws.subprotocol

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
        headers = {"Authorization": f"Bearer {token}"} if token else None
        # websockets refuses ssl=None for wss:// and any ssl for ws://: pass it only for wss,
        # and without a custom context let it verify with the default one.
        tls: dict[str, ssl.SSLContext | bool] = (
            {"ssl": ssl_context or True} if url.startswith("wss:") else {}
        )
        # websockets logs the handshake's headers at DEBUG: give it a logger that hides the token.
        protect_third_party_loggers()
        ws_logger = RedactingAdapter(logging.getLogger("websockets.client"), [token or ""])
        try:
            ws = await connect(
                url,
                subprotocols=[Subprotocol(p) for p in subprotocols],
                additional_headers=headers,
                # The server does not negotiate permessage-deflate; it compresses bodies itself.
                compression=None,
                open_timeout=open_timeout,
                max_size=max_size,
                **tls,  # type: ignore[arg-type]
                # Pings are answered automatically; keep ours off the server's 30 s idle clock.
                ping_interval=20,
                ping_timeout=20,
                close_timeout=5,
                logger=ws_logger,
            )
        except InvalidStatus as e:
            raise _status_error(url, e) from None
        except InvalidURI as e:
            raise ConnectError(f"invalid server URL {url!r}: {e}") from None
        except (InvalidHandshake, ValueError) as e:
            raise ConnectError(f"WebSocket handshake with {_redact(url)} failed: {e}") from None
        except asyncio.TimeoutError:  # the builtin only from Python 3.11
            raise ConnectTimeoutError(
                f"timed out after {open_timeout:g} s opening {_redact(url)} "
                "(the WebSocket handshake got no answer)"
            ) from None
        except OSError as e:
            raise ConnectError(
                f"cannot reach {_redact(url)}: {e.strerror or e}. Is the server running?"
            ) from None
        return cls(ws, url)

    async def recv(self) -> bytes | None:
        """The next binary frame, or ``None`` once the connection closed cleanly."""
        try:
            data = await self._ws.recv()
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.code not in (1000, 1001):
                raise ServerClosedError(e.rcvd.code, e.rcvd.reason) from None
            if e.rcvd is None and e.sent is None:
                raise ConnectionResetError("connection lost without a close frame") from None
            return None
        if isinstance(data, str):
            raise ProtocolError(
                "server sent a text frame; v2/v3 connections carry only binary frames"
            )
        return data

    async def send(self, frame: bytes) -> None:
        await self._ws.send(frame)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        return self._ws.close_reason

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        self._ws.transport.abort()


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
