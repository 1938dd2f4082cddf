"""The ``spacetimedb_sdk`` logger, with tokens redacted from every record.

Anything that looks like a JWT (three base64url segments starting ``eyJ``), a
``token=`` query parameter, or the value of an ``Authorization`` or
``spacetime-identity-token`` header is replaced by ``<redacted>`` before a
handler sees it, so debug logs can be shared safely.

The libraries the SDK talks through log at DEBUG too, and would print what the
SDK sends and receives: ``websockets`` the handshake's request and response
headers (``Authorization: Bearer …``), ``httpcore`` the response headers
(``spacetime-identity-token``).  So the SDK passes ``websockets`` a
:class:`RedactingAdapter` over its usual ``websockets.client`` logger (which
also knows the connection's exact token), and :func:`protect_third_party_loggers`
adds the same redacting filter to the ``websockets.client``, ``httpx`` and
``httpcore.*`` loggers.  The records keep their logger names and levels and stay
useful (``> Authorization: Bearer <redacted>``); only secrets change.

Example::

    >>> redact("> Authorization: Bearer abc123")
    '> Authorization: Bearer <redacted>'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_TOKEN_PARAM = re.compile(r"(token=)[^&\s'\"]+")
# A secret header and its value, as websockets prints it (``Authorization: Bearer x``) and as
# httpcore prints header tuples (``(b'spacetime-identity-token', b'x')``).
_SECRET_HEADER = re.compile(
    r"(?i)((?:authorization|spacetime-identity-token)['\"]?\s*[:,]\s*(?:b?['\"])?"
    r"(?:bearer\s+|basic\s+)?)[^\s'\"]+"
)

#: Loggers of the libraries the SDK uses whose DEBUG output can carry a token.
THIRD_PARTY_LOGGERS = (
    "websockets.client",
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace JWTs, ``token=`` values, secret header values and each of ``secrets``
    in ``text`` by ``<redacted>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = _SECRET_HEADER.sub(r"\1<redacted>", text)
    return _TOKEN_PARAM.sub(r"\1<redacted>", _JWT.sub("<redacted>", text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` when it holds a secret (formatting
    its args first); other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


class RedactingAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for a third-party library's connection that redacts ``secrets`` (the exact
    token, whatever its shape) as well as what :func:`redact` finds.

    Example::

        ws = await websockets.connect(url, logger=RedactingAdapter(
            logging.getLogger("websockets.client"), [token]))
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str | None] = ()) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except Exception:  # a bad format string: log it as it is, still redacted
            text = f"{msg} {args!r}"
        # No args: the redacted text is the message, whatever '%' it contains.
        self.logger.log(level, redact(text, self._secrets), **kwargs)


_FILTER = RedactingFilter()


def get_logger(name: str = "spacetimedb_sdk") -> logging.Logger:
    """A logger under ``spacetimedb_sdk`` with the redacting filter attached.

    Logger filters are not inherited by child loggers, so every SDK module gets
    its logger here rather than from :func:`logging.getLogger`.
    """
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log


def protect_third_party_loggers() -> None:
    """Attach the redacting filter to :data:`THIRD_PARTY_LOGGERS` (idempotent).

    Called when the SDK first opens a WebSocket or an HTTP client.  It changes only
    records that hold a secret, so other users of those libraries see their logs as before
    (with tokens hidden).
    """
    for name in THIRD_PARTY_LOGGERS:
        get_logger(name)


logger = get_logger()

__all__ = [
    "THIRD_PARTY_LOGGERS",
    "RedactingAdapter",
    "RedactingFilter",
    "get_logger",
    "logger",
    "protect_third_party_loggers",
    "redact",
]
