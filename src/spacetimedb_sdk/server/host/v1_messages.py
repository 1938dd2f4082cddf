"""The messages of v1 WebSocket clients: :func:`enqueue_v1` and what each one does.

Upstream's ``message_handlers_v1.rs``, ``client_connection.rs`` and the v1 paths of
``module_subscription_actor.rs``/``_manager.rs``, over the same execution as v2 (each message is
a job on the database thread, in the order the client sent them):

* ``CallReducer``: the caller gets a full ``TransactionUpdate`` (status, its own subscribed
  changes, the call's details) unless it asked ``NoSuccessNotify``: then it is told nothing
  of a success beyond what it subscribes to, and nothing of a failure (as upstream);
* a message that cannot be executed (no such reducer, bad arguments, a duplicate query id, a
  failing legacy ``Subscribe``) is answered in-band with a failed ``TransactionUpdate``
  (upstream's ``MessageExecutionError``), not by closing the socket;
* ``SubscribeSingle``/``SubscribeMulti`` add a subscription under a client-chosen query id;
  a query already subscribed through another id is shared (``SubscribeMultiApplied`` lists only
  the new queries); event tables are refused (v1 clients cannot handle them);
* ``Subscribe`` replaces the legacy subscription and answers ``InitialSubscription``;
* ``OneOffQuery`` answers ``OneOffQueryResponse`` keyed by the client's ``message_id``;
* ``CallProcedure`` answers ``ProcedureResult``.

Example::

    enqueue_v1(db, client, v1.SubscribeMulti(["SELECT * FROM user"], 1, 7))
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future
from typing import Any

from ..._log import get_logger
from ...protocol import messages as m
from ...protocol.v1 import messages as v1
from ...sats.values import TimeDuration, Timestamp
from ..module import CallResult, ProcedureDef, ReducerDef
from ..subscriptions import PreparedQuery, SubscriptionFailure
from .database import Database
from .errors import FatalClientError
from .execution import client_auth
from .v1_clients import V1ClientConnection

log = get_logger("spacetimedb_sdk.server")

_NO_REDUCER_ID = 2**32 - 1
EVENT_TABLE_REFUSED = (
    "Subscribing to event tables requires WebSocket v2. "
    "Please upgrade your client SDK and regenerate your module bindings."
)


def enqueue_v1(db: Database, client: V1ClientConnection, message: v1.ClientMessage) -> None:
    """Queue one v1 message for the database thread and return at once (the reader)."""
    client.received += 1
    db.worker.post(_handle_queued, db, client, message)


def handle_v1(db: Database, client: V1ClientConnection, message: v1.ClientMessage) -> None:
    """Execute one v1 message and wait for it (tests, and the direct API)."""
    procedure = db.worker.call(_handle, db, client, message)
    if procedure is not None:
        procedure.result()


def _handle_queued(db: Database, client: V1ClientConnection, message: v1.ClientMessage) -> None:
    # As for v2: a message that arrived before its client went away still runs (its replies
    # are dropped); after a fatal error nothing does.
    client.handled += 1
    if client.closed_by_server:
        return
    try:
        _handle(db, client, message)
    except FatalClientError as e:
        client.close(1011, str(e))
    except Exception as e:  # a bug must not take the database thread down with it
        log.exception("handling v1 %s failed", type(message).__name__)
        client.close(1011, f"internal error: {type(e).__name__}")


def _handle(
    db: Database, client: V1ClientConnection, msg: v1.ClientMessage
) -> Future[CallResult] | None:
    began = time.perf_counter()
    if isinstance(msg, v1.CallReducer):
        _call_reducer(db, client, msg, began)
    elif isinstance(msg, v1.SubscribeSingle):
        _subscribe_single(db, client, msg, began)
    elif isinstance(msg, v1.SubscribeMulti):
        _subscribe_multi(db, client, msg, began)
    elif isinstance(msg, v1.Subscribe):
        _subscribe_legacy(db, client, msg, began)
    elif isinstance(msg, v1.Unsubscribe):
        _unsubscribe(db, client, msg.request_id, msg.query_id, began, multi=False)
    elif isinstance(msg, v1.UnsubscribeMulti):
        _unsubscribe(db, client, msg.request_id, msg.query_id, began, multi=True)
    elif isinstance(msg, v1.OneOffQuery):
        _one_off(db, client, msg, began)
    else:
        return _call_procedure(db, client, msg)
    return None


def _micros(began: float) -> int:
    return int((time.perf_counter() - began) * 1e6)


def _empty_args(client: V1ClientConnection) -> v1.Args:
    return "[]" if client.json else b""


def _execution_error(client: V1ClientConnection, text: str, reducer: str = "") -> None:
    """Upstream's ``MessageExecutionError``: a failed ``TransactionUpdate`` for the sender."""
    name = reducer if reducer.isidentifier() else ""
    client.send_v1(
        v1.TransactionUpdate(
            v1.Failed(text),
            Timestamp.now(),
            client.identity,
            client.connection_id,
            v1.ReducerCallInfo(name, _NO_REDUCER_ID, _empty_args(client), 0),
            0,
            TimeDuration(0),
        )
    )


