"""Running user callbacks: plain or ``async``, and never letting one kill the connection.

Every callback the user registers (the builder's ``on_*`` hooks, row callbacks,
subscription and reducer result callbacks) runs through :class:`UserCallbacks`:
an exception is logged on the ``spacetimedb_sdk`` logger and handed to
``on_callback_error`` if set, then the connection carries on (python-api.md §3).

Example::

    callbacks = UserCallbacks({"connect": on_connect})
    await callbacks.call("connect", conn, identity, token)
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeGuard

from .._log import get_logger
from ..client.cache import PendingChanges
from ..client.events import EventContext, EventSource
from .pending import Pending

log = get_logger("spacetimedb_sdk.connection")


class UserCallbacks:
    """The builder's named hooks, and the one place user code is called from."""

    __slots__ = ("_hooks",)

    def __init__(self, hooks: Mapping[str, Callable[..., object]]) -> None:
        self._hooks = hooks

    async def call(self, name: str, *args: Any) -> None:
        """Run the builder hook ``name`` (``"connect"``, ``"disconnect"``...) if one is set."""
        cb = self._hooks.get(name)
        if cb is not None:
            await self.run(cb, *args)

    async def run(self, cb: Callable[..., object], *args: Any) -> None:
        """Run one callback, awaiting it if it is ``async``; its exception is reported, not raised."""
        try:
            result = cb(*args)
            if _awaitable_callback_result(result):
                await _in_a_task()
                await result
        except Exception as e:
            self.failed(e)

    def failed(self, exc: Exception, *_: object) -> None:
        """A callback raised: log it and hand it to ``on_callback_error``."""
        log.error("a callback raised %s", type(exc).__name__, exc_info=exc)
        handler = self._hooks.get("callback_error")
        if handler is not None:
            try:
                handler(exc)
            except Exception:
                log.exception("on_callback_error itself raised")

    async def fire(self, conn: EventSource, changes: PendingChanges | None, event: Any) -> None:
        """Run the row callbacks of one applied message, each with an ``EventContext(conn, event)``."""
        if changes:
            await self.finish(self.fire_now(changes, lambda: EventContext(conn, event)))

    def fire_now(
        self, changes: PendingChanges, ctx_factory: Callable[[], EventContext]
    ) -> list[Awaitable[Any]]:
        """:meth:`fire`'s synchronous part: run the row callbacks with the context
        ``ctx_factory()`` makes (if one runs), and return what ``async`` ones returned, for
        :meth:`finish` (in order, before anything later is handled)."""
        awaitables = changes.fire(ctx_factory, on_error=self.failed)
        if not awaitables:
            return awaitables
        return [aw for aw in awaitables if _awaitable_callback_result(aw)]

    async def finish(self, awaitables: list[Awaitable[Any]]) -> None:
        """Await what ``async`` row callbacks returned (see :meth:`fire_now`), in a task."""
        for aw in awaitables:
            await _in_a_task()
            try:
                await aw
            except Exception as e:
                self.failed(e)


class _Yield:
    """A bare ``yield`` to whatever runs the coroutine (what ``asyncio.sleep(0)`` does)."""

    def __await__(self) -> Generator[None, None, None]:
        yield


async def _in_a_task() -> None:
    """Make sure user code is awaited inside a task.

    The transport applies a frame inside its socket callback, stepping the frame's coroutine by
    hand (``Session._frame_now``), so that coroutine starts in no task, where an ``async``
    callback's ``asyncio.timeout()``, ``asyncio.current_task()`` and the like would fail. A bare
    yield there hands the rest of it to the reader task (which resumes it at once, before any
    later frame); inside a task this costs nothing.
    """
    if asyncio.current_task() is None:
        await _Yield()


def _awaitable_callback_result(result: object) -> TypeGuard[Awaitable[Any]]:
    """Whether to await what a callback returned: an ``async def`` callback's coroutine, yes;
    a call it made (``lambda ctx, row: conn.reducers.x(...)`` returns its ``Pending``), no:
    the call is sent already, and its result can only arrive after this message's callbacks,
    so awaiting it here would stop the connection."""
    return inspect.isawaitable(result) and not isinstance(result, Pending)


__all__ = ["UserCallbacks"]
