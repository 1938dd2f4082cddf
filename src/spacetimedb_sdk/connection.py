"""``DbConnection``: one client connection, driven by asyncio, a thread or ``frame_tick``.

The connection owns a sans-I/O :class:`~spacetimedb_sdk.client.core.ClientCore`
and a :class:`~spacetimedb_sdk.client.cache.ClientCache`, an asyncio WebSocket
transport (:mod:`spacetimedb_sdk.aio`), and turns the core's events into user
callbacks and finished calls.  The three front ends differ only in *where* that
happens:

- ``await builder.connect()``: on the caller's event loop;
- ``builder.connect_sync(mode="thread")``: on a background thread with its own
  loop (callbacks run there; guard shared state);
- ``builder.connect_sync(mode="tick")``: the network runs on a background
  thread, but frames are applied and callbacks run only inside
  ``conn.frame_tick()`` on the caller's thread (game loops).

Calls return a :class:`Pending`: ``await`` it in asyncio code, or call
``.result(timeout)`` in synchronous code.  Reducer calls resolve after this
client's row callbacks for that call have run.

Example::

    conn = await (DbConnection.builder()
        .with_uri("http://127.0.0.1:3000")
        .with_database_name("quickstart-chat")
        .connect())
    await conn.subscription_builder().subscribe("SELECT * FROM message")
    await conn.reducers.send_message(text="hello")
    print([m.text for m in conn.db.message])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import random
import ssl
import threading
from collections import deque
from collections.abc import (
    Callable,
    Coroutine,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from ._log import get_logger
from .aio import DEFAULT_SUBPROTOCOLS, WebSocketTransport, subscribe_url
from .client import core as core_events
from .client.bindings import FunctionBinding, ModuleBindings, TableBinding
from .client.cache import ClientCache, PendingChanges, TableCache
from .client.changes import Change
from .client.core import ClientCore
from .client.events import (
    Committed,
    Disconnected,
    ErrorContext,
    EventContext,
    Failed,
    InternalFailure,
    ReducerCall,
    ReducerEvent,
    ReducerEventContext,
    SubscribeApplied,
    SubscribeError,
    SubscriptionEventContext,
    Transaction,
    UnsubscribeApplied,
)
from .errors import (
    ConnectError,
    DisconnectedError,
    InternalError,
    ProcedureError,
    ProtocolError,
    QueryError,
    ReducerError,
    SpacetimeDBError,
    SubscriptionError,
)
from .http import AsyncHttpClient
from .protocol import messages as m
from .protocol.framing import Compression
from .sats import bsatn
from .sats.types import AlgebraicType
from .sats.values import ConnectionId, Err, Identity
from .schema import ModuleSchema

log = get_logger("spacetimedb_sdk.connection")

T = TypeVar("T")
_C = TypeVar("_C", bound="DbConnection")
Mode = Literal["async", "thread", "tick"]
DEFAULT_TIMEOUT = 30.0
_STRING = AlgebraicType.STRING


# ---- results in flight --------------------------------------------------------------------------


# Guards the rare moment a waiter creates a Pending's future while the owner thread settles it.
_PENDING_LOCK = threading.Lock()


class Pending(Generic[T]):
    """A call in flight: ``await`` it, or ``.result(timeout)`` it from synchronous code.

    Example::

        value = await conn.procedures.add(a=1, b=2)          # asyncio
        value = conn.procedures.add(a=1, b=2).result(5.0)    # thread or tick mode
    """

    # The thread-safe future is only made when someone waits: most calls (fire-and-forget,
    # or awaited after they finished) never need its lock and condition variable.
    __slots__ = ("_conn", "_fut", "_outcome", "_what")

    def __init__(self, conn: DbConnection, what: str) -> None:
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


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Exponential backoff with jitter: ``min_delay * 2**n`` capped at ``max_delay``, ±``jitter``."""

    min_delay: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.min_delay * (2 ** min(attempt, 30)))
        return float(max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter))))


# ---- tables, reducers, procedures as attributes -------------------------------------------------


class TableHandle:
    """``conn.db.<table>``: the cached rows of one table, its indexes and row callbacks.

    Example::

        @conn.db.user.on_update
        def renamed(ctx, old, new):
            print(old.name, "->", new.name)

        conn.db.user.identity.find(conn.identity)
        conn.db.message.count()
    """

    __slots__ = ("_binding", "_cache", "_conn")

    def __init__(self, conn: DbConnection, binding: TableBinding, cache: TableCache[Any]) -> None:
        self._conn = conn
        self._binding = binding
        self._cache = cache

    @property
    def table_name(self) -> str:
        """The table's canonical (wire and SQL) name."""
        return self._binding.name

    def count(self) -> int:
        """Rows in the cache (0 for event tables, which store nothing)."""
        return self._cache.count()

    def __len__(self) -> int:
        return self._cache.count()

    def len(self) -> int:
        return self._cache.count()

    def iter(self) -> Iterator[Any]:
        """The rows, from a snapshot (taken under the connection's lock, so a thread-mode
        connection applying a message on its own thread cannot change it midway)."""
        with self._conn.lock:
            return self._cache.iter()

    def __iter__(self) -> Iterator[Any]:
        return self.iter()

    def index(self, name: str) -> Any:
        """An index by name (``find`` for unique indexes, ``filter`` for btree indexes)."""
        return self._cache.index(name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._cache.index(name)
        except (KeyError, AttributeError, ValueError):
            pass
        known = sorted(self._cache.indexes)
        raise AttributeError(
            f"table {self._binding.name!r} has no attribute or index {name!r}; indexes: {known}"
        )

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._cache.indexes})

    def on_insert(self, callback: Callable[[EventContext, Any], object]) -> Any:
        """Call ``callback(ctx, row)`` for each row entering the cache (and each event row)."""
        return self._cache.on_insert(callback)

    def on_delete(self, callback: Callable[[EventContext, Any], object]) -> Any:
        """Call ``callback(ctx, row)`` for each row leaving the cache."""
        return self._cache.on_delete(callback)

    def on_update(self, callback: Callable[[EventContext, Any, Any], object]) -> Any:
        """Call ``callback(ctx, old, new)`` when a row's primary key stays and its value changes."""
        if not self._binding.primary_key:
            raise TypeError(
                f"table {self._binding.name!r} has no primary key, so it has no updates"
            )
        return self._cache.on_update(callback)

    def remove_on_insert(self, handle: Callable[..., Any]) -> bool:
        return self._cache.remove_on_insert(handle)

    def remove_on_delete(self, handle: Callable[..., Any]) -> bool:
        return self._cache.remove_on_delete(handle)

    def remove_on_update(self, handle: Callable[..., Any]) -> bool:
        return self._cache.remove_on_update(handle)

    def changes(self) -> ChangeStream:
        """``async for change in conn.db.t.changes()``: :class:`Insert`/:class:`Delete`/:class:`Update` records."""
        return ChangeStream(self._conn, self._cache)

    def to_pandas(self) -> Any:
        """The cached rows as a ``pandas.DataFrame`` (needs pandas installed)."""
        try:
            import pandas as pd  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        rows = [
            asdict(r) if is_dataclass(r) and not isinstance(r, type) else r
            for r in self._cache.iter()
        ]
        return pd.DataFrame(rows, columns=list(self._binding.row_type.names()))

    def __repr__(self) -> str:
        return f"<table {self._binding.name} rows={self._cache.count()}>"


