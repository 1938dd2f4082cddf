"""``DbConnection``: the user's handle on one database, a facade over its parts.

The connection owns a sans-I/O :class:`~spacetimedb_sdk.client.core.ClientCore`
and :class:`~spacetimedb_sdk.client.cache.ClientCache`, and puts the rest in
the sibling modules: the :class:`~.session.Session` does the network I/O, a
driver (:mod:`.drivers`) decides where it runs, the call and subscription
registries (:mod:`.calls`, :mod:`.subscriptions`) track what is in flight, and
the table handles (:mod:`.tables`) read the cache.  What is left here is the
public surface and the wiring.

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

import concurrent.futures
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..client import core as core_events
from ..client.bindings import ModuleBindings
from ..client.cache import ClientCache, TableCache
from ..client.core import ClientCore
from ..errors import ConnectTimeoutError, SpacetimeDBError
from ..http import AsyncHttpClient
from ..sats.values import ConnectionId, Identity
from ..schema import ModuleSchema
from .builder import DbConnectionBuilder
from .callbacks import UserCallbacks
from .calls import Callables, CallRegistry, ProcedureCaller, ReducerCaller
from .drivers import BackgroundLoop, Driver, Mode, TickDriver
from .pending import Pending
from .session import Session
from .subscriptions import SubscriptionBuilder, SubscriptionRegistry
from .tables import ChangeStream, TableHandle, Tables

T = TypeVar("T")
_C = TypeVar("_C", bound="DbConnection")

_NOT_YET = (
    "conn.{0} is not known yet: the server sends it when the connection is established "
    "(await connect() first, or use conn.{1}() to get None until then)"
)


if TYPE_CHECKING:

    class _Bindings:
        """What generated bindings set on their ``DbConnection`` subclass (all optional).

        The module schema and row classes; a TableHandle subclass per table accessor; the
        classes built around the handles and callers for ``conn.db`` / ``conn.reducers`` /
        ``conn.procedures`` (each called with a mapping accessor -> handle or caller); the
        query builder class (called with the bindings) that ``add_query(lambda q: ...)``
        passes.  Declared for type checkers only, so that ``help(DbConnection)`` does not
        list them as attributes; the connection reads them with ``_bound``.
        """

        __schema__: ClassVar[ModuleSchema | None]
        __classes__: ClassVar[Mapping[int, type] | None]
        __table_handles__: ClassVar[Mapping[str, type[TableHandle]] | None]
        # (Typed as classes: mypy would take a Callable class attribute for a method.)
        __tables_class__: ClassVar[type[Any] | None]
        __reducers_class__: ClassVar[type[Any] | None]
        __procedures_class__: ClassVar[type[Any] | None]
        __query_builder_class__: ClassVar[type[Any] | None]

else:
    _Bindings = object


class DbConnection(_Bindings):
    """A connection to one database (python-api.md §3).

    Attributes: ``db`` (tables), ``reducers``, ``procedures``, ``identity``,
    ``connection_id``, ``token``, ``is_active``.

    Example::

        conn = await (DbConnection.builder()
            .with_uri("http://127.0.0.1:3000")
            .with_database_name("quickstart-chat")
            .connect())
        print(conn.identity, conn.db.user.count())
    """

    @classmethod
    def builder(
        cls: type[_C],
        schema: ModuleSchema | str | Mapping[str, Any] | None = None,
        *,
        classes: Mapping[int, type] | None = None,
    ) -> DbConnectionBuilder[_C]:
        """Start configuring a connection; without a schema (or generated bindings) it is fetched.

        ``schema`` (a ``ModuleSchema``, or the JSON of a schema response) and ``classes``
        (row classes by type index) replace what generated bindings set.

        Example::

            conn = await (DbConnection.builder()
                .with_uri("http://127.0.0.1:3000")
                .with_database_name("quickstart-chat")
                .connect())
        """
        if schema is not None and not isinstance(schema, ModuleSchema):
            schema = ModuleSchema.from_json(schema)
        return DbConnectionBuilder(
            cls, schema or _bound(cls, "__schema__"), classes or _bound(cls, "__classes__")
        )

    def __init__(self, config: DbConnectionBuilder[Any]) -> None:
        self._config = config
        self.token: str | None = config.token
        self._identity: Identity | None = None
        self._connection_id: ConnectionId | None = None
        self._lock = threading.RLock()
        self._bindings: ModuleBindings | None = None
        self._cache = ClientCache()
        self._core = ClientCore(self._cache, max_frame_size=config.max_frame_size)
        self._callbacks = UserCallbacks(config.callbacks)
        self._driver: Driver = Driver()  # replaced by connect_sync's driver
        self._session = Session(self, self._load_schema)
        flush = self._session.flush
        self._calls = CallRegistry(self, self._core, self._lock, self._callbacks, flush)
        self._subscriptions = SubscriptionRegistry(
            self, self._core, self._lock, self._callbacks, flush, self._dispatch_now
        )
        self._streams: list[ChangeStream] = []
        self.db: Any = Tables({})
        self.reducers: Any = Callables("reducer", {})
        self.procedures: Any = Callables("procedure", {})
        if config.schema is not None:
            self._install_bindings(
                ModuleBindings.from_schema(config.schema, classes=config.classes)
            )

    def __repr__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"<DbConnection {self._config.database!r} at {self._config.uri!r} {state} identity={self._identity}>"

    # ---- public surface ---------------------------------------------------------------------

    @property
    def identity(self) -> Identity:
        """This client's identity, which the server sends at connect (and keeps across reconnects).

        Raises :class:`~spacetimedb_sdk.errors.SpacetimeDBError` when read before the
        server sent it (before ``connect()`` returned); :meth:`try_identity` returns
        ``None`` then instead.

        Example::

            me = conn.db.user.identity.find(conn.identity)
        """
        if self._identity is None:
            raise SpacetimeDBError(_NOT_YET.format("identity", "try_identity"))
        return self._identity

    @identity.setter
    def identity(self, value: Identity) -> None:
        self._identity = value

    @property
    def connection_id(self) -> ConnectionId:
        """This connection's id, which the server sends at connect.

        Raises :class:`~spacetimedb_sdk.errors.SpacetimeDBError` when read before the
        server sent it; :meth:`try_connection_id` returns ``None`` then instead.

        Example::

            print(conn.connection_id)
        """
        if self._connection_id is None:
            raise SpacetimeDBError(_NOT_YET.format("connection_id", "try_connection_id"))
        return self._connection_id

    @connection_id.setter
    def connection_id(self, value: ConnectionId) -> None:
        self._connection_id = value

    def try_identity(self) -> Identity | None:
        """The identity, or ``None`` before the server sent it.

        Example::

            conn = builder.build()
            assert conn.try_identity() is None  # not started yet
        """
        return self._identity

    def try_connection_id(self) -> ConnectionId | None:
        """The connection id, or ``None`` before the server sent it.

        Example::

            cid = conn.try_connection_id()
        """
        return self._connection_id

    @property
    def lock(self) -> threading.RLock:
        """Held while a message is applied to the cache: hold it to read several tables
        consistently from another thread in thread mode.

        Example::

            with conn.lock:
                users, messages = list(conn.db.user), list(conn.db.message)
        """
        return self._lock

    @property
    def is_active(self) -> bool:
        """Connected and not yet disconnected.

        Example::

            if conn.is_active:
                conn.reducers.send_message.fire(text="still here")
        """
        return (
            self._session.ever_connected
            and not self._session.closed.done()
            and self._core.state is core_events.State.CONNECTED
        )

    @property
    def schema(self) -> ModuleSchema:
        """The module's schema (from generated bindings, or fetched at connect).

        Example::

            print([t.name for t in conn.schema.tables])   # ['message', 'user']
        """
        if self._bindings is None:
            raise SpacetimeDBError("the schema is not loaded yet: connect first")
        return self._bindings.schema

    def subscription_builder(self) -> SubscriptionBuilder:
        """Start a subscription: add callbacks and queries, then ``subscribe()``.

        Example::

            handle = await (conn.subscription_builder()
                .on_applied(lambda ctx: print("rows are in"))
                .subscribe(["SELECT * FROM user", "SELECT * FROM message"]))
        """
        return SubscriptionBuilder(self)

    def one_off_query(self, sql: str) -> Pending[list[Any]]:
        """Run a query once (subscription SQL); resolves to the decoded rows.

        The rows do not enter the cache and no callbacks run.

        Example::

            rows = await conn.one_off_query("SELECT * FROM message")
            print([m.text for m in rows])
        """
        return self._calls.one_off_query(sql)

    def disconnect(self) -> Pending[None]:
        """Close the connection cleanly; ``on_disconnect`` gets ``None`` as the error.

        Returns a ``Pending`` that resolves once the connection is closed (await it, or
        ``.result()`` it in synchronous code).

        Example::

            await conn.disconnect()
        """
        return self._session.disconnect()

    def frame_tick(self) -> None:
        """Tick mode: apply the frames received since the last tick and run their callbacks.

        Example::

            conn = builder.connect_sync(mode="tick")
            while running:
                conn.frame_tick()   # once per frame of the game loop
        """
        self._driver.frame_tick()

    async def run(self) -> None:
        """Start if needed and run until the connection closes (for ``asyncio.run(conn.run())``).

        Example::

            conn = builder.on_connect(lambda conn, identity, token: print("hello")).build()
            asyncio.run(conn.run())
        """
        if not self._driver.started:
            await self._start("async")
        await self._session.closed

    async def __aenter__(self) -> DbConnection:
        if not self._driver.started:
            await self._start("async")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def __enter__(self) -> DbConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect().result()

    # ---- starting (called by the builder) -------------------------------------------------------

    async def _start(self, mode: Mode) -> None:
        await self._session.start(needs_schema=self._bindings is None)

    def _start_sync(self, mode: Mode, timeout: float | None) -> None:
        name = f"spacetimedb-{self._config.database}"
        driver = TickDriver(name, self._session) if mode == "tick" else BackgroundLoop(name)
        self._driver = driver
        driver.start(lambda: self._start(mode), timeout, self._config.uri or "")
        if mode == "tick":
            # InitialConnection is applied on the caller's thread, at a tick.
            self._session.connected.result(timeout)

    async def _load_schema(self) -> None:
        cfg = self._config
        database = cfg.database or ""
        # The builder's timeout and TLS context apply to this fetch as to the WebSocket.
        async with AsyncHttpClient(
            cfg.uri or "",
            token=self.token,
            timeout=cfg.connect_timeout,
            verify=cfg.ssl_context or True,
        ) as http:
            try:
                schema = await http.schema(database)
            except ConnectTimeoutError as e:
                raise ConnectTimeoutError(
                    f"timed out after {cfg.connect_timeout:g} s fetching the schema of "
                    f"{database!r} from {http.base} (with_connect_timeout sets the limit)"
                ) from e
        self._install_bindings(ModuleBindings.from_schema(schema))

    def _install_bindings(self, bindings: ModuleBindings) -> None:
        cls = type(self)
        self._bindings = bindings
        table_handles: Mapping[str, type[TableHandle]] = _bound(cls, "__table_handles__") or {}
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
            handle_cls = table_handles.get(accessor, TableHandle)
            handles[accessor] = handle_cls(self, tb, tc)
        reducers = {k: ReducerCaller(self, b) for k, b in bindings.reducers.items()}
        procedures = {k: ProcedureCaller(self, b) for k, b in bindings.procedures.items()}
        # Generated bindings wrap these in typed classes; the generic path uses attribute maps.
        make_reducers = _bound(cls, "__reducers_class__")
        make_procedures = _bound(cls, "__procedures_class__")
        self.db = (_bound(cls, "__tables_class__") or Tables)(handles)
        self.reducers = make_reducers(reducers) if make_reducers else Callables("reducer", reducers)
        self.procedures = (
            make_procedures(procedures) if make_procedures else Callables("procedure", procedures)
        )

    # ---- what the parts call back ---------------------------------------------------------------

    def _query_builder(self) -> Any:
        # Imported when first used: most connections never build a query in Python.
        from ..query import QueryBuilder

        assert self._bindings is not None
        make_builder = _bound(type(self), "__query_builder_class__")
        if make_builder is not None:
            return make_builder(self._bindings)
        return QueryBuilder(self._bindings)

    def _wait(self, fut: concurrent.futures.Future[T], timeout: float | None, what: str) -> T:
        return self._driver.wait(fut, timeout, what)

    def _dispatch_now(self, events: list[core_events.Event]) -> None:
        """Dispatch events produced by a user call (cancelling a queued subscription)."""
        self._driver.run_now(lambda: self._session.dispatch(events))


def _bound(cls: type[DbConnection], name: str) -> Any:
    """A class attribute that generated bindings may set (see ``DbConnection``), else ``None``."""
    return getattr(cls, name, None)


__all__ = ["DbConnection"]