# ---- reducers and procedures -----------------------------------------------------------------


def _reducer_id(db: Database, rd: ReducerDef) -> int:
    return next(i for i, r in enumerate(db.module.reducers) if r is rd)


def _decode_args(db: Database, fn: ReducerDef | ProcedureDef, args: v1.Args) -> Any:
    if isinstance(args, str):
        return db._json_args(fn, args.encode())
    return db.module.args_codec(fn).decode(args)


def _call_reducer(
    db: Database, client: V1ClientConnection, msg: v1.CallReducer, began: float
) -> None:
    rd = db.module.reducer_def(msg.reducer)
    problem = db._reducer_problem(rd, client.identity)
    if problem is not None:
        _execution_error(client, problem[1], msg.reducer)
        return
    assert rd is not None
    try:
        args = _decode_args(db, rd, msg.args)
    except Exception as e:
        _execution_error(client, f"invalid arguments for reducer {rd.name}: {e}", msg.reducer)
        return
    notify = msg.flags == v1.CallReducerFlags.FULL_UPDATE
    timestamp = Timestamp.now()
    result, mine = db._run_reducer(
        rd,
        args,
        client.identity,
        client.connection_id,
        timestamp,
        client if notify else None,
        client_auth(client.token),
    )
    if not notify:
        return  # upstream tells a NoSuccessNotify caller nothing more, failure included
    status: v1.UpdateStatus
    if result.ok:
        assert client.rows is not None
        status = v1.Committed(client.rows.committed(mine))
    elif result.status == "out_of_energy":
        status = v1.OutOfEnergy()
    else:
        status = v1.Failed(result.message or "")
    client.send_v1(
        v1.TransactionUpdate(
            status,
            timestamp,
            client.identity,
            client.connection_id,
            v1.ReducerCallInfo(rd.name, _reducer_id(db, rd), msg.args, msg.request_id),
            0,
            TimeDuration(_micros(began)),
        )
    )


def _call_procedure(
    db: Database, client: V1ClientConnection, msg: v1.CallProcedure
) -> Future[CallResult] | None:
    def failed(text: str) -> None:
        client.send_v1(
            v1.ProcedureResult(
                v1.ProcedureInternalError(text),
                Timestamp.UNIX_EPOCH,
                TimeDuration(0),
                msg.request_id,
            )
        )

    pd = db.module.procedure_def(msg.procedure)
    if pd is None or not (pd.client_callable or client.is_owner):
        failed("No such procedure")
        return None
    try:
        args = _decode_args(db, pd, msg.args)
    except Exception as e:
        failed(f"invalid arguments for procedure {pd.name}: {e}")
        return None
    start = Timestamp.now()
    began = time.perf_counter()
    finished: Future[CallResult] = Future()

    def done(result: CallResult) -> None:  # on the procedure's thread
        try:
            if result.status == "out_of_energy":
                status: v1.ProcedureStatus = v1.ProcedureOutOfEnergy()
            elif not result.ok:
                failed(result.message or "")
                return
            else:
                try:
                    status = v1.ProcedureReturned(_return_value(db, client, pd, result))
                except Exception as e:
                    failed(f"procedure {pd.name} returned a value that does not fit its type: {e}")
                    return
            elapsed = TimeDuration(_micros(began))
            client.send_v1(v1.ProcedureResult(status, start, elapsed, msg.request_id))
        finally:
            finished.set_result(result)

    db._start_procedure(
        pd, args, client.identity, client.connection_id, done, start, client_auth(client.token)
    )
    return finished


