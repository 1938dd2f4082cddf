"""The 0.7 asyncio client, kept for 0.7 code (python-api.md §10).

Create the client with the ``module_bindings`` package (generated with
``spacetimedb-py generate --compat-07``), register callbacks, then run it; ``run``
returns when :meth:`SpacetimeDBAsyncClient.force_close` is called (from any
thread) and raises if the connection drops.  It drives one 2.x ``DbConnection`` on
the running event loop, so every callback runs on that loop.

Example::

    client = SpacetimeDBAsyncClient(module_bindings)
    User.register_row_update(on_user_row_update)
    client.schedule_event(0.1, poll_input)
    asyncio.run(client.run(local_config.get_string("auth_token"), "localhost:3000",
                           "quickstart-chat", False, on_connect,
                           ["SELECT * FROM user", "SELECT * FROM message"]))
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .._log import get_logger
from ..errors import ConnectError, SpacetimeDBError
from ..sats.values import ConnectionId, Identity
from ._client import SpacetimeDBClient
from ._events import TransactionUpdateMessage

__all__ = ["SpacetimeDBAsyncClient", "SpacetimeDBException"]

log = get_logger("spacetimedb_sdk.compat")


class SpacetimeDBException(SpacetimeDBError):
    """Raised by the 0.7 async client: connection failures, drops and timeouts.

    Example::

        try:
            await client.call_reducer("set_name", "Alice")
        except SpacetimeDBException as e:
            print("no answer:", e)
    """


class SpacetimeDBAsyncClient:
    """The 0.7 asyncio client (see the module docs).

    Attributes as in 0.7: ``client`` (the :class:`SpacetimeDBClient`, also
    ``SpacetimeDBClient.instance``), ``identity``, ``address``, ``is_connected``,
    ``is_closing``, ``request_timeout`` (seconds for :meth:`call_reducer` and
    :meth:`close`).

    Example::

        client = SpacetimeDBAsyncClient(module_bindings)
        client.register_on_subscription_applied(lambda: print("ready"))
        asyncio.run(client.run(None, "localhost:3000", "quickstart-chat", False,
                               lambda token, identity: print(identity), ["SELECT * FROM user"]))
    """

    request_timeout: float = 5

    def __init__(self, autogen_package: ModuleType | None) -> None:
        self.client = SpacetimeDBClient(autogen_package)
        self.is_connected = False
        self.is_closing = False
        self.identity: Identity | None = None
        self.address: ConnectionId | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._gone: asyncio.Event | None = None
        self._prescheduled: list[tuple[float, Callable[..., object], tuple[Any, ...]]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._disconnect_error: Exception | None = None

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "not connected"
        return f"<SpacetimeDBAsyncClient {state} identity={self.identity}>"

    # ---- running ---------------------------------------------------------------------------

    async def run(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool,
        on_connect: Callable[[str, Identity], object] | None,
        subscription_queries: Sequence[str] | None = None,
    ) -> None:
        """Connect, subscribe, call ``on_connect(token, identity)``, and run until closed.

        Returns after :meth:`force_close`; raises :class:`SpacetimeDBException` if the
        connection fails or drops.

        Example::

            asyncio.run(client.run(token, "localhost:3000", "quickstart-chat", False,
                                   on_connect, ["SELECT * FROM message"]))
        """
        self._start_loop()
        token, identity = await self.connect(auth_token, host, address_or_name, ssl_enabled)
        try:
            # As in 0.7 the subscription is sent before on_connect (so reducers called there
            # come after it), and on_connect runs before any subscribed row reaches a callback
            # (nothing is received until the next await).
            if subscription_queries:
                self.client.subscribe(subscription_queries)
            if on_connect is not None:
                on_connect(token, identity)
            await self._until_stopped()
        finally:
            await self.close()

    async def connect(
        self,
        auth_token: str | None,
        host: str,
        address_or_name: str,
        ssl_enabled: bool,
        subscription_queries: Sequence[str] | None = None,
    ) -> tuple[str, Identity]:
        """Connect and subscribe; returns ``(auth_token, identity)``.  :meth:`run` calls this.

        Example::

            token, identity = await client.connect(None, "localhost:3000", "quickstart-chat",
                                                   False, ["SELECT * FROM user"])
        """
        self._start_loop()
        try:
            conn = await self.client._connect_async(
                auth_token, host, address_or_name, ssl_enabled, self._on_disconnect
            )
        except ConnectError as e:
            raise SpacetimeDBException(f"could not connect to {host}: {e}") from e
        assert conn.identity is not None and conn.token is not None
        self.identity, self.address = conn.identity, conn.connection_id
        self.is_connected = True
        if subscription_queries:
            self.client.subscribe(subscription_queries)
        return conn.token, conn.identity

    async def call_reducer(self, reducer_name: str, *reducer_args: Any) -> TransactionUpdateMessage:
        """Call a reducer and wait for its outcome (``result.reducer_event.status``).

        A failing reducer is not an exception: its status is ``"failed"``.  Raises
        :class:`SpacetimeDBException` after ``request_timeout`` seconds without an answer.

        Example::

            result = await client.call_reducer("set_name", "Alice")
            result.reducer_event.status   # "committed"
        """
        done: asyncio.Future[TransactionUpdateMessage] = asyncio.get_running_loop().create_future()

        def finished(update: TransactionUpdateMessage) -> None:
            if not done.done():
                done.set_result(update)

        self.client.call_reducer(reducer_name, *reducer_args, on_done=finished)
        try:
            return await asyncio.wait_for(done, self.request_timeout)
        except asyncio.TimeoutError:
            raise SpacetimeDBException(
                f"reducer {reducer_name!r} did not answer within {self.request_timeout:g} s"
            ) from None

    def subscribe(self, queries: Sequence[str]) -> None:
        """Replace the subscription with these SQL queries (canonical table names).

        Example::

            client.subscribe(["SELECT * FROM user", "SELECT * FROM message"])
        """
        self.client.subscribe(queries)

    def register_on_subscription_applied(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` each time a subscription's rows are in the cache.

        Example::

            client.register_on_subscription_applied(lambda: print("SYSTEM: Connected."))
        """
        self.client.register_on_subscription_applied(callback)

    def schedule_event(
        self, delay_secs: float, callback: Callable[..., object], *args: Any
    ) -> None:
        """Call ``callback(*args)`` on the client's loop after ``delay_secs`` seconds.

        Before :meth:`run` starts, the event waits for it.  Callable from any thread; to
        repeat, schedule again from the callback.

        Example::

            def poll():
                ...
                client.schedule_event(0.1, poll)

            client.schedule_event(0.1, poll)
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            self._prescheduled.append((delay_secs, callback, args))
        elif _running_loop() is loop:
            self._add_timer(delay_secs, callback, args)
        else:
            loop.call_soon_threadsafe(self._add_timer, delay_secs, callback, args)

    def force_close(self) -> None:
        """Make :meth:`run` close the connection and return, even with events still scheduled.

        Safe to call from any thread.

        Example::

            threading.Thread(target=run_client).start()
            input()                 # until the user presses Enter
            client.force_close()
        """
        self.is_closing = True
        loop, stop = self._loop, self._stop
        if loop is None or stop is None or loop.is_closed():
            return
        if _running_loop() is loop:
            stop.set()
        else:
            loop.call_soon_threadsafe(stop.set)

    async def close(self) -> None:
        """Close the connection and wait for it (``run`` does this itself).

        Example::

            token, identity = await client.connect(None, "localhost:3000", "quickstart-chat", False)
            ...
            await client.close()
        """
        self.is_closing = True
        self._cancel_timers()
        conn, gone = self.client.connection, self._gone
        if conn is None or gone is None:
            return
        conn.disconnect()
        try:
            await asyncio.wait_for(gone.wait(), self.request_timeout)
        except asyncio.TimeoutError:
            raise SpacetimeDBException(
                f"the connection did not close within {self.request_timeout:g} s"
            ) from None
        finally:
            self.is_connected = False

    # ---- internals -------------------------------------------------------------------------

    def _start_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._stop = asyncio.Event()
        # Set by on_disconnect; waiting on it never cancels the connection's own futures.
        self._gone = asyncio.Event()
        if self.is_closing:  # force_close() came before run()
            self._stop.set()
        pending, self._prescheduled = self._prescheduled, []
        for delay, callback, args in pending:
            self._add_timer(delay, callback, args)

    def _add_timer(
        self, delay: float, callback: Callable[..., object], args: tuple[Any, ...]
    ) -> None:
        if self.is_closing:
            return
        assert self._loop is not None

        def fire() -> None:
            self._timers.discard(timer)
            try:
                callback(*args)
            except Exception:
                log.exception("a scheduled event raised (%s)", getattr(callback, "__name__", ""))

        timer = self._loop.call_later(max(0.0, delay), fire)
        self._timers.add(timer)

    def _cancel_timers(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def _on_disconnect(self, error: Exception | None) -> None:
        self._disconnect_error = error
        self.is_connected = False
        if self._gone is not None:
            self._gone.set()

    async def _until_stopped(self) -> None:
        assert self._stop is not None and self._gone is not None
        stopped = asyncio.ensure_future(self._stop.wait())
        closed = asyncio.ensure_future(self._gone.wait())
        try:
            done, _ = await asyncio.wait({stopped, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            closed.cancel()
        if stopped not in done and not self.is_closing:
            why = self._disconnect_error
            raise SpacetimeDBException(
                "the connection closed" + (f": {why}" if why is not None else "")
            ) from why


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
