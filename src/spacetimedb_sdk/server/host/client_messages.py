"""WebSocket client messages (protocol v2, also carried by v3 frames): :meth:`ClientMessages.handle`.

One method per ``ClientMessage`` kind translates it into execution calls and queues the replies
on the client.  A v1 protocol would get a sibling of this class, over the same execution.

The WebSocket reader :meth:`~ClientMessages.enqueue` queues each message as a job on the database
thread and reads on: jobs run in submission order, so a client's messages are handled in the
order it sent them (a ``CallReducer`` sent after a ``Subscribe`` sees the subscription applied),
while the event loop stays free for everyone else, as upstream's message loop only enqueues.  A
``CallProcedure`` starts the procedure on its own thread and returns; its ``ProcedureResult``
follows when it ends, so the client's next messages do not wait for it (upstream's
``procedure-reducer-same-client-interleaved`` scenario).
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from ..._log import get_logger
from ...protocol import messages as m
from ...sats import bsatn
from ...sats.types import AlgebraicType
from ...sats.values import Err, Ok, TimeDuration, Timestamp
from ..budget import REDUCER_OUT_OF_ENERGY
from ..module import CallResult, ProcedureDef
from ..subscriptions import DuplicateQuerySet, SubscriptionFailure, UnknownQuerySet
from .clients import ClientConnection
from .errors import FatalClientError
from .execution import Execution, client_auth

log = get_logger("spacetimedb_sdk.server")


class ClientMessages(Execution):
    """Executes the messages of WebSocket clients (see :meth:`handle`)."""

    # -- WebSocket messages

    def handle(self, client: ClientConnection, message: m.ClientMessage) -> None:
        """Execute one client message and wait for it (a procedure: until it has returned);
        replies are queued on ``client`` (and others).

        Raises :class:`FatalClientError` when the connection must be closed with 1011.
        """
        procedure = self.worker.call(self._handle, client, message)
        if procedure is not None:
            procedure.result()

    def enqueue(self, client: ClientConnection, message: m.ClientMessage) -> None:
        """Queue one client message for the database thread and return at once (the reader).

        A :class:`FatalClientError` closes the client with 1011 and its text; messages queued
        after that are dropped.  ``client.incoming_queued`` counts the messages queued and not
        yet taken (the web app bounds it, :class:`~..limits.ServerLimits`).
        """
        client.received += 1
        self.worker.post(self._handle_queued, client, message)

    def enqueue_close(self, client: ClientConnection, code: int, reason: str) -> None:
        """Close ``client`` once the messages queued before this have been handled."""
        self.worker.post(client.close, code, reason)

    def _handle_queued(self, client: ClientConnection, message: m.ClientMessage) -> None:
        # A message that arrived before its client went away still runs (its replies are
        # dropped), as upstream runs what it has enqueued; after a fatal error nothing does.
        client.handled += 1
        if client.closed_by_server:
            return
        try:
            self._handle(client, message)
        except FatalClientError as e:
            client.close(1011, str(e))
        except Exception as e:  # a bug must not take the database thread down with it
            log.exception("handling %s failed", type(message).__name__)
            client.close(1011, f"internal error: {type(e).__name__}")

    def _handle(
        self, client: ClientConnection, message: m.ClientMessage
    ) -> Future[CallResult] | None:
        if isinstance(message, m.CallReducer):
            self._ws_call_reducer(client, message)
        elif isinstance(message, m.Subscribe):
            self._ws_subscribe(client, message)
        elif isinstance(message, m.Unsubscribe):
            self._ws_unsubscribe(client, message)
        elif isinstance(message, m.OneOffQuery):
            self._ws_one_off(client, message)
        elif isinstance(message, m.CallProcedure):
            return self._ws_call_procedure(client, message)
        else:  # pragma: no cover - the codec produces nothing else
            raise FatalClientError(f"unexpected client message {type(message).__name__}")
        return None

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
            rows = self.one_off_rows(client.identity, msg.query_string, is_owner=client.is_owner)
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
            rd,
            args,
            client.identity,
            client.connection_id,
            timestamp,
            client,
            client_auth(client.token),
        )
        client.send(m.ReducerResult(msg.request_id, timestamp, _outcome(result, mine)))

    def _ws_call_procedure(
        self, client: ClientConnection, msg: m.CallProcedure
    ) -> Future[CallResult] | None:
        def failed(text: str) -> None:
            _procedure_failed(client, msg, text)

        pd = self.module.procedure_def(msg.procedure)
        if pd is None or not (pd.client_callable or client.is_owner):
            failed("No such procedure")
            return None
        try:
            args = self.module.args_codec(pd).decode(msg.args)
        except Exception as e:
            failed(f"invalid arguments for procedure {pd.name}: {e}")
            return None
        start = Timestamp.now()
        began = time.perf_counter()
        finished: Future[CallResult] = Future()

        def done(result: CallResult) -> None:  # on the procedure's thread
            try:
                self._procedure_result(client, msg, pd, result, start, began)
            finally:
                finished.set_result(result)

        self._start_procedure(
            pd, args, client.identity, client.connection_id, done, start, client_auth(client.token)
        )
        return finished

    def _procedure_result(
        self,
        client: ClientConnection,
        msg: m.CallProcedure,
        pd: ProcedureDef,
        result: CallResult,
        start: Timestamp,
        began: float,
    ) -> None:
        def failed(text: str) -> None:
            _procedure_failed(client, msg, text)

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


def _procedure_failed(client: ClientConnection, msg: m.CallProcedure, text: str) -> None:
    client.send(
        m.ProcedureResult(
            m.ProcedureInternalError(text), Timestamp.UNIX_EPOCH, TimeDuration(0), msg.request_id
        )
    )


def _outcome(result: CallResult, mine: list[m.QuerySetUpdate]) -> m.ReducerOutcome:
    if result.status == "ok":
        return m.ReducerOk(b"", m.TransactionUpdate(mine))
    if result.status == "err":
        return m.ReducerErr(bsatn.encode(AlgebraicType.STRING, result.message or ""))
    if result.status == "out_of_energy":
        return m.ReducerInternalError(REDUCER_OUT_OF_ENERGY)
    return m.ReducerInternalError(result.message or "")