def _return_value(
    db: Database, client: V1ClientConnection, pd: ProcedureDef, result: CallResult
) -> v1.Args:
    if client.json:
        return json.dumps(db._procedure_json(pd, result.return_value), separators=(",", ":"))
    return db.module.return_codec(pd).encode(result.return_value)


# ---- subscriptions ---------------------------------------------------------------------------


def _prepare(db: Database, client: V1ClientConnection, queries: list[str]) -> list[PreparedQuery]:
    return db.subscriptions.prepare(client.identity, queries, is_owner=client.is_owner)


def _acquire(db: Database, client: V1ClientConnection, sql: str) -> tuple[int, bool]:
    """Take a reference to a query; subscribe it in the engine on the first one.

    Returns its engine query-set id and whether it is new for this client.
    """
    entry = client.subscriptions.sets.get(sql)
    if entry is not None:
        entry[1] += 1
        return entry[0], False
    set_id = client.subscriptions.next_set
    client.subscriptions.next_set += 1
    db.subscriptions.subscribe(client, client.identity, set_id, [sql], is_owner=client.is_owner)
    client.subscriptions.sets[sql] = [set_id, 1]
    return set_id, True


def _release(db: Database, client: V1ClientConnection, sql: str) -> Any:
    """Drop a reference; the rows to remove when it was the last one, else ``None``."""
    entry = client.subscriptions.sets[sql]
    entry[1] -= 1
    if entry[1] > 0:
        return None
    del client.subscriptions.sets[sql]
    return db.subscriptions.unsubscribe(client, entry[0])


def _client_debug(client: V1ClientConnection) -> str:
    """The client id as upstream's Rust ``Debug`` prints it in error texts."""
    return (
        f'(Identity("{client.identity.to_hex()}"), ConnectionId("{client.connection_id.to_hex()}"))'
    )


def _duplicate(client: V1ClientConnection, query_id: int) -> str:
    return (
        f"Subscription with id QuerySetId {{ id: {query_id} }} already exists for client: "
        f"{_client_debug(client)}"
    )


def _subscribe_single(
    db: Database, client: V1ClientConnection, msg: v1.SubscribeSingle, began: float
) -> None:
    def error(text: str) -> None:
        client.send_v1(
            v1.SubscriptionError(_micros(began), msg.request_id, msg.query_id, None, text)
        )

    try:
        (query,) = _prepare(db, client, [msg.query])
    except SubscriptionFailure as e:
        error(e.message)
        return
    except ValueError:
        error(f"Internal error: expected one query, executing: `{msg.query}`")
        return
    if query.is_event:
        error(EVENT_TABLE_REFUSED)
        return
    if msg.query_id in client.subscriptions.by_query_id:
        _execution_error(client, _duplicate(client, msg.query_id))
        return
    set_id, _ = _acquire(db, client, query.sql)
    client.subscriptions.by_query_id[msg.query_id] = [query]
    assert client.rows is not None
    rows = db.subscriptions.rows_of(client, set_id)
    listed = [r for single in rows.tables for r in single.rows]
    table_rows = client.rows.table_update(
        query.table,
        [
            v1.QueryUpdate(
                [] if client.json else m.BsatnRowList.empty(),
                client.rows.rows(query.table, m.BsatnRowList.from_rows(listed)),
            )
        ],
    )
    client.send_v1(
        v1.SubscribeApplied(
            msg.request_id,
            _micros(began),
            msg.query_id,
            v1.SubscribeRows(client.rows.table_id(query.table), query.table, table_rows),
        )
    )


