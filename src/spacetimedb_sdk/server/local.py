"""Run a Python or TypeScript module as a SpacetimeDB-compatible server on this machine.

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
from .module import HttpPolicy, Module
from .tsmodule import is_ts_module, load_ts_module

try:
    from aiohttp import web

    from .app import ServerSettings, create_app
    from .auth import TokenIssuer
    from .host import Database
except ImportError as e:  # without the [server] extra: one clear error, not a deep traceback
    missing = missing_extra(e)
    if missing is None:
        raise
    raise missing from None

__all__ = ["LocalServer", "load_module"]


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

    ``module`` is a :class:`Module`, the path of a Python file defining one, or the path of a
    TypeScript module (a module folder or entry file, run in Node: see ``docs/local-server.md``);
    ``database`` the name clients connect to (default: the module's name);
    ``port=0`` picks a free port.  ``ping_interval``/``idle_timeout`` are the
    WebSocket keep-alive timers (upstream: 15 s and 30 s).  ``reducer_timeout`` is
    the time budget of one reducer, view or procedure transaction in seconds
    (default 10; ``None`` for none): a call over it is stopped and rolled back.
    ``allow_loopback_http=True`` lets procedures' ``ctx.http`` reach this machine
    (``127.0.0.0/8``, ``::1``), which upstream refuses; tests with a local HTTP
    server need it.

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
    ) -> None:
        # A module this server loaded itself is its own to close (a TypeScript module keeps a
        # Node process in reserve); one it was given belongs to the caller.
        self._owns_module = not isinstance(module, Module)
        self.module = module if isinstance(module, Module) else load_module(module)
        self.host = host
        self._requested_port = port
        self.issuer = issuer or TokenIssuer.generate()
        self.settings = ServerSettings(ping_interval=ping_interval, idle_timeout=idle_timeout)
        self.db = Database(
            self.module,
            name=database,
            issuer=self.issuer,
            reducer_timeout=reducer_timeout,
            http_policy=HttpPolicy(allow_loopback=allow_loopback_http),
        )
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
        if self._owns_module:
            self.module.close()

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
