"""Running module functions and fanning their commits out: the part every front end goes through.

:class:`Execution` holds a database's state (module, datastore, subscriptions, scheduler,
clients) and decides, here alone, how a call runs:

* **The database thread** (:class:`~.worker.DatabaseThread`) owns the datastore.  Every
  transaction runs there, one at a time, in submission order: reducer calls (WebSocket, HTTP,
  scheduled, lifecycle, direct), subscription registration and initial rows, one-off queries,
  ``/sql``, view evaluation, each ``with_tx`` body of a procedure, and the fan-out of every
  commit.  The event loop only reads and writes sockets: it submits work and awaits results,
  so one long reducer delays the other calls *of that database* (as upstream's single executor
  does) but never another client's ``/v1/ping``, identity route or another database.
* **Procedures** run on threads of their own (:mod:`.procedures`) and take the database only
  for each transaction: their ``with_tx`` bodies are jobs on the database thread, so other
  clients' reducers and scheduled reducers commit between two transactions of a procedure.
* **The time budget**: each reducer, view and ``with_tx`` body runs under the database thread's
  :class:`~..budget.CallBudget`; one that overruns is stopped, rolled back and answered with
  upstream's out-of-energy error, and the thread goes on with the next job.
* **Module code** is reached through :attr:`Execution.runner` (a
  :class:`~..module.ModuleRunner`; the :class:`~..module.Module` itself for Python modules), the
  seam where a module in another language plugs in.

After each commit the scheduler and the subscription engine are fed and the resulting messages
queued on the clients, in commit order (protocol.md §4.6, §7.2-7.4):

* the caller of a reducer gets exactly one ``ReducerResult`` carrying its own subscription
  deltas; every other client with an affected query set gets a ``TransactionUpdate``; a failed
  reducer sends nothing to anyone else;
* procedures' inner transactions reach everyone (the caller included) as
  ``TransactionUpdate`` s, then the caller gets its ``ProcedureResult``.

The front ends (:mod:`.client_messages`, :mod:`.http_calls`, :mod:`.lifecycle`, the
:mod:`.scheduler` and the direct API of :class:`~.database.Database`) extend this class and only
translate requests into these calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

from ..._log import get_logger
from ...protocol import messages as m
from ...sats.types import Typespace
from ...sats.values import ConnectionId, Identity, Timestamp
from ..auth import TokenIssuer, identity_from_claims
from ..budget import DEFAULT_BUDGET_SECONDS
from ..datastore import TableSchema, TxResult
from ..durability import DatabaseStorage
from ..durability.state import Restored
from ..limits import LimitCounters, ServerLimits
from ..module import (
    AuthCtx,
    CallResult,
    HttpPolicy,
    Module,
    ModuleRunner,
    ProcedureDef,
    ReducerDef,
)
from ..module.console import LogRecord, LogSink, log_exception
from ..module_source import module_hash
from ..subscriptions import (
    SqlExecutionError,
    SubscriptionFailure,
    SubscriptionManager,
    execute_sql,
)
from .clients import ClientConnection
from .errors import SqlFailed
from .module_log import SENTINEL, ModuleLog
from .procedures import start_procedure
from .scheduler import Scheduler
from .worker import DatabaseThread

log = get_logger("spacetimedb_sdk.server")


class Execution:
    """A database's state, and how its functions run (see above).

    The constructor's parameters are described on :class:`~.database.Database`.
    """

    def __init__(
        self,
        module: Module,
        *,
        name: str | None = None,
        issuer: TokenIssuer | None = None,
        owner_token: str | None = None,
        reducer_timeout: float | None = DEFAULT_BUDGET_SECONDS,
        http_policy: HttpPolicy | None = None,
        storage: DatabaseStorage | None = None,
        limits: ServerLimits | None = None,
        identity: Identity | None = None,
        owner_identity: Identity | None = None,
        program_hash: str | None = None,
    ) -> None:
        self.module = module
        self.limits = limits or ServerLimits()
        self.counters = LimitCounters()
        self.name = name or module.name
        self.issuer = issuer or TokenIssuer.generate()
        if owner_identity is not None:
            self.owner_token: str | None = owner_token
            self.owner_identity = owner_identity
        else:
            self.owner_token = owner_token or self.issuer.mint()
            self.owner_identity = self.issuer.validate(self.owner_token).identity
        self.identity = identity or database_identity(self.issuer, self.name)
        # The hash of the module's program: what upstream compares to skip an unchanged publish.
        self.program_hash = program_hash or module_hash(module)
        self.initial_program = self.program_hash
        self.http_policy = http_policy or HttpPolicy()
        self.log = ModuleLog()
        self.log_sink: LogSink = _CurrentLog(self)
        self.worker = DatabaseThread(self.name, reducer_timeout, self.log_sink)
        self.datastore = module.new_datastore()
        self.runner: ModuleRunner = module.new_runner(self)
        self.subscriptions = SubscriptionManager(module, self.datastore)
        self._canonical_ts: Typespace | None = None
        self.scheduler = Scheduler(self)
        self.clients: list[ClientConnection] = []
        # Every connection past client_connected (WebSocket or one HTTP call): st_client's rows.
        self.connected: dict[tuple[Identity, ConnectionId], None] = {}
        self.subscriptions.system.clients = lambda: list(self.connected)
        self.stopping = threading.Event()
        self._started = False
        self._serving = False  # started with a loop: timers run
        self.storage = storage
        # What a data directory held (None: a new or in-memory database, whose init runs).
        self.restored: Restored | None = None
        if storage is not None:
            self._open_storage(storage)

    def _open_storage(self, storage: DatabaseStorage) -> None:
        self.restored = storage.open(self.module, self.datastore)
        if self.restored is not None:
            self.subscriptions.system.variables.update(self.restored.variables)
        # Read at each snapshot: a hot swap replaces the datastore and the engine.
        storage.set_capture(
            lambda: storage.capture_of(
                self.datastore, self.subscriptions.system.variables, self.connected
            )
        )

    async def wait_durable_async(self) -> None:
        """Wait until every commit made so far is synced to disk (at once without a data dir)."""
        durability = self.storage.durability if self.storage is not None else None
        if durability is not None:
            await durability.wait_durable_async()

    def close_storage(self) -> None:
        """Sync and close the data directory's files (after :meth:`stop`); nothing commits after."""
        if self.storage is not None:
            self.worker.call(self.storage.close)

    @property
    def reducer_timeout(self) -> float | None:
        """The time budget of one reducer, view or transaction body, in seconds."""
        return self.worker.budget_seconds

    def is_owner(self, identity: Identity) -> bool:
        """Whether ``identity`` owns this database."""
        return identity == self.owner_identity

    def _reducer_problem(self, rd: ReducerDef | None, caller: Identity) -> tuple[int, str] | None:
        """Why ``caller`` may not call ``rd``: (HTTP status, upstream's text), or ``None``."""
        if rd is None:
            return 404, "no such reducer"
        if rd.lifecycle is not None:
            return 400, f"can't directly call special {rd.lifecycle} lifecycle reducer"
        if not rd.client_callable and not self.is_owner(caller):
            return 404, "no such reducer"  # private functions look nonexistent to others
        return None

    # -- running functions and broadcasting (on the database thread)

    def _call_reducer(
        self,
        rd: ReducerDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
        auth: AuthCtx | None = None,
    ) -> CallResult:
        return self._run_reducer(rd, args, sender, connection_id, auth=auth)[0]

    def _run_reducer(
        self,
        rd: ReducerDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp | None = None,
        caller: ClientConnection | None = None,
        auth: AuthCtx | None = None,
    ) -> tuple[CallResult, list[m.QuerySetUpdate]]:
        """Run a reducer and broadcast its commit; returns the caller's own updates too."""
        result = self.runner.call_reducer(
            self.datastore,
            rd,
            args,
            sender=sender,
            connection_id=connection_id,
            timestamp=timestamp,
            database_identity=self.identity,
            auth=auth,
        )
        if result.status == "internal_error" and result.error is not None:
            log.error("reducer %s failed", rd.name, exc_info=result.error)
            log_exception(self.log_sink, rd.name, result.error)
        elif result.status == "err":
            # Upstream logs a reducer's own error under its name (``log_reducer_error``).
            self.log.write(
                LogRecord(
                    "Error",
                    result.message or "",
                    (timestamp or Timestamp.now()).micros,
                    target=SENTINEL,
                    filename=SENTINEL,
                    function=rd.name,
                )
            )
        elif result.status == "out_of_energy":
            log.warning(
                "reducer %s ran past its %s s budget and was stopped", rd.name, self.reducer_timeout
            )
        mine: list[m.QuerySetUpdate] = []
        if result.ok and result.tx is not None:
            mine = self._broadcast(result.tx, caller)
        return result, mine

    def _start_procedure(
        self,
        pd: ProcedureDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
        on_done: Callable[[CallResult], None],
        timestamp: Timestamp | None = None,
        auth: AuthCtx | None = None,
    ) -> None:
        """Run a procedure on a thread of its own; ``on_done(result)`` runs there at the end."""
        start_procedure(self, pd, args, sender, connection_id, on_done, timestamp, auth)

    def _call_procedure(
        self,
        pd: ProcedureDef,
        args: Mapping[str, Any] | Sequence[Any],
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp | None = None,
        auth: AuthCtx | None = None,
    ) -> CallResult:
        """Run a procedure and wait for it (not on the database thread: it needs that thread)."""
        if self.worker.on_thread():
            raise RuntimeError(
                "a procedure cannot be awaited on the database thread (or inside "
                "db.transaction()): its transactions need that thread; call it from elsewhere"
            )
        future: Future[CallResult] = Future()
        self._start_procedure(pd, args, sender, connection_id, future.set_result, timestamp, auth)
        return future.result()

    def _broadcast(self, tx: TxResult, caller: ClientConnection | None) -> list[m.QuerySetUpdate]:
        """Fan a committed transaction out; returns the caller's share (for its ReducerResult).

        With a data directory the commit is written to the log first: whoever hears of a
        commit, hears of a commit that survives the server process.
        """
        if self.storage is not None:
            self.storage.record_commit(tx, self.datastore)
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
        # so the writer encodes it once for all of them (see app.websocket_frames.encode_once).
        shared: dict[tuple[int, ...], m.TransactionUpdate] = {}
        for client, sets in updates.items():
            if sets and isinstance(client, ClientConnection):
                key = tuple(map(id, sets))
                msg = shared.get(key)
                if msg is None:
                    msg = shared[key] = m.TransactionUpdate(sets)
                client.send(msg)
        return mine

    def schedule_immediate(self, reducer: str, args: bytes) -> None:
        """Call ``reducer`` with BSATN ``args`` right after the current job, as the database
        (a module's ``volatile_nonatomic_schedule_immediate``; any thread)."""
        rd = self.module.reducer_def(reducer, source=True)
        if rd is None:
            self.log.system("Error", f"schedule_immediate: no reducer named {reducer!r}")
            return
        try:
            decoded = self.module.args_codec(rd).decode(args)
        except ValueError as e:
            self.log.system("Error", f"schedule_immediate({reducer!r}): bad arguments: {e}")
            return
        self.worker.post(self._immediate, rd, decoded)

    def _immediate(self, rd: ReducerDef, args: Mapping[str, Any]) -> None:
        result = self._call_reducer(rd, args, self.identity, None, AuthCtx.internal())
        if not result.ok:
            log.info("reducer %s scheduled immediately failed: %s", rd.name, result.message)

    # -- scheduled functions (called by the Scheduler on the database thread)

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
        row = self._find_schedule_row(schema, schedule_id)
        if row is None:
            return
        name = schema.schedule.function_name
        key = (schema.name, schedule_id)
        rd = self.module.reducer_def(name)
        if rd is not None:
            result = self._call_reducer(rd, (row,), self.identity, None, AuthCtx.internal())
            _log_scheduled(name, schema, schedule_id, result)
            if scheduler._after_run(schema, key, intended):
                self._delete_one_shot(schema, schedule_id)
            return
        pd = self.module.procedure_def(name)
        if pd is None:
            log.error("scheduled table %s names unknown function %s", schema.name, name)
            return
        # As upstream: a one-shot row goes before the procedure runs (it must not run twice),
        # and the scheduled calls due meanwhile wait until the procedure has finished.
        if scheduler._after_run(schema, key, intended):
            self._delete_one_shot(schema, schedule_id)
        scheduler._hold()

        def done(result: CallResult) -> None:
            self.worker.post(self._scheduled_procedure_done, schema, key, intended, result)

        self._start_procedure(pd, (row,), self.identity, None, done, None, AuthCtx.internal())

    def _scheduled_procedure_done(
        self, schema: TableSchema, key: tuple[str, Any], intended: Timestamp, result: CallResult
    ) -> None:
        assert schema.schedule is not None
        _log_scheduled(schema.schedule.function_name, schema, key[1], result)
        self.scheduler._after_run(schema, key, intended)
        self.scheduler._release()

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

    # -- SQL statements (the /sql route and direct callers)

    def one_off_rows(self, sender: Identity, sql: str, *, is_owner: bool) -> m.QueryRows:
        """A WebSocket one-off query's rows, within :attr:`limits` (database thread only).

        Raises :class:`~..subscriptions.SubscriptionFailure` with the client's error text.
        """
        try:
            return self.subscriptions.one_off_query(
                sender, sql, is_owner=is_owner, row_limit=self.limits.sql_row_limit
            )
        except SubscriptionFailure as e:
            if e.over_limit:
                self.counters.count("sql_refused")
            raise

    def sql(self, query: str, *, sender: Identity | None = None) -> list[Any]:
        """Run one ``/sql`` statement as ``sender`` (the owner by default); DML is broadcast.

        Returns the JSON-able statement results; raises :class:`SpacetimeDBError` on error.

        Example::

            rows = db.sql("SELECT * FROM user")[0]["rows"]
        """
        return self.worker.call(self._sql, query, sender or self.owner_identity)

    def _sql(self, query: str, caller: Identity) -> list[Any]:
        variables = self.subscriptions.system.variables
        before = dict(variables) if self.storage is not None else None
        try:
            results, tx = execute_sql(
                self.module,
                self.datastore,
                query,
                caller=caller,
                is_owner=self.is_owner(caller),
                limits=self.limits,
            )
        except SqlExecutionError as e:
            if e.over_limit:
                self.counters.count("sql_refused")
            raise SqlFailed(e.message) from None
        finally:  # st_var changes are recorded even from a statement that failed half-way
            if self.storage is not None and before is not None:
                self.storage.record_variables(before, variables)
        if tx is not None:
            self._broadcast(tx, None)
        return [r.to_json() for r in results]


def database_identity(issuer: TokenIssuer, name: str) -> Identity:
    """The identity of database ``name`` on the server signing with ``issuer``.

    Example::

        >>> database_identity(TokenIssuer.generate(), "chat").to_hex()[:4]
        'c200'
    """
    return identity_from_claims(issuer.issuer, f"database/{name}")


class _CurrentLog:
    """A database's log sink: writes to its current log (a reset starts a new one)."""

    def __init__(self, db: Execution) -> None:
        self._db = db

    def write(self, record: LogRecord) -> None:
        self._db.log.write(record)


def _log_scheduled(name: str, schema: TableSchema, schedule_id: Any, result: CallResult) -> None:
    if not result.ok:
        log.info(
            "scheduled %s (%s id %r) failed: %s", name, schema.name, schedule_id, result.message
        )


def client_auth(token: str | None) -> AuthCtx:
    """The ``sender_auth`` of a client that connected with ``token``."""
    if not token:
        return AuthCtx(False, None)
    try:
        return AuthCtx.from_token(token)
    except ValueError:
        return AuthCtx(False, None)
