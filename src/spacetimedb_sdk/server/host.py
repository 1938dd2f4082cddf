"""The host of one database: a module, its datastore, subscriptions and timers.

:class:`Database` runs every reducer, procedure, SQL statement and fixture
transaction **one at a time** (under one re-entrant lock, so threads other than
the event loop's may use it too) and, after each commit, fans the changes out to
the connected clients as upstream does (protocol.md §4.6, §7.2-7.4):

* the caller of a reducer gets exactly one ``ReducerResult`` carrying its own
  subscription deltas; every other client with an affected query set gets a
  ``TransactionUpdate``; a failed reducer sends nothing to anyone else;
* procedures' inner transactions reach everyone (the caller included) as
  ``TransactionUpdate`` s, then the caller gets its ``ProcedureResult``;
* lifecycle reducers run on connect/disconnect (WebSocket and each HTTP call)
  and ``init`` once when the database starts;
* rows of scheduled tables arm timers (:class:`Scheduler`) that call the named
  reducer or procedure with the row; deleting the row cancels; intervals repeat.

Clients are :class:`ClientConnection` objects: the host only queues messages on
them; the web app (:mod:`.app`) writes them to the socket.  No I/O happens here,
so the host is testable with plain objects.

Example::

    >>> from spacetimedb_sdk.server import Module
    >>> db = Database(Module("empty"))
    >>> db.start()
    >>> db.name
    'empty'
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .._log import get_logger
from ..errors import SpacetimeDBError
from ..protocol import messages as m
from ..protocol.framing import SUBPROTOCOL_V2, Compression
from ..sats import bsatn
from ..sats.sats_json import SatsJsonError, from_json, to_json_untyped
from ..sats.types import AlgebraicType, Typespace
from ..sats.values import ConnectionId, Err, Identity, Ok, ScheduleAt, TimeDuration, Timestamp
from .auth import TokenIssuer, identity_from_claims
from .datastore import DbView, TableSchema, TxResult
from .describe import canonical_type, canonical_typespace
from .module import CallResult, Module, ProcedureDef, ReducerDef
from .subscriptions import (
    DuplicateQuerySet,
    SqlExecutionError,
    SubscriptionFailure,
    SubscriptionManager,
    UnknownQuerySet,
    execute_sql,
)

log = get_logger("spacetimedb_sdk.server")

__all__ = [
    "ClientConnection",
    "ConnectionRejected",
    "Database",
    "FatalClientError",
    "HttpResponse",
    "Scheduler",
    "SqlFailed",
]


class FatalClientError(SpacetimeDBError):
    """A client message that ends the connection (close 1011 with this text).

    Example::

        >>> str(FatalClientError("v2 websocket does not support text messages"))
        'v2 websocket does not support text messages'
    """


class ConnectionRejected(SpacetimeDBError):
    """``client_connected`` failed: the connection (or HTTP call) is refused.

    Example::

        >>> ConnectionRejected("banned").message
        'banned'
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"Connection rejected by `client_connected` reducer: {message}")


# ---- clients -----------------------------------------------------------------------------------


