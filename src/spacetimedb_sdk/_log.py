"""The ``spacetimedb_sdk`` logger, with tokens redacted from every record.

Anything that looks like a JWT (three base64url segments starting ``eyJ``) or a
``token=`` query parameter is replaced by ``<redacted>`` before a handler sees
it, so debug logs can be shared safely.

Example::

    >>> import logging
    >>> logger.addHandler(logging.NullHandler())
"""

from __future__ import annotations

import logging
import re

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_TOKEN_PARAM = re.compile(r"(token=)[^&\s'\"]+")


def redact(text: str) -> str:
    """Replace JWTs and ``token=`` values in ``text`` by ``<redacted>``."""
    return _TOKEN_PARAM.sub(r"\1<redacted>", _JWT.sub("<redacted>", text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with :func:`redact` (formatting its args first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        return True


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


logger = get_logger()

__all__ = ["RedactingFilter", "get_logger", "logger", "redact"]
