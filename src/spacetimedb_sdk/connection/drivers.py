"""Where a connection runs: on the caller's event loop, on a background thread, or at ``frame_tick``.

The network side of a connection (its WebSocket, reader and writer tasks) always
runs on one asyncio loop.  A driver decides which loop that is, where the
received frames are applied (and so on which thread callbacks run), and how
synchronous code blocks on a call:

========  =======================  =================================  =========================
driver    network loop             frames applied, callbacks run      ``Pending.result()``
========  =======================  =================================  =========================
async     the caller's loop        on that loop, as they arrive       refused on the loop thread
thread    a background thread's    on that thread, as they arrive     blocks
tick      a background thread's    on the caller's thread, in         ticks while it waits
                                   ``frame_tick()``
========  =======================  =================================  =========================

The thread and tick drivers share one background event pump
(:class:`BackgroundLoop`); the tick driver only adds an inbox that
``frame_tick()`` drains on the caller's thread.

Example::

    conn = builder.connect_sync(mode="tick")
    while playing:
        conn.frame_tick()        # applies what arrived, runs the callbacks here
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal, Protocol, TypeVar

from ..errors import ConnectTimeoutError, ProtocolError, SpacetimeDBError

T = TypeVar("T")
Mode = Literal["async", "thread", "tick"]

#: How long a stopping background loop lets unfinished tasks (a closing handshake) run.
CLOSE_GRACE = 2.0

#: What the reader hands a driver: a received frame, or the end of the socket (with its error).
Received = tuple[Literal["frame", "closed"], Any]


class Pumped(Protocol):
    """What a driver calls to apply received items (the session)."""

    def handle(self, item: Received) -> Coroutine[Any, Any, None]: ...

    def after_close(self, error: Exception | None) -> Coroutine[Any, Any, None]: ...

    def is_closed(self) -> bool: ...


class Driver:
    """asyncio: the network and the callbacks run on the caller's event loop."""

    mode: Mode = "async"
    #: Whether received frames wait for ``frame_tick()`` (and InitialConnection with them).
    deferred = False

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def started(self) -> bool:
        return self.loop is not None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The network loop, known once the connection starts on it."""
        self.loop = loop

    def on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def call_soon(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the network loop: now if already there, else thread-safely."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if self.on_loop_thread():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    async def received(self, session: Pumped, item: Received) -> None:
        """The reader got ``item``: apply it now, on the network loop."""
        await session.handle(item)

    def run_now(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a coroutine made by user action (not by a frame) where callbacks run."""
        loop = self.loop
        if loop is None:
            asyncio.run(make())
        elif self.on_loop_thread():
            loop.create_task(make())
        else:
            asyncio.run_coroutine_threadsafe(make(), loop)

    def wait(self, fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T:
        """Block the calling thread until ``fut`` is done (``Pending.result``)."""
        if self.mode == "async" and self.on_loop_thread():
            raise SpacetimeDBError(
                f"use 'await' for {what} on an asyncio connection; .result() would block the loop"
            )
        return _result(fut, timeout, what)

    def frame_tick(self) -> None:
        raise SpacetimeDBError(
            "frame_tick() is for connections made with connect_sync(mode='tick')"
        )

    def network_closed(self) -> None:
        """The connection is closed for good (the caller's loop is not ours to stop)."""


def _result(fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T:
    try:
        return fut.result(timeout)
    except concurrent.futures.TimeoutError:
        if fut.done():  # the call itself failed with a TimeoutError (3.11+: the same class)
            raise
        raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}") from None


class BackgroundLoop(Driver):
    """thread: a daemon thread runs the network loop; callbacks run on that thread."""

    mode: Mode = "thread"

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.thread: threading.Thread | None = None

    def start(self, start: Callable[[], Awaitable[None]], timeout: float | None, uri: str) -> None:
        """Start the thread and its loop, run ``start()`` there, and wait up to ``timeout``."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:  # stopped after the connection closed: leave nothing running or open
                tasks = asyncio.all_tasks(loop)
                if tasks:
                    # A closing handshake started just before the stop (a bad frame ends the
                    # connection at once) gets a moment to finish, so the server sees a
                    # clean close instead of a socket left open until garbage collection.
                    loop.run_until_complete(asyncio.wait(tasks, timeout=CLOSE_GRACE))
                    tasks = {t for t in tasks if not t.done()}
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self.loop = loop
        self.thread = threading.Thread(target=run, name=self._name, daemon=True)
        self.thread.start()
        ready.wait()
        fut = asyncio.run_coroutine_threadsafe(_as_coroutine(start), loop)
        try:
            fut.result(timeout)
        except concurrent.futures.TimeoutError:
            self.stop_thread()
            if fut.done():  # a step of connecting timed out and said which (3.11+: same class)
                raise
            raise ConnectTimeoutError(
                f"timed out after {timeout:g} s connecting to {uri}"
            ) from None
        except BaseException:
            self.stop_thread()
            raise

    def stop_thread(self) -> None:
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)

    def network_closed(self) -> None:
        """Stop the loop once closed (its thread then closes it)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)


async def _as_coroutine(start: Callable[[], Awaitable[None]]) -> None:
    await start()


class TickDriver(BackgroundLoop):
    """tick: the network runs on a background thread; frames wait in an inbox for ``frame_tick``."""

    mode: Mode = "tick"
    deferred = True

    def __init__(self, name: str, session: Pumped) -> None:
        super().__init__(name)
        self._session = session
        self.inbox: deque[Received] = deque()
        self.tick_ready = threading.Event()
        # Frames are applied on the caller's thread, on a loop of its own (so async callbacks work).
        self.tick_loop: asyncio.AbstractEventLoop | None = asyncio.new_event_loop()

    async def received(self, session: Pumped, item: Received) -> None:
        self.inbox.append(item)
        self.tick_ready.set()

    def frame_tick(self) -> None:
        """Apply the frames received since the last tick and run their callbacks."""
        session = self._session
        self.tick_ready.clear()
        while self.inbox:
            item = self.inbox.popleft()
            try:
                self._run(session.handle(item))
            except ProtocolError as e:  # a bad frame ends the connection, at this tick
                self._run(session.after_close(e))
        tick_loop = self.tick_loop
        if session.is_closed() and tick_loop is not None and not tick_loop.is_running():
            self.tick_loop = None
            tick_loop.close()

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.tick_loop is None:  # the connection is closed and its loops are gone
            coro.close()
            return
        self.tick_loop.run_until_complete(coro)

    def run_now(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if self.tick_loop is not None and not self.tick_loop.is_running():
            self._run(make())
            return
        super().run_now(make)

    def wait(self, fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T:
        """Block on ``fut`` while ticking, so that the frames which settle it get applied."""
        if self.on_loop_thread():
            return _result(fut, timeout, what)
        loop = self.loop
        deadline = None if timeout is None or loop is None else loop.time() + timeout
        while not fut.done():
            self.frame_tick()
            if fut.done():
                break
            remaining = None if deadline is None or loop is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            self.tick_ready.wait(remaining)
        return fut.result()


__all__ = ["BackgroundLoop", "Driver", "Mode", "Pumped", "Received", "TickDriver"]
