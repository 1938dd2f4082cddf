"""Subscriptions: the builder users configure, the handle they keep, and the registry behind them.

``conn.subscription_builder()...subscribe(queries)`` sends one query set and
returns a :class:`SubscriptionHandle` (awaitable until the rows are in the
cache).  The :class:`SubscriptionRegistry` maps the core's query-set ids to
handles and turns the core's subscription events into the handle's state, its
callbacks and the row callbacks of the rows that entered or left.

Example::

    handle = await (conn.subscription_builder()
        .on_applied(lambda ctx: print("rows:", ctx.db.user.count()))
        .subscribe(["SELECT * FROM user", "SELECT * FROM message"]))
    await handle.unsubscribe()
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._log import get_logger
from ..client import core as core_events
from ..client.bindings import ModuleBindings
from ..client.events import (
    ErrorContext,
    EventSource,
    SubscribeApplied,
    SubscribeError,
    SubscriptionEventContext,
    UnsubscribeApplied,
)
from ..errors import SubscriptionError
from .pending import DEFAULT_TIMEOUT, Pending, Waiter
from .registry import Registry

log = get_logger("spacetimedb_sdk.connection")


class SubscriptionOwner(EventSource, Waiter, Protocol):
    """What subscription builders and handles use of their connection."""

    _bindings: ModuleBindings | None
    _subscriptions: SubscriptionRegistry

    def _query_builder(self) -> Any: ...


class SubscriptionHandle:
    """One query set.  Awaiting it waits until its rows are in the cache.

    Example::

        handle = await conn.subscription_builder().subscribe("SELECT * FROM user")
        handle.is_active          # True
        await handle.unsubscribe()
    """

    def __init__(
        self,
        conn: SubscriptionOwner,
        queries: list[str],
        on_applied: Callable[[SubscriptionEventContext], object] | None,
        on_error: Callable[[ErrorContext, Exception], object] | None,
    ) -> None:
        self._conn = conn
        self.queries = queries
        self._on_applied = on_applied
        self._on_error = on_error
        self._on_end: Callable[[SubscriptionEventContext], object] | None = None
        self.query_set_id = -1
        self.is_active = False
        self.is_ended = False
        self._unsubscribe_called = False
        self._applied: Pending[SubscriptionHandle] = Pending(conn, "SubscribeApplied")
        self._ended: Pending[None] = Pending(conn, "UnsubscribeApplied")

    def __await__(self) -> Generator[Any, None, SubscriptionHandle]:
        return self._applied.__await__()

    def result(self, timeout: float | None = DEFAULT_TIMEOUT) -> SubscriptionHandle:
        """Block until applied; raises :class:`SubscriptionError` if the server rejected it.

        Example::

            handle = conn.subscription_builder().subscribe("SELECT * FROM user").result(timeout=5)
        """
        return self._applied.result(timeout)

    def unsubscribe(self) -> Pending[None]:
        """End the subscription; its rows leave the cache (``on_delete`` fires) when this resolves.

        A subscription not yet applied is cancelled: its ``on_applied`` never runs.

        Example::

            await handle.unsubscribe()
            assert handle.is_ended
        """
        if self.is_ended:
            raise SubscriptionError(f"subscription {self.queries!r} has already ended")
        if self._unsubscribe_called:
            raise SubscriptionError(f"unsubscribe was already called for {self.queries!r}")
        self._unsubscribe_called = True
        self._conn._subscriptions.unsubscribe(self)
        return self._ended

    def unsubscribe_then(
        self, callback: Callable[[SubscriptionEventContext], object]
    ) -> Pending[None]:
        """Unsubscribe and call ``callback(ctx)`` once the rows are gone.

        Example::

            handle.unsubscribe_then(lambda ctx: print("rows left:", ctx.db.user.count()))
        """
        self._on_end = callback
        return self.unsubscribe()

    async def __aenter__(self) -> SubscriptionHandle:
        return await self

    async def __aexit__(self, *exc: object) -> None:
        if not self.is_ended and not self._unsubscribe_called and self._conn.is_active:
            await self.unsubscribe()

    def __enter__(self) -> SubscriptionHandle:
        return self.result()

    def __exit__(self, *exc: object) -> None:
        if not self.is_ended and not self._unsubscribe_called and self._conn.is_active:
            self.unsubscribe().result()

    def __repr__(self) -> str:
        state = "active" if self.is_active else "ended" if self.is_ended else "pending"
        return f"<SubscriptionHandle {state} {self.queries!r}>"


class SubscriptionBuilder:
    """Collect callbacks and queries, then :meth:`subscribe`.

    Example::

        handle = await (conn.subscription_builder()
            .on_applied(lambda ctx: print("rows:", ctx.db.user.count()))
            .on_error(lambda ctx, err: print("failed:", err))
            .subscribe(["SELECT * FROM user", "SELECT * FROM message"]))
    """

    def __init__(self, conn: SubscriptionOwner) -> None:
        self._conn = conn
        self._on_applied: Callable[[SubscriptionEventContext], object] | None = None
        self._on_error: Callable[[ErrorContext, Exception], object] | None = None
        self._queries: list[str] = []

    def on_applied(
        self, callback: Callable[[SubscriptionEventContext], object]
    ) -> SubscriptionBuilder:
        """Call ``callback(ctx)`` once the subscription's rows are in the cache.

        The rows' ``on_insert`` callbacks (with a ``SubscribeApplied`` event) have run by then.

        Example::

            conn.subscription_builder().on_applied(lambda ctx: print(ctx.db.user.count(), "users"))
        """
        self._on_applied = callback
        return self

    def on_error(
        self, callback: Callable[[ErrorContext, Exception], object]
    ) -> SubscriptionBuilder:
        """Call ``callback(ctx, error)`` if the server rejects the subscription or ends it later.

        Example::

            conn.subscription_builder().on_error(lambda ctx, error: print("subscription failed:", error))
        """
        self._on_error = callback
        return self

    def add_query(self, query: Any) -> SubscriptionBuilder:
        """Add a query: SQL text, a query-builder query, or ``lambda q: q.user.where(...)``.

        Example::

            conn.subscription_builder().add_query(lambda q: q.user.where(q.user.online == True))
        """
        if callable(query) and not isinstance(query, str):
            query = query(self._conn._query_builder())
        self._queries.append(to_sql(query))
        return self

    def subscribe(self, queries: str | Sequence[Any] | None = None) -> SubscriptionHandle:
        """Send the subscription; ``await`` the returned handle to wait until it is applied.

        ``queries`` (one SQL string or a list) come after those of ``add_query``.

        Example::

            handle = await conn.subscription_builder().subscribe(["SELECT * FROM user"])
        """
        qs = [*self._queries]
        if isinstance(queries, str):
            qs.append(queries)
        elif queries is not None:
            qs.extend(to_sql(q) for q in queries)
        if not qs:
            raise ValueError("a subscription needs at least one query")
        return self._conn._subscriptions.subscribe(qs, self._on_applied, self._on_error)

    def subscribe_sync(
        self, queries: str | Sequence[Any] | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> SubscriptionHandle:
        """:meth:`subscribe`, then block until applied (thread and tick modes).

        Example::

            handle = conn.subscription_builder().subscribe_sync("SELECT * FROM user", timeout=5)
        """
        return self.subscribe(queries).result(timeout)

    def subscribe_to_all_tables(self) -> SubscriptionHandle:
        """Subscribe to every public table (``SELECT * FROM t`` each).

        Private tables are left out: only the database owner may read them, and one
        rejected query would fail the whole set (the upstream SDKs include them).

        Example::

            await conn.subscription_builder().subscribe_to_all_tables()
        """
        assert self._conn._bindings is not None
        names = [t.name for t in self._conn._bindings.schema.tables if t.is_public]
        return self.subscribe([f'SELECT * FROM "{n}"' for n in names])


def to_sql(query: Any) -> str:
    """SQL text for a subscription query: the text itself, or a query builder's ``to_sql()``."""
    if isinstance(query, str):
        return query
    render = getattr(query, "to_sql", None)
    if callable(render):
        return str(render())
    raise TypeError(
        f"a query must be SQL text or a query-builder query, got {type(query).__name__}"
    )


