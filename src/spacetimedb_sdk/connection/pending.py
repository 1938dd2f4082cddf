"""``Pending``: a call in flight, awaitable from asyncio and blockable from threads.

Every call a connection makes (reducers, procedures, one-off queries, subscribing,
disconnecting) returns one.  It is settled exactly once, from whichever thread
runs the connection's network loop, and can be waited on from any thread:
``await`` on an event loop, ``.result(timeout)`` elsewhere.  How a blocking wait
behaves depends on the connection's driver (a tick-mode connection ticks while
it waits), so ``result`` asks its owner to wait.

A ``Pending`` is also a coroutine (a :class:`collections.abc.Coroutine`), so the
asyncio functions that take only coroutines take it too: ``asyncio.create_task``,
``TaskGroup.create_task``, ``asyncio.run``, besides ``gather`` and ``wait_for``
(which take any awaitable).  Calling a reducer sends it at once; ``await``,
``create_task`` and friends only wait for its result, so a call that is never
awaited is still made (fire-and-forget), and no "never awaited" warning is printed.

Example::

    value = await conn.procedures.add(a=1, b=2)          # asyncio
    value = conn.procedures.add(a=1, b=2).result(5.0)    # thread or tick mode
    task = asyncio.create_task(conn.reducers.send_message(text="hi"))
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

#: How long ``.result()`` waits when no timeout is given (seconds).
DEFAULT_TIMEOUT = 30.0

# Guards the rare moment a waiter creates a Pending's future while the owner thread settles it.
_PENDING_LOCK = threading.Lock()


class Waiter(Protocol):
    """What a :class:`Pending` asks to block on its future (the connection)."""

    def _wait(self, fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T: ...


class Pending(Coroutine[Any, Any, T]):
    """A call in flight: ``await`` it, or ``.result(timeout)`` it from synchronous code.

    It is a coroutine too, so ``asyncio.create_task(pending)`` and
    ``TaskGroup.create_task(pending)`` accept it (wrap one ``Pending`` in at most one
    task; ``await`` it anywhere else as often as you like).

    Example::

        value = await conn.procedures.add(a=1, b=2)          # asyncio
        value = conn.procedures.add(a=1, b=2).result(5.0)    # thread or tick mode
        async with asyncio.TaskGroup() as tg:
            tg.create_task(conn.reducers.send_message(text="hi"))
    """

    # The thread-safe future is only made when someone waits: most calls (fire-and-forget,
    # or awaited after they finished) never need its lock and condition variable.
    __slots__ = ("_conn", "_fut", "_outcome", "_runner", "_what")

    def __init__(self, conn: Waiter, what: str) -> None:
        self._conn = conn
        self._what = what
        self._fut: concurrent.futures.Future[T] | None = None
        self._outcome: tuple[bool, Any] | None = None  # (True, value) or (False, exception)
        # The coroutine protocol below drives one __await__ generator, made on first use.
        self._runner: Generator[Any, None, T] | None = None

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

    # ---- the coroutine protocol (what asyncio.create_task drives) ----------------------------

    @property
    def __name__(self) -> str:
        """The call, as a task's repr and asyncio's warnings name it (``<Pending ...>``).

        Example::

            conn.reducers.send_message(text="hi").__name__   # 'Pending(reducer send_message)'
        """
        return f"Pending({self._what})"

    def _run(self) -> Generator[Any, None, T]:
        if self._runner is None:
            self._runner = self.__await__()
        return self._runner

    def send(self, value: None) -> Any:
        """Coroutine protocol: resume waiting (asyncio calls this; users ``await`` instead).

        Example::

            task = asyncio.create_task(conn.reducers.send_message(text="hi"))  # drives send()
        """
        return self._run().send(value)

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None, /) -> Any:
        """Coroutine protocol: raise an exception (a task's cancellation) where it waits.

        Cancelling the waiting task stops the wait, not the call: the reducer still runs.

        Example::

            task = asyncio.create_task(conn.reducers.send_message(text="hi"))
            task.cancel()   # asyncio throws CancelledError in; the message is still sent
        """
        if val is None and tb is None:
            return self._run().throw(typ)
        return self._run().throw(typ, val, tb)  # the deprecated 3-argument form, passed on

    def close(self) -> None:
        """Coroutine protocol: stop waiting (the call itself goes on).

        Example::

            pending = conn.reducers.send_message(text="hi")
            pending.close()   # nothing waits for it any more; it is still sent
        """
        if self._runner is not None:
            self._runner.close()

    # ---- blocking -------------------------------------------------------------------------------

    def result(self, timeout: float | None = DEFAULT_TIMEOUT) -> T:
        """Block until done (ticking the connection in tick mode); raises what the call raised.

        A ``TimeoutError`` after ``timeout`` seconds (default 30; ``None`` waits forever).

        Example::

            conn.reducers.set_name(name="Ada").result(timeout=5)
        """
        return self._conn._wait(self._future(), timeout, self._what)

    def done(self) -> bool:
        """Whether the call has finished (successfully or not).

        Example::

            pending = conn.reducers.send_message(text="hi")
            await pending
            assert pending.done()
        """
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
