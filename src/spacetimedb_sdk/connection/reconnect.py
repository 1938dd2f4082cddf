"""Reconnection: the backoff policy, and the loop that reopens a dropped connection.

After an unexpected drop, a connection built ``with_reconnect(...)`` waits
``policy.delay(attempt)`` and reopens, again and again, until it succeeds, the
user disconnects, or a failure comes that retrying cannot fix
(:func:`retry_can_fix`: the server refused the handshake with HTTP 400/401/403/404,
or the two sides disagree on the protocol).  Reopening reuses the token (same
identity); the sans-I/O core resubscribes every live query set and reconciles the
cache, so rows that did not change fire no callbacks.

Example::

    conn = await (DbConnection.builder()
        .with_uri("http://127.0.0.1:3000").with_database_name("chat")
        .with_reconnect(min_delay=0.5, max_delay=10)
        .on_reconnecting(lambda conn, err, attempt: print("retry", attempt, err))
        .connect())
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Protocol

from .._log import get_logger
from ..errors import (
    ConnectError,
    ConnectionRejectedError,
    DisconnectedError,
    ProtocolError,
    ServerClosedError,
)

log = get_logger("spacetimedb_sdk.connection")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Exponential backoff with jitter: ``min_delay * 2**n`` capped at ``max_delay``, ±``jitter``.

    Example::

        >>> ReconnectPolicy(min_delay=1.0, max_delay=30.0, jitter=0.0).delay(3)
        8.0
    """

    min_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0 for the first).

        Example::

            >>> ReconnectPolicy(min_delay=0.5, max_delay=2.0, jitter=0.0).delay(5)
            2.0
        """
        base = min(self.max_delay, self.min_delay * (2 ** min(attempt, 30)))
        return float(max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter))))


#: Close codes saying the server does not accept what this client speaks (RFC 6455 §7.4.1):
#: protocol error, unsupported data, invalid payload, policy violation, missing extension.
PERMANENT_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1010})


def retry_can_fix(error: BaseException | None) -> bool:
    """Whether reconnecting after ``error`` can succeed (``False`` ends the connection).

    Transient: the server is unreachable or restarting, a timeout, a 5xx, 408 or 429, a
    dropped socket, a server close such as 1011 (server error) or 1013 (try again later).
    Permanent: :class:`ConnectionRejectedError` (401 token rejected, 403, 404 no such
    database...), a protocol error of either side, and any error that is not about the
    network (a bug would only repeat).

    Example::

        >>> retry_can_fix(ServerClosedError(1013, "too many requests"))
        True
        >>> retry_can_fix(ConnectionRejectedError("HTTP 401", status=401))
        False
    """
    if error is None:
        return True
    if isinstance(error, ServerClosedError):
        return error.code not in PERMANENT_CLOSE_CODES
    if isinstance(error, ConnectionRejectedError | ProtocolError):
        return False
    # ConnectError, DisconnectedError, TimeoutError, OSError: the network, worth another try.
    return isinstance(error, ConnectError | DisconnectedError | OSError | TimeoutError)


class Reopenable(Protocol):
    """What the reconnect loop drives (the session)."""

    disconnect_requested: bool

    async def reconnecting(self, error: Exception | None, attempt: int) -> None: ...

    async def reopen(self) -> None: ...

    async def reconnected(self) -> None: ...

    async def gave_up(self, error: Exception | None) -> None: ...


async def reconnect_loop(
    session: Reopenable, policy: ReconnectPolicy, error: Exception | None
) -> None:
    """Reopen with backoff until it works, the user disconnects, or retrying cannot help."""
    attempt = 0
    while not session.disconnect_requested:
        await session.reconnecting(error, attempt)
        await asyncio.sleep(policy.delay(attempt))
        if session.disconnect_requested:
            break
        try:
            await session.reopen()
        except Exception as e:
            if session.disconnect_requested:
                break
            if not retry_can_fix(e):
                log.error("reconnecting stopped after attempt %d: %s", attempt + 1, e)
                await session.gave_up(e)
                return
            log.warning("reconnect attempt %d failed: %s", attempt + 1, e)
            error = e
            attempt += 1
            continue
        await session.reconnected()
        return
    await session.gave_up(None)


__all__ = [
    "PERMANENT_CLOSE_CODES",
    "ReconnectPolicy",
    "Reopenable",
    "reconnect_loop",
    "retry_can_fix",
]