@dataclass(eq=False, repr=False)
class SubscriptionRegistry(Registry["SubscriptionOwner"]):
    """The connection's query sets by id: sent by builders, updated by the core's events."""

    #: Runs events made by a user call (a cancelled, never-sent subscription) where callbacks run.
    _dispatch_now: Callable[[list[core_events.Event]], None]
    _handles: dict[int, SubscriptionHandle] = field(default_factory=dict, init=False)

    def subscribe(
        self,
        queries: list[str],
        on_applied: Callable[[SubscriptionEventContext], object] | None,
        on_error: Callable[[ErrorContext, Exception], object] | None,
    ) -> SubscriptionHandle:
        handle = SubscriptionHandle(self._conn, queries, on_applied, on_error)
        with self._lock:
            qs = self._core.subscribe(queries)
            handle.query_set_id = qs
            self._handles[qs] = handle
        self._flush()
        return handle

    def unsubscribe(self, handle: SubscriptionHandle) -> None:
        with self._lock:
            events = self._core.unsubscribe(handle.query_set_id)
        self._flush()
        if events:  # a subscription cancelled before it was sent ends at once
            self._dispatch_now(events)

    def fail_all(self, exc: Exception) -> None:
        """The connection is gone for good: every handle ends, unapplied ones with ``exc``."""
        for handle in self._handles.values():
            handle.is_active = False
            handle.is_ended = True
            handle._applied._fail(exc)
            handle._ended._set(None)
        self._handles.clear()

    async def applied(self, ev: core_events.SubscriptionApplied) -> None:
        handle = self._handles.get(ev.query_set_id)
        if handle is not None and not ev.cancelled and not handle.is_active:
            handle.is_active = True
            if handle._on_applied is not None:
                await self._callbacks.run(
                    handle._on_applied, SubscriptionEventContext(self._conn, SubscribeApplied())
                )
        await self._callbacks.fire(self._conn, ev.changes, SubscribeApplied())
        if handle is not None:
            handle._applied._set(handle)

    async def ended(self, ev: core_events.SubscriptionEnded) -> None:
        handle = self._handles.pop(ev.query_set_id, None)
        if handle is not None:
            handle.is_active = False
            handle.is_ended = True
            if handle._on_end is not None:
                await self._callbacks.run(
                    handle._on_end, SubscriptionEventContext(self._conn, UnsubscribeApplied())
                )
        await self._callbacks.fire(self._conn, ev.changes, UnsubscribeApplied())
        if handle is not None:
            handle._applied._fail(
                SubscriptionError(f"subscription {handle.queries!r} was cancelled")
            )
            handle._ended._set(None)

    async def failed(self, ev: core_events.SubscriptionFailed) -> None:
        handle = self._handles.pop(ev.query_set_id, None)
        err = SubscriptionError(ev.error)
        await self._callbacks.fire(self._conn, ev.changes, SubscribeError(err))
        if handle is None:
            log.warning("subscription error for query set %d: %s", ev.query_set_id, ev.error)
            return
        handle.is_active = False
        handle.is_ended = True
        if handle._on_error is not None:
            await self._callbacks.run(
                handle._on_error, ErrorContext(self._conn, SubscribeError(err)), err
            )
        handle._applied._fail(err)
        handle._ended._set(None)


__all__ = [
    "SubscriptionBuilder",
    "SubscriptionHandle",
    "SubscriptionOwner",
    "SubscriptionRegistry",
    "to_sql",
]