class _Close:
    """Queued after the last message a closing client must still receive."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class ClientConnection:
    """One WebSocket client as the host sees it: who it is, and its outgoing queue.

    :meth:`send` may be called from any thread: messages are appended to a
    thread-safe deque in commit order and the writer (see :mod:`.app`) is woken
    on the event loop.  Tests read the queue directly with :meth:`take`.

    Example::

        >>> c = ClientConnection(Identity(1), ConnectionId(2), "token")
        >>> c.send(m.TransactionUpdate([]))
        >>> c.take()
        [TransactionUpdate(query_sets=[])]
    """

    def __init__(
        self,
        identity: Identity,
        connection_id: ConnectionId,
        token: str,
        *,
        is_owner: bool = False,
        protocol: str = SUBPROTOCOL_V2,
        compression: Compression = Compression.NONE,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.identity = identity
        self.connection_id = connection_id
        self.token = token
        self.is_owner = is_owner
        self.protocol = protocol
        self.compression = compression
        self._loop = loop
        self._outbox: collections.deque[m.ServerMessage | _Close] = collections.deque()
        self._wakeup = asyncio.Event() if loop is not None else None
        self.closing = False

    def __repr__(self) -> str:
        return f"ClientConnection(identity={self.identity.to_hex()[:16]}…, connection_id={self.connection_id})"

    def send(self, message: m.ServerMessage) -> None:
        """Queue ``message`` for the client (dropped once the client is closing)."""
        if self.closing:
            return
        self._outbox.append(message)
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """Queue a close after what is already queued; later sends are dropped."""
        if self.closing:
            return
        self.closing = True
        self._outbox.append(_Close(code, reason))
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wakeup.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wakeup.set)

    def take(self) -> list[m.ServerMessage]:
        """Remove and return the queued messages (not the close marker)."""
        out: list[m.ServerMessage] = []
        while self._outbox:
            item = self._outbox.popleft()
            if not isinstance(item, _Close):
                out.append(item)
        return out

    async def next_batch(self) -> list[m.ServerMessage | _Close]:
        """Wait for queued items and return all of them, oldest first (writer side)."""
        assert self._wakeup is not None, "next_batch needs a client created with loop="
        while not self._outbox:
            self._wakeup.clear()
            if self._outbox:
                break
            await self._wakeup.wait()
        out: list[m.ServerMessage | _Close] = []
        while self._outbox:
            out.append(self._outbox.popleft())
        return out


# ---- HTTP results ------------------------------------------------------------------------------


@dataclass
class HttpResponse:
    """What an HTTP route answers, before the web framework turns it into a response.

    Example::

        >>> HttpResponse(404, "No such procedure").status
        404
    """

    status: int
    body: str | bytes = ""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, value: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """A JSON response."""
        return cls(status, json.dumps(value), "application/json", headers or {})


# ---- the scheduler -----------------------------------------------------------------------------


@dataclass
class _Armed:
    handle: asyncio.TimerHandle
    intended: Timestamp


class Scheduler:
    """Timers for the rows of scheduled tables (protocol.md §7.4).

    :meth:`observe` is told about every commit; inserts arm a timer keyed by
    (table, schedule id), deletes cancel it (an update does both).  When a timer
    fires and the row still exists, the database calls the row's function with
    the row.  ``ScheduleAt.Time`` rows are deleted afterwards in their own
    transaction; ``ScheduleAt.Interval`` rows re-arm for the next tick after now,
    anchored at the intended time so delays do not accumulate (as upstream).

    Timers live on the database's event loop; without one (no :meth:`start`)
    nothing fires, which suits pure unit tests.

    Example::

        >>> Scheduler(Database(Module("m"))).pending()
        []
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._loop: asyncio.AbstractEventLoop | None = None
        self._armed: dict[tuple[str, Any], _Armed] = {}
        self._stopped = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arm timers on ``loop`` from now on (and for rows already present)."""
        self._loop = loop
        for schema in self._db.module.table_schemas():
            if schema.schedule is not None:
                for row in list(self._db.datastore.store(schema.name).iter_rows()):
                    self._in_loop(self._arm, schema, row)

    def stop(self) -> None:
        """Cancel every timer; nothing fires after this."""
        self._stopped = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            self._in_loop(self._cancel_all)

    def pending(self) -> list[tuple[str, Any]]:
        """The (table, schedule id) pairs with an armed timer."""
        return list(self._armed)

    def observe(self, tx: TxResult) -> None:
        """Cancel/arm timers for the scheduled rows this transaction deleted/inserted."""
        if self._loop is None or self._stopped:
            return
        for name in tx.tables():
            schema = self._db.datastore.store(name).schema
            if schema.schedule is None:
                continue
            for row in tx.deletes.get(name, ()):
                self._in_loop(self._cancel, schema, row)
            for row in tx.inserts.get(name, ()):
                self._in_loop(self._arm, schema, row)

    # -- on the loop

    def _in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            # FIFO, so cancels and arms keep commit order.
            loop.call_soon_threadsafe(fn, *args)

    @staticmethod
    def _key(schema: TableSchema, row: Any) -> tuple[str, Any]:
        assert schema.schedule is not None
        return schema.name, getattr(row, schema.columns[schema.schedule.id_column].attr)

    def _cancel(self, schema: TableSchema, row: Any) -> None:
        armed = self._armed.pop(self._key(schema, row), None)
        if armed is not None:
            armed.handle.cancel()

    def _cancel_all(self) -> None:
        for armed in self._armed.values():
            armed.handle.cancel()
        self._armed.clear()

    def _arm(self, schema: TableSchema, row: Any) -> None:
        if self._stopped:
            return
        assert schema.schedule is not None and self._loop is not None
        key = self._key(schema, row)
        self._cancel(schema, row)
        at = getattr(row, schema.columns[schema.schedule.at_column].attr)
        now = Timestamp.now()
        if isinstance(at, ScheduleAt.Interval):
            intended = now + abs_duration(at.duration)
        elif isinstance(at, ScheduleAt.Time):
            intended = at.time
        else:
            log.warning("row %r of %s has no ScheduleAt value; not scheduled", key, schema.name)
            return
        self._arm_at(schema, key, intended)

    def _arm_at(self, schema: TableSchema, key: tuple[str, Any], intended: Timestamp) -> None:
        assert self._loop is not None
        delay = max(0.0, (intended.micros - Timestamp.now().micros) / 1e6)
        handle = self._loop.call_later(delay, self._fire, schema, key)
        self._armed[key] = _Armed(handle, intended)

    def _fire(self, schema: TableSchema, key: tuple[str, Any]) -> None:
        armed = self._armed.pop(key, None)
        if armed is None or self._stopped:
            return
        try:
            self._db._run_scheduled(schema, key[1], armed.intended, self)
        except Exception:  # a timer must never take the loop down
            log.exception("scheduled call for %s id %r failed", schema.name, key[1])

    def _after_run(self, schema: TableSchema, key: tuple[str, Any], intended: Timestamp) -> bool:
        """Re-arm an interval row; returns whether a one-shot row should be deleted."""
        if key in self._armed or self._stopped:
            return False  # the function itself rescheduled (updated) its row
        row = self._db._find_schedule_row(schema, key[1])
        if row is None:
            return False
        assert schema.schedule is not None
        at = getattr(row, schema.columns[schema.schedule.at_column].attr)
        if isinstance(at, ScheduleAt.Interval):
            self._arm_at(schema, key, next_tick(intended, abs_duration(at.duration)))
            return False
        return True


def abs_duration(d: TimeDuration) -> TimeDuration:
    """``|d|`` (upstream treats a negative interval as its absolute value)."""
    return TimeDuration(abs(d.micros))


def next_tick(
    last_intended: Timestamp, interval: TimeDuration, now: Timestamp | None = None
) -> Timestamp:
    """The first interval tick strictly after ``now``, anchored at ``last_intended``.

    Example::

        >>> next_tick(Timestamp(0), TimeDuration(10), Timestamp(25))
        Timestamp(micros=30)
    """
    now = now if now is not None else Timestamp.now()
    step = interval.micros
    if step == 0:
        return last_intended + interval
    elapsed = now.micros - last_intended.micros
    ticks = 1 if elapsed <= 0 else elapsed // step + 1
    return Timestamp(last_intended.micros + ticks * step)


# ---- the database ------------------------------------------------------------------------------


class Database:
    """One database: ``module`` + datastore + subscriptions + scheduler, run serially.

    ``issuer`` signs and checks tokens (a fresh key when omitted);
    ``owner_identity`` is the identity allowed to call private functions and run
    DML over ``/sql`` (by default the identity of :attr:`owner_token`, minted here).

    Example::

        db = Database(module, name="quickstart-chat")
        db.start(asyncio.get_running_loop())
        with db.transaction() as tx:
            tx.user.insert(User(identity=me, name="Alice", online=False))
    """

    def __init__(
        self,
        module: Module,
        *,
        name: str | None = None,
        issuer: TokenIssuer | None = None,
        owner_token: str | None = None,
    ) -> None:
        self.module = module
        self.name = name or module.name
        self.issuer = issuer or TokenIssuer.generate()
        self.owner_token = owner_token or self.issuer.mint()
        self.owner_identity = self.issuer.validate(self.owner_token).identity
        self.identity = identity_from_claims(self.issuer.issuer, f"database/{self.name}")
        self.datastore = module.new_datastore()
        self.subscriptions = SubscriptionManager(module, self.datastore)
        self._canonical_ts: Typespace | None = None
        self.scheduler = Scheduler(self)
        self.clients: list[ClientConnection] = []
        self._lock = threading.RLock()
        self._started = False

    def __repr__(self) -> str:
        return f"Database(name={self.name!r}, module={self.module.name!r})"

    # -- life of the database

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run ``init`` (once) and start firing scheduled rows on ``loop``.

        Raises :class:`SpacetimeDBError` if ``init`` fails, as publishing would.
        """
        with self._lock:
            if not self._started:
                self._started = True
                init = self.module.lifecycle_reducer("Init")
                if init is not None:
                    result = self._call_reducer(init, (), self.owner_identity, None)
                    if not result.ok:
                        raise SpacetimeDBError(
                            f"the init reducer of module {self.module.name!r} failed: "
                            f"{result.message}"
                        ) from result.error
            if loop is not None:
                self.scheduler.start(loop)

    def stop(self) -> None:
        """Stop the scheduler and tell every client the module exited (close 1001)."""
        with self._lock:
            self.scheduler.stop()
            for client in list(self.clients):
                client.close(1001, "module exited")

    def is_owner(self, identity: Identity) -> bool:
        """Whether ``identity`` owns this database."""
        return identity == self.owner_identity

    # -- connections

    def connect(self, client: ClientConnection) -> None:
        """Run ``client_connected``; register the client, or raise :class:`ConnectionRejected`."""
        with self._lock:
            self._connected(client.identity, client.connection_id)
            self.clients.append(client)

    def disconnect(self, client: ClientConnection) -> None:
        """Forget the client's subscriptions, then run ``client_disconnected``."""
        with self._lock:
            if client not in self.clients:
                return
            self.clients.remove(client)
            client.closing = True
            self.subscriptions.drop_client(client)
            self._disconnected(client.identity, client.connection_id)

    def _connected(self, identity: Identity, connection_id: ConnectionId) -> None:
        rd = self.module.lifecycle_reducer("OnConnect")
        if rd is None:
            return
        result = self._call_reducer(rd, (), identity, connection_id)
        if not result.ok:
            raise ConnectionRejected(result.message or "")

    def _disconnected(self, identity: Identity, connection_id: ConnectionId) -> None:
        rd = self.module.lifecycle_reducer("OnDisconnect")
        if rd is None:
            return
        result = self._call_reducer(rd, (), identity, connection_id)
        if not result.ok:
            # Upstream swallows client_disconnected errors too; the client is gone anyway.
            log.warning("client_disconnected failed for %s: %s", identity, result.message)

    # -- WebSocket messages

    def handle(self, client: ClientConnection, message: m.ClientMessage) -> None:
        """Execute one client message; replies are queued on ``client`` (and others).

        Raises :class:`FatalClientError` when the connection must be closed with 1011.
        """
        with self._lock:
            if isinstance(message, m.CallReducer):
                self._ws_call_reducer(client, message)
            elif isinstance(message, m.Subscribe):
                self._ws_subscribe(client, message)
            elif isinstance(message, m.Unsubscribe):
                self._ws_unsubscribe(client, message)
            elif isinstance(message, m.OneOffQuery):
                self._ws_one_off(client, message)
            elif isinstance(message, m.CallProcedure):
                self._ws_call_procedure(client, message)
            else:  # pragma: no cover - the codec produces nothing else
                raise FatalClientError(f"unexpected client message {type(message).__name__}")

    def _ws_subscribe(self, client: ClientConnection, msg: m.Subscribe) -> None:
        try:
            rows = self.subscriptions.subscribe(
                client,
                client.identity,
                msg.query_set_id,
                list(msg.query_strings),
                is_owner=client.is_owner,
            )
        except DuplicateQuerySet as e:
            raise FatalClientError(str(e)) from None
        except SubscriptionFailure as e:
            client.send(m.SubscriptionError(msg.request_id, msg.query_set_id, str(e)))
            return
        client.send(m.SubscribeApplied(msg.request_id, msg.query_set_id, rows))

    def _ws_unsubscribe(self, client: ClientConnection, msg: m.Unsubscribe) -> None:
        try:
            rows = self.subscriptions.unsubscribe(client, msg.query_set_id)
        except UnknownQuerySet as e:
            client.send(m.SubscriptionError(msg.request_id, msg.query_set_id, str(e)))
            return
        send_rows = msg.flags == m.UnsubscribeFlags.SEND_DROPPED_ROWS
        client.send(
            m.UnsubscribeApplied(msg.request_id, msg.query_set_id, rows if send_rows else None)
        )

    def _ws_one_off(self, client: ClientConnection, msg: m.OneOffQuery) -> None:
        try:
            rows = self.subscriptions.one_off_query(
                client.identity, msg.query_string, is_owner=client.is_owner
            )
        except SubscriptionFailure as e:
            client.send(m.OneOffQueryResult(msg.request_id, Err(str(e))))
            return
        client.send(m.OneOffQueryResult(msg.request_id, Ok(rows)))

    def _ws_call_reducer(self, client: ClientConnection, msg: m.CallReducer) -> None:
        def internal(text: str) -> None:
            client.send(
                m.ReducerResult(msg.request_id, Timestamp.now(), m.ReducerInternalError(text))
            )

        rd = self.module.reducer_def(msg.reducer)
        problem = self._reducer_problem(rd, client.identity)
        if problem is not None:
            internal(problem[1])
            return
        assert rd is not None
        try:
            args = self.module.args_codec(rd).decode(msg.args)
        except Exception as e:
            internal(f"invalid arguments for reducer {rd.name}: {e}")
            return
        timestamp = Timestamp.now()
        result, mine = self._run_reducer(
            rd, args, client.identity, client.connection_id, timestamp, client
        )
        client.send(m.ReducerResult(msg.request_id, timestamp, _outcome(result, mine)))

    def _ws_call_procedure(self, client: ClientConnection, msg: m.CallProcedure) -> None:
        def failed(text: str) -> None:
            client.send(
                m.ProcedureResult(
                    m.ProcedureInternalError(text),
                    Timestamp.UNIX_EPOCH,
                    TimeDuration(0),
                    msg.request_id,
                )
            )

        pd = self.module.procedure_def(msg.procedure)
        if pd is None or not (pd.client_callable or client.is_owner):
            failed("No such procedure")
            return
        try:
            args = self.module.args_codec(pd).decode(msg.args)
        except Exception as e:
            failed(f"invalid arguments for procedure {pd.name}: {e}")
            return
        start = Timestamp.now()
        began = time.perf_counter()
        result = self._call_procedure(pd, args, client.identity, client.connection_id, start)
        if not result.ok:
            failed(result.message or "")
            return
        try:
            value = self.module.return_codec(pd).encode(result.return_value)
        except Exception as e:
            failed(f"procedure {pd.name} returned a value that does not fit its type: {e}")
            return
        elapsed = TimeDuration(int((time.perf_counter() - began) * 1e6))
        client.send(m.ProcedureResult(m.ProcedureReturned(value), start, elapsed, msg.request_id))

    def _reducer_problem(self, rd: ReducerDef | None, caller: Identity) -> tuple[int, str] | None:
        """Why ``caller`` may not call ``rd``: (HTTP status, upstream's text), or ``None``."""
        if rd is None:
            return 404, "no such reducer"
        if rd.lifecycle is not None:
            return 400, f"can't directly call special {rd.lifecycle} lifecycle reducer"
        if not rd.client_callable and not self.is_owner(caller):
            return 404, "no such reducer"  # private functions look nonexistent to others
        return None

    # -- running functions and broadcasting

    def _call_reducer(
        self,
        rd: ReducerDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
    ) -> CallResult:
        return self._run_reducer(rd, args, sender, connection_id)[0]

    def _run_reducer(
        self,
        rd: ReducerDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp | None = None,
        caller: ClientConnection | None = None,
    ) -> tuple[CallResult, list[m.QuerySetUpdate]]:
        """Run a reducer and broadcast its commit; returns the caller's own updates too."""
        result = self.module.call_reducer(
            self.datastore,
            rd,
            args,
            sender=sender,
            connection_id=connection_id,
            timestamp=timestamp,
            database_identity=self.identity,
        )
        if result.status == "internal_error" and result.error is not None:
            log.error("reducer %s failed", rd.name, exc_info=result.error)
        mine: list[m.QuerySetUpdate] = []
        if result.ok and result.tx is not None:
            mine = self._broadcast(result.tx, caller)
        return result, mine

    def _call_procedure(
        self,
        pd: ProcedureDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp | None = None,
    ) -> CallResult:
        result = self.module.call_procedure(
            self.datastore,
            pd,
            args,
            sender=sender,
            connection_id=connection_id,
            timestamp=timestamp,
            database_identity=self.identity,
        )
        if result.status == "internal_error" and result.error is not None:
            log.error("procedure %s failed", pd.name, exc_info=result.error)
        for tx in result.tx_results:
            self._broadcast(tx, None)
        return result

    def _broadcast(self, tx: TxResult, caller: ClientConnection | None) -> list[m.QuerySetUpdate]:
        """Fan a committed transaction out; returns the caller's share (for its ReducerResult)."""
        self.scheduler.observe(tx)
        if tx.is_empty():
            return []
        updates = self.subscriptions.on_commit(tx)
        for client, failed in updates.failures.items():
            if isinstance(client, ClientConnection):
                for query_set_id, error in failed:
                    client.send(m.SubscriptionError(None, query_set_id, error))
        mine = updates.pop(caller, []) if caller is not None else []
        # Clients whose query sets got the same (shared) updates get the same message object,
        # so the writer encodes it once for all of them (see app.encode_once).
        shared: dict[tuple[int, ...], m.TransactionUpdate] = {}
        for client, sets in updates.items():
            if sets and isinstance(client, ClientConnection):
                key = tuple(map(id, sets))
                msg = shared.get(key)
                if msg is None:
                    msg = shared[key] = m.TransactionUpdate(sets)
                client.send(msg)
        return mine

    # -- scheduled functions (called by the Scheduler on the loop)

    def _find_schedule_row(self, schema: TableSchema, schedule_id: Any) -> Any | None:
        assert schema.schedule is not None
        store = self.datastore.store(schema.name)
        pk = schema.schedule.id_column
        ix = next(i for i in schema.indexes if i.unique and i.columns == (pk,))
        return store.find(ix, (schedule_id,))

    def _run_scheduled(
        self, schema: TableSchema, schedule_id: Any, intended: Timestamp, scheduler: Scheduler
    ) -> None:
        assert schema.schedule is not None
        with self._lock:
            row = self._find_schedule_row(schema, schedule_id)
            if row is None:
                return
            name = schema.schedule.function_name
            rd = self.module.reducer_def(name)
            if rd is not None:
                result = self._call_reducer(rd, (row,), self.identity, None)
            else:
                pd = self.module.procedure_def(name)
                if pd is None:
                    log.error("scheduled table %s names unknown function %s", schema.name, name)
                    return
                result = self._call_procedure(pd, (row,), self.identity, None)
            if not result.ok:
                log.info(
                    "scheduled %s (%s id %r) failed: %s",
                    name,
                    schema.name,
                    schedule_id,
                    result.message,
                )
            if scheduler._after_run(schema, (schema.name, schedule_id), intended):
                self._delete_one_shot(schema, schedule_id)

    def _delete_one_shot(self, schema: TableSchema, schedule_id: Any) -> None:
        tx = self.datastore.begin()
        try:
            row = self._find_schedule_row(schema, schedule_id)
            if row is not None:
                tx.delete(schema.name, row)
        except BaseException:
            tx.rollback()
            raise
        self._broadcast(tx.commit(), None)

    # -- HTTP

    def http_call(self, identity: Identity, name: str, body: bytes) -> HttpResponse:
        """``POST /call/{name}``: connect, call a reducer or procedure with JSON args, disconnect."""
        with self._lock:
            connection_id = ConnectionId.random()
            try:
                self._connected(identity, connection_id)
            except ConnectionRejected as e:
                return HttpResponse(403, e.message)
            try:
                return self._http_call(identity, connection_id, name, body)
            finally:
                self._disconnected(identity, connection_id)

    def _http_call(
        self, identity: Identity, connection_id: ConnectionId, name: str, body: bytes
    ) -> HttpResponse:
        rd = self.module.reducer_def(name)
        problem = self._reducer_problem(rd, identity)
        if problem is None:
            assert rd is not None
            try:
                args = self._json_args(rd, body)
            except _BadArgs as e:
                return HttpResponse(400, f"invalid arguments for reducer {rd.name}: {e}")
            began = time.perf_counter()
            result = self._call_reducer(rd, args, identity, connection_id)
            headers = _exec_headers(began, energy=True)
            if result.ok:
                return HttpResponse(200, "", headers=headers)
            return HttpResponse(530, result.message or "", headers=headers)
        if problem[0] != 404:
            return HttpResponse(problem[0], problem[1])
        pd = self.module.procedure_def(name)
        if pd is None or not (pd.client_callable or self.is_owner(identity)):
            return HttpResponse(404, "No such procedure")
        try:
            args = self._json_args(pd, body)
        except _BadArgs as e:
            return HttpResponse(400, f"invalid arguments for procedure {pd.name}: {e}")
        began = time.perf_counter()
        result = self._call_procedure(pd, args, identity, connection_id)
        if not result.ok:
            return HttpResponse(500, result.message or "")
        try:
            value = self._procedure_json(pd, result.return_value)
        except Exception as e:
            return HttpResponse(
                500, f"procedure {pd.name} returned a value that does not fit its type: {e}"
            )
        return HttpResponse.json(value, headers=_exec_headers(began, energy=False))

    def _canonical(self, ty: AlgebraicType) -> tuple[AlgebraicType, Typespace]:
        """``ty`` and the typespace with the canonical names clients see in the schema.

        JSON carries field and variant names, so HTTP arguments and results use the names
        the schema publishes; BSATN does not, so both spellings share one byte layout.
        """
        if self._canonical_ts is None:
            self._canonical_ts = canonical_typespace(self.module)
        snake = self.module.case_conversion == "snake_case"
        return canonical_type(ty, snake), self._canonical_ts

    def _generic_codec(self, ty: AlgebraicType) -> bsatn.Codec:
        """A codec of ``ty`` over plain values (dicts for products), not the module's classes."""
        return bsatn.codec_for(*self._canonical(ty))

    def _json_args(self, fn: ReducerDef | ProcedureDef, body: bytes) -> dict[str, Any]:
        """SATS-JSON arguments (array or object) → the values the function expects."""
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise _BadArgs(f"invalid JSON: {e}") from None
        try:
            params, typespace = self._canonical(fn.params)
            generic = from_json(params, obj, typespace)
            # Through BSATN, so rows become the module's dataclasses, as over the WebSocket.
            data = self._generic_codec(fn.params).encode(generic)
            args: dict[str, Any] = self.module.args_codec(fn).decode(data)
        except (SatsJsonError, ValueError, TypeError) as e:
            raise _BadArgs(str(e)) from None
        return args

    def _procedure_json(self, pd: ProcedureDef, value: Any) -> Any:
        data = self.module.return_codec(pd).encode(value)
        generic = self._generic_codec(pd.return_type).decode(data)
        ty, ts = self._canonical(pd.return_type)
        return to_json_untyped(ty, generic, ts)

    def http_sql(self, identity: Identity, sql: str) -> HttpResponse:
        """``POST /sql``: connect, run one statement (DML broadcasts), disconnect."""
        with self._lock:
            connection_id = ConnectionId.random()
            try:
                self._connected(identity, connection_id)
            except ConnectionRejected as e:
                return HttpResponse(403, e.message)
            try:
                return self._http_sql(identity, sql)
            finally:
                self._disconnected(identity, connection_id)

    def _http_sql(self, identity: Identity, sql: str) -> HttpResponse:
        try:
            results = self.sql(sql, sender=identity)
        except SqlFailed as e:
            return HttpResponse(400, str(e))
        total = sum(int(r.get("total_duration_micros", 0)) for r in results if isinstance(r, dict))
        return HttpResponse.json(
            results, headers={"spacetime-execution-duration-micros": str(total)}
        )

    # -- direct access (fixtures, the CLI, tests)

    @contextmanager
    def transaction(self) -> Iterator[DbView]:
        """Run a block in a transaction, then broadcast it like any other commit.

        The block gets ``db`` (``db.user.insert(...)``); an exception rolls back.

        Example::

            with db.transaction() as tx:
                tx.message.insert(Message(sender=me, sent=Timestamp.now(), text="hi"))
        """
        with self._lock:
            tx = self.datastore.begin()
            try:
                yield tx.db
            except BaseException:
                if tx.open:
                    tx.rollback()
                raise
            if tx.open:
                self._broadcast(tx.commit(), None)

    def call_reducer(
        self,
        name: str,
        *args: Any,
        sender: Identity | None = None,
        connection_id: ConnectionId | None = None,
        **kwargs: Any,
    ) -> CallResult:
        """Call any reducer (lifecycle and private ones too) as ``sender`` (the owner by default).

        Arguments are Python values, by position or by name; the commit is broadcast.

        Example::

            assert db.call_reducer("send_message", "hello").ok
        """
        with self._lock:
            rd = self.module.reducer_def(name, source=True)
            if rd is None:
                raise KeyError(f"module {self.module.name!r} has no reducer {name!r}")
            call_args: Mapping[str, Any] | Sequence[Any] = kwargs if kwargs else args
            if args and kwargs:
                raise TypeError("pass reducer arguments by position or by name, not both")
            return self._call_reducer(rd, call_args, sender or self.owner_identity, connection_id)

    def call_procedure(
        self, name: str, *args: Any, sender: Identity | None = None, **kwargs: Any
    ) -> CallResult:
        """Call a procedure as ``sender`` (the owner by default); its commits are broadcast."""
        with self._lock:
            pd = self.module.procedure_def(name, source=True)
            if pd is None:
                raise KeyError(f"module {self.module.name!r} has no procedure {name!r}")
            if args and kwargs:
                raise TypeError("pass procedure arguments by position or by name, not both")
            return self._call_procedure(
                pd, kwargs if kwargs else args, sender or self.owner_identity, None
            )

    def sql(self, query: str, *, sender: Identity | None = None) -> list[Any]:
        """Run one ``/sql`` statement as ``sender`` (the owner by default); DML is broadcast.

        Returns the JSON-able statement results; raises :class:`SpacetimeDBError` on error.

        Example::

            rows = db.sql("SELECT * FROM user")[0]["rows"]
        """
        caller = sender or self.owner_identity
        with self._lock:
            try:
                results, tx = execute_sql(
                    self.module,
                    self.datastore,
                    query,
                    caller=caller,
                    is_owner=self.is_owner(caller),
                )
            except SqlExecutionError as e:
                raise SqlFailed(e.message) from None
            if tx is not None:
                self._broadcast(tx, None)
            return [r.to_json() for r in results]

    def rows(self, table: str) -> list[Any]:
        """A snapshot of a table's rows (by canonical name or accessor)."""
        with self._lock:
            return list(self.datastore.store(table).iter_rows())


class _BadArgs(Exception):
    pass


class SqlFailed(SpacetimeDBError):
    """A ``/sql`` statement failed; the message is what an HTTP client is told (400).

    Example::

        >>> str(SqlFailed("no such table: `x`"))
        'no such table: `x`'
    """


def _exec_headers(began: float, *, energy: bool) -> dict[str, str]:
    micros = int((time.perf_counter() - began) * 1e6)
    headers = {"spacetime-execution-duration-micros": str(micros)}
    if energy:
        headers["spacetime-energy-used"] = "0"
    return headers


def _outcome(result: CallResult, mine: list[m.QuerySetUpdate]) -> m.ReducerOutcome:
    if result.status == "ok":
        return m.ReducerOk(b"", m.TransactionUpdate(mine))
    if result.status == "err":
        return m.ReducerErr(bsatn.encode(AlgebraicType.STRING, result.message or ""))
    return m.ReducerInternalError(result.message or "")
