"""Running a TypeScript module's calls in Node: :class:`TsRunner`, one per database.

It is the :class:`~..module.ModuleRunner` of a TypeScript module (see there for the contract).
As SpacetimeDB's V8 host (``crates/core/src/host/v8/mod.rs``), it has two lanes:

* the **main process** runs reducers (lifecycle and scheduled ones included) and views, one at a
  time, on the database thread: the call's frame goes out, the syscalls its code makes are
  answered from the datastore in the call's transaction, and the result frame ends it;
* **procedures** run in processes of a small pool (:data:`PROCEDURE_POOL_SIZE`), each held by one
  procedure until it returns, on the procedure's own thread.  A procedure's
  ``procedure_start_mut_tx`` becomes a transaction on the database thread
  (``host.run_tx``): that thread answers the procedure's syscalls until it commits or aborts,
  then the commit is broadcast and the procedure goes on.  ``ctx.http`` requests are served on
  the procedure's thread, outside any transaction.

The time budget of a reducer, view or procedure transaction is enforced by killing the process
(:meth:`~..budget.CallBudget.run_stoppable`): the call is rolled back and reported as out of
energy, and a new process starts for the next call.  A process that dies (a crash, ``kill``)
fails the call it was running the same way, as an internal error, and is replaced; the server
and the other databases go on.

Example::

    runner = TsRunner(ts_module, database)           # ``database``: a RunnerHost
    result = runner.call_reducer(datastore, "send_message", {"text": "hi"}, sender=me)
"""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..._log import get_logger
from ...errors import BsatnDecodeError, SpacetimeDBError
from ...sats.bsatn import Codec
from ...sats.values import ConnectionId, Identity, Timestamp
from ..budget import (
    PROCEDURE_OUT_OF_ENERGY,
    REDUCER_OUT_OF_ENERGY,
    VIEW_OUT_OF_ENERGY,
    OutOfEnergy,
    current_budget,
)
from ..datastore import Datastore, Transaction
from ..module import (
    INTERNAL_ERROR_MESSAGE,
    AuthCtx,
    CallResult,
    HttpError,
    InlineProcedureHost,
    ProcedureDef,
    ProcedureHost,
    Query,
    ReducerDef,
    RunnerHost,
    ViewDef,
    ViewOutOfEnergy,
)
from ..module.console import LogRecord, LogSink, now_micros
from .bundle import ModuleSource
from .definition import TsDefinition
from .http_wire import http_request
from .process import (
    K_CALL_PROCEDURE,
    K_CALL_REDUCER,
    K_CALL_VIEW,
    K_CALL_VIEW_ANON,
    K_CONFIG,
    K_LOG,
    K_RESULT,
    K_SCHEDULE,
    K_SYSCALL,
    R_OK,
    R_SENDER_ERROR,
    NodeExited,
    NodeProcess,
    frame,
)
from .sql_names import canonical_sql
from .syscalls import (
    HTTP_ERROR,
    S_ABORT_TX,
    S_COMMIT_TX,
    S_HTTP,
    S_START_TX,
    TRANSACTION_NOT_ANONYMOUS,
    WOULD_BLOCK_TRANSACTION,
    CallEnv,
    Syscalls,
    errno_reply,
    ok,
)

log = get_logger("spacetimedb_sdk.server")

#: How many procedures of one database run at once (each in a Node process of its own).
PROCEDURE_POOL_SIZE = 4

_CALL_HEAD = struct.Struct("<I32s16sq")
_VIEW_HEAD = struct.Struct("<I32s")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_LEVELS = {0: "Error", 1: "Warn", 2: "Info", 3: "Debug", 4: "Trace", 101: "Panic"}


def _call_request(
    kind: int, fn_id: int, sender: Identity, conn: int, timestamp: Timestamp | None, args: bytes
) -> bytes:
    """The frame that asks the module to run reducer or procedure ``fn_id`` for ``sender``."""
    ts = timestamp if timestamp is not None else Timestamp.now()
    head = _CALL_HEAD.pack(
        fn_id, sender.value.to_bytes(32, "little"), conn.to_bytes(16, "little"), ts.micros
    )
    return frame(kind, head + args)


