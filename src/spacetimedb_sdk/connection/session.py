"""The session: one WebSocket at a time, its reader and writer, and the connection's lifecycle.

The session is the only part of a connection that does network I/O.  It opens
the transport, feeds received frames to the sans-I/O core, hands the core's
events to the registries (calls, subscriptions) and the row callbacks, sends
what the core wants sent, and decides what a closed socket means: the end of
the connection, or (``with_reconnect``, for failures that retrying can fix) the
start of a reconnect loop.

A socket that failed is reported at once: pending calls fail and
``on_disconnect`` runs without waiting for the closing handshake, which goes on
in the background (a server that sent a bad frame may never answer it).

It runs on the driver's network loop; user threads only reach it through
:meth:`Session.flush` and :meth:`Session.disconnect`, which hop onto that loop.

Example (what ``DbConnection`` does with it)::

    session = Session(conn)
    await session.start()          # schema if needed, socket, InitialConnection
    session.flush()                # after a call was queued in the core
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any, Protocol

from .._log import get_logger
from ..client import core as core_events
from ..client.core import ClientCore
from ..client.events import Disconnected, ErrorContext, EventContext, EventSource, Transaction
from ..errors import ConnectError, ConnectTimeoutError, DisconnectedError, ProtocolError
from .builder import DbConnectionBuilder
from .callbacks import UserCallbacks
from .calls import CallRegistry
from .drivers import Driver, Received
from .pending import Pending, Waiter
from .reconnect import reconnect_loop, retry_can_fix
from .subscriptions import SubscriptionRegistry
from .tables import ChangeStream
from .transport import WebSocketTransport, subscribe_url

log = get_logger("spacetimedb_sdk.connection")


class SessionOwner(EventSource, Waiter, Protocol):
    """What the session uses of its connection."""

    token: str | None
    _config: DbConnectionBuilder[Any]
    _core: ClientCore
    _lock: threading.RLock
    _driver: Driver
    _callbacks: UserCallbacks
    _calls: CallRegistry
    _subscriptions: SubscriptionRegistry
    _streams: list[ChangeStream]


class Session:
    """The network side of one connection (see the module docs)."""

    def __init__(self, conn: SessionOwner, load_schema: Callable[[], Awaitable[None]]) -> None:
        self._conn = conn
        self._load_schema = load_schema
        self._transport: WebSocketTransport | None = None
        self._send_queue: asyncio.Queue[list[bytes] | None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        #: Resolves at InitialConnection (a fresh one for each reconnect).
        self.connected: Pending[Any] = Pending(conn, "InitialConnection")
        #: Resolves once the connection is closed for good.
        self.closed: Pending[None] = Pending(conn, "disconnect")
        self.ever_connected = False
        self.disconnect_requested = False
        #: While a reconnect attempt waits for its InitialConnection.
        self._reopening = False
        self._reconnect_task: asyncio.Task[None] | None = None
        # Every transaction's row callbacks get the same context: it only holds the connection
        # and the (field-less, immutable) event, and making one per message costs more than
        # applying a one-row message does.
        transaction_ctx = EventContext(conn, Transaction())
        self._transaction_ctx: Callable[[], EventContext] = lambda: transaction_ctx

    def is_closed(self) -> bool:
        return self.closed.done()

    # ---- starting ---------------------------------------------------------------------------

    async def start(self, needs_schema: bool) -> None:
        """On the network loop: fetch the schema if needed, open, and (unless deferred) wait
        for InitialConnection.  A failure settles everything and raises :class:`ConnectError`."""
        conn = self._conn
        conn._driver.attach(asyncio.get_running_loop())
        self._send_queue = asyncio.Queue()
        try:
            if needs_schema:
                await self._load_schema()
            await self._open()
        except Exception as e:
            err = e if isinstance(e, ConnectError) else ConnectError(str(e))
            if err is not e:
                err.__cause__ = e
            self.connected._fail(err)
            self.closed._set(None)
            await conn._callbacks.call("connect_error", ErrorContext(conn, err), err)
            raise err from (None if err is e else e)

    async def _open(self) -> None:
        conn = self._conn
        cfg = conn._config
        url = subscribe_url(
            cfg.uri or "", cfg.database or "", compression=cfg.compression, confirmed=cfg.confirmed
        )
        transport = await WebSocketTransport.open(
            url,
            token=conn.token,
            subprotocols=cfg.subprotocols,
            open_timeout=cfg.connect_timeout,
            ssl_context=cfg.ssl_context,
        )
        try:
            with conn._lock:
                conn._core.connection_opened(transport.subprotocol)
        except ProtocolError:
            transport.abort()
            raise
        self._transport = transport
        if type(conn._driver).received is Driver.received:
            # Frames applied as they come: let the socket's callback apply them directly.
            transport.set_frame_handler(self._frame_now)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._reader(transport)),
            loop.create_task(self._writer(transport)),
        ]
        if conn._driver.deferred:
            return  # InitialConnection is applied at the next frame_tick
        try:
            await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(self.connected._future())), cfg.connect_timeout
            )
        except asyncio.TimeoutError:  # the builtin only from Python 3.11
            self._drop_transport(transport)
            transport.abort()
            raise ConnectTimeoutError(
                f"the server accepted the WebSocket but sent no InitialConnection within {cfg.connect_timeout:g} s"
            ) from None

    # ---- I/O tasks ----------------------------------------------------------------------------

    async def _reader(self, transport: WebSocketTransport) -> None:
        driver = self._conn._driver
        # Drivers that apply frames as they come (asyncio, thread) are skipped per frame.
        direct = type(driver).received is Driver.received
        error: Exception | None = None
        try:
            while True:
                frame = await transport.recv()
                if frame is None:
                    break
                if direct:
                    await self.process_frame(frame)
                else:
                    await driver.received(self, ("frame", frame))
                del frame  # a large frame is garbage once applied: do not hold it till the next
        except asyncio.CancelledError:
            raise
        except ProtocolError as e:
            error = e
        except Exception as e:  # the socket broke: report it as a disconnect
            error = DisconnectedError(f"connection lost: {e}")
        if error is not None:
            self._close_in_background(transport, error)
        await driver.received(self, ("closed", (transport, error)))

    def _frame_now(self, frame: bytes) -> Awaitable[None] | None:
        """Apply ``frame`` synchronously; what an ``async`` callback still awaits (or an
        error) is returned for the reader task, which awaits it before the next frame.

        Transactions whose callbacks are plain functions (the commonest frames) are applied
        and fired right here, without a coroutine; anything else goes on in :meth:`dispatch`.
        """
        conn = self._conn
        try:
            try:
                with conn._lock:
                    events = conn._core.receive_frame(frame)
            except ProtocolError as e:
                return _stepped(self._frame_failed(e))
            self.flush()
            fire_now = conn._callbacks.fire_now
            for i, ev in enumerate(events):
                if type(ev) is not core_events.TransactionApplied:
                    return _stepped(self.dispatch(events[i:]))
                waiting = fire_now(ev.changes, self._transaction_ctx)
                if waiting:
                    return _stepped(self._finish(waiting, events[i + 1 :]))
            return None
        except Exception as e:  # must not escape into the socket's callback
            return _raising(e)

    async def _finish(
        self, waiting: list[Awaitable[Any]], events: Sequence[core_events.Event]
    ) -> None:
        """Await ``async`` row callbacks, then dispatch the frame's remaining events."""
        await self._conn._callbacks.finish(waiting)
        await self.dispatch(events)

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

    async def handle(self, item: Received) -> None:
        """Apply one received item: a frame, or the end of the socket."""
        kind, value = item
        if kind == "frame":
            await self.process_frame(value)
        else:
            transport, error = value
            await self.after_close(error, transport)

    async def process_frame(self, frame: bytes) -> None:
        rest = self._frame_now(frame)
        if rest is not None:
            await rest

    async def _frame_failed(self, e: ProtocolError) -> None:
        """A frame broke the protocol: the connection ends now (its socket in the background:
        the closing handshake must not delay that)."""
        transport = self._transport
        log.error("closing the connection: %s", e)
        if transport is not None:
            self._close_in_background(transport, e)
        await self.after_close(e, transport)

    def _close_in_background(self, transport: WebSocketTransport, error: Exception) -> None:
        """Start the closing handshake on the network loop without waiting for it."""
        if transport.close_code is not None:
            return
        code = 1002 if isinstance(error, ProtocolError) else 1011
        reason = str(error)[:120]

        async def close() -> None:
            with contextlib.suppress(Exception):
                await transport.close(code, reason)

        def start() -> None:
            loop = self._conn._driver.loop
            if loop is not None and not loop.is_closed():
                loop.create_task(close())

        self._conn._driver.call_soon(start)

    def _drop_transport(self, transport: WebSocketTransport) -> None:
        """Forget ``transport``: what its reader reports from now on is stale."""
        if self._transport is transport:
            self._transport = None
            self._conn._driver.call_soon(self._enqueue, None)

    def flush(self) -> None:
        """Hand the core's outgoing frames to the writer task (from any thread)."""
        conn = self._conn
        if not conn._core.has_data_to_send():
            return
        with conn._lock:
            frames = conn._core.data_to_send()
        if frames:
            conn._driver.call_soon(self._enqueue, frames)

    def _enqueue(self, frames: list[bytes] | None) -> None:
        if self._send_queue is not None:
            self._send_queue.put_nowait(frames)

    # ---- core events to registries and callbacks -----------------------------------------------

    async def dispatch(self, events: Sequence[core_events.Event]) -> None:
        conn = self._conn
        calls, subs = conn._calls, conn._subscriptions
        for ev in events:
            if isinstance(ev, core_events.TransactionApplied):
                await conn._callbacks.fire(conn, ev.changes, Transaction())
            elif isinstance(ev, core_events.ReducerFinished):
                await calls.reducer_finished(ev)
            elif isinstance(ev, core_events.Connected):
                await self._connected(ev)
            elif isinstance(ev, core_events.SubscriptionApplied):
                await subs.applied(ev)
            elif isinstance(ev, core_events.SubscriptionEnded):
                await subs.ended(ev)
            elif isinstance(ev, core_events.SubscriptionFailed):
                await subs.failed(ev)
            elif isinstance(ev, core_events.ProcedureFinished):
                calls.procedure_finished(ev)
            elif isinstance(ev, core_events.OneOffQueryFinished):
                calls.query_finished(ev)

    async def _connected(self, ev: core_events.Connected) -> None:
        conn = self._conn
        conn.identity = ev.identity
        conn.connection_id = ev.connection_id
        if not conn.token:
            conn.token = ev.token
        first = not self.ever_connected
        self.ever_connected = True
        self.connected._set(conn)
        if first:
            await conn._callbacks.call("connect", conn, ev.identity, conn.token or ev.token)

    # ---- closing --------------------------------------------------------------------------------

    def disconnect(self) -> Pending[None]:
        """Close cleanly (from any thread); ``on_disconnect`` then gets ``None`` as the error."""
        self.disconnect_requested = True
        loop = self._conn._driver.loop
        if loop is not None and not loop.is_closed() and not self.closed.done():
            self._conn._driver.call_soon(self._close_transport)
        elif not self.closed.done():
            self.closed._set(None)
        return self.closed

    def _close_transport(self) -> None:
        loop = self._conn._driver.loop
        assert loop is not None
        t = self._transport
        task = self._reconnect_task
        if task is not None and not task.done():
            # Waiting to retry, or in an attempt: stop the loop and end the connection here.
            task.cancel()
            if t is not None:
                self._drop_transport(t)
                loop.create_task(t.close(1000, "client disconnected"))
            loop.create_task(self.end(None, "disconnected while reconnecting"))
            return
        if t is None:
            self.closed._set(None)
            return
        loop.create_task(t.close(1000, "client disconnected"))

    async def after_close(
        self, error: Exception | None, transport: WebSocketTransport | None = None
    ) -> None:
        """The socket is gone: fail calls in flight, then reconnect or report the disconnect.

        ``transport`` is the socket that closed; a report about one this session already
        gave up on (a bad frame was handled, an attempt timed out) is ignored.
        """
        conn = self._conn
        if self.closed.done() or (transport is not None and transport is not self._transport):
            return
        # In tick mode this runs on the thread that ticks, not the network loop: the writer's
        # queue belongs to the network loop, so it is told from there.
        conn._driver.call_soon(self._enqueue, None)
        self._transport = None
        policy = conn._config.reconnect
        if not self.ever_connected:
            err = error or ConnectError(
                "the server closed the connection before InitialConnection "
                "(the module's client_connected reducer may have rejected this client)"
            )
            err = err if isinstance(err, ConnectError) else ConnectError(str(err))
            with conn._lock:
                conn._core.connection_closed()
            self.connected._fail(err)
            self.closed._set(None)
            self._fail_all(DisconnectedError(str(err)))
            if conn._driver.deferred:  # start() did not wait, so it could not report this
                await conn._callbacks.call("connect_error", ErrorContext(conn, err), err)
            return
        if self._reopening:
            # A reconnect attempt's socket closed before its InitialConnection: that attempt
            # failed (the loop decides whether to try again).
            err = error or ConnectError("the server closed the connection before InitialConnection")
            self.connected._fail(err)
            return
        if policy is not None and not self.disconnect_requested and retry_can_fix(error):
            with conn._lock:
                reducers, procedures, queries, ended = conn._core.reset_for_reconnect()
            lost = DisconnectedError(
                "connection lost; reconnecting" + (f" (after: {error})" if error else "")
            )
            lost.__cause__ = error
            conn._calls.fail(reducers, procedures, queries, lost)
            await self.dispatch(ended)
            loop = conn._driver.loop  # the network loop (in tick mode this runs at a tick)
            assert loop is not None
            self._reconnect_task = loop.create_task(reconnect_loop(self, policy, error))
            return
        await self.end(error)

    async def end(self, error: Exception | None, message: str | None = None) -> None:
        """The connection is over for good: fail what is pending, end every subscription
        handle and change stream, and call ``on_disconnect(ctx, error)``.

        The cache keeps its rows, as the official SDKs do: they are the last state the
        server confirmed (``conn.is_active`` says they are no longer kept up to date).
        """
        conn = self._conn
        if self.closed.done():
            return
        with conn._lock:
            conn._core.connection_closed()
        text = message or "the connection closed" + (f": {error}" if error else "")
        exc = DisconnectedError(text)
        exc.__cause__ = error
        self._fail_all(exc)
        for stream in conn._streams:
            stream._end()
        self.closed._set(None)
        await conn._callbacks.call("disconnect", ErrorContext(conn, Disconnected(error)), error)
        conn._driver.network_closed()

    def _fail_all(self, exc: Exception) -> None:
        self._conn._calls.fail_all(exc)
        self._conn._subscriptions.fail_all(exc)

    # ---- what the reconnect loop drives ---------------------------------------------------------

    async def reconnecting(self, error: Exception | None, attempt: int) -> None:
        await self._conn._callbacks.call("reconnecting", self._conn, error, attempt)

    async def reopen(self) -> None:
        self._send_queue = asyncio.Queue()
        # A fresh InitialConnection is awaited on a fresh future; the first one stays resolved.
        self.connected = Pending(self._conn, "InitialConnection")
        self._reopening = True
        try:
            await self._open()
        finally:
            self._reopening = False

    async def reconnected(self) -> None:
        await self._conn._callbacks.call("reconnected", self._conn)

    async def gave_up(self, error: Exception | None) -> None:
        """The loop stopped: the user disconnected (``error`` is ``None``), or retrying
        cannot fix ``error`` (a rejected token, a deleted database, a protocol error)."""
        if error is None:
            await self.end(None, "disconnected while reconnecting")
        else:
            await self.end(error, f"the connection closed and cannot be reopened: {error}")


