"""Run a Python module as a SpacetimeDB-compatible server on this machine.

:class:`LocalServer` serves one database over HTTP and WebSocket on
``127.0.0.1`` (a free port by default), for tests, notebooks and local
development.  Use it inside a running event loop::

    async with LocalServer(module) as srv:
        ...  # connect to srv.url

or from synchronous code, where it runs its own event loop in a thread::

    srv = LocalServer("examples/quickstart-chat/module.py").start()
    try:
        ...
    finally:
        srv.stop()

``srv.db`` is the :class:`~.host.Database` itself, for fixtures: its
``transaction()``, ``call_reducer()`` and ``sql()`` run like any other
transaction and are broadcast to the connected clients.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
import uuid
from pathlib import Path
from types import TracebackType

from ..sats.values import Identity
from .budget import DEFAULT_BUDGET_SECONDS
from .extra import missing_extra
from .limits import DatabaseStats, ServerLimits
from .module import HttpPolicy, Module

try:
    from aiohttp import web

    from .app import ServerSettings, create_app
    from .auth import TokenIssuer
    from .durability import DatabaseStorage, DataDir
    from .host import Database, database_identity
except ImportError as e:  # without the [server] extra: one clear error, not a deep traceback
    missing = missing_extra(e)
    if missing is None:
        raise
    raise missing from None

__all__ = ["LocalServer", "load_module"]


def load_module(path: str | os.PathLike[str]) -> Module:
    """Import a Python file and return the :class:`Module` it defines (preferably as ``module``).

    Example::

        module = load_module("examples/quickstart-chat/module.py")
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no module file at {str(file)!r}")
    name = f"_spacetimedb_module_{file.stem.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {str(file)!r} as a Python module")
    py_module = importlib.util.module_from_spec(spec)
    # Registered so dataclasses and typing can resolve the file's own names.
    sys.modules[name] = py_module
    spec.loader.exec_module(py_module)
    found = getattr(py_module, "module", None)
    if isinstance(found, Module):
        return found
    candidates = [v for v in vars(py_module).values() if isinstance(v, Module)]
    if len(candidates) == 1:
        return candidates[0]
    raise ImportError(
        f"{str(file)!r} must define a spacetimedb_sdk.server.Module named `module` "
        f"(found {len(candidates)} Module objects)"
    )


class LocalServer:
    """A local SpacetimeDB-compatible server for one module.

    ``module`` is a :class:`Module` or the path of a Python file defining one;
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
        module: Module | str | os.PathLike[str],
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
        self.module = module if isinstance(module, Module) else load_module(module)
        self.host = host
        self._requested_port = port
        self.settings = ServerSettings(ping_interval=ping_interval, idle_timeout=idle_timeout)
        self.data: DataDir | None = None
        if data_dir is None:
            if clear:
                raise ValueError("clear=True empties a data directory: pass data_dir too")
            self.issuer = issuer or TokenIssuer.generate()
            storage: DatabaseStorage | None = None
            owner_token = None
        else:
            if issuer is not None:
                raise ValueError(
                    "pass issuer or data_dir, not both: a data directory keeps its own key"
                )
            self.data = DataDir.open(data_dir)
            self.issuer = self.data.issuer
            name = database or self.module.name
            storage = self.data.database(database_identity(self.issuer, name), name)
            if clear:
                storage.clear()
            owner_token = self.data.owner_token()
        try:
            self.db = Database(
                self.module,
                name=database,
                issuer=self.issuer,
                owner_token=owner_token,
                reducer_timeout=reducer_timeout,
                http_policy=HttpPolicy(allow_loopback=allow_loopback_http),
                limits=limits,
                storage=storage,
            )
        except BaseException:
            if self.data is not None:
                self.data.close()
            raise
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not started"
        return f"LocalServer(database={self.database!r}, {where})"

    # -- addresses and credentials

    @property
    def database(self) -> str:
        """The database name clients use in URLs."""
        return self.db.name

    @property
    def port(self) -> int:
        """The bound TCP port (after start)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the base URL for HTTP and WebSocket clients."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/v1/database/NAME/subscribe``."""
        return "ws" + self.url[4:] + f"/v1/database/{self.database}/subscribe"

    @property
    def owner_token(self) -> str:
        """A token for the database owner's identity (private functions, DML over ``/sql``)."""
        return self.db.owner_token

    @property
    def owner_identity(self) -> Identity:
        """The identity of :attr:`owner_token`."""
        return self.db.owner_identity

    @property
    def limits(self) -> ServerLimits:
        """The limits the server enforces (:class:`~.limits.ServerLimits`)."""
        return self.db.limits

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

    # -- asyncio form

    async def start_async(self) -> LocalServer:
        """Start serving on the running event loop (``async with`` does this)."""
        if self._runner is not None:
            raise RuntimeError("the server is already started")
        if (
            self.data is not None
            and self.db.storage is not None
            and self.db.storage.durability is None
        ):
            raise RuntimeError(
                "a LocalServer with a data_dir cannot start again after stop(): "
                "create a new LocalServer on the same data_dir"
            )
        loop = asyncio.get_running_loop()
        self.db.start(loop)
        app = create_app(self.db, self.issuer, self.settings)
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
        """Close every connection (1001 "module exited") and stop listening."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.db.stop()
        if self.data is not None:  # everything written is synced; another server may use DIR
            await asyncio.get_running_loop().run_in_executor(None, self.db.close_storage)
            self.data.close()

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
        """Start serving from a background thread running its own event loop."""
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

        thread = threading.Thread(target=run, name=f"LocalServer[{self.database}]", daemon=True)
        self._thread = thread
        thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"the local server did not start within {timeout} s")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server started with :meth:`start` and join its thread."""
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
