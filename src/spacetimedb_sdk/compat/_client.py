"""``SpacetimeDBClient``: the 0.7 client, kept as a thin layer over one 2.x ``DbConnection``.

Like 0.7 there is one process-global client, ``SpacetimeDBClient.instance`` (the last
one created), which the 0.7-shaped ``module_bindings`` modules call through
:mod:`spacetimedb_sdk.compat`.  It owns one connection, driven either

- by asyncio, for :class:`~spacetimedb_sdk.spacetimedb_async_client.SpacetimeDBAsyncClient`
  (callbacks run on the event loop), or
- by ``update()``, for the synchronous ``SpacetimeDBClient.init(...)`` API: the
  network runs on a background thread, and received messages are applied and
  their callbacks run only inside ``update()`` on the caller's thread, which is
  what 0.7 promised (the 2.x ``connect_sync(mode="tick")``).

Example::

    SpacetimeDBClient.init(token, "localhost:3000", "quickstart-chat", False, module_bindings,
                           on_identity=lambda token, identity, address: print(identity))
    SpacetimeDBClient.instance.subscribe(["SELECT * FROM user"])
    while running:
        SpacetimeDBClient.instance.update()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, Literal

from .._log import get_logger
from ..client import events as ev
from ..client.events import ErrorContext, EventContext, ReducerEventContext, SubscribeApplied
from ..connection import DbConnection, DbConnectionBuilder, SubscriptionHandle
from ..errors import ConnectError, SpacetimeDBError, SubscriptionError
from ..sats.values import ConnectionId, Identity
from ._events import COMMITTED, ReducerEvent, TransactionUpdateMessage, status_text
from ._package import Package07, adapt_callback
from ._view import TableCache07, View07

__all__ = ["SpacetimeDBClient"]

log = get_logger("spacetimedb_sdk.compat")

RowCallback = Callable[[str, Any, Any, "ReducerEvent | None"], object]
IdentityHook = Callable[[str, Identity, "ConnectionId | None"], None]
DEFAULT_CLOSE_TIMEOUT = 5.0


class _CurrentClient(type):
    """``SpacetimeDBClient.instance``: the current client, or a clear error when there is none.

    0.7 bindings call ``SpacetimeDBClient.instance._register_row_update(...)``; before a client
    exists that would be an ``AttributeError`` on ``None``.
    """

    _current: SpacetimeDBClient | None = None

    @property
    def instance(cls) -> SpacetimeDBClient:
        """The current client (the last one created); raises if there is none yet."""
        if cls._current is None:
            raise SpacetimeDBError(
                "no SpacetimeDB client yet: create SpacetimeDBAsyncClient(module_bindings) or "
                "call SpacetimeDBClient.init(...) before using the module_bindings functions"
            )
        return cls._current

    @instance.setter
    def instance(cls, client: SpacetimeDBClient | None) -> None:
        cls._current = client

    def current(cls) -> SpacetimeDBClient | None:
        """The current client, or ``None``."""
        return cls._current


class SpacetimeDBClient(metaclass=_CurrentClient):
    """The 0.7 ``SpacetimeDBClient``: one connection, its callbacks, and the cache they read.

    Create it with :meth:`init` (synchronous use, call :meth:`update` regularly), or let
    ``SpacetimeDBAsyncClient(module_bindings)`` create it.  ``autogen_package`` is the
    ``module_bindings`` package written by ``spacetimedb-py generate --compat-07``.

    Example::

        SpacetimeDBClient.init(None, "localhost:3000", "quickstart-chat", False, module_bindings)
        client = SpacetimeDBClient.instance
        client.register_on_subscription_applied(lambda: print("rows are in"))
        client.subscribe(["SELECT * FROM user"])
    """

    @classmethod
    def init(
        cls,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool,
        autogen_package: ModuleType | None,
        on_connect: Callable[[], object] | None = None,
        on_disconnect: Callable[[str], object] | None = None,
        on_identity: Callable[[str, Identity, ConnectionId | None], object] | None = None,
        on_error: Callable[[str], object] | None = None,
    ) -> SpacetimeDBClient:
        """Create the client and connect; callbacks run inside later :meth:`update` calls.

        ``host`` is ``"host:port"`` (or a full URL); ``ssl_enabled`` picks https/wss.
        ``on_identity(token, identity, address)`` receives the token to save for next time.
        A connection failure goes to ``on_error(message)`` if given, else raises
        :class:`~spacetimedb_sdk.errors.ConnectError`.

        Example::

            SpacetimeDBClient.init(local_config.get_string("auth_token"), "localhost:3000",
                                   "quickstart-chat", False, module_bindings,
                                   on_identity=on_identity)
        """
        client = cls(autogen_package)
        client.connect(
            auth_token,
            host,
            address_or_name,
            ssl_enabled,
            on_connect,
            on_disconnect,
            on_identity,
            on_error,
        )
        return client

    def __init__(self, autogen_package: ModuleType | None) -> None:
        """Prefer :meth:`init`; this makes the client current without connecting."""
        self._package = autogen_package
        self._package07 = Package07(autogen_package)
        self._view: View07 | None = None
        # Registered under the names given (0.7 or canonical); resolved when events arrive.
        self._row_callbacks: dict[str, list[RowCallback]] = {}
        self._reducer_callbacks: dict[str, list[Callable[..., object]]] = {}
        self._on_subscription_applied: list[Callable[[], object]] = []
        self._on_event: list[Callable[[TransactionUpdateMessage], object]] = []
        self._conn: DbConnection | None = None
        self._mode: Literal["async", "tick"] | None = None
        self._subscriptions: list[SubscriptionHandle] = []
        self._queued_queries: list[str] | None = None
        self._identity_hook: IdentityHook | None = None
        self._deferred: deque[Callable[[], object]] = deque()
        self._last_event: tuple[object, ReducerEvent | None] = (None, None)
        self._applied_due: list[list[SubscriptionHandle]] = []
        self._applied_rows: object = None  # the event of the rows the due subscriptions brought
        self._resolved: dict[tuple[str, str], str | None] = {}
        self.identity: Identity | None = None
        self.address: ConnectionId | None = None
        self.token: str | None = None
        SpacetimeDBClient.instance = self

    def __repr__(self) -> str:
        state = "connected" if self._conn is not None and self._conn.is_active else "not connected"
        return f"<SpacetimeDBClient {state} identity={self.identity}>"

    @property
    def connection(self) -> DbConnection | None:
        """The underlying 2.x connection, for code moving to the new API step by step.

        Example::

            me = client.connection.db.user.identity.find(client.identity)
        """
        return self._conn

    # ---- the synchronous 0.7 API -----------------------------------------------------------

    def connect(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool,
        on_connect: Callable[[], object] | None = None,
        on_disconnect: Callable[[str], object] | None = None,
        on_identity: Callable[[str, Identity, ConnectionId | None], object] | None = None,
        on_error: Callable[[str], object] | None = None,
    ) -> None:
        """Connect for :meth:`update`-driven use (see :meth:`init`, which calls this)."""

        def identity_known(token: str, identity: Identity, address: ConnectionId | None) -> None:
            # 0.7 delivered these from update(), on the caller's thread.
            if on_connect is not None:
                self._deferred.append(on_connect)
            if on_identity is not None:
                self._deferred.append(functools.partial(on_identity, token, identity, address))

        def disconnected(error: Exception | None) -> None:
            if error is not None and on_error is not None:
                self._safely(on_error, str(error))
            if on_disconnect is not None:
                self._safely(on_disconnect, "" if error is None else str(error))

        builder = self._builder(auth_token, host, address_or_name, ssl_enabled, identity_known)
        builder.on_disconnect(lambda _ctx, error: disconnected(error))
        self._mode = "tick"
        try:
            builder.connect_sync(mode="tick")
        except ConnectError as e:
            if on_error is None:
                raise
            on_error(str(e))

    def update(self) -> None:
        """Apply the messages received since the last call and run their callbacks.

        Call it regularly (every frame of a game loop, say); nothing reaches the cache
        or the callbacks in between.  Clients made by ``SpacetimeDBAsyncClient`` need not
        call it.

        Example::

            while True:
                SpacetimeDBClient.instance.update()
        """
        while self._deferred:
            self._safely(self._deferred.popleft())
        if self._conn is not None and self._mode == "tick":
            self._conn.frame_tick()
            self._flush_applied()

    def close(self, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close the connection (``on_disconnect`` runs before this returns in update mode).

        Example::

            SpacetimeDBClient.instance.close()
        """
        conn = self._conn
        if conn is None:
            return
        closed = conn.disconnect()
        if self._mode == "tick":
            closed.result(timeout)

    def subscribe(self, queries: Sequence[str]) -> None:
        """Subscribe to SQL queries, replacing the previous subscription as 0.7 did.

        Table names may be the 0.7 module's (``SELECT * FROM User``): they are mapped to the
        2.x module's canonical names (``user``) where the match is unambiguous.  Before the
        connection is up the queries are kept and sent once it is.

        Example::

            client.subscribe(["SELECT * FROM User", "SELECT * FROM Message"])
        """
        qs = [queries] if isinstance(queries, str) else list(queries)
        conn, view = self._conn, self._view
        if conn is None or view is None:
            self._queued_queries = qs
            return
        if not qs:
            return
        qs = [view.translate(q) for q in qs]
        holder: list[SubscriptionHandle] = []

        def applied(_ctx: object) -> None:
            # 2.x calls this before the subscription's row callbacks; 0.7 called its
            # callbacks after them.  So they wait for the end of this message: the next
            # other event, or (if none is already received) the next loop iteration.
            self._flush_applied()
            self._applied_due.append(holder)
            self._applied_rows = None
            asyncio.get_running_loop().call_soon(self._flush_applied)

        handle = (
            conn.subscription_builder()
            .on_applied(applied)
            .on_error(self._subscription_failed)
            .subscribe(qs)
        )
        holder.append(handle)
        self._subscriptions.append(handle)

    def register_on_subscription_applied(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` each time a subscription's rows are in the cache.

        Example::

            client.register_on_subscription_applied(lambda: print("rows are in"))
        """
        self._on_subscription_applied.append(callback)

    def unregister_on_subscription_applied(self, callback: Callable[[], object]) -> None:
        """Undo :meth:`register_on_subscription_applied`."""
        self._on_subscription_applied.remove(callback)

    def register_on_event(self, callback: Callable[[TransactionUpdateMessage], object]) -> None:
        """Call ``callback(message)`` when one of this client's reducer calls finishes.

        Example::

            client.register_on_event(lambda msg: print(msg.reducer_event.status))
        """
        self._on_event.append(callback)

    def unregister_on_event(self, callback: Callable[[TransactionUpdateMessage], object]) -> None:
        """Undo :meth:`register_on_event`."""
        self._on_event.remove(callback)

    # ---- what generated 0.7 modules call ---------------------------------------------------
    #
    # Bindings written by the 0.7 CLI call the underscore methods below on
    # SpacetimeDBClient.instance, with the 0.7 module's names ("User") and 0.7's JSON shapes;
    # the public ones (used through spacetimedb_sdk.compat) take the same names.

    def register_row_update(self, table: str, callback: RowCallback) -> None:
        """Call ``callback(op, old, new, reducer_event)`` for each change to ``table``.

        ``table`` is the 0.7 name (``"User"``) or the canonical one (``"user"``).  Rows are
        the bindings' 0.7 row objects where the package has the table's class.

        Example::

            client.register_row_update("User", lambda op, old, new, ev: print(op, new))
        """
        self._row_callbacks.setdefault(table, []).append(callback)

    _register_row_update = register_row_update

    def unregister_row_update(self, table: str, callback: RowCallback) -> None:
        """Undo :meth:`register_row_update`.

        Example::

            client.unregister_row_update("User", on_user)
        """
        self._row_callbacks.get(table, []).remove(callback)

    _unregister_row_update = unregister_row_update

    def register_on_reducer(self, reducer: str, callback: Callable[..., object]) -> None:
        """Call ``callback(identity, address, status, message, *args)`` after own calls.

        A callback written for the pre-0.7 signature, without ``address``, is called without it.

        Example::

            client.register_on_reducer("set_name", lambda who, addr, status, msg, name: ...)
        """
        self._reducer_callbacks.setdefault(reducer, []).append(callback)

    _register_reducer = register_on_reducer

    def unregister_on_reducer(self, reducer: str, callback: Callable[..., object]) -> None:
        """Undo :meth:`register_on_reducer`.

        Example::

            client.unregister_on_reducer("set_name", on_set_name)
        """
        self._reducer_callbacks.get(reducer, []).remove(callback)

    _unregister_reducer = unregister_on_reducer

    def _get_table_cache(self, table: str) -> TableCache07:
        """0.7's per-table cache: ``values()`` are the cached rows (none before connecting)."""
        cls = self._package07.table_classes.get(table)
        return TableCache07(table, lambda: self._rows07(table), cls)

    def _reducer_call(self, reducer: str, *args: Any) -> None:
        """0.7's reducer call: arguments in 0.7's JSON shapes; the outcome reaches callbacks."""
        self.call_reducer(reducer, *args)

    def iter_rows(self, table: str) -> Iterator[Any]:
        """The cached rows of ``table`` (none before connecting).

        Example::

            names = [u.name for u in client.iter_rows("User")]
        """
        return iter(self._rows07(table))

    def filter_by(self, table: str, column: str, value: Any) -> list[Any]:
        """The cached rows of ``table`` whose attribute ``column`` equals ``value``.

        Example::

            online = client.filter_by("User", "online", True)
        """
        return [row for row in self.iter_rows(table) if getattr(row, column) == value]

    def find_by(self, table: str, column: str, value: Any) -> Any:
        """The row whose unique ``column`` equals ``value``, or ``None`` (an index lookup).

        Example::

            me = client.find_by("User", "identity", client.identity)
        """
        view = self._view
        if view is None:
            return None
        name = view.table(table)
        try:
            find = getattr(view.handles[name].index(column), "find", None)
        except (KeyError, AttributeError):
            find = None
        if callable(find):
            return view.row(name, find(value))
        return next(iter(self.filter_by(table, column, value)), None)

    def call_reducer(
        self,
        reducer: str,
        *args: Any,
        on_done: Callable[[TransactionUpdateMessage], object] | None = None,
    ) -> None:
        """Call ``reducer`` with positional arguments; the outcome reaches the callbacks.

        Arguments may be in 0.7's JSON shapes (``{"0": x}`` options, ``[hex]`` identities,
        lists or dicts for structs) or the SDK's values; ``reducer`` is the 0.7 or canonical
        name.  ``on_done(message)`` runs last, after the ``register_on_*`` callbacks.

        Example::

            client.call_reducer("send_message", "hello")
        """
        view = self._view
        if view is None:
            raise SpacetimeDBError(
                f"cannot call reducer {reducer!r}: the client is not connected yet"
            )
        done = functools.partial(self._reducer_finished, reducer, on_done)
        view.call(reducer, args, done)

    def _rows07(self, table: str) -> list[Any]:
        view = self._view
        if view is None:
            return []
        return view.rows(view.table(table))

    # ---- connecting ------------------------------------------------------------------------

    async def _connect_async(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool,
        on_disconnect: Callable[[Exception | None], object],
    ) -> DbConnection:
        builder = self._builder(auth_token, host, address_or_name, ssl_enabled, None)
        builder.on_disconnect(lambda _ctx, error: on_disconnect(error))
        self._mode = "async"
        conn: DbConnection = await builder.connect()
        return conn

    def _builder(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool,
        on_identity: IdentityHook | None,
    ) -> DbConnectionBuilder[Any]:
        if self._conn is not None and self._conn.is_active:
            raise SpacetimeDBError("this client is already connected; close() it first")
        self._identity_hook = on_identity
        uri = host if "://" in host else f"{'https' if ssl_enabled else 'http'}://{host}"
        return (
            self._connection_class()
            .builder()
            .with_uri(uri)
            .with_database_name(address_or_name)
            .with_token(auth_token or None)
            .on_connect(self._connected)
        )

    def _connection_class(self) -> type[DbConnection]:
        # Bindings of `generate --compat-07` carry a typed DbConnection (and the schema);
        # bindings written by the 0.7 CLI do not, and the schema is fetched at connect.
        cls = getattr(self._package, "DbConnection", None)
        if isinstance(cls, type) and issubclass(cls, DbConnection):
            return cls
        return DbConnection

    def _connected(self, conn: DbConnection, identity: Identity, token: str) -> None:
        self._conn = conn
        self.identity, self.address, self.token = identity, conn.connection_id, token
        self._attach(conn)
        if self._queued_queries is not None:
            queries, self._queued_queries = self._queued_queries, None
            self.subscribe(queries)
        if self._identity_hook is not None:
            self._identity_hook(token, identity, conn.connection_id)

    def _attach(self, conn: DbConnection) -> None:
        """Route every table's row callbacks and every reducer to the 0.7 registries."""
        self._view = View07(conn, self._package07)
        self._resolved = {}
        for name, handle in self._view.handles.items():
            handle.on_insert(functools.partial(self._row_inserted, name))
            handle.on_delete(functools.partial(self._row_deleted, name))
            with contextlib.suppress(TypeError):  # tables without a primary key have no updates
                handle.on_update(functools.partial(self._row_updated, name))

    def _registered(self, registry: dict[str, list[Any]], kind: str, canonical: str) -> list[Any]:
        """The callbacks registered under any name (0.7 or canonical) that means ``canonical``."""
        view = self._view
        assert view is not None
        names = view.tables if kind == "table" else view.reducers
        out: list[Any] = []
        for key, callbacks in registry.items():
            if (kind, key) not in self._resolved:
                try:
                    self._resolved[(kind, key)] = names.resolve_or_none(key)
                except SpacetimeDBError as e:  # ambiguous: say so once, call none of them
                    log.error("%s callbacks for %r are not called: %s", kind, key, e)
                    self._resolved[(kind, key)] = None
            if self._resolved[(kind, key)] == canonical:
                out.extend(callbacks)
        return out

    # ---- events from the connection --------------------------------------------------------

    def _row_inserted(self, table: str, ctx: EventContext, row: Any) -> None:
        self._rows_changed(table, "insert", None, row, ctx)

    def _row_deleted(self, table: str, ctx: EventContext, row: Any) -> None:
        self._rows_changed(table, "delete", row, None, ctx)

    def _row_updated(self, table: str, ctx: EventContext, old: Any, new: Any) -> None:
        self._rows_changed(table, "update", old, new, ctx)

    def _rows_changed(self, table: str, op: str, old: Any, new: Any, ctx: EventContext) -> None:
        if self._applied_due:
            if self._applied_rows is None and isinstance(ctx.event, SubscribeApplied):
                self._applied_rows = ctx.event  # the rows of the subscription just applied
            elif ctx.event is not self._applied_rows:
                self._flush_applied()  # a later message: the subscription's turn is over
        view = self._view
        assert view is not None
        callbacks = self._registered(self._row_callbacks, "table", table)
        if callbacks:
            event = self._reducer_event(ctx.event)
            old07, new07 = view.row(table, old), view.row(table, new)
            for cb in callbacks:
                # Callbacks from before 0.5 took (op, old, new) without the reducer event.
                self._safely(cb, *adapt_callback(cb, op, old07, new07, event, optional=3))
        view.forget(table, old)

    def _reducer_event(self, event: object) -> ReducerEvent | None:
        # One 0.7 event per 2.x message, shared by all its row callbacks.
        if self._last_event[0] is not event:
            self._last_event = (event, self._convert_event(event))
        return self._last_event[1]

    def _convert_event(self, event: object) -> ReducerEvent | None:
        """The 0.7 ``reducer_event`` of a 2.x event; ``None`` for subscription rows.

        A 2.x server names the reducer and its arguments only to the caller: other clients'
        changes get a committed event without a caller, reducer or arguments.
        """
        if isinstance(event, ev.ReducerEvent):
            view = self._view
            assert view is not None
            status, message = status_text(event.status)
            name = event.reducer.name
            args = view.args07(name, event.reducer.args)
            return ReducerEvent(
                self.identity, self.address, view.reducer_name07(name), status, message, args
            )
        if isinstance(event, ev.Transaction):
            return ReducerEvent(None, None, None, COMMITTED, "", [])
        return None

    def _reducer_finished(
        self,
        reducer: str,
        on_done: Callable[[TransactionUpdateMessage], object] | None,
        ctx: ReducerEventContext,
    ) -> None:
        self._flush_applied()
        event = self._reducer_event(ctx.event)
        assert event is not None and self._view is not None
        update = TransactionUpdateMessage(event)
        for on_event in list(self._on_event):
            self._safely(on_event, update)
        canonical = ctx.event.reducer.name
        # As 0.7 did, the arguments reach the callbacks through the bindings' _decode_args.
        decode = self._package07.decode_args(event.reducer_name or reducer)
        try:
            args = list(decode(event.args)) if decode else list(ctx.event.reducer.args.values())
        except Exception:
            log.exception("%s's _decode_args failed on %r", event.reducer_name, event.args)
            args = list(ctx.event.reducer.args.values())
        head = (self.identity, self.address, event.status, event.message)
        for cb in self._registered(self._reducer_callbacks, "reducer", canonical):
            self._safely(cb, *adapt_callback(cb, *head, *args, optional=1))
        if on_done is not None:
            on_done(update)

    def _flush_applied(self) -> None:
        due, self._applied_due = self._applied_due, []
        for holder in due:
            self._subscription_applied(holder[0] if holder else None)

    def _subscription_applied(self, current: SubscriptionHandle | None) -> None:
        for old in [h for h in self._subscriptions if h is not current]:
            self._subscriptions.remove(old)
            if not old.is_ended:
                with contextlib.suppress(SubscriptionError):
                    old.unsubscribe()
        for cb in list(self._on_subscription_applied):
            self._safely(cb)

    def _subscription_failed(self, _ctx: ErrorContext, error: Exception) -> None:
        self._subscriptions = [h for h in self._subscriptions if not h.is_ended]
        log.error("subscription failed: %s", error)

    def _safely(self, callback: Callable[..., object], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("a callback raised (%s)", getattr(callback, "__name__", callback))