def _subscribe_multi(
    db: Database, client: V1ClientConnection, msg: v1.SubscribeMulti, began: float
) -> None:
    def error(text: str) -> None:
        client.send_v1(
            v1.SubscriptionError(_micros(began), msg.request_id, msg.query_id, None, text)
        )

    try:
        queries = _prepare(db, client, list(msg.query_strings))
    except SubscriptionFailure as e:
        error(e.message)
        return
    if any(q.is_event for q in queries):
        error(EVENT_TABLE_REFUSED)
        return
    if msg.query_id in client.subscriptions.by_query_id:
        _execution_error(client, _duplicate(client, msg.query_id))
        return
    tables: list[m.SingleTableRows] = []
    for query in queries:
        set_id, new = _acquire(db, client, query.sql)
        if new:
            tables += db.subscriptions.rows_of(client, set_id).tables
    client.subscriptions.by_query_id[msg.query_id] = queries
    assert client.rows is not None
    update = client.rows.inserted(m.QueryRows(tables))
    client.send_v1(v1.SubscribeMultiApplied(msg.request_id, _micros(began), msg.query_id, update))


def _subscribe_legacy(
    db: Database, client: V1ClientConnection, msg: v1.Subscribe, began: float
) -> None:
    try:
        queries = _prepare(db, client, list(msg.query_strings))
    except SubscriptionFailure as e:
        _execution_error(client, e.message)
        return
    for old in client.subscriptions.legacy:
        _release(db, client, old.sql)
    tables: list[m.SingleTableRows] = []
    for query in queries:
        set_id, _ = _acquire(db, client, query.sql)
        tables += db.subscriptions.rows_of(client, set_id).tables
    client.subscriptions.legacy = queries
    assert client.rows is not None
    client.send_v1(
        v1.InitialSubscription(
            client.rows.inserted(m.QueryRows(tables)),
            msg.request_id,
            TimeDuration(_micros(began)),
        )
    )


def _unsubscribe(
    db: Database,
    client: V1ClientConnection,
    request_id: int,
    query_id: int,
    began: float,
    *,
    multi: bool,
) -> None:
    queries = client.subscriptions.by_query_id.pop(query_id, None)
    if queries is None:
        text = f"Subscription not found: ({_client_debug(client)}, QuerySetId {{ id: {query_id} }})"
        client.send_v1(v1.SubscriptionError(_micros(began), request_id, query_id, None, text))
        return
    tables: list[m.SingleTableRows] = []
    released = 0
    for query in queries:
        rows = _release(db, client, query.sql)
        if rows is not None:
            released += 1
            tables += rows.tables
    assert client.rows is not None
    if multi:
        update = client.rows.inserted(m.QueryRows(tables), deletes=True)
        client.send_v1(v1.UnsubscribeMultiApplied(request_id, _micros(began), query_id, update))
        return
    if released != 1:
        # Upstream: the query is still subscribed under another id, so nothing was removed.
        client.send_v1(
            v1.SubscriptionError(_micros(began), request_id, query_id, None, "Internal error")
        )
        return
    table = queries[0].table
    listed = [r for single in tables for r in single.rows]
    table_rows = client.rows.table_update(
        table,
        [
            v1.QueryUpdate(
                client.rows.rows(table, m.BsatnRowList.from_rows(listed)),
                [] if client.json else m.BsatnRowList.empty(),
            )
        ],
    )
    client.send_v1(
        v1.UnsubscribeApplied(
            request_id,
            _micros(began),
            query_id,
            v1.SubscribeRows(client.rows.table_id(table), table, table_rows),
        )
    )


def _one_off(db: Database, client: V1ClientConnection, msg: v1.OneOffQuery, began: float) -> None:
    try:
        rows = db.one_off_rows(client.identity, msg.query_string, is_owner=client.is_owner)
    except SubscriptionFailure as e:
        client.send_v1(
            v1.OneOffQueryResponse(msg.message_id, e.message, [], TimeDuration(_micros(began)))
        )
        return
    assert client.rows is not None
    tables = [v1.OneOffTable(t.table, client.rows.rows(t.table, t.rows)) for t in rows.tables]
    client.send_v1(
        v1.OneOffQueryResponse(msg.message_id, None, tables, TimeDuration(_micros(began)))
    )


def drop_v1_subscriptions(db: Database, client: V1ClientConnection) -> None:
    """A query of the client failed during a commit: drop all its subscriptions (upstream)."""
    db.subscriptions.drop_client(client)


__all__ = ["EVENT_TABLE_REFUSED", "drop_v1_subscriptions", "enqueue_v1", "handle_v1"]
