"""``Pending``: a call in flight, awaitable from asyncio and blockable from threads.

Every call a connection makes (reducers, procedures, one-off queries, subscribing,
disconnecting) returns one.  It is settled exactly once, from whichever thread
runs the connection's network loop, and can be waited on from any thread:
``await`` on an event loop, ``.result(timeout)`` elsewhere.  How a blocking wait
behaves depends on the connection's driver (a tick-mode connection ticks while
it waits), so ``result`` asks its owner to wait.

Example::

    value = await conn.procedures.add(a=1, b=2)          # asyncio
    value = conn.procedures.add(a=1, b=2).result(5.0)    # thread or tick mode
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Generator
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")

#: How long ``.result()`` waits when no timeout is given (seconds).
DEFAULT_TIMEOUT = 30.0

# Guards the rare moment a waiter creates a Pending's future while the owner thread settles it.
_PENDING_LOCK = threading.Lock()


class Waiter(Protocol):
    """What a :class:`Pending` asks to block on its future (the connection)."""

    def _wait(self, fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T: ...


class Pending(Generic[T]):
    """A call in flight: ``await`` it, or ``.result(timeout)`` it from synchronous code.

    Example::

        value = await conn.procedures.add(a=1, b=2)          # asyncio
        value = conn.procedures.add(a=1, b=2).result(5.0)    # thread or tick mode
    """

    # The thread-safe future is only made when someone waits: most calls (fire-and-forget,
    # or awaited after they finished) never need its lock and condition variable.
    __slots__ = ("_conn", "_fut", "_outcome", "_what")

    def __init__(self, conn: Waiter, what: str) -> None:
        self._conn = conn
        self._what = what
        self._fut: concurrent.futures.Future[T] | None = None
        self._outcome: tuple[bool, Any] | None = None  # (True, value) or (False, exception)

    def _future(self) -> concurrent.futures.Future[T]:
        with _PENDING_LOCK:
            fut = self._fut
            if fut is None:
                fut = self._fut = concurrent.futures.Future()
                if self._outcome is not None:
                    ok, value = self._outcome
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
            return fut

    def __await__(self) -> Generator[Any, None, T]:
        if self._outcome is None:
            # Shielded: cancelling one awaiter (a timeout, a cancelled task) must not cancel
            # the call itself for everyone else waiting on it.
            waiter = asyncio.shield(asyncio.wrap_future(self._future()))
            result: T = yield from waiter.__await__()
            return result
        ok, value = self._outcome
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    def result(self, timeout: float | None = DEFAULT_TIMEOUT) -> T:
        """Block until done (ticking the connection in tick mode); raises what the call raised."""
        return self._conn._wait(self._future(), timeout, self._what)

    def done(self) -> bool:
        """Whether the call has finished (successfully or not)."""
        return self._outcome is not None

    def _settle(self, outcome: tuple[bool, Any]) -> None:
        with _PENDING_LOCK:
            if self._outcome is not None:
                return
            self._outcome = outcome
            fut = self._fut
        if fut is not None and not fut.done():
            if outcome[0]:
                fut.set_result(outcome[1])
            else:
                fut.set_exception(outcome[1])

    def _set(self, value: T) -> None:
        self._settle((True, value))

    def _fail(self, exc: BaseException) -> None:
        self._settle((False, exc))

    def __repr__(self) -> str:
        return f"<Pending {self._what} {'done' if self.done() else 'pending'}>"


__all__ = ["DEFAULT_TIMEOUT", "Pending", "Waiter"]