class ChangeStream:
    """An async iterator of one table's changes, from now on, until ``aclose()``.

    Example::

        async for change in conn.db.message.changes():
            if isinstance(change, Insert):
                print(change.row.text)
    """

    def __init__(self, conn: DbConnection, cache: TableCache[Any]) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[Change[Any] | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._stop = cache.add_change_sink(self._put)
        self._closed = False
        conn._streams.append(self)

    def _put(self, change: Change[Any] | None) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._queue.put_nowait(change)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, change)

    def __aiter__(self) -> ChangeStream:
        return self

    async def __anext__(self) -> Change[Any]:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self._closed = True
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        self._end()

    def _end(self) -> None:
        if not self._closed:
            self._stop()
            self._put(None)


class _Tables:
    """``conn.db``: one :class:`TableHandle` per table or view, by Python name."""

    def __init__(self, handles: Mapping[str, TableHandle]) -> None:
        self._handles = dict(handles)

    def __getattr__(self, name: str) -> TableHandle:
        try:
            return self._handles[name]
        except KeyError:
            # The canonical wire name (``pk_u_32``) works too, beside the Python name (``pk_u32``).
            for handle in self._handles.values():
                if handle._binding.name == name:
                    return handle
            raise AttributeError(
                f"no table named {name!r}; tables: {sorted(self._handles)}"
            ) from None

    def __iter__(self) -> Iterator[TableHandle]:
        return iter(self._handles.values())

    def __dir__(self) -> list[str]:
        return sorted(self._handles)


class ReducerCaller:
    """``conn.reducers.<name>``: call with the reducer's arguments.

    ``await conn.reducers.set_name(name="Alice")`` returns the reducer's return
    value (``None`` for most) after this client's row callbacks for the call ran;
    it raises :class:`ReducerError` for the reducer's own error and
    :class:`InternalError` for host failures.

    Example::

        conn.reducers.send_message.fire(text="no need to wait")
        conn.reducers.set_name.then(lambda ctx: print(ctx.event.status), name="Bob")
    """

    __slots__ = ("_binding", "_conn")

    def __init__(self, conn: DbConnection, binding: FunctionBinding) -> None:
        self._conn = conn
        self._binding = binding

    def __call__(self, *args: Any, **kwargs: Any) -> Pending[Any]:
        return self._conn._call_reducer(self._binding, args, kwargs, None)

    def fire(self, *args: Any, **kwargs: Any) -> None:
        """Send the call and forget it (errors are logged)."""
        self._conn._call_reducer(self._binding, args, kwargs, None, fire=True)

    def then(
        self, callback: Callable[[ReducerEventContext], object], *args: Any, **kwargs: Any
    ) -> Pending[Any]:
        """Call, and run ``callback(ctx)`` with ``ctx.event`` the :class:`ReducerEvent` when it finishes."""
        return self._conn._call_reducer(self._binding, args, kwargs, callback)

    def __repr__(self) -> str:
        return f"<reducer {self._binding.name}({', '.join(self._binding.param_names)})>"


class ProcedureCaller:
    """``conn.procedures.<name>``: call, then await the decoded return value.

    Example::

        total = await conn.procedures.add(a=1, b=2)
    """

    __slots__ = ("_binding", "_conn")

    def __init__(self, conn: DbConnection, binding: FunctionBinding) -> None:
        self._conn = conn
        self._binding = binding

    def __call__(self, *args: Any, **kwargs: Any) -> Pending[Any]:
        return self._conn._call_procedure(self._binding, args, kwargs)

    def __repr__(self) -> str:
        return f"<procedure {self._binding.name}({', '.join(self._binding.param_names)})>"


class _Callables:
    def __init__(self, kind: str, items: Mapping[str, Any]) -> None:
        self._kind = kind
        self._items = dict(items)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            for item in self._items.values():  # the canonical wire name works too
                if getattr(getattr(item, "_binding", None), "name", None) == name:
                    return item
            raise AttributeError(
                f"no {self._kind} named {name!r}; {self._kind}s: {sorted(self._items)}"
            ) from None

    def __dir__(self) -> list[str]:
        return sorted(self._items)


# ---- subscriptions ----------------------------------------------------------------------------


