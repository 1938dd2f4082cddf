"""The v1 WebSocket messages (``v1.bsatn.spacetimedb`` / ``v1.json.spacetimedb``) as dataclasses.

They follow upstream's ``crates/client-api-messages/src/websocket/v1.rs`` field for field (names
and order), so the SATS types of :mod:`.types` map onto them one to one.  The two formats differ
only in how opaque payloads travel, and the dataclasses hold them as they are on the wire:

* reducer and procedure arguments and return values (``F::Single``): ``bytes`` of BSATN in the
  binary format, a ``str`` of JSON in the text format;
* row lists (``F::List``): a :class:`~..messages.BsatnRowList` in the binary format, a list of
  ``str`` (each the untyped SATS-JSON of one row) in the text format;
* a table's query updates: the binary format may carry one compressed
  (:class:`CompressedQueryUpdate`), the text format never does.

``QuerySetId``/``QueryId`` and ``EnergyQuanta`` are one-field products upstream; here they are
plain ``int`` fields.

Example::

    >>> int(CallReducer("send_message", b"\\x02\\x00\\x00\\x00hi", 7, CallReducerFlags.NO_SUCCESS_NOTIFY).flags)
    1
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ...sats.values import ConnectionId, Identity, TimeDuration, Timestamp
from ..framing import Compression
from ..messages import BsatnRowList

Args = bytes | str
"""Reducer/procedure arguments or a return value: BSATN bytes, or JSON text (v1.json)."""

RowList = BsatnRowList | list[str]
"""Rows of one table: a BSATN row list, or the JSON text of each row (v1.json)."""


class CallReducerFlags(enum.IntEnum):
    """``CallReducer.flags``: ``FULL_UPDATE`` (0, default) or ``NO_SUCCESS_NOTIFY`` (1).

    With ``NO_SUCCESS_NOTIFY`` the caller is told about its reducer only like any other
    subscriber (upstream sends it nothing when the reducer fails).
    """

    FULL_UPDATE = 0
    NO_SUCCESS_NOTIFY = 1


# ---- client messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class CallReducer:
    """Run a reducer (tag 0)."""

    reducer: str
    args: Args
    request_id: int
    flags: int = CallReducerFlags.FULL_UPDATE


@dataclass(frozen=True)
class Subscribe:
    """Replace the legacy subscription with these queries (tag 1); answered by
    :class:`InitialSubscription`."""

    query_strings: list[str]
    request_id: int


@dataclass(frozen=True)
class OneOffQuery:
    """Run one query now (tag 2); ``message_id`` comes back in the response."""

    message_id: bytes
    query_string: str


@dataclass(frozen=True)
class SubscribeSingle:
    """Subscribe to one query under ``query_id`` (tag 3)."""

    query: str
    request_id: int
    query_id: int


@dataclass(frozen=True)
class SubscribeMulti:
    """Subscribe to several queries under one ``query_id`` (tag 4)."""

    query_strings: list[str]
    request_id: int
    query_id: int


@dataclass(frozen=True)
class Unsubscribe:
    """Drop a :class:`SubscribeSingle` subscription (tag 5)."""

    request_id: int
    query_id: int


@dataclass(frozen=True)
class UnsubscribeMulti:
    """Drop a :class:`SubscribeMulti` subscription (tag 6)."""

    request_id: int
    query_id: int


@dataclass(frozen=True)
class CallProcedure:
    """Run a procedure (tag 7); ``flags`` is reserved (0)."""

    procedure: str
    args: Args
    request_id: int
    flags: int = 0


ClientMessage = (
    CallReducer
    | Subscribe
    | OneOffQuery
    | SubscribeSingle
    | SubscribeMulti
    | Unsubscribe
    | UnsubscribeMulti
    | CallProcedure
)
CLIENT_MESSAGE_TYPES: tuple[type, ...] = (
    CallReducer,
    Subscribe,
    OneOffQuery,
    SubscribeSingle,
    SubscribeMulti,
    Unsubscribe,
    UnsubscribeMulti,
    CallProcedure,
)
"""The client messages in tag order."""


# ---- shared structures ---------------------------------------------------------------------


@dataclass(frozen=True)
class QueryUpdate:
    """One query's changes to a table: **deletes first** (v2 puts inserts first)."""

    deletes: RowList
    inserts: RowList


@dataclass(frozen=True)
class CompressedQueryUpdate:
    """A :class:`QueryUpdate`'s BSATN, compressed (binary format only)."""

    compression: Compression
    data: bytes


