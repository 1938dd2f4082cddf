"""Procedures on threads of their own, taking the database one transaction at a time.

:func:`start_procedure` runs a procedure on a new thread.  Its host, :class:`ThreadedProcedureHost`,
turns each ``with_tx`` into a job on the database thread (the procedure's thread blocks until the
job has committed or rolled back, and the commit has been broadcast to every subscriber, the
caller included), and each wait (``sleep_until``) into a wait that holds nothing.  So other
clients' reducers, scheduled reducers and subscriptions run between a procedure's transactions,
as upstream's procedures (which take the datastore's transaction lock per ``with_tx``) allow.

When the database stops, a waiting procedure ends with :class:`~..module.ProcedureAborted`
rather than touching a stopped database.  The procedure's result goes to ``on_done`` on its
thread, after its transactions' updates were queued: so a WebSocket caller gets those updates
before its ``ProcedureResult``.

Example::

    start_procedure(db, pd, args, sender, connection_id, on_done=print)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ..._log import get_logger
from ...sats.values import ConnectionId, Identity, Timestamp
from ..datastore import Datastore, Transaction, TxResult
from ..module import AuthCtx, CallResult, HttpPolicy, ModuleRunner, ProcedureAborted, ProcedureDef
from ..module.console import LogSink, bind_sink, function_scope, log_exception
from ..module.procedure_host import run_tx_on
from .clients import ClientConnection
from .worker import DatabaseThread

log = get_logger("spacetimedb_sdk.server")

_T = TypeVar("_T")

#: What the caller of a procedure is told when the database stopped under it.
STOPPED_MESSAGE = "the database stopped while the procedure ran"


class ProcedureDatabase(Protocol):
    """What running a procedure needs of its database (an :class:`~.execution.Execution`)."""

    runner: ModuleRunner
    datastore: Datastore
    worker: DatabaseThread
    identity: Identity
    http_policy: HttpPolicy
    stopping: threading.Event
    log_sink: LogSink

    def _broadcast(self, tx: TxResult, caller: ClientConnection | None) -> Any: ...


class ThreadedProcedureHost:
    """A :class:`~..module.ProcedureHost` whose transactions run on the database thread.

    ``function`` names the procedure in the module log lines its transactions write.
    """

    def __init__(self, db: ProcedureDatabase, function: str = "") -> None:
        self._db = db
        self._function = function
        self.http_policy = db.http_policy
        self.tx_results: list[TxResult] = []

    def run_tx(self, body: Callable[[Transaction], tuple[_T, bool]]) -> _T:
        """Run ``body`` as one transaction on the database thread; block until it is done."""
        if self._db.stopping.is_set():
            raise ProcedureAborted(STOPPED_MESSAGE)
        value: _T = self._db.worker.call(self._tx_job, body)
        return value

    def _tx_job(self, body: Callable[[Transaction], tuple[_T, bool]]) -> _T:
        with function_scope(self._function):
            value: _T = run_tx_on(self._db.datastore, body, self._committed)[0]
        return value

    def _committed(self, tx: TxResult) -> None:
        self.tx_results.append(tx)
        self._db._broadcast(tx, None)  # to everyone, the caller included, before its result

    def sleep_until(self, deadline: Timestamp) -> Timestamp:
        """Wait until ``deadline`` holding nothing; :class:`ProcedureAborted` if the db stops."""
        delay = (deadline.micros - Timestamp.now().micros) / 1e6
        if delay > 0 and self._db.stopping.wait(delay):
            raise ProcedureAborted(STOPPED_MESSAGE)
        return Timestamp.now()


def start_procedure(
    db: ProcedureDatabase,
    pd: ProcedureDef,
    args: Mapping[str, Any] | Sequence[Any],
    sender: Identity,
    connection_id: ConnectionId | None,
    on_done: Callable[[CallResult], None],
    timestamp: Timestamp | None = None,
    auth: AuthCtx | None = None,
) -> threading.Thread:
    """Run procedure ``pd`` on a new thread; ``on_done(result)`` is called there when it ends."""
    host = ThreadedProcedureHost(db, pd.name)
    started = timestamp if timestamp is not None else Timestamp.now()

    def run() -> None:
        bind_sink(db.log_sink)
        try:
            result = db.runner.call_procedure(
                db.datastore,
                pd,
                args,
                sender=sender,
                connection_id=connection_id,
                timestamp=started,
                database_identity=db.identity,
                auth=auth,
                host=host,
            )
        except ProcedureAborted:
            log.info("procedure %s ended: %s", pd.name, STOPPED_MESSAGE)
            result = CallResult("internal_error", STOPPED_MESSAGE)
        except BaseException as e:  # the runner itself failed: the caller must still hear back
            log.exception("procedure %s could not run", pd.name)
            result = CallResult("internal_error", f"{type(e).__name__}: {e}")
        if result.status == "internal_error" and result.error is not None:
            log.error("procedure %s failed", pd.name, exc_info=result.error)
            if not isinstance(result.error, ProcedureAborted):
                log_exception(db.log_sink, pd.name, result.error)
        try:
            on_done(result)
        except Exception:
            log.exception("delivering the result of procedure %s failed", pd.name)

    thread = threading.Thread(target=run, name=f"procedure[{pd.name}]", daemon=True)
    thread.start()
    return thread
