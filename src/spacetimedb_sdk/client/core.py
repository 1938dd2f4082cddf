"""The sans-I/O client connection: bytes in, events and bytes out.

:class:`ClientCore` holds everything a SpacetimeDB client connection knows —
request and query-set ids, pending calls, subscription states, the outgoing
queue — but performs no I/O and runs no user code.  A front end (asyncio,
thread or ``frame_tick``) feeds it the frames it receives with
:meth:`ClientCore.receive_frame`, sends what :meth:`ClientCore.data_to_send`
returns, and turns the returned :class:`Event` objects into callbacks and
resolved futures.  This keeps every protocol behaviour testable with plain
bytes, as ``h11`` and ``websockets`` do.

Rules enforced here (protocol.md §4.6, python-api.md §3, §5):

- calls made before ``InitialConnection`` are queued and sent right after it;
- on ``v3.bsatn.spacetimedb`` queued messages are batched into one frame
  (capped at 256 KiB, as the TypeScript SDK does), on v2 one message per frame;
- a frame's messages are applied to the cache in order, each message whole
  before its events are returned;
- anything malformed raises :class:`~spacetimedb_sdk.errors.ProtocolError`
  and closes the core; pending calls then fail with ``DisconnectedError``.
  That includes a row that does not decode (the error names the table, the
  type path and the byte offset) and rows for a query set this client does not
  hold (never subscribed, or already ended): applying them would leave rows in
  the cache that no unsubscribe ever removes.

Example::

    core = ClientCore(cache)
    core.connection_opened("v3.bsatn.spacetimedb")
    qs = core.subscribe(["SELECT * FROM user"])
    for event in core.receive_frame(frame_bytes):
        ...   # Connected, SubscriptionApplied(query_set_id=qs, ...), ...
    websocket.send(core.data_to_send())
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BsatnDecodeError, DisconnectedError, ProtocolError
from ..protocol import messages as m
from ..protocol.fast import TableTx
from ..protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_server_frame_fast,
    encode_client_frame,
)
from ..sats.values import ConnectionId, Err, Identity, Ok, TimeDuration, Timestamp

MAX_V3_FRAME_BYTES = 256 * 1024
_U32_MAX = 0xFFFF_FFFF


class CacheSink(Protocol):
    """What the core needs from the client cache; each call returns the changes to fire."""

    def apply_query_rows(self, query_set_id: int, rows: m.QueryRows, sign: int) -> Any: ...

    def apply_transaction(self, query_sets: Sequence[m.QuerySetUpdate]) -> Any: ...

    def apply_table_tx(self, tx: TableTx) -> Any: ...

    def drop_query_set(self, query_set_id: int) -> Any: ...

    def apply_unsubscribe_applied(self, msg: m.UnsubscribeApplied) -> Any: ...

    def replace_query_set(self, query_set_id: int, rows: m.QueryRows) -> Any: ...


class State(enum.Enum):
    """Life of a connection: ``CONNECTING`` until ``InitialConnection``, then ``CONNECTED``."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


class SubState(enum.Enum):
    """Life of one query set, as the client sees it."""

    QUEUED = "queued"  # not sent yet (before InitialConnection)
    SENT = "sent"  # Subscribe sent, waiting for SubscribeApplied
    APPLIED = "applied"  # rows in the cache, receiving updates
    UNSUBSCRIBING = "unsubscribing"  # Unsubscribe sent
    ENDED = "ended"  # unsubscribed, failed or cancelled


# Members the per-message checks compare with, as module globals: on Python 3.11 reading
# ``State.CLOSED`` goes through the enum's metaclass and costs several times a global.
_CLOSED, _CONNECTING, _ENDED = State.CLOSED, State.CONNECTING, SubState.ENDED


# ---- events -------------------------------------------------------------------------------


class Event:
    """Base class of what :meth:`ClientCore.receive_frame` reports."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Connected(Event):
    identity: Identity
    connection_id: ConnectionId
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SubscriptionApplied(Event):
    """Rows of a new query set are in the cache. ``cancelled`` if unsubscribe was asked meanwhile."""

    query_set_id: int
    changes: Any
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class SubscriptionEnded(Event):
    """The query set is gone (unsubscribed or cancelled before being sent)."""

    query_set_id: int
    changes: Any


@dataclass(frozen=True, slots=True)
class SubscriptionFailed(Event):
    """The server rejected or ended a query set; ``request_id is None`` means it failed after applying."""

    query_set_id: int
    request_id: int | None
    error: str
    changes: Any


@dataclass(slots=True)  # not frozen: one per transaction, and frozen makes __init__ 3x slower
class TransactionApplied(Event):
    """Another client's (or a scheduled / lifecycle) transaction changed subscribed rows."""

    changes: Any