class SubscriptionHandle:
    """One query set.  Awaiting it waits until its rows are in the cache.

    Example::

        handle = await conn.subscription_builder().subscribe("SELECT * FROM user")
        handle.is_active          # True
        await handle.unsubscribe()
    """

    def __init__(
        self,
        conn: DbConnection,
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
        """Block until applied; raises :class:`SubscriptionError` if the server rejected it."""
        return self._applied.result(timeout)

    def unsubscribe(self) -> Pending[None]:
        """End the subscription; its rows leave the cache (``on_delete`` fires) when this resolves.

        A subscription not yet applied is cancelled: its ``on_applied`` never runs.
        """
        if self.is_ended:
            raise SubscriptionError(f"subscription {self.queries!r} has already ended")
        if self._unsubscribe_called:
            raise SubscriptionError(f"unsubscribe was already called for {self.queries!r}")
        self._unsubscribe_called = True
        self._conn._unsubscribe(self)
        return self._ended

    def unsubscribe_then(
        self, callback: Callable[[SubscriptionEventContext], object]
    ) -> Pending[None]:
        """Unsubscribe and call ``callback(ctx)`` once the rows are gone."""
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

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn
        self._on_applied: Callable[[SubscriptionEventContext], object] | None = None
        self._on_error: Callable[[ErrorContext, Exception], object] | None = None
        self._queries: list[str] = []

    def on_applied(
        self, callback: Callable[[SubscriptionEventContext], object]
    ) -> SubscriptionBuilder:
        self._on_applied = callback
        return self

    def on_error(
        self, callback: Callable[[ErrorContext, Exception], object]
    ) -> SubscriptionBuilder:
        self._on_error = callback
        return self

    def add_query(self, query: Any) -> SubscriptionBuilder:
        """Add a query: SQL text, a query-builder query, or ``lambda q: q.user.where(...)``."""
        if callable(query) and not isinstance(query, str):
            query = query(self._conn._query_builder())
        self._queries.append(_to_sql(query))
        return self

    def subscribe(self, queries: str | Sequence[Any] | None = None) -> SubscriptionHandle:
        """Send the subscription; ``await`` the returned handle to wait until it is applied."""
        qs = [*self._queries]
        if isinstance(queries, str):
            qs.append(queries)
        elif queries is not None:
            qs.extend(_to_sql(q) for q in queries)
        if not qs:
            raise ValueError("a subscription needs at least one query")
        return self._conn._subscribe(qs, self._on_applied, self._on_error)

    def subscribe_sync(
        self, queries: str | Sequence[Any] | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> SubscriptionHandle:
        """:meth:`subscribe`, then block until applied (thread and tick modes)."""
        return self.subscribe(queries).result(timeout)

    def subscribe_to_all_tables(self) -> SubscriptionHandle:
        """Subscribe to every public table (``SELECT * FROM t`` each).

        Private tables are left out: only the database owner may read them, and one
        rejected query would fail the whole set (the upstream SDKs include them).
        """
        assert self._conn._bindings is not None
        names = [t.name for t in self._conn._bindings.schema.tables if t.is_public]
        return self.subscribe([f'SELECT * FROM "{n}"' for n in names])


def _to_sql(query: Any) -> str:
    if isinstance(query, str):
        return query
    to_sql = getattr(query, "to_sql", None)
    if callable(to_sql):
        return str(to_sql())
    raise TypeError(
        f"a query must be SQL text or a query-builder query, got {type(query).__name__}"
    )


# ---- the builder --------------------------------------------------------------------------------


class DbConnectionBuilder(Generic[_C]):
    """Configure, then ``await .connect()`` or ``.connect_sync(mode=...)`` (python-api.md §3).

    Generic in the connection class it builds, so ``await GeneratedDbConnection.builder()
    ...connect()`` is typed as the generated subclass.
    """

    def __init__(
        self,
        cls: type[_C],
        schema: ModuleSchema | None,
        classes: Mapping[int, type] | None,
    ) -> None:
        self._cls = cls
        self.schema = schema
        self.classes = classes
        self.uri: str | None = None
        self.database: str | None = None
        self.token: str | None = None
        self.compression = Compression.GZIP
        self.confirmed: bool | None = None
        self.reconnect: ReconnectPolicy | None = None
        self.subprotocols: tuple[str, ...] = DEFAULT_SUBPROTOCOLS
        self.connect_timeout = 10.0
        self.ssl_context: ssl.SSLContext | None = None
        self.max_frame_size = 256 * 1024 * 1024
        self.callbacks: dict[str, Callable[..., object]] = {}

    def with_uri(self, uri: str) -> DbConnectionBuilder[_C]:
        """``http(s)://`` or ``ws(s)://`` base URL of the server."""
        self.uri = uri
        return self

    def with_database_name(self, name: str) -> DbConnectionBuilder[_C]:
        """The database's name or hex identity."""
        self.database = name
        return self

    with_module_name = with_database_name

    def with_token(self, token: str | None) -> DbConnectionBuilder[_C]:
        """Reuse a saved token (same identity); ``None`` gets a new anonymous identity."""
        self.token = token
        return self

    def with_compression(
        self, compression: Literal["none", "gzip", "brotli"] | Compression
    ) -> DbConnectionBuilder[_C]:
        """How the server compresses large messages: ``"gzip"`` (default), ``"brotli"`` or ``"none"``."""
        if isinstance(compression, Compression):
            self.compression = compression
            return self
        try:
            self.compression = {
                "none": Compression.NONE,
                "gzip": Compression.GZIP,
                "brotli": Compression.BROTLI,
            }[compression.lower()]
        except KeyError:
            raise ValueError(
                f"compression must be 'none', 'gzip' or 'brotli', not {compression!r}"
            ) from None
        if self.compression is Compression.BROTLI:
            from .protocol.framing import brotli_available

            if not brotli_available():
                raise ValueError(
                    "brotli compression needs the brotli package: pip install 'spacetimedb-sdk[brotli]'"
                )
        return self

    def with_confirmed_reads(self, confirmed: bool) -> DbConnectionBuilder[_C]:
        """Hold updates until durable (server default when not set: on)."""
        self.confirmed = confirmed
        return self

    def with_reconnect(
        self, min_delay: float = 1.0, max_delay: float = 30.0, jitter: float = 0.5
    ) -> DbConnectionBuilder[_C]:
        """Reconnect after unexpected drops with exponential backoff, keeping subscriptions and identity."""
        if not 0 < min_delay <= max_delay or not 0 <= jitter < 1:
            raise ValueError("need 0 < min_delay <= max_delay and 0 <= jitter < 1")
        self.reconnect = ReconnectPolicy(min_delay, max_delay, jitter)
        return self

    def with_subprotocols(self, subprotocols: Sequence[str]) -> DbConnectionBuilder[_C]:
        """Offer other WebSocket subprotocols (default v3 then v2)."""
        self.subprotocols = tuple(subprotocols)
        return self

    def with_connect_timeout(self, seconds: float) -> DbConnectionBuilder[_C]:
        self.connect_timeout = seconds
        return self

    def with_ssl_context(self, context: ssl.SSLContext) -> DbConnectionBuilder[_C]:
        """A custom TLS context (verification stays on unless the context turns it off)."""
        self.ssl_context = context
        return self

    def _on(self, name: str, cb: Callable[..., object]) -> DbConnectionBuilder[_C]:
        self.callbacks[name] = cb
        return self

    def on_connect(self, cb: Callable[[_C, Identity, str], object]) -> DbConnectionBuilder[_C]:
        return self._on("connect", cb)

    def on_connect_error(
        self, cb: Callable[[ErrorContext, Exception], object]
    ) -> DbConnectionBuilder[_C]:
        return self._on("connect_error", cb)

    def on_disconnect(
        self, cb: Callable[[ErrorContext, Exception | None], object]
    ) -> DbConnectionBuilder[_C]:
        return self._on("disconnect", cb)

    def on_callback_error(self, cb: Callable[[Exception], object]) -> DbConnectionBuilder[_C]:
        return self._on("callback_error", cb)

    def on_reconnecting(
        self, cb: Callable[[_C, Exception | None, int], object]
    ) -> DbConnectionBuilder[_C]:
        return self._on("reconnecting", cb)

    def on_reconnected(self, cb: Callable[[_C], object]) -> DbConnectionBuilder[_C]:
        return self._on("reconnected", cb)

    def build(self) -> _C:
        """An unstarted connection: ``await conn.run()`` or ``async with conn:`` starts it."""
        if not self.uri:
            raise ValueError("with_uri(...) is required")
        if not self.database:
            raise ValueError("with_database_name(...) is required")
        return self._cls(self)

    async def connect(self) -> _C:
        """Connect and wait for the server's ``InitialConnection``; raises :class:`ConnectError`."""
        conn = self.build()
        await conn._start("async")
        return conn

    def connect_sync(
        self, mode: Literal["thread", "tick"] = "thread", *, timeout: float | None = None
    ) -> _C:
        """Connect from synchronous code; see the module docs for the two modes."""
        if mode not in ("thread", "tick"):
            raise ValueError(f"mode must be 'thread' or 'tick', not {mode!r}")
        conn = self.build()
        conn._start_sync(mode, self.connect_timeout + 5 if timeout is None else timeout)
        return conn


# ---- the connection ---------------------------------------------------------------------------


class DbConnection:
    """A connection to one database (see the module docs).

    Attributes: ``db`` (tables), ``reducers``, ``procedures``, ``identity``,
    ``connection_id``, ``token``, ``is_active``.
    """

    #: Set by generated bindings: the module schema and their row classes.
    __schema__: ModuleSchema | None = None
    __classes__: Mapping[int, type] | None = None

    #: Set by generated bindings (all optional; the generic classes are used otherwise):
    #: a TableHandle subclass per table accessor, and the classes built around the
    #: handles and callers for ``conn.db`` / ``conn.reducers`` / ``conn.procedures``
    #: (each called with a mapping accessor -> handle or caller), and the query builder
    #: class (called with the bindings) that ``add_query(lambda q: ...)`` passes.
    __table_handles__: ClassVar[Mapping[str, type[TableHandle]] | None] = None
    # (Typed as classes: mypy would take a Callable class attribute for a method.)
    __tables_class__: ClassVar[type[Any] | None] = None
    __reducers_class__: ClassVar[type[Any] | None] = None
    __procedures_class__: ClassVar[type[Any] | None] = None
    __query_builder_class__: ClassVar[type[Any] | None] = None

    @classmethod
    def builder(
        cls: type[_C],
        schema: ModuleSchema | str | Mapping[str, Any] | None = None,
        *,
        classes: Mapping[int, type] | None = None,
    ) -> DbConnectionBuilder[_C]:
        """Start configuring; without a schema (or generated bindings) it is fetched from the server."""
        if schema is not None and not isinstance(schema, ModuleSchema):
            schema = ModuleSchema.from_json(schema)
        return DbConnectionBuilder(cls, schema or cls.__schema__, classes or cls.__classes__)

    def __init__(self, config: DbConnectionBuilder[Any]) -> None:
        self._config = config
        self.token: str | None = config.token
        self.identity: Identity | None = None
        self.connection_id: ConnectionId | None = None
        self._mode: Mode | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._bindings: ModuleBindings | None = None
        self._cache = ClientCache()
        self._core = ClientCore(self._cache, max_frame_size=config.max_frame_size)
        self._transport: WebSocketTransport | None = None
        self._send_queue: asyncio.Queue[list[bytes] | None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._connected: Pending[DbConnection] = Pending(self, "InitialConnection")
        self._closed: Pending[None] = Pending(self, "disconnect")
        self._ever_connected = False
        self._disconnect_requested = False
        self._subs: dict[int, SubscriptionHandle] = {}
        self._reducer_calls: dict[
            int, tuple[Pending[Any], FunctionBinding, Callable[..., object] | None, bool]
        ] = {}
        self._procedure_calls: dict[int, tuple[Pending[Any], FunctionBinding]] = {}
        self._queries: dict[int, Pending[list[Any]]] = {}
        self._streams: list[ChangeStream] = []
        self._tick_inbox: deque[tuple[str, Any]] = deque()
        self._tick_ready = threading.Event()
        self._tick_loop: asyncio.AbstractEventLoop | None = None
        self.db: Any = _Tables({})
        self.reducers: Any = _Callables("reducer", {})
        self.procedures: Any = _Callables("procedure", {})
        if config.schema is not None:
            self._install_bindings(
                ModuleBindings.from_schema(config.schema, classes=config.classes)
            )

    def __repr__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"<DbConnection {self._config.database!r} at {self._config.uri!r} {state} identity={self.identity}>"

    # ---- public surface ---------------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        """Held while a message is applied to the cache: hold it to read several tables
        consistently from another thread in thread mode (``with conn.lock: ...``)."""
        return self._lock

    @property
    def is_active(self) -> bool:
        """Connected and not yet disconnected."""
        return (
            self._ever_connected
            and not self._closed.done()
            and self._core.state is core_events.State.CONNECTED
        )

    @property
    def schema(self) -> ModuleSchema:
        if self._bindings is None:
            raise SpacetimeDBError("the schema is not loaded yet: connect first")
        return self._bindings.schema

    def subscription_builder(self) -> SubscriptionBuilder:
        return SubscriptionBuilder(self)

    def one_off_query(self, sql: str) -> Pending[list[Any]]:
        """Run a query once (subscription SQL); resolves to the decoded rows."""
        p: Pending[list[Any]] = Pending(self, f"one-off query {sql!r}")
        with self._lock:
            rid = self._core.one_off_query(sql)
            self._queries[rid] = p
        self._flush()
        return p

    def disconnect(self) -> Pending[None]:
        """Close the connection cleanly; ``on_disconnect`` gets ``None`` as the error."""
        self._disconnect_requested = True
        loop = self._loop
        if loop is not None and not loop.is_closed() and not self._closed.done():
            self._in_loop(self._close_transport)
        elif not self._closed.done():
            self._closed._set(None)
        return self._closed

    def frame_tick(self) -> None:
        """Tick mode: apply the frames received since the last tick and run their callbacks."""
        if self._mode != "tick":
            raise SpacetimeDBError(
                "frame_tick() is for connections made with connect_sync(mode='tick')"
            )
        self._tick_ready.clear()
        while self._tick_inbox:
            kind, item = self._tick_inbox.popleft()
            if kind == "frame":
                self._run_tick(self._process_frame(item))
            else:
                self._run_tick(self._after_close(item))
        tick_loop = self._tick_loop
        if self._closed.done() and tick_loop is not None and not tick_loop.is_running():
            self._tick_loop = None
            tick_loop.close()

    async def run(self) -> None:
        """Start if needed and run until the connection closes (for ``asyncio.run(conn.run())``)."""
        if self._mode is None:
            await self._start("async")
        await self._closed

    async def __aenter__(self) -> DbConnection:
        if self._mode is None:
            await self._start("async")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def __enter__(self) -> DbConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect().result()

    # ---- starting ---------------------------------------------------------------------------

    async def _start(self, mode: Mode) -> None:
        self._mode = mode
        self._loop = asyncio.get_running_loop()
        self._send_queue = asyncio.Queue()
        try:
            if self._bindings is None:
                await self._load_schema()
            await self._open()
        except Exception as e:
            err = e if isinstance(e, ConnectError) else ConnectError(str(e))
            if err is not e:
                err.__cause__ = e
            self._connected._fail(err)
            self._closed._set(None)
            await self._call_user("connect_error", ErrorContext(self, err), err)
            raise err from (None if err is e else e)

    def _start_sync(self, mode: Mode, timeout: float | None) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:  # stopped after the connection closed: leave nothing running or open
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(
            target=run, name=f"spacetimedb-{self._config.database}", daemon=True
        )
        self._thread.start()
        ready.wait()
        if mode == "tick":
            self._tick_loop = asyncio.new_event_loop()
        fut = asyncio.run_coroutine_threadsafe(self._start(mode), loop)
        try:
            fut.result(timeout)
        except concurrent.futures.TimeoutError:
            self._stop_thread()
            raise ConnectError(
                f"timed out after {timeout} s connecting to {self._config.uri}"
            ) from None
        except BaseException:
            self._stop_thread()
            raise
        if mode == "tick":
            # InitialConnection is applied on the caller's thread, at a tick.
            self._connected.result(timeout)

    async def _load_schema(self) -> None:
        async with AsyncHttpClient(self._config.uri or "", token=self.token) as http:
            try:
                doc = await http.schema_json(self._config.database or "", version=10)
            except SpacetimeDBError:
                doc = await http.schema_json(self._config.database or "", version=9)
        self._install_bindings(ModuleBindings.from_schema(ModuleSchema.from_json(doc)))

    def _install_bindings(self, bindings: ModuleBindings) -> None:
        cls = type(self)
        self._bindings = bindings
        handles: dict[str, TableHandle] = {}
        for accessor, tb in bindings.tables.items():
            tc: TableCache[Any] = TableCache(
                tb.name,
                tb.codec.decode,
                primary_key=tb.primary_key or None,
                is_event=tb.is_event,
                indexes=tb.indexes,
            )
            self._cache.add_table(tc)
            handle_cls = (cls.__table_handles__ or {}).get(accessor, TableHandle)
            handles[accessor] = handle_cls(self, tb, tc)
        reducers = {k: ReducerCaller(self, b) for k, b in bindings.reducers.items()}
        procedures = {k: ProcedureCaller(self, b) for k, b in bindings.procedures.items()}
        # Generated bindings wrap these in typed classes; the generic path uses attribute maps.
        make_reducers, make_procedures = cls.__reducers_class__, cls.__procedures_class__
        self.db = (cls.__tables_class__ or _Tables)(handles)
        self.reducers = (
            make_reducers(reducers) if make_reducers else _Callables("reducer", reducers)
        )
        self.procedures = (
            make_procedures(procedures) if make_procedures else _Callables("procedure", procedures)
        )

    def _query_builder(self) -> Any:
        # The typed query builder lives beside code generation; imported only when used.
        import importlib

        assert self._bindings is not None
        make_builder = type(self).__query_builder_class__
        if make_builder is not None:
            return make_builder(self._bindings)
        try:
            query = importlib.import_module("spacetimedb_sdk.query")
        except ImportError:
            raise SpacetimeDBError(
                "this version has no query builder yet; pass SQL text to add_query"
            ) from None
        return query.QueryBuilder(self._bindings)

    async def _open(self) -> None:
        cfg = self._config
        url = subscribe_url(
            cfg.uri or "", cfg.database or "", compression=cfg.compression, confirmed=cfg.confirmed
        )
        transport = await WebSocketTransport.open(
            url,
            token=self.token,
            subprotocols=cfg.subprotocols,
            open_timeout=cfg.connect_timeout,
            ssl_context=cfg.ssl_context,
        )
        with self._lock:
            self._core.connection_opened(transport.subprotocol)
        self._transport = transport
        assert self._loop is not None
        self._tasks = [
            self._loop.create_task(self._reader(transport)),
            self._loop.create_task(self._writer(transport)),
        ]
        if self._mode == "tick":
            return  # InitialConnection is applied at the next frame_tick
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(self._connected._future())), cfg.connect_timeout
            )
        except asyncio.TimeoutError:  # the builtin only from Python 3.11
            transport.abort()
            raise ConnectError(
                f"the server accepted the WebSocket but sent no InitialConnection within {cfg.connect_timeout:g} s"
            ) from None

    # ---- I/O tasks ----------------------------------------------------------------------------

    async def _reader(self, transport: WebSocketTransport) -> None:
        error: Exception | None = None
        try:
            while True:
                frame = await transport.recv()
                if frame is None:
                    break
                if self._mode == "tick":
                    self._tick_inbox.append(("frame", frame))
                    self._tick_ready.set()
                    continue
                await self._process_frame(frame)
        except asyncio.CancelledError:
            raise
        except ProtocolError as e:
            error = e
        except Exception as e:  # the socket broke: report it as a disconnect
            error = DisconnectedError(f"connection lost: {e}")
        if error is not None and transport.close_code is None:
            # A bad frame from the server ends this connection, not the program.
            with contextlib.suppress(Exception):
                await transport.close(
                    1002 if isinstance(error, ProtocolError) else 1011, str(error)[:120]
                )
        if self._mode == "tick":
            self._tick_inbox.append(("closed", error))
            self._tick_ready.set()
        else:
            await self._after_close(error)

    async def _writer(self, transport: WebSocketTransport) -> None:
        assert self._send_queue is not None
        queue = self._send_queue
        while True:
            frames = await queue.get()
            if frames is None:
                return
            for frame in frames:
                try:
                    await transport.send(frame)
                except Exception:
                    return  # the reader reports the disconnect

    async def _process_frame(self, frame: bytes) -> None:
        try:
            with self._lock:
                events = self._core.receive_frame(frame)
        except ProtocolError as e:
            log.error("closing the connection: %s", e)
            if self._transport is not None:
                with contextlib.suppress(Exception):
                    await self._transport.close(1002, str(e)[:120])
            if self._mode == "tick":
                await self._after_close(e)
                return
            raise
        self._flush()
        await self._dispatch(events)

    def _flush(self) -> None:
        """Hand the core's outgoing frames to the writer task (from any thread)."""
        with self._lock:
            frames = self._core.data_to_send()
        if frames:
            self._in_loop(self._enqueue, frames)

    def _enqueue(self, frames: list[bytes] | None) -> None:
        if self._send_queue is not None:
            self._send_queue.put_nowait(frames)

    def _in_loop(self, fn: Callable[..., object], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if self._on_loop_thread():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _close_transport(self) -> None:
        t = self._transport
        if t is None:
            self._closed._set(None)
            return
        assert self._loop is not None
        self._loop.create_task(t.close(1000, "client disconnected"))

    async def _after_close(self, error: Exception | None) -> None:
        """The socket is gone: fail calls in flight, then reconnect or report the disconnect."""
        self._enqueue(None)
        self._transport = None
        reconnect = (
            self._config.reconnect is not None
            and self._ever_connected
            and not self._disconnect_requested
        )
        if not self._ever_connected:
            err = error or ConnectError(
                "the server closed the connection before InitialConnection "
                "(the module's client_connected reducer may have rejected this client)"
            )
            err = err if isinstance(err, ConnectError) else ConnectError(str(err))
            with self._lock:
                self._core.connection_closed()
            self._connected._fail(err)
            self._closed._set(None)
            self._fail_all(DisconnectedError(str(err)))
            if self._mode == "tick":
                await self._call_user("connect_error", ErrorContext(self, err), err)
            return
        if reconnect:
            with self._lock:
                reducers, procedures, queries, ended = self._core.reset_for_reconnect()
            self._fail_calls(
                reducers, procedures, queries, DisconnectedError("connection lost; reconnecting")
            )
            await self._dispatch(ended)
            assert self._loop is not None
            self._loop.create_task(self._reconnect_loop(error))
            return
        with self._lock:
            self._core.connection_closed()
        self._fail_all(DisconnectedError("the connection closed" + (f": {error}" if error else "")))
        for stream in self._streams:
            stream._end()
        self._closed._set(None)
        await self._call_user("disconnect", ErrorContext(self, Disconnected(error)), error)
        self._stop_network_loop()

    async def _reconnect_loop(self, error: Exception | None) -> None:
        policy = self._config.reconnect
        assert policy is not None
        attempt = 0
        while not self._disconnect_requested:
            await self._call_user("reconnecting", self, error, attempt)
            await asyncio.sleep(policy.delay(attempt))
            if self._disconnect_requested:
                break
            try:
                self._send_queue = asyncio.Queue()
                await self._open_reconnect()
            except ConnectError as e:
                log.warning("reconnect attempt %d failed: %s", attempt + 1, e)
                error = e
                attempt += 1
                continue
            await self._call_user("reconnected", self)
            return
        with self._lock:
            self._core.connection_closed()
        self._fail_all(DisconnectedError("disconnected while reconnecting"))
        self._closed._set(None)
        await self._call_user("disconnect", ErrorContext(self, Disconnected(None)), None)
        self._stop_network_loop()

    def _stop_network_loop(self) -> None:
        """Sync modes own their network loop: stop it once closed (its thread then closes it)."""
        loop = self._loop
        if self._mode in ("thread", "tick") and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)

    async def _open_reconnect(self) -> None:
        # A fresh InitialConnection is awaited on a fresh future; the first one stays resolved.
        self._connected = Pending(self, "InitialConnection")
        await self._open()

    # ---- calls --------------------------------------------------------------------------------

    def _subscribe(
        self,
        queries: list[str],
        on_applied: Callable[[SubscriptionEventContext], object] | None,
        on_error: Callable[[ErrorContext, Exception], object] | None,
    ) -> SubscriptionHandle:
        handle = SubscriptionHandle(self, queries, on_applied, on_error)
        with self._lock:
            qs = self._core.subscribe(queries)
            handle.query_set_id = qs
            self._subs[qs] = handle
        self._flush()
        return handle

    def _unsubscribe(self, handle: SubscriptionHandle) -> None:
        with self._lock:
            events = self._core.unsubscribe(handle.query_set_id)
        self._flush()
        if events:
            self._dispatch_now(events)

    def _call_reducer(
        self,
        binding: FunctionBinding,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        then: Callable[..., object] | None,
        *,
        fire: bool = False,
    ) -> Pending[Any]:
        data = binding.encode_args(args, kwargs)  # raises TypeError/ValueError here, in the caller
        p: Pending[Any] = Pending(self, f"reducer {binding.name}")
        with self._lock:
            rid = self._core.call_reducer(binding.name, data)
            self._reducer_calls[rid] = (p, binding, then, fire)
        self._flush()
        return p

    def _call_procedure(
        self, binding: FunctionBinding, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Pending[Any]:
        data = binding.encode_args(args, kwargs)
        p: Pending[Any] = Pending(self, f"procedure {binding.name}")
        with self._lock:
            rid = self._core.call_procedure(binding.name, data)
            self._procedure_calls[rid] = (p, binding)
        self._flush()
        return p

    def _fail_calls(
        self, reducers: list[int], procedures: list[int], queries: list[int], exc: Exception
    ) -> None:
        for rid in reducers:
            entry = self._reducer_calls.pop(rid, None)
            if entry is not None:
                entry[0]._fail(exc)
        for rid in procedures:
            pentry = self._procedure_calls.pop(rid, None)
            if pentry is not None:
                pentry[0]._fail(exc)
        for rid in queries:
            q = self._queries.pop(rid, None)
            if q is not None:
                q._fail(exc)

    def _fail_all(self, exc: Exception) -> None:
        self._fail_calls(
            list(self._reducer_calls), list(self._procedure_calls), list(self._queries), exc
        )
        for handle in self._subs.values():
            handle.is_active = False
            handle.is_ended = True
            handle._applied._fail(exc)
            handle._ended._set(None)
        self._subs.clear()

    # ---- waiting from synchronous code --------------------------------------------------------

    def _wait(self, fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T:
        if self._mode == "async" and self._on_loop_thread():
            raise SpacetimeDBError(
                f"use 'await' for {what} on an asyncio connection; .result() would block the loop"
            )
        if self._mode == "tick" and not self._on_loop_thread():
            return self._wait_ticking(fut, timeout, what)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}") from None

    def _wait_ticking(
        self, fut: concurrent.futures.Future[T], timeout: float | None, what: str
    ) -> T:
        loop = self._loop
        deadline = None if timeout is None or loop is None else loop.time() + timeout
        while not fut.done():
            self.frame_tick()
            if fut.done():
                break
            remaining = None if deadline is None or loop is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            self._tick_ready.wait(remaining)
        return fut.result()

    def _run_tick(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tick_loop is None:  # the connection is closed and its loops are gone
            coro.close()
            return
        self._tick_loop.run_until_complete(coro)

    def _dispatch_now(self, events: list[core_events.Event]) -> None:
        """Dispatch events produced by a user call (cancelling a queued subscription)."""
        if (
            self._mode == "tick"
            and self._tick_loop is not None
            and not self._tick_loop.is_running()
        ):
            self._run_tick(self._dispatch(events))
            return
        loop = self._loop
        if loop is None:
            asyncio.run(self._dispatch(events))
        elif self._on_loop_thread():
            loop.create_task(self._dispatch(events))
        else:
            asyncio.run_coroutine_threadsafe(self._dispatch(events), loop)

    def _stop_thread(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)

    # ---- dispatching core events to user code ------------------------------------------------

    async def _call_user(self, name: str, *args: Any) -> None:
        cb = self._config.callbacks.get(name)
        if cb is not None:
            await self._run_callback(cb, *args)

    async def _run_callback(self, cb: Callable[..., object], *args: Any) -> None:
        try:
            result = cb(*args)
            if inspect.isawaitable(result):
                await result
        except Exception as e:
            self._callback_failed(e)

    def _callback_failed(self, exc: Exception, *_: object) -> None:
        log.error("a callback raised %s", type(exc).__name__, exc_info=exc)
        handler = self._config.callbacks.get("callback_error")
        if handler is not None:
            try:
                handler(exc)
            except Exception:
                log.exception("on_callback_error itself raised")

    async def _fire(self, changes: PendingChanges | None, event: Any) -> None:
        if not changes:
            return
        awaitables = changes.fire(lambda: EventContext(self, event), on_error=self._callback_failed)
        for aw in awaitables:
            try:
                await aw
            except Exception as e:
                self._callback_failed(e)

    async def _dispatch(self, events: Sequence[core_events.Event]) -> None:
        for ev in events:
            if isinstance(ev, core_events.TransactionApplied):
                await self._fire(ev.changes, Transaction())
            elif isinstance(ev, core_events.ReducerFinished):
                await self._on_reducer_finished(ev)
            elif isinstance(ev, core_events.Connected):
                await self._on_connected(ev)
            elif isinstance(ev, core_events.SubscriptionApplied):
                await self._on_subscription_applied(ev)
            elif isinstance(ev, core_events.SubscriptionEnded):
                await self._on_subscription_ended(ev)
            elif isinstance(ev, core_events.SubscriptionFailed):
                await self._on_subscription_failed(ev)
            elif isinstance(ev, core_events.ProcedureFinished):
                self._on_procedure_finished(ev)
            elif isinstance(ev, core_events.OneOffQueryFinished):
                self._on_query_finished(ev)

    async def _on_connected(self, ev: core_events.Connected) -> None:
        self.identity = ev.identity
        self.connection_id = ev.connection_id
        if not self.token:
            self.token = ev.token
        first = not self._ever_connected
        self._ever_connected = True
        self._connected._set(self)
        if first:
            await self._call_user("connect", self, ev.identity, self.token or ev.token)

    async def _on_subscription_applied(self, ev: core_events.SubscriptionApplied) -> None:
        handle = self._subs.get(ev.query_set_id)
        if handle is not None and not ev.cancelled and not handle.is_active:
            handle.is_active = True
            if handle._on_applied is not None:
                await self._run_callback(
                    handle._on_applied, SubscriptionEventContext(self, SubscribeApplied())
                )
        await self._fire(ev.changes, SubscribeApplied())
        if handle is not None:
            handle._applied._set(handle)

    async def _on_subscription_ended(self, ev: core_events.SubscriptionEnded) -> None:
        handle = self._subs.pop(ev.query_set_id, None)
        if handle is not None:
            handle.is_active = False
            handle.is_ended = True
            if handle._on_end is not None:
                await self._run_callback(
                    handle._on_end, SubscriptionEventContext(self, UnsubscribeApplied())
                )
        await self._fire(ev.changes, UnsubscribeApplied())
        if handle is not None:
            handle._applied._fail(
                SubscriptionError(f"subscription {handle.queries!r} was cancelled")
            )
            handle._ended._set(None)

    async def _on_subscription_failed(self, ev: core_events.SubscriptionFailed) -> None:
        handle = self._subs.pop(ev.query_set_id, None)
        err = SubscriptionError(ev.error)
        await self._fire(ev.changes, SubscribeError(err))
        if handle is None:
            log.warning("subscription error for query set %d: %s", ev.query_set_id, ev.error)
            return
        handle.is_active = False
        handle.is_ended = True
        if handle._on_error is not None:
            await self._run_callback(handle._on_error, ErrorContext(self, SubscribeError(err)), err)
        handle._applied._fail(err)
        handle._ended._set(None)

    async def _on_reducer_finished(self, ev: core_events.ReducerFinished) -> None:
        entry = self._reducer_calls.pop(ev.request_id, None)
        outcome = ev.outcome
        status: Committed | Failed | InternalFailure
        if isinstance(outcome, m.ReducerOk | m.ReducerOkEmpty):
            status = Committed()
        elif isinstance(outcome, m.ReducerErr):
            status = Failed(_error_text(outcome.error))
        else:
            status = InternalFailure(outcome.message)
        binding = entry[1] if entry is not None else None
        reducer_event = ReducerEvent(
            ev.timestamp, status, ReducerCall(ev.reducer, _decode_args(binding, ev.args))
        )
        await self._fire(ev.changes, reducer_event)
        if entry is None:
            return
        pending, binding, then, fire = entry
        if then is not None:
            await self._run_callback(then, ReducerEventContext(self, reducer_event))
        if isinstance(status, Committed):
            ret = outcome.ret_value if isinstance(outcome, m.ReducerOk) else b""
            pending._set(_decode_return(binding, ret))
        elif isinstance(status, Failed):
            exc: Exception = ReducerError(status.message)
            if fire:
                log.warning("reducer %s failed: %s", binding.name, status.message)
            pending._fail(exc)
        else:
            if fire:
                log.warning("reducer %s failed on the host: %s", binding.name, status.message)
            pending._fail(InternalError(status.message))

    def _on_procedure_finished(self, ev: core_events.ProcedureFinished) -> None:
        entry = self._procedure_calls.pop(ev.request_id, None)
        if entry is None:
            return
        pending, binding = entry
        if isinstance(ev.status, m.ProcedureReturned):
            try:
                pending._set(binding.decode_return(ev.status.value))
            except Exception as e:
                pending._fail(
                    ProtocolError(f"procedure {binding.name} returned undecodable data: {e}")
                )
        else:
            pending._fail(ProcedureError(ev.status.message))

    def _on_query_finished(self, ev: core_events.OneOffQueryFinished) -> None:
        pending = self._queries.pop(ev.request_id, None)
        if pending is None:
            return
        if isinstance(ev.result, Err):
            pending._fail(QueryError(ev.result.error))
            return
        assert self._bindings is not None
        rows: list[Any] = []
        try:
            for single in ev.result.value.tables:
                rows.extend(
                    self._bindings.table(single.table).codec.decode_rows(single.rows.rows_data)
                )
        except Exception as e:
            pending._fail(ProtocolError(f"one-off query result could not be decoded: {e}"))
            return
        pending._set(rows)


def _error_text(data: bytes) -> str:
    """A reducer's ``Err`` payload: a BSATN string for every current module."""
    try:
        return str(bsatn.decode(_STRING, data))
    except Exception:
        return data.decode("utf-8", "replace")


def _decode_args(binding: FunctionBinding | None, data: bytes) -> dict[str, Any]:
    if binding is None:
        return {}
    try:
        wire = binding.args_codec.decode(data)
    except Exception:
        return {}
    if isinstance(wire, dict):
        return dict(zip(binding.param_names, wire.values(), strict=False))
    return {}


def _decode_return(binding: FunctionBinding, data: bytes) -> Any:
    if not data:
        return None
    try:
        return (
            bsatn.decode(_STRING, data)
            if binding.return_codec is None
            else binding.return_codec.decode(data)
        )
    except Exception:
        return data


__all__ = [
    "ChangeStream",
    "DbConnection",
    "DbConnectionBuilder",
    "Pending",
    "ProcedureCaller",
    "ReconnectPolicy",
    "ReducerCaller",
    "SubscriptionBuilder",
    "SubscriptionHandle",
    "TableHandle",
]
