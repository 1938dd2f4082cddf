"""Reconnection: the backoff policy, and the loop that reopens a dropped connection.

After an unexpected drop, a connection built ``with_reconnect(...)`` waits
``policy.delay(attempt)`` and reopens, again and again, until it succeeds or the
user disconnects.  Reopening reuses the token (same identity); the sans-I/O core
resubscribes every live query set and reconciles the cache, so rows that did not
change fire no callbacks.

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
from ..errors import ConnectError

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


class Reopenable(Protocol):
    """What the reconnect loop drives (the session)."""

    disconnect_requested: bool

    async def reconnecting(self, error: Exception | None, attempt: int) -> None: ...

    async def reopen(self) -> None: ...

    async def reconnected(self) -> None: ...

    async def gave_up(self) -> None: ...


async def reconnect_loop(
    session: Reopenable, policy: ReconnectPolicy, error: Exception | None
) -> None:
    """Reopen with backoff until it works or the user disconnects."""
    attempt = 0
    while not session.disconnect_requested:
        await session.reconnecting(error, attempt)
        await asyncio.sleep(policy.delay(attempt))
        if session.disconnect_requested:
            break
        try:
            await session.reopen()
        except ConnectError as e:
            log.warning("reconnect attempt %d failed: %s", attempt + 1, e)
            error = e
            attempt += 1
            continue
        await session.reconnected()
        return
    await session.gave_up()


__all__ = ["ReconnectPolicy", "Reopenable", "reconnect_loop"]
