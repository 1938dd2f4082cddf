"""Run Python or TypeScript modules as a SpacetimeDB-compatible server on this machine.

:class:`LocalServer` serves databases over HTTP and WebSocket on ``127.0.0.1`` (a free port by
default), for tests, notebooks and local development.  It starts with the database of the
module it is given; publishing (:meth:`LocalServer.publish`, ``POST``/``PUT /v1/database``,
``spacetimedb-py publish``) creates more or replaces a running database's module, as upstream's
standalone server does.  Use it inside a running event loop::

    async with LocalServer(module) as srv:
        ...  # connect to srv.url

or from synchronous code, where it runs its own event loop in a thread::

    srv = LocalServer("examples/quickstart-chat/module.py").start()
    try:
        ...
    finally:
        srv.stop()

``srv.db`` is the first :class:`~.host.Database` itself, for fixtures: its
``transaction()``, ``call_reducer()`` and ``sql()`` run like any other
transaction and are broadcast to the connected clients; ``srv.databases`` lists them all.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .._log import get_logger
from ..sats.values import Identity
from .budget import DEFAULT_BUDGET_SECONDS
from .extra import missing_extra
from .limits import DatabaseStats, ServerLimits
from .module import HttpPolicy, Module
from .module_source import (
    HOST_TYPE_PYTHON,
    ModuleLoadError,
    Program,
    load_program,
    module_hash,
    program_hash,
)
from .module_source import load_module as load_python_module
from .tsmodule import TsModule, is_ts_module, load_ts_module

try:
    from aiohttp import web

    from .app import ServerSettings, create_app
    from .auth import TokenIssuer
    from .control import Control, DatabaseDefaults
    from .durability import DataDir, DataDirError
    from .host import Database, database_identity
    from .publishing import (
        MigrationPolicy,
        create_database,
        migration_token,
        reset_database,
        update_database,
    )
except ImportError as e:  # without the [server] extra: one clear error, not a deep traceback
    missing = missing_extra(e)
    if missing is None:
        raise
    raise missing from None

__all__ = ["LocalServer", "load_module"]

log = get_logger("spacetimedb_sdk.server")

_T = TypeVar("_T")


def load_module(path: str | os.PathLike[str]) -> Module:
    """The module at ``path``: a Python file defining a :class:`Module` (preferably as
    ``module``), or a TypeScript module (a folder with ``package.json`` and ``src/index.ts``,
    or a ``.ts``/``.js`` entry file), bundled and described by Node
    (:func:`~.tsmodule.load_ts_module`).

    Example::

        module = load_module("examples/quickstart-chat/module.py")
        ts_module = load_module("examples/quickstart-chat-ts")
    """
    if is_ts_module(path):
        return load_ts_module(path)
    return load_python_module(path)


def _load_program(path: str | os.PathLike[str]) -> tuple[Module, str, Program | None]:
    """The module at ``path``, the hash of its program (what an update compares: the Python
    source, or the bundle a TypeScript module was made into) and the program a data directory
    keeps for a restart (``None`` for a TypeScript module: its bundle is bound to this
    process's host, so it lives in memory only, as a :class:`Module` object does)."""
    module = load_module(path)
    if isinstance(module, TsModule):
        return module, program_hash(module.program()), None
    source = Path(path).read_bytes()
    return module, program_hash(source), Program(HOST_TYPE_PYTHON, source)


class LocalServer:
    """A local SpacetimeDB-compatible server, starting with the database of one module.

    ``module`` is a :class:`Module`, the path of a Python file defining one, or the path of a
    TypeScript module (a module folder or entry file, run in Node: see ``docs/local-server.md``)
    (``None``: start with no database, as ``spacetime start`` does, and publish them);
    ``database`` the name clients connect to (default: the module's name);
    ``port=0`` picks a free port.  ``ping_interval``/``idle_timeout`` are the
    WebSocket keep-alive timers (upstream: 15 s and 30 s).  ``reducer_timeout`` is
    the time budget of one reducer, view or procedure transaction in seconds
    (default 10; ``None`` for none): a call over it is stopped and rolled back.
    ``allow_loopback_http=True`` lets procedures' ``ctx.http`` reach this machine
    (``127.0.0.0/8``, ``::1``), which upstream refuses; tests with a local HTTP
    server need it.  ``limits`` bounds what one client may make the server hold or do
    (:class:`~.limits.ServerLimits`: queue lengths, ``/sql`` budgets); :meth:`stats` shows
    the queues and what the limits did.  ``data_dir`` keeps the database, the signing key
    and the owner identity in that directory across restarts (``serve --data-dir``; see
    docs/local-server.md); ``clear=True`` starts its database empty (``serve --clear``).
    Without ``data_dir`` everything lives in memory.

    Example::

        async with LocalServer(module) as srv:
            async with httpx.AsyncClient() as http:
                r = await http.post(f"{srv.url}/v1/database/{srv.database}/sql",
                                    content="SELECT * FROM user",
                                    headers={"Authorization": f"Bearer {srv.owner_token}"})
    """

    def __init__(
        self,
        module: Module | str | os.PathLike[str] | None,
        *,
        database: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float = 15.0,
        idle_timeout: float = 30.0,
        issuer: TokenIssuer | None = None,
        reducer_timeout: float | None = DEFAULT_BUDGET_SECONDS,
        allow_loopback_http: bool = False,
        data_dir: str | os.PathLike[str] | None = None,
        clear: bool = False,
        limits: ServerLimits | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.settings = ServerSettings(ping_interval=ping_interval, idle_timeout=idle_timeout)
        self.data: DataDir | None = None
        if data_dir is None:
            if clear:
                raise ValueError("clear=True empties a data directory: pass data_dir too")
            self.issuer = issuer or TokenIssuer.generate()
            # The server's owner: the owner of the first database, and of what it publishes.
            self._owner_token = self.issuer.mint()
        else:
            if issuer is not None:
                raise ValueError(
                    "pass issuer or data_dir, not both: a data directory keeps its own key"
                )
            self.data = DataDir.open(data_dir)
            self.issuer = self.data.issuer
            self._owner_token = self.data.owner_token()  # the same owner on every start
        self._limits = limits or ServerLimits()
        self.control = Control(
            DatabaseDefaults(
                self.issuer,
                reducer_timeout,
                HttpPolicy(allow_loopback=allow_loopback_http),
                limits=self._limits,
                data=self.data,
            )
        )
        self._first: Identity | None = None
        self.module: Module | None = None
        self._loaded: list[Module] = []  # modules loaded from paths: closed by stop()
        try:
            if module is not None:
                self._add_first(module, database, clear)
            if self.data is not None:
                self._restore_published(self.data)
        except BaseException:
            if self.data is not None:
                self.data.close()
            raise
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._serving_loop: asyncio.AbstractEventLoop | None = None

    def _add_first(
        self, module: Module | str | os.PathLike[str], name: str | None, clear: bool
    ) -> None:
        """Host the database of the module the server starts with (from its data, if any)."""
        digest: str | None = None
        if isinstance(module, Module):
            self.module = module
        else:
            self.module, digest, _ = _load_program(module)
            self._loaded.append(self.module)
        defaults = self.control.defaults
        name = name or self.module.name
        identity = database_identity(self.issuer, name)
        storage = defaults.storage(identity, name)
        if storage is not None and clear:
            storage.clear()
        db = Database(
            self.module,
            name=name,
            issuer=self.issuer,
            owner_token=self._owner_token,
            reducer_timeout=defaults.reducer_timeout,
            http_policy=defaults.http_policy,
            program_hash=digest,
            limits=defaults.limits,
            identity=identity,
            storage=storage,
        )
        # A loaded database keeps the names it had (PUT .../names may have added some).
        names = storage.names if storage is not None and db.restored is not None else [db.name]
        if storage is not None:  # the module given at start wins over one published to it
            storage.forget_program()
        self.control.add(db, names)
        self._first = db.identity

    def _restore_published(self, data: DataDir) -> None:
        """Host again the databases published to this data directory (from their programs)."""
        defaults = self.control.defaults
        for meta in data.databases():
            identity = Identity.from_hex(str(meta["identity"]))
            if identity == self._first:
                continue
            storage = data.database(identity, str(meta["name"]))
            program = storage.program()
            if program is None:
                log.info(
                    "database %r in %s is not served: it was the database of a module given at "
                    "start; serve that module on this data directory to use it",
                    meta["name"],
                    data.path,
                )
                continue
            try:
                module = load_program(program[0], program[1], label=str(meta["name"]))
                db = Database(
                    module,
                    name=str(meta["name"]),
                    issuer=self.issuer,
                    reducer_timeout=defaults.reducer_timeout,
                    http_policy=defaults.http_policy,
                    identity=identity,
                    owner_identity=Identity.from_hex(str(meta["owner_identity"])),
                    program_hash=storage.program_hash,
                    limits=defaults.limits,
                    storage=storage,
                )
            except (ModuleLoadError, DataDirError) as e:
                log.error("database %r in %s cannot be served: %s", meta["name"], data.path, e)
                continue
            self.control.add(db, storage.names)

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        names = ", ".join(repr(db.name) for db in self.databases)
        return f"LocalServer(databases=[{names}], {where})"

    # -- databases

    @property
    def db(self) -> Database:
        """The database the server started with (its module's).

        Example::

            assert srv.db.call_reducer("add_task", "buy milk").ok
        """
        db = self.control.by_identity(self._first) if self._first is not None else None
        if db is None:
            raise LookupError(
                "this server has no first database (it started without a module, or the "
                "database was deleted): see srv.databases / srv.get_database(name)"
            )
        return db

    @property
    def databases(self) -> list[Database]:
        """Every database the server hosts, oldest first.

        Example::

            [db.name for db in srv.databases]   # ['quickstart-chat', 'scores']
        """
        return self.control.databases

    def get_database(self, name_or_identity: str | Identity) -> Database:
        """A hosted database by name or identity (``KeyError`` if there is none).

        Example::

            scores = srv.get_database("scores")
        """
        key = (
            name_or_identity.to_hex()
            if isinstance(name_or_identity, Identity)
            else name_or_identity
        )
        db = self.control.find(key)
        if db is None:
            raise KeyError(f"this server hosts no database {key!r}")
        return db

    def names_of(self, db: Database) -> list[str]:
        """Every name of a hosted database (upstream's databases may have several).

        Example::

            srv.names_of(srv.db)   # ['todo']
        """
        return self.control.names_of(db.identity)

    # -- addresses and credentials

    @property
    def database(self) -> str:
        """The name clients use in URLs for the first database.

        Example::

            DbConnection.builder().with_uri(srv.url).with_database_name(srv.database)
        """
        return self.db.name

    @property
    def port(self) -> int:
        """The bound TCP port (after start).

        Example::

            srv = LocalServer(module, port=0).start()   # port 0: any free port
            srv.port
        """
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the base URL for HTTP and WebSocket clients.

        Example::

            http = HttpClient(srv.url)
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/v1/database/NAME/subscribe`` (of the first database).

        Example::

            srv.ws_url   # 'ws://127.0.0.1:3000/v1/database/todo/subscribe'
        """
        return "ws" + self.url[4:] + f"/v1/database/{self.database}/subscribe"

    @property
    def owner_token(self) -> str:
        """A token for the owner of the first database and of what :meth:`publish` creates
        (private functions, DML over ``/sql``, publishing, logs).

        Example::

            HttpClient(srv.url, token=srv.owner_token).sql(srv.database, "DELETE FROM task")
        """
        return self._owner_token

    @property
    def owner_identity(self) -> Identity:
        """The identity of :attr:`owner_token`.

        Example::

            assert srv.db.call_reducer("add_task", "x", sender=srv.owner_identity).ok
        """
        return self.issuer.validate(self._owner_token).identity

    @property
    def limits(self) -> ServerLimits:
        """The limits the server enforces (:class:`~.limits.ServerLimits`).

        Example::

            srv.limits.sql_row_limit   # 100_000 unless LocalServer(limits=ServerLimits(...))
        """
        return self._limits

    def stats(self) -> DatabaseStats:
        """The queues of the database and its connections, and what the limits did.

        Example::

            stats = srv.stats()
            stats.incoming_queue_disconnects       # clients closed with 1013 "too many requests"
            [c.outgoing_queued for c in stats.connections]
        """
        return self.db.stats()

    def issue_token(self, subject: str | None = None, *, expires_in: float | None = None) -> str:
        """A token this server accepts; the same ``subject`` always gives the same identity.

        Example::

            alice = srv.issue_token("alice")
        """
        return self.issuer.mint(subject, expires_in=expires_in)

    # -- publishing

    async def publish_async(
        self,
        module: Module | str | os.PathLike[str],
        name: str | None = None,
        *,
        clear: bool = False,
        break_clients: bool = False,
    ) -> Database:
        """Publish a module as :attr:`owner_identity`, on the server's loop (``await``).

        A new ``name`` creates a database; the name of a hosted database replaces its module
        (its data kept as upstream's migration rules allow: :class:`~.migration.IncompatibleMigration`
        otherwise; a change that disconnects every client needs ``break_clients=True``, as
        upstream's CLI asks for confirmation); ``clear=True`` starts it empty instead.

        Example::

            scores = await srv.publish_async("scores.py", "scores")
        """
        program: Program | None = None
        if isinstance(module, Module):
            loaded, digest = module, module_hash(module)
        else:
            loaded, digest, program = await asyncio.to_thread(_load_program, module)
            self._loaded.append(loaded)
        control = self.control
        existing = control.find(name) if name is not None else None
        if existing is None:
            names = [name] if name is not None else []
            return await create_database(
                control,
                loaded,
                digest,
                owner=self.owner_identity,
                owner_token=self._owner_token,
                names=names,
                program=program,
            )
        if clear:
            await reset_database(control, existing, loaded, digest, program)
            return existing
        policy = MigrationPolicy.compatible()
        if break_clients:
            policy = MigrationPolicy.allow_breaking(migration_token(existing, digest))
        await update_database(control, existing, loaded, digest, policy, program)
        return existing

    def publish(
        self,
        module: Module | str | os.PathLike[str],
        name: str | None = None,
        *,
        clear: bool = False,
        break_clients: bool = False,
    ) -> Database:
        """:meth:`publish_async` from another thread than the server's (e.g. a started
        :meth:`start` server's caller); blocks until done.

        Example::

            srv = LocalServer("chat.py").start()
            srv.publish("chat_v2.py", "quickstart-chat")   # hot swap: data kept
        """
        return self._on_loop(
            self.publish_async(module, name, clear=clear, break_clients=break_clients)
        )

    def _on_loop(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._serving_loop
        if loop is None or self._runner is None:
            coro.close()
            raise RuntimeError("the server is not started")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError(
                "publish() blocks; on the server's own event loop use `await srv.publish_async(...)`"
            )
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    # -- asyncio form

    async def start_async(self) -> LocalServer:
        """Start serving on the running event loop (``async with`` does this).

        Example::

            srv = await LocalServer("todo.py").start_async()
        """
        if self._runner is not None:
            raise RuntimeError("the server is already started")
        if self.data is not None and self.data.closed:
            raise RuntimeError(
                "a LocalServer with a data_dir cannot start again after stop(): "
                "create a new LocalServer on the same data_dir"
            )
        loop = asyncio.get_running_loop()
        self._serving_loop = loop
        for db in self.databases:
            db.start(loop)
        app = create_app(self.control, self.issuer, self.settings)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = _bound_port(runner)
        return self

    async def stop_async(self) -> None:
        """Close every connection (1001 "module exited") and stop listening.

        Example::

            await srv.stop_async()
        """
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for db in self.databases:
            db.stop()
        if self.data is not None:  # everything written is synced; another server may use DIR
            for db in self.databases:
                await asyncio.get_running_loop().run_in_executor(None, db.close_storage)
            self.data.close()
        # Modules this server loaded itself are its own to close (a TypeScript module keeps a
        # Node process in reserve); one it was given belongs to the caller.
        for module in self._loaded:
            module.close()

    async def __aenter__(self) -> LocalServer:
        return await self.start_async()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_async()

    # -- synchronous form (own loop in a thread)

    def start(self, timeout: float = 30.0) -> LocalServer:
        """Start serving from a background thread running its own event loop.

        Example::

            srv = LocalServer("todo.py").start()
        """
        if self._thread is not None:
            raise RuntimeError("the server is already started")
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as e:
                failure.append(e)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        names = ",".join(db.name for db in self.databases)
        thread = threading.Thread(target=run, name=f"LocalServer[{names}]", daemon=True)
        self._thread = thread
        thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"the local server did not start within {timeout} s")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server started with :meth:`start` and join its thread.

        Example::

            srv.stop()
        """
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.stop_async(), loop)
        try:
            future.result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._thread = None
            self._loop = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError(f"cannot tell which port the server bound: {runner.addresses!r}")