class _Resumed:
    """Awaits the rest of a coroutine that was stepped once by hand (:meth:`Session._frame_now`).

    It passes what the coroutine yields (the future it waits on) up to the awaiting task and
    the task's answers back down, exactly as ``await`` on the coroutine would have.

    Example::

        step = coro.send(None)         # ran until its first real wait
        await _Resumed(coro, step)     # runs the rest in the current task
    """

    def __init__(self, coro: Coroutine[Any, Any, None], step: Any) -> None:
        self._coro = coro
        self._step = step

    def __await__(self) -> Generator[Any, Any, None]:
        coro, step = self._coro, self._step
        while True:
            try:
                answer = yield step
            except BaseException as e:  # a cancellation or error thrown into the waiting task
                try:
                    step = coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    step = coro.send(answer)
                except StopIteration:
                    return


async def _raising(error: Exception) -> None:
    raise error


def _stepped(coro: Coroutine[Any, Any, None]) -> Awaitable[None] | None:
    """Run ``coro`` until it first waits: ``None`` if it finished, else what awaits the rest
    (an error it raised is raised by that)."""
    try:
        step = coro.send(None)
    except StopIteration:
        return None
    except Exception as e:
        return _raising(e)
    return _Resumed(coro, step)


__all__ = ["Session", "SessionOwner"]