class HostedModule(Protocol):
    """What a runner needs of its module (a :class:`~.module.TsModule`)."""

    name: str
    source: ModuleSource
    definition: TsDefinition

    def spawn(self, label: str, on_output: Callable[[str], None]) -> NodeProcess: ...
    def reducer_def(self, name: str, *, source: bool = False) -> ReducerDef | None: ...
    def procedure_def(self, name: str, *, source: bool = False) -> ProcedureDef | None: ...
    def view_def(self, name: str) -> ViewDef | None: ...
    def reducer_id(self, rd: ReducerDef) -> int: ...
    def procedure_id(self, pd: ProcedureDef) -> int: ...
    def args_codec(self, function: ReducerDef | ProcedureDef) -> Codec: ...
    def return_codec(self, procedure: ProcedureDef) -> Codec: ...
    def view_codec(self, vd: ViewDef) -> Codec: ...


class _Records:
    """A log sink keeping its records in a list."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []

    def write(self, record: LogRecord) -> None:
        self.records.append(record)


class StandaloneHost:
    """The :class:`~..module.RunnerHost` of a datastore that no database runs (unit tests calling
    ``module.call_reducer(datastore, ...)`` directly): immediate schedules are only logged."""

    def __init__(self, name: str, datastore: Datastore) -> None:
        self.name = name
        self.identity = Identity.ZERO
        self.log_sink: LogSink = _Records()
        self.datastore = datastore

    def schedule_immediate(self, reducer: str, args: bytes) -> None:
        """Nothing runs it: there is no database thread."""
        _log(self, "Warn", f"schedule_immediate({reducer!r}) ignored: no database")


def _log(host: RunnerHost, level: str, message: str, function: str | None = None) -> None:
    """Write one line of module output to ``host``'s module log."""
    host.log_sink.write(LogRecord(level, message, now_micros(), function=function))


class TsCallError(SpacetimeDBError):
    """A TypeScript function failed: the error text as SpacetimeDB's V8 host reports it
    (``Uncaught Error: boom`` and the module's stack frames), or why its process ended."""


class ViewSql(Query[Any]):
    """What a query view returns: the SQL its query builder rendered (canonical names)."""

    __slots__ = ("_sql",)

    def __init__(self, sql: str) -> None:
        self._sql = sql

    def to_sql(self) -> str:
        return self._sql