@dataclass(frozen=True)
class TableUpdate:
    """The changes to one table: one update per contributing query, ``num_rows`` in all."""

    table_id: int
    table_name: str
    num_rows: int
    updates: list[QueryUpdate | CompressedQueryUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class DatabaseUpdate:
    """Changes to several tables."""

    tables: list[TableUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class Committed:
    """``UpdateStatus::Committed``: the reducer's changes the recipient subscribes to."""

    update: DatabaseUpdate


@dataclass(frozen=True)
class Failed:
    """``UpdateStatus::Failed``: the error; nothing was committed."""

    message: str


@dataclass(frozen=True)
class OutOfEnergy:
    """``UpdateStatus::OutOfEnergy``."""


UpdateStatus = Committed | Failed | OutOfEnergy


@dataclass(frozen=True)
class ReducerCallInfo:
    """Which call a :class:`TransactionUpdate` reports."""

    reducer_name: str
    reducer_id: int
    args: Args
    request_id: int


# ---- server messages -----------------------------------------------------------------------


@dataclass(frozen=True)
class InitialSubscription:
    """The rows of a legacy :class:`Subscribe` (tag 0)."""

    database_update: DatabaseUpdate
    request_id: int
    total_host_execution_duration: TimeDuration


@dataclass(frozen=True)
class TransactionUpdate:
    """A reducer ran (tag 1): what the caller (and, for old modules, others) learn."""

    status: UpdateStatus
    timestamp: Timestamp
    caller_identity: Identity
    caller_connection_id: ConnectionId
    reducer_call: ReducerCallInfo
    energy_quanta_used: int
    total_host_execution_duration: TimeDuration


@dataclass(frozen=True)
class TransactionUpdateLight:
    """Only the table changes of a transaction (tag 2)."""

    request_id: int
    update: DatabaseUpdate


@dataclass(frozen=True)
class IdentityToken:
    """The first message (tag 3); note the field order differs from v2's."""

    identity: Identity
    token: str
    connection_id: ConnectionId


@dataclass(frozen=True)
class OneOffTable:
    """The rows of one table in a :class:`OneOffQueryResponse`."""

    table_name: str
    rows: RowList


@dataclass(frozen=True)
class OneOffQueryResponse:
    """The answer to a :class:`OneOffQuery` (tag 4): an error or rows."""

    message_id: bytes
    error: str | None
    tables: list[OneOffTable]
    total_host_execution_duration: TimeDuration


@dataclass(frozen=True)
class SubscribeRows:
    """The rows of one single-query subscription."""

    table_id: int
    table_name: str
    table_rows: TableUpdate


@dataclass(frozen=True)
class SubscribeApplied:
    """The answer to a :class:`SubscribeSingle` (tag 5)."""

    request_id: int
    total_host_execution_duration_micros: int
    query_id: int
    rows: SubscribeRows


@dataclass(frozen=True)
class UnsubscribeApplied:
    """The answer to an :class:`Unsubscribe` (tag 6): the rows to remove."""

    request_id: int
    total_host_execution_duration_micros: int
    query_id: int
    rows: SubscribeRows


@dataclass(frozen=True)
class SubscriptionError:
    """A subscription failed (tag 7); no ``request_id`` when a transaction broke it."""

    total_host_execution_duration_micros: int
    request_id: int | None
    query_id: int | None
    table_id: int | None
    error: str


@dataclass(frozen=True)
class SubscribeMultiApplied:
    """The answer to a :class:`SubscribeMulti` (tag 8): the rows of its new queries."""

    request_id: int
    total_host_execution_duration_micros: int
    query_id: int
    update: DatabaseUpdate


@dataclass(frozen=True)
class UnsubscribeMultiApplied:
    """The answer to an :class:`UnsubscribeMulti` (tag 9): the rows to remove."""

    request_id: int
    total_host_execution_duration_micros: int
    query_id: int
    update: DatabaseUpdate


@dataclass(frozen=True)
class ProcedureReturned:
    """``ProcedureStatus::Returned``: the return value (BSATN bytes or JSON text)."""

    value: Args


@dataclass(frozen=True)
class ProcedureOutOfEnergy:
    """``ProcedureStatus::OutOfEnergy``."""


@dataclass(frozen=True)
class ProcedureInternalError:
    """``ProcedureStatus::InternalError``."""

    message: str


ProcedureStatus = ProcedureReturned | ProcedureOutOfEnergy | ProcedureInternalError


@dataclass(frozen=True)
class ProcedureResult:
    """The answer to a :class:`CallProcedure` (tag 10)."""

    status: ProcedureStatus
    timestamp: Timestamp
    total_host_execution_duration: TimeDuration
    request_id: int


ServerMessage = (
    InitialSubscription
    | TransactionUpdate
    | TransactionUpdateLight
    | IdentityToken
    | OneOffQueryResponse
    | SubscribeApplied
    | UnsubscribeApplied
    | SubscriptionError
    | SubscribeMultiApplied
    | UnsubscribeMultiApplied
    | ProcedureResult
)
SERVER_MESSAGE_TYPES: tuple[type, ...] = (
    InitialSubscription,
    TransactionUpdate,
    TransactionUpdateLight,
    IdentityToken,
    OneOffQueryResponse,
    SubscribeApplied,
    UnsubscribeApplied,
    SubscriptionError,
    SubscribeMultiApplied,
    UnsubscribeMultiApplied,
    ProcedureResult,
)
"""The server messages in tag order."""