@dataclass(frozen=True, slots=True)
class ReducerFinished(Event):
    """This client's reducer call finished; ``changes`` are its own row changes (Ok only)."""

    request_id: int
    reducer: str
    args: bytes
    timestamp: Timestamp
    outcome: m.ReducerOk | m.ReducerOkEmpty | m.ReducerErr | m.ReducerInternalError
    changes: Any


@dataclass(frozen=True, slots=True)
class ProcedureFinished(Event):
    request_id: int
    procedure: str
    status: m.ProcedureReturned | m.ProcedureInternalError
    timestamp: Timestamp
    duration: TimeDuration


@dataclass(frozen=True, slots=True)
class OneOffQueryFinished(Event):
    request_id: int
    result: Ok[m.QueryRows] | Err[str]


# ---- the core -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Subscription:
    query_set_id: int
    queries: list[str]
    state: SubState
    cancel_requested: bool = False
    # Set when the set is re-sent after a reconnection while its old rows are still cached:
    # its SubscribeApplied then replaces those rows, firing callbacks only for differences.
    resubscribing: bool = False


@dataclass(slots=True)
class _Call:
    name: str
    args: bytes


class ClientCore:
    """The connection state machine (see the module docs)."""

    def __init__(self, cache: CacheSink, *, max_frame_size: int = 256 * 1024 * 1024) -> None:
        self.cache = cache
        self.state = State.CONNECTING
        self.protocol: str | None = None
        self.identity: Identity | None = None
        self.connection_id: ConnectionId | None = None
        self.token: str | None = None
        self.max_frame_size = max_frame_size
        self._next_request_id = 0
        self._next_query_set_id = 1
        self._queued: list[
            m.Subscribe | m.Unsubscribe | m.OneOffQuery | m.CallReducer | m.CallProcedure
        ] = []
        self._outgoing: list[bytes] = []
        self.subscriptions: dict[int, _Subscription] = {}
        self._reducers: dict[int, _Call] = {}
        self._procedures: dict[int, _Call] = {}
        self._queries: dict[int, str] = {}

    # ---- transport events ---------------------------------------------------------------

    def connection_opened(self, subprotocol: str | None) -> None:
        """The WebSocket is open; ``subprotocol`` is what the server echoed (empty → v2, as the TS SDK)."""
        if subprotocol in (None, "", SUBPROTOCOL_V2):
            self.protocol = SUBPROTOCOL_V2
        elif subprotocol == SUBPROTOCOL_V3:
            self.protocol = SUBPROTOCOL_V3
        else:
            raise ProtocolError(
                f"server selected unsupported subprotocol {subprotocol!r}; "
                f"this SDK speaks {SUBPROTOCOL_V3} and {SUBPROTOCOL_V2}"
            )

    def receive_frame(self, frame: bytes) -> list[Event]:
        """Decode one binary frame, apply it, and return the events in order.

        Raises :class:`ProtocolError` (and closes the core) on malformed or unexpected data.
        """
        if self.state is _CLOSED:
            return []
        if self.protocol is None:
            raise ProtocolError("receive_frame() called before connection_opened()")
        try:
            messages = decode_server_frame_fast(frame, self.protocol, max_size=self.max_frame_size)
            events: list[Event] = []
            for msg in messages:
                try:
                    if type(msg) is TableTx:  # the commonest message first
                        self._on_table_tx(msg, events)
                    else:
                        self._handle(msg, events)
                except ProtocolError:
                    raise
                except BsatnDecodeError as e:
                    # A row (or a nested value) the bindings cannot read; the cache is untouched.
                    raise ProtocolError(
                        f"the server sent a {_message_name(msg)} with a row that does not decode: {e}"
                    ) from e
            return events
        except ProtocolError:
            self.state = State.CLOSED
            raise

    def connection_closed(self) -> tuple[list[int], list[int], list[int], list[int]]:
        """The socket is gone. Returns the request ids of the reducer calls, procedure calls,
        one-off queries and the query-set ids still pending, so the front end can fail them."""
        self.state = State.CLOSED
        pending = (
            sorted(self._reducers),
            sorted(self._procedures),
            sorted(self._queries),
            sorted(q for q, s in self.subscriptions.items() if s.state is not SubState.ENDED),
        )
        self._reducers.clear()
        self._procedures.clear()
        self._queries.clear()
        for sub in self.subscriptions.values():
            sub.state = SubState.ENDED
        self._queued.clear()
        self._outgoing.clear()
        return pending

    def reset_for_reconnect(self) -> tuple[list[int], list[int], list[int], list[Event]]:
        """Prepare to reconnect after the socket dropped (python-api.md §8).

        Live query sets are queued again under the same ids and their cached rows kept, so
        the new ``SubscribeApplied`` only fires callbacks for real differences.  Sets being
        unsubscribed or cancelled end now.  Returns the request ids of the reducer calls,
        procedure calls and one-off queries that were in flight (the front end fails them
        with ``DisconnectedError``) and the events for the sets that ended.
        """
        pending = (sorted(self._reducers), sorted(self._procedures), sorted(self._queries))
        self._reducers.clear()
        self._procedures.clear()
        self._queries.clear()
        self._queued.clear()
        self._outgoing.clear()
        self.state = State.CONNECTING
        self.protocol = None
        events: list[Event] = []
        for qs, sub in list(self.subscriptions.items()):
            if (
                sub.state is SubState.UNSUBSCRIBING
                or sub.cancel_requested
                or sub.state is SubState.ENDED
            ):
                del self.subscriptions[qs]
                events.append(SubscriptionEnded(qs, self.cache.drop_query_set(qs)))
                continue
            # A set re-sent by an earlier reconnection and not applied again yet still has
            # its old rows cached: they are replaced, not added to.
            sub.resubscribing = sub.resubscribing or sub.state is SubState.APPLIED
            sub.state = SubState.QUEUED
            self._queued.append(m.Subscribe(self._new_request_id(), qs, list(sub.queries)))
        return (*pending, events)

    def has_data_to_send(self) -> bool:
        """Whether :meth:`data_to_send` has frames (cheap, no lock needed to ask)."""
        return bool(self._outgoing)

    def data_to_send(self) -> list[bytes]:
        """Frames to send now, in order (each a complete binary WebSocket message)."""
        out, self._outgoing = self._outgoing, []
        return out

    # ---- requests -----------------------------------------------------------------------

    def subscribe(self, queries: Sequence[str]) -> int:
        """Start a query set; returns its id. The server answers with applied or an error."""
        if isinstance(queries, str):
            queries = [queries]
        if not queries:
            raise ValueError("a subscription needs at least one query")
        qs = self._new_query_set_id()
        sub = _Subscription(qs, list(queries), SubState.QUEUED)
        self.subscriptions[qs] = sub
        self._send(m.Subscribe(self._new_request_id(), qs, list(queries)))
        if self.state is State.CONNECTED:
            sub.state = SubState.SENT
        return qs

    def unsubscribe(self, query_set_id: int) -> list[Event]:
        """End a query set. A set not yet sent is cancelled at once (its end event is returned);
        one awaiting SubscribeApplied is unsubscribed as soon as it is applied."""
        sub = self.subscriptions.get(query_set_id)
        if sub is None or sub.state is SubState.ENDED:
            raise ValueError(f"query set {query_set_id} is not active")
        if sub.state is SubState.UNSUBSCRIBING or sub.cancel_requested:
            raise ValueError(f"unsubscribe was already called for query set {query_set_id}")
        if sub.state is SubState.QUEUED:
            self._queued = [
                q
                for q in self._queued
                if not (isinstance(q, m.Subscribe) and q.query_set_id == query_set_id)
            ]
            sub.state = SubState.ENDED
            del self.subscriptions[query_set_id]
            return [SubscriptionEnded(query_set_id, self.cache.drop_query_set(query_set_id))]
        if sub.state is SubState.SENT:
            sub.cancel_requested = True
            return []
        self._send_unsubscribe(sub)
        return []

    def call_reducer(self, reducer: str, args: bytes) -> int:
        """Queue a ``CallReducer``; returns its request id (matched by :class:`ReducerFinished`)."""
        rid = self._new_request_id()
        self._reducers[rid] = _Call(reducer, args)
        self._send(m.CallReducer(rid, 0, reducer, args))
        return rid

    def call_procedure(self, procedure: str, args: bytes) -> int:
        rid = self._new_request_id()
        self._procedures[rid] = _Call(procedure, args)
        self._send(m.CallProcedure(rid, 0, procedure, args))
        return rid

    def one_off_query(self, sql: str) -> int:
        rid = self._new_request_id()
        self._queries[rid] = sql
        self._send(m.OneOffQuery(rid, sql))
        return rid

    # ---- internals ----------------------------------------------------------------------

    def _new_request_id(self) -> int:
        rid = self._next_request_id
        self._next_request_id = (rid + 1) & _U32_MAX
        return rid

    def _new_query_set_id(self) -> int:
        # Skip ids still in use: the server closes the socket if an active id is reused.
        while True:
            qs = self._next_query_set_id
            self._next_query_set_id = (qs + 1) & _U32_MAX
            if qs not in self.subscriptions:
                return qs

    def _send(
        self, msg: m.Subscribe | m.Unsubscribe | m.OneOffQuery | m.CallReducer | m.CallProcedure
    ) -> None:
        if self.state is State.CLOSED:
            raise DisconnectedError("the connection is closed; reconnect before calling the server")
        self._queued.append(msg)
        if self.state is State.CONNECTED:
            self._flush()

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        if not queued:
            return
        assert self.protocol is not None
        if self.protocol == SUBPROTOCOL_V2:
            self._outgoing.extend(encode_client_frame([q], self.protocol) for q in queued)
            return
        batch: list[Any] = []
        size = 0
        for q in queued:
            one = encode_client_frame([q], self.protocol)
            if batch and size + len(one) > MAX_V3_FRAME_BYTES:
                self._outgoing.append(encode_client_frame(batch, self.protocol))
                batch, size = [], 0
            batch.append(q)
            size += len(one)
        self._outgoing.append(encode_client_frame(batch, self.protocol))

    def _send_unsubscribe(self, sub: _Subscription) -> None:
        sub.state = SubState.UNSUBSCRIBING
        self._send(
            m.Unsubscribe(
                self._new_request_id(), sub.query_set_id, m.UnsubscribeFlags.SEND_DROPPED_ROWS
            )
        )

    def _expect_sub(self, query_set_id: int, what: str) -> _Subscription:
        sub = self.subscriptions.get(query_set_id)
        if sub is None:
            raise ProtocolError(f"server sent {what} for unknown query set {query_set_id}")
        return sub

    def _check_update_sets(self, query_sets: Sequence[m.QuerySetUpdate], what: str) -> None:
        """Rows of a transaction may only name query sets this client holds."""
        for qs in query_sets:
            self._check_update_set(qs.query_set_id, what)

    def _check_update_set(self, query_set_id: int, what: str) -> None:
        sub = self.subscriptions.get(query_set_id)
        if sub is not None and sub.state is not SubState.ENDED:
            return
        issued = 0 < query_set_id < self._next_query_set_id
        why = (
            "which has already ended (unsubscribed or failed)"
            if issued
            else "which this client never subscribed"
        )
        raise ProtocolError(f"server sent {what} with rows for query set {query_set_id}, {why}")

    def _on_table_tx(self, msg: TableTx, events: list[Event]) -> None:
        """A ``TransactionUpdate`` of one table (see :mod:`~..protocol.fast`)."""
        if self.state is _CONNECTING:
            raise ProtocolError(
                "expected InitialConnection as the first message, got TransactionUpdate"
            )
        sub = self.subscriptions.get(msg.query_set_id)
        if sub is None or sub.state is _ENDED:
            self._check_update_set(msg.query_set_id, "a TransactionUpdate")  # raises
        events.append(TransactionApplied(self.cache.apply_table_tx(msg)))

    def _handle(self, msg: object, events: list[Event]) -> None:
        if self.state is State.CONNECTING and not isinstance(msg, m.InitialConnection):
            raise ProtocolError(
                f"expected InitialConnection as the first message, got {type(msg).__name__}"
            )
        if isinstance(msg, m.InitialConnection):
            self._on_initial_connection(msg, events)
        elif isinstance(msg, m.SubscribeApplied):
            self._on_subscribe_applied(msg, events)
        elif isinstance(msg, m.UnsubscribeApplied):
            sub = self._expect_sub(msg.query_set_id, "UnsubscribeApplied")
            # The cache knows the set's rows, so this works with or without SendDroppedRows.
            changes = self.cache.apply_unsubscribe_applied(msg)
            sub.state = SubState.ENDED
            del self.subscriptions[msg.query_set_id]
            events.append(SubscriptionEnded(msg.query_set_id, changes))
        elif isinstance(msg, m.SubscriptionError):
            self._on_subscription_error(msg, events)
        elif isinstance(msg, m.TransactionUpdate):
            self._check_update_sets(msg.query_sets, "a TransactionUpdate")
            events.append(TransactionApplied(self.cache.apply_transaction(msg.query_sets)))
        elif isinstance(msg, m.ReducerResult):
            self._on_reducer_result(msg, events)
        elif isinstance(msg, m.ProcedureResult):
            call = self._procedures.pop(msg.request_id, None)
            if call is None:
                raise ProtocolError(f"ProcedureResult for unknown request id {msg.request_id}")
            events.append(
                ProcedureFinished(
                    msg.request_id,
                    call.name,
                    msg.status,
                    msg.timestamp,
                    msg.total_host_execution_duration,
                )
            )
        elif isinstance(msg, m.OneOffQueryResult):
            if self._queries.pop(msg.request_id, None) is None:
                raise ProtocolError(f"OneOffQueryResult for unknown request id {msg.request_id}")
            events.append(OneOffQueryFinished(msg.request_id, msg.result))
        else:  # pragma: no cover - decode_server_frame only yields the types above
            raise ProtocolError(f"unexpected server message {type(msg).__name__}")

    def _on_initial_connection(self, msg: m.InitialConnection, events: list[Event]) -> None:
        if self.state is not State.CONNECTING:
            raise ProtocolError("server sent InitialConnection twice")
        self.state = State.CONNECTED
        self.identity = msg.identity
        self.connection_id = msg.connection_id
        # Keep a token we were given (it may be a long-lived one the server only echoes).
        if not self.token:
            self.token = msg.token
        for sub in self.subscriptions.values():
            if sub.state is SubState.QUEUED:
                sub.state = SubState.SENT
        events.append(Connected(msg.identity, msg.connection_id, msg.token))
        self._flush()

    def _on_subscribe_applied(self, msg: m.SubscribeApplied, events: list[Event]) -> None:
        sub = self._expect_sub(msg.query_set_id, "SubscribeApplied")
        if sub.state is not SubState.SENT:
            raise ProtocolError(
                f"SubscribeApplied for query set {msg.query_set_id} in state {sub.state.value}"
            )
        if sub.resubscribing:
            changes = self.cache.replace_query_set(msg.query_set_id, msg.rows)
            sub.resubscribing = False
        else:
            changes = self.cache.apply_query_rows(msg.query_set_id, msg.rows, +1)
        sub.state = SubState.APPLIED
        events.append(
            SubscriptionApplied(msg.query_set_id, changes, cancelled=sub.cancel_requested)
        )
        if sub.cancel_requested:
            self._send_unsubscribe(sub)

    def _on_subscription_error(self, msg: m.SubscriptionError, events: list[Event]) -> None:
        sub = self.subscriptions.get(msg.query_set_id)
        if sub is None:
            # An Unsubscribe for a set the server no longer knows: nothing to undo.
            events.append(SubscriptionFailed(msg.query_set_id, msg.request_id, msg.error, None))
            return
        # A set that failed after being applied still has rows here: drop exactly those.
        holds_rows = sub.state is not SubState.SENT or sub.resubscribing
        changes = self.cache.drop_query_set(msg.query_set_id) if holds_rows else None
        sub.state = SubState.ENDED
        del self.subscriptions[msg.query_set_id]
        events.append(SubscriptionFailed(msg.query_set_id, msg.request_id, msg.error, changes))

    def _on_reducer_result(self, msg: m.ReducerResult, events: list[Event]) -> None:
        call = self._reducers.pop(msg.request_id, None)
        if call is None:
            raise ProtocolError(f"ReducerResult for unknown request id {msg.request_id}")
        outcome = msg.result
        if isinstance(outcome, m.ReducerOk):
            self._check_update_sets(
                outcome.transaction_update.query_sets,
                f"the ReducerResult of {call.name} (request id {msg.request_id})",
            )
        changes = (
            self.cache.apply_transaction(outcome.transaction_update.query_sets)
            if isinstance(outcome, m.ReducerOk)
            else None
        )
        events.append(
            ReducerFinished(msg.request_id, call.name, call.args, msg.timestamp, outcome, changes)
        )


def _message_name(msg: object) -> str:
    """The wire name of a decoded message (a :class:`TableTx` is a ``TransactionUpdate``)."""
    return "TransactionUpdate" if type(msg) is TableTx else type(msg).__name__


__all__ = [
    "MAX_V3_FRAME_BYTES",
    "CacheSink",
    "ClientCore",
    "Connected",
    "Event",
    "OneOffQueryFinished",
    "ProcedureFinished",
    "ReducerFinished",
    "State",
    "SubState",
    "SubscriptionApplied",
    "SubscriptionEnded",
    "SubscriptionFailed",
    "TransactionApplied",
]
