"""What the upstream scenarios share: named checks, and the connections a test opens.

:class:`Checks` is upstream's ``TestCounter`` (``sdks/rust/tests/test-counter``): each named
check is registered before it can happen and completed once, by the callback that observes it;
a test waits until all are done.  A check completed twice, a check that fails (an assertion in a
``with check:`` block) and an unexpected callback (:meth:`Checks.unexpected`, upstream's
``panic!`` in a callback) all fail the wait at once, naming what happened.  Callbacks run on the
connection's event loop, so an assertion raised there would only be logged: recording it in a
check is how it reaches the test.

:class:`Db` is the database one test runs against (a fresh local server, or a freshly published
database on a real SpacetimeDB, see ``conftest.py``): :meth:`Db.connect` opens a connection with
the module's generated bindings (upstream's ``connect_then``), and every connection is closed when
the test ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import Any

from spacetimedb_sdk.client.events import Committed, ReducerEvent

#: Upstream's TestCounter waits five minutes; these scenarios take well under a second each, so
#: a stuck one fails in 30 s with the checks it still waited for.
TIMEOUT = 30.0


class Check:
    """One named check: ``check.ok()``, ``check.fail(why)``, or ``with check: <asserts>``."""

    def __init__(self, checks: Checks, name: str) -> None:
        self.checks = checks
        self.name = name
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def ok(self) -> None:
        """The check passed."""
        self._settle(None)

    def fail(self, why: str | BaseException) -> None:
        """The check failed (upstream's ``Err(..)`` result)."""
        error = why if isinstance(why, BaseException) else AssertionError(why)
        self._settle(error)

    def _settle(self, error: BaseException | None) -> None:
        if self.future.done():
            self.checks.unexpected(f"check {self.name!r} completed twice")
            return
        self.future.set_result(None)
        if error is not None:
            self.checks.failed(self.name, error)

    def __enter__(self) -> Check:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if error is None:
            self.ok()
        elif isinstance(error, Exception):
            self.fail(error)
        else:
            return False
        return True  # recorded; a callback must not raise into the SDK's logger

    @property
    def done(self) -> bool:
        return self.future.done()


class Checks:
    """upstream's TestCounter: register named checks, complete each once, wait for all."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._problem: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task from a callback (upstream's ``_then`` callbacks; here an
        awaited call); a failure it does not record in a check fails the test."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.unexpected(f"a spawned task raised {t.exception()!r}")

        task.add_done_callback(done)

    def add(self, name: str) -> Check:
        """Register a check; names are unique, as upstream's."""
        if name in self._checks:
            raise AssertionError(f"duplicate check name {name!r}")
        check = self._checks[name] = Check(self, name)
        return check

    def unexpected(self, what: str) -> None:
        """Something that must not happen did (upstream panics in the callback)."""
        self.failed("unexpected", AssertionError(what))

    def failed(self, name: str, error: BaseException) -> None:
        if not self._problem.done():
            self._problem.set_exception(AssertionError(f"check {name!r} failed: {error!r}"))
            self._problem.exception().__cause__ = error  # type: ignore[union-attr]

    async def wait(self, timeout: float = TIMEOUT) -> None:
        """Until every check is done, including those registered while waiting; raises on the
        first failure, or after ``timeout`` seconds naming the checks still pending."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._problem.done():
                self._problem.result()
            pending = [c.future for c in self._checks.values() if not c.future.done()]
            left = deadline - loop.time()
            if not pending or left <= 0:
                break
            await asyncio.wait(
                [*pending, self._problem], timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
        missing = [n for n, c in self._checks.items() if not c.future.done()]
        if missing:
            raise AssertionError(f"timed out after {timeout} s waiting for checks {missing}")


def committed(checks: Checks, reducer: str) -> Callable[[Any], None]:
    """A ``then`` callback failing ``checks`` unless the call committed
    (upstream's ``reducer_callback_assert_committed``)."""

    def callback(ctx: Any) -> None:
        event = ctx.event
        if not (isinstance(event, ReducerEvent) and isinstance(event.status, Committed)):
            checks.unexpected(f"`{reducer}` did not commit: {event!r}")

    return callback


def is_reducer_event(ctx: Any, reducer: str, status: type = Committed) -> bool:
    """The callback's event is this client's call of ``reducer`` (canonical name) with ``status``."""
    event = ctx.event
    return (
        isinstance(event, ReducerEvent)
        and event.reducer.name == reducer
        and isinstance(event.status, status)
    )


@dataclass
class Db:
    """The database a scenario runs against, and the connections it opened."""

    url: str
    name: str
    bindings: ModuleType
    server: Any = None  # the LocalServer, when the test runs locally
    compression: str = "gzip"
    connections: list[Any] = field(default_factory=list)

    def builder(self, *, token: str | None = None, compression: str | None = None) -> Any:
        builder = (
            self.bindings.DbConnection.builder()
            .with_uri(self.url)
            .with_database_name(self.name)
            .with_token(token)
        )
        return builder if compression is None else builder.with_compression(compression)

    async def connect(
        self,
        checks: Checks | None = None,
        *,
        suffix: str | None = "",
        token: str | None = None,
        compression: str | None = None,
        configure: Callable[[Any], Any] | None = None,
        then: Callable[[Any], object] | None = None,
    ) -> Any:
        """Connect, as upstream's ``connect_then``: registers the check ``on_connect_<suffix>``
        (none if ``suffix`` is ``None``), which the ``on_connect`` callback completes after
        running ``then(conn)``; a connection error fails ``checks``.  ``configure`` adjusts the
        builder first."""
        builder = self.builder(token=token, compression=compression)
        if configure is not None:
            builder = configure(builder)
        connected = None
        if checks is not None and suffix is not None:
            connected = checks.add(f"on_connect_{suffix}")

        def on_connect(conn: Any, identity: Any, token: str) -> None:
            if then is not None:
                try:
                    then(conn)
                except Exception as e:
                    if checks is None:
                        raise
                    checks.unexpected(f"on_connect callback raised {e!r}")
            if connected is not None:
                connected.ok()

        if then is not None or connected is not None:
            builder = builder.on_connect(on_connect)
        if checks is not None:
            builder = builder.on_connect_error(
                lambda ctx, err: checks.unexpected(f"connect errored: {err!r}")
            )
        conn = await asyncio.wait_for(builder.connect(), TIMEOUT)
        self.connections.append(conn)
        return conn

    async def close(self) -> None:
        for conn in self.connections:
            if conn.is_active:
                await asyncio.wait_for(conn.disconnect(), TIMEOUT)


def subscribe_these_then(
    conn: Any, queries: list[str], checks: Checks, on_applied: Callable[[Any], None]
) -> Any:
    """Subscribe; ``on_applied(ctx)`` runs when applied, an error fails the test."""
    return (
        conn.subscription_builder()
        .on_applied(on_applied)
        .on_error(lambda ctx, err: checks.unexpected(f"subscription errored: {err!r}"))
        .subscribe(queries)
    )