class _ResultInTransaction(Exception):
    """The procedure returned while its anonymous transaction was still open."""

    def __init__(self, status: int, payload: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload


class TsRunner:
    """Runs one database's calls of a TypeScript module (see the module docstring)."""

    def __init__(self, module: HostedModule, host: RunnerHost) -> None:
        self.module = module
        self.definition = module.definition
        self.host = host
        self._config = frame(
            K_CONFIG,
            json.dumps(
                {
                    "tables": self.definition.table_names,
                    "indexes": self.definition.index_names,
                    "identity": str(host.identity.value),
                }
            ).encode(),
        )
        self._main: NodeProcess | None = None
        self._idle: list[NodeProcess] = []
        self._busy: set[NodeProcess] = set()
        self._pool = threading.BoundedSemaphore(PROCEDURE_POOL_SIZE)
        self._lock = threading.Lock()
        self._syscalls: Syscalls | None = None

    def __repr__(self) -> str:
        return f"TsRunner({self.module.name!r}, database={self.host.name!r})"

    # -- processes

    def _spawn(self, role: str) -> NodeProcess:
        proc = self.module.spawn(
            f"{self.module.source.shown} ({self.host.name}, {role})", self._output
        )
        proc.send(self._config)
        return proc

    def _output(self, line: str) -> None:
        _log(self.host, "Warn", line)

    def _main_process(self) -> NodeProcess:
        proc = self._main
        if proc is None or not proc.alive():
            if proc is not None:
                proc.close()
            proc = self._main = self._spawn("main")
        return proc

    def _drop_main(self) -> None:
        proc, self._main = self._main, None
        if proc is not None:
            proc.kill()
            proc.close()

    def _checkout(self) -> NodeProcess:
        self._pool.acquire()
        try:
            with self._lock:
                while self._idle:
                    proc = self._idle.pop()
                    if proc.alive():
                        self._busy.add(proc)
                        return proc
                    proc.close()
            proc = self._spawn("procedures")
            with self._lock:
                self._busy.add(proc)
            return proc
        except BaseException:
            self._pool.release()
            raise

    def _checkin(self, proc: NodeProcess, reuse: bool) -> None:
        with self._lock:
            self._busy.discard(proc)
            if reuse and proc.alive():
                self._idle.append(proc)
                proc = None  # type: ignore[assignment]
        if proc is not None:
            proc.kill()
            proc.close()
        self._pool.release()

    def close(self) -> None:
        """Stop every process (a later call starts new ones)."""
        self._drop_main()
        with self._lock:
            procs = [*self._idle, *self._busy]
            self._idle.clear()
        for proc in procs:
            proc.kill()
            proc.close()

    def syscalls(self, datastore: Datastore) -> Syscalls:
        """The syscall server for ``datastore`` (made once per datastore)."""
        found = self._syscalls
        if found is None or found.datastore is not datastore:
            found = self._syscalls = Syscalls(self.definition, datastore)
        return found

    # -- the exchange of one call

    def _exchange(
        self, proc: NodeProcess, request: bytes, env: CallEnv, sys: Syscalls
    ) -> tuple[int, bytes]:
        proc.send(request)
        handle = sys.handle
        while True:
            kind, payload = proc.recv()
            if kind == K_SYSCALL:
                proc.send(handle(env, payload))
            elif kind == K_RESULT:
                return payload[0], payload[1:]
            else:
                self._one_way(kind, payload, env)

    def _one_way(self, kind: int, payload: bytes, env: CallEnv) -> None:
        if kind == K_LOG:
            level = _LEVELS.get(payload[0], "Info")
            _log(self.host, level, payload[1:].decode("utf-8", "replace"), env.function)
        elif kind == K_SCHEDULE:
            (n,) = struct.unpack_from("<H", payload)
            name = payload[2 : 2 + n].decode("utf-8", "replace")
            self.host.schedule_immediate(name, payload[2 + n :])
        else:
            raise NodeExited(f"the Node process sent an unexpected frame (kind {kind})")

    def _call_main(self, request: bytes, env: CallEnv, sys: Syscalls) -> tuple[int, bytes]:
        proc = self._main_process()
        budget = current_budget()
        try:
            if budget is None:
                return self._exchange(proc, request, env, sys)
            return budget.run_stoppable(self._exchange, proc.kill, proc, request, env, sys)
        except BaseException:
            # The process is mid-call (killed, dead, or abandoned): it cannot serve another.
            self._drop_main()
            raise

    def _failure(self, kind: str, name: str, text: str) -> TsCallError:
        _log(self.host, "Error", f"{kind} {name} failed: {text}", name)
        return TsCallError(text)

    # -- reducers

    def _args(
        self, fn: ReducerDef | ProcedureDef, args: Mapping[str, Any] | Sequence[Any]
    ) -> bytes:
        if isinstance(args, bytes | bytearray | memoryview):
            return bytes(args)
        names = fn.params.names()
        if not isinstance(args, Mapping):
            if len(args) != len(names):
                raise TypeError(
                    f"{fn.name} takes {len(names)} argument(s) ({', '.join(names)}), "
                    f"got {len(args)}"
                )
            args = dict(zip(names, args, strict=True))
        return self.module.args_codec(fn).encode(args)

    def call_reducer(
        self,
        datastore: Datastore,
        reducer: str | ReducerDef,
        args: Mapping[str, Any] | Sequence[Any] = (),
        *,
        sender: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        database_identity: Identity = Identity.ZERO,
        auth: AuthCtx | None = None,
    ) -> CallResult:
        """Run a reducer in its own transaction (see :class:`~..module.ModuleRunner`)."""
        rd = reducer if isinstance(reducer, ReducerDef) else self.module.reducer_def(reducer)
        if rd is None:
            raise KeyError(f"no such reducer: {reducer!r}")
        conn = connection_id.value if connection_id is not None else 0
        request = _call_request(
            K_CALL_REDUCER,
            self.module.reducer_id(rd),
            sender,
            conn,
            timestamp,
            self._args(rd, args),
        )
        sys = self.syscalls(datastore)
        tx = datastore.begin()
        env = CallEnv(tx, auth=auth, connection_id=conn, function=rd.name)
        try:
            status, payload = self._call_main(request, env, sys)
        except OutOfEnergy as e:
            tx.rollback()
            _log(self.host, "Error", f"reducer {rd.name} ran out of energy", rd.name)
            return CallResult("out_of_energy", REDUCER_OUT_OF_ENERGY, error=e)
        except NodeExited as e:
            tx.rollback()
            error = self._failure("reducer", rd.name, str(e))
            return CallResult("internal_error", INTERNAL_ERROR_MESSAGE, error=error)
        except BaseException:
            if tx.open:
                tx.rollback()
            raise
        if status == R_OK:
            return CallResult("ok", tx=tx.commit())
        tx.rollback()
        text = payload.decode("utf-8", "replace")
        if status == R_SENDER_ERROR:
            return CallResult("err", text)
        error = self._failure("reducer", rd.name, text)
        return CallResult("internal_error", INTERNAL_ERROR_MESSAGE, error=error)

    # -- views

    def call_view(
        self, datastore: Datastore, view: str | ViewDef, *, sender: Identity | None = None
    ) -> list[Any] | Query[Any]:
        """A view's rows, or the query a query view returned (see :class:`~..module.ModuleRunner`)."""
        vd = view if isinstance(view, ViewDef) else self.module.view_def(view)
        if vd is None:
            raise KeyError(f"no such view: {view!r}")
        if vd.is_anonymous:
            request = frame(K_CALL_VIEW_ANON, _U32.pack(vd.index))
        else:
            if sender is None:
                raise ValueError(f"view {vd.name!r} is per-caller: pass sender=")
            request = frame(
                K_CALL_VIEW, _VIEW_HEAD.pack(vd.index, sender.value.to_bytes(32, "little"))
            )
        env = CallEnv(None, read_only=True, function=vd.name)
        try:
            status, payload = self._call_main(request, env, self.syscalls(datastore))
        except OutOfEnergy:
            raise ViewOutOfEnergy(VIEW_OUT_OF_ENERGY) from None
        except NodeExited as e:
            raise self._failure("view", vd.name, str(e)) from None
        if status != R_OK:
            raise self._failure("view", vd.name, payload.decode("utf-8", "replace"))
        if payload[:1] == b"\x01":  # ViewResultHeader::RawSql
            (n,) = _U32.unpack_from(payload, 1)
            sql = payload[5 : 5 + n].decode()
            d = self.definition
            return ViewSql(canonical_sql(sql, d.source_tables, d.source_columns))
        rows: list[Any] = self.module.view_codec(vd).decode(payload[1:])
        return rows

    # -- procedures

    def call_procedure(
        self,
        datastore: Datastore,
        procedure: str | ProcedureDef,
        args: Mapping[str, Any] | Sequence[Any] = (),
        *,
        sender: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        database_identity: Identity = Identity.ZERO,
        auth: AuthCtx | None = None,
        host: ProcedureHost | None = None,
    ) -> CallResult:
        """Run a procedure in a pooled process (see :class:`~..module.ModuleRunner`)."""
        pd = (
            procedure
            if isinstance(procedure, ProcedureDef)
            else self.module.procedure_def(procedure)
        )
        if pd is None:
            raise KeyError(f"no such procedure: {procedure!r}")
        host = host if host is not None else InlineProcedureHost(datastore)
        conn = connection_id.value if connection_id is not None else 0
        request = _call_request(
            K_CALL_PROCEDURE,
            self.module.procedure_id(pd),
            sender,
            conn,
            timestamp,
            self._args(pd, args),
        )
        env = CallEnv(None, procedure=True, auth=auth, connection_id=conn, function=pd.name)
        proc = self._checkout()
        reuse = False
        try:
            status, payload = self._run_procedure(proc, request, env, host, datastore)
            reuse = True
        except OutOfEnergy as e:
            _log(self.host, "Error", f"procedure {pd.name} ran out of energy", pd.name)
            return CallResult(
                "out_of_energy", PROCEDURE_OUT_OF_ENERGY, error=e, tx_results=host.tx_results
            )
        except NodeExited as e:
            error = self._failure("procedure", pd.name, str(e))
            return CallResult("internal_error", str(e), error=error, tx_results=host.tx_results)
        finally:
            self._checkin(proc, reuse)
        if status == R_OK:
            value = self.module.return_codec(pd).decode(payload)
            return CallResult("ok", return_value=value, tx_results=host.tx_results)
        text = payload.decode("utf-8", "replace")
        error = self._failure("procedure", pd.name, text)
        return CallResult("internal_error", text, error=error, tx_results=host.tx_results)

    def _run_procedure(
        self,
        proc: NodeProcess,
        request: bytes,
        env: CallEnv,
        host: ProcedureHost,
        datastore: Datastore,
    ) -> tuple[int, bytes]:
        sys = self.syscalls(datastore)
        proc.send(request)
        while True:
            kind, payload = proc.recv()
            if kind == K_RESULT:
                return payload[0], payload[1:]
            if kind != K_SYSCALL:
                self._one_way(kind, payload, env)
                continue
            op = payload[0]
            if op == S_START_TX:
                try:
                    self._transaction(proc, env, host, sys)
                except _ResultInTransaction as done:
                    return done.status, done.payload
                proc.send(ok())  # the answer to the commit (or abort), now that it happened
            elif op == S_HTTP:
                proc.send(self._http(payload, host))
            elif op in (S_COMMIT_TX, S_ABORT_TX):
                proc.send(errno_reply(TRANSACTION_NOT_ANONYMOUS))
            else:
                proc.send(sys.handle(env, payload))  # no transaction: NOT_IN_TRANSACTION

    def _transaction(
        self, proc: NodeProcess, env: CallEnv, host: ProcedureHost, sys: Syscalls
    ) -> bool:
        """One ``procedure_start_mut_tx`` .. commit/abort, run on the database thread."""

        def body(tx: Transaction) -> tuple[bool, bool]:
            env.tx = tx
            proc.send(ok(_I64.pack(Timestamp.now().micros)))
            budget = current_budget()
            try:
                if budget is None:
                    commit = self._serve_transaction(proc, env, sys)
                else:
                    commit = budget.run_stoppable(
                        self._serve_transaction, proc.kill, proc, env, sys
                    )
            finally:
                env.tx = None
            return commit, commit

        committed: bool = host.run_tx(body)
        return committed

    def _serve_transaction(self, proc: NodeProcess, env: CallEnv, sys: Syscalls) -> bool:
        while True:
            kind, payload = proc.recv()
            if kind == K_RESULT:
                raise _ResultInTransaction(payload[0], payload[1:])
            if kind != K_SYSCALL:
                self._one_way(kind, payload, env)
                continue
            op = payload[0]
            if op == S_COMMIT_TX:
                return True
            if op == S_ABORT_TX:
                return False
            if op in (S_START_TX, S_HTTP):
                proc.send(errno_reply(WOULD_BLOCK_TRANSACTION))
            else:
                proc.send(sys.handle(env, payload))

    def _http(self, payload: bytes, host: ProcedureHost) -> bytes:
        (n,) = _U32.unpack_from(payload, 1)
        request = payload[5 : 5 + n]
        body = payload[5 + n :]
        try:
            response, response_body = http_request(request, body, host.http_policy)
        except HttpError as e:
            return errno_reply(HTTP_ERROR, str(e))
        except BsatnDecodeError as e:
            return errno_reply(HTTP_ERROR, f"failed to decode http request: {e}")
        return ok(_U32.pack(len(response)) + response + response_body)
