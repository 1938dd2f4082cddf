"""Running module functions and fanning their commits out: the part every front end goes through.

:class:`Execution` holds a database's state (module, datastore, subscriptions, scheduler,
clients) and runs every reducer, procedure, SQL statement and scheduled call **one at a time**
under one re-entrant lock (so threads other than the event loop's may use it too).  After each
commit it feeds the scheduler and the subscription engine and queues the resulting messages on
the clients (protocol.md §4.6, §7.2-7.4):

* the caller of a reducer gets exactly one ``ReducerResult`` carrying its own subscription
  deltas; every other client with an affected query set gets a ``TransactionUpdate``; a failed
  reducer sends nothing to anyone else;
* procedures' inner transactions reach everyone (the caller included) as
  ``TransactionUpdate`` s, then the caller gets its ``ProcedureResult``.

The front ends (:mod:`.client_messages`, :mod:`.http_calls`, :mod:`.lifecycle`, the
:mod:`.scheduler` and the direct API of :class:`~.database.Database`) extend this class and only
translate requests into these calls; how a call is executed (on which thread, under which lock,
with which time budget, in which module language) is decided here alone.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ..._log import get_logger
from ...protocol import messages as m
from ...sats.types import Typespace
from ...sats.values import ConnectionId, Identity, Timestamp
from ..auth import TokenIssuer, identity_from_claims
from ..datastore import TableSchema, TxResult
from ..module import CallResult, Module, ProcedureDef, ReducerDef
from ..subscriptions import SqlExecutionError, SubscriptionManager, execute_sql
from .clients import ClientConnection
from .errors import SqlFailed
from .scheduler import Scheduler

log = get_logger("spacetimedb_sdk.server")


class Execution:
    """A database's state, and the one-at-a-time execution of its functions (see above).

    The constructor's parameters are described on :class:`~.database.Database`.
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
        # Every connection past client_connected (WebSocket or one HTTP call): st_client's rows.
        self.connected: dict[tuple[Identity, ConnectionId], None] = {}
        self.subscriptions.system.clients = lambda: list(self.connected)
        self._lock = threading.RLock()
        self._started = False

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

    # -- SQL statements (the /sql route and direct callers)

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
