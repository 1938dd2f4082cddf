"""The v2 WebSocket messages as Python dataclasses (v3 uses the same messages).

Names and field order follow ``crates/client-api-messages/src/websocket/v2.rs``
upstream (protocol.md §4.4–4.5).  Row payloads stay as BSATN bytes in
:class:`BsatnRowList`; decoding rows needs the table's row type and is the
cache's job, not the protocol's.

Import the module, not the names: ``SubscriptionError`` here is a *message*,
distinct from :class:`spacetimedb_sdk.errors.SubscriptionError`.

Example::

    >>> from spacetimedb_sdk.protocol import messages as m
    >>> m.CallReducer(request_id=1, flags=0, reducer="set_name", args=b"\\x05\\x00\\x00\\x00Alice")
    CallReducer(request_id=1, flags=0, reducer='set_name', args=b'\\x05\\x00\\x00\\x00Alice')
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeAlias

from ..sats.values import ConnectionId, Err, Identity, Ok, TimeDuration, Timestamp

# ---- rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixedSize:
    """Every row in the list is exactly ``size`` bytes."""

    size: int


@dataclass(frozen=True, slots=True)
class RowOffsets:
    """Start offset of each row; row *i* ends where row *i+1* starts (or at the end)."""

    offsets: tuple[int, ...]


RowSizeHint: TypeAlias = "FixedSize | RowOffsets"


@dataclass(frozen=True, slots=True)
class BsatnRowList:
    """Rows of one table as concatenated BSATN plus a size hint to split them.

    Example::

        >>> rl = BsatnRowList(FixedSize(2), b"\\x01\\x00\\x02\\x00")
        >>> rl.rows()
        [b'\\x01\\x00', b'\\x02\\x00']
    """

    size_hint: FixedSize | RowOffsets
    rows_data: bytes

    def __len__(self) -> int:
        hint = self.size_hint
        if isinstance(hint, FixedSize):
            return len(self.rows_data) // hint.size if hint.size else 0
        return len(hint.offsets)

    def rows(self) -> list[bytes]:
        """The rows as separate ``bytes`` objects (slicing only, no decoding)."""
        data = self.rows_data
        hint = self.size_hint
        if isinstance(hint, FixedSize):
            n = hint.size
            if n == 0:
                return []
            return [data[i : i + n] for i in range(0, len(data), n)]
        offs = hint.offsets
        if not offs:
            return []
        ends = (*offs[1:], len(data))
        return [data[s:e] for s, e in zip(offs, ends, strict=True)]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.rows())

    @staticmethod
    def empty() -> BsatnRowList:
        """An empty list as the server sends it: ``RowOffsets([])`` with no data."""
        return _EMPTY_ROWS

    @staticmethod
    def from_rows(rows: list[bytes]) -> BsatnRowList:
        """Pack rows with the server's rule: ``FixedSize`` when all rows have one length, from 1
        to 65535 bytes; otherwise ``RowOffsets`` (always for empty rows, such as a row holding
        only a unit struct: their count could not be told from a fixed size of 0)."""
        if not rows:
            return _EMPTY_ROWS
        n = len(rows[0])
        if 0 < n <= 0xFFFF and all(len(r) == n for r in rows):
            return BsatnRowList(FixedSize(n), b"".join(rows))
        offs: list[int] = []
        pos = 0
        for r in rows:
            offs.append(pos)
            pos += len(r)
        return BsatnRowList(RowOffsets(tuple(offs)), b"".join(rows))


_EMPTY_ROWS = BsatnRowList(RowOffsets(()), b"")


@dataclass(frozen=True, slots=True)
class SingleTableRows:
    """The rows of one query over one table."""

    table: str
    rows: BsatnRowList


@dataclass(frozen=True, slots=True)
class QueryRows:
    """One entry per query; the same table may appear several times."""

    tables: list[SingleTableRows] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PersistentTableRows:
    """Row changes of a stored table: **inserts first**, then deletes (v2 order)."""

    inserts: BsatnRowList
    deletes: BsatnRowList


@dataclass(frozen=True, slots=True)
class EventTableRows:
    """Rows of an event table: delivered once, never stored."""

    events: BsatnRowList


TableUpdateRows: TypeAlias = "PersistentTableRows | EventTableRows"


@dataclass(frozen=True, slots=True)
class TableUpdate:
    """Changes to one table, one ``rows`` entry per contributing query."""

    table_name: str
    rows: list[PersistentTableRows | EventTableRows]


@dataclass(frozen=True, slots=True)
class QuerySetUpdate:
    """Changes to the tables of one query set."""

    query_set_id: int
    tables: list[TableUpdate]


# ---- client -> server --------------------------------------------------------------------


class UnsubscribeFlags(enum.IntEnum):
    """``Default`` (0) or ``SendDroppedRows`` (1): whether the server returns the dropped rows."""

    DEFAULT = 0
    SEND_DROPPED_ROWS = 1


@dataclass(frozen=True, slots=True)
class Subscribe:
    request_id: int
    query_set_id: int
    query_strings: list[str]


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    request_id: int
    query_set_id: int
    flags: UnsubscribeFlags = UnsubscribeFlags.SEND_DROPPED_ROWS


@dataclass(frozen=True, slots=True)
class OneOffQuery:
    request_id: int
    query_string: str


@dataclass(frozen=True, slots=True)
class CallReducer:
    """``args`` is the BSATN of the reducer's parameter product."""

    request_id: int
    flags: int
    reducer: str
    args: bytes


@dataclass(frozen=True, slots=True)
class CallProcedure:
    """``args`` is the BSATN of the procedure's parameter product."""

    request_id: int
    flags: int
    procedure: str
    args: bytes


ClientMessage: TypeAlias = "Subscribe | Unsubscribe | OneOffQuery | CallReducer | CallProcedure"


# ---- server -> client --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitialConnection:
    identity: Identity
    connection_id: ConnectionId
    token: str

    def __repr__(self) -> str:  # never show tokens
        return f"InitialConnection(identity={self.identity!r}, connection_id={self.connection_id!r}, token=<redacted>)"


@dataclass(frozen=True, slots=True)
class SubscribeApplied:
    request_id: int
    query_set_id: int
    rows: QueryRows


@dataclass(frozen=True, slots=True)
class UnsubscribeApplied:
    request_id: int
    query_set_id: int
    rows: QueryRows | None


@dataclass(frozen=True, slots=True)
class SubscriptionError:
    """``request_id`` is ``None`` when the set failed later, during an incremental update."""

    request_id: int | None
    query_set_id: int
    error: str


@dataclass(frozen=True, slots=True)
class TransactionUpdate:
    query_sets: list[QuerySetUpdate]


@dataclass(frozen=True, slots=True)
class OneOffQueryResult:
    request_id: int
    result: Ok[QueryRows] | Err[str]


@dataclass(frozen=True, slots=True)
class ReducerOk:
    """``ret_value`` is the BSATN of the reducer's return value (empty for unit)."""

    ret_value: bytes
    transaction_update: TransactionUpdate


@dataclass(frozen=True, slots=True)
class ReducerOkEmpty:
    """Ok with no return value and no updates (defined upstream, not emitted by current servers)."""


@dataclass(frozen=True, slots=True)
class ReducerErr:
    """The reducer's own error; ``error`` is BSATN (a ``String`` for every current module)."""

    error: bytes


@dataclass(frozen=True, slots=True)
class ReducerInternalError:
    message: str


ReducerOutcome: TypeAlias = "ReducerOk | ReducerOkEmpty | ReducerErr | ReducerInternalError"


@dataclass(frozen=True, slots=True)
class ReducerResult:
    request_id: int
    timestamp: Timestamp
    result: ReducerOk | ReducerOkEmpty | ReducerErr | ReducerInternalError


@dataclass(frozen=True, slots=True)
class ProcedureReturned:
    """``value`` is the BSATN of the procedure's return value."""

    value: bytes


@dataclass(frozen=True, slots=True)
class ProcedureInternalError:
    message: str


ProcedureStatus: TypeAlias = "ProcedureReturned | ProcedureInternalError"


@dataclass(frozen=True, slots=True)
class ProcedureResult:
    """Note the field order: ``request_id`` comes **last** on the wire."""

    status: ProcedureReturned | ProcedureInternalError
    timestamp: Timestamp
    total_host_execution_duration: TimeDuration
    request_id: int


ServerMessage: TypeAlias = (
    "InitialConnection | SubscribeApplied | UnsubscribeApplied | SubscriptionError"
    " | TransactionUpdate | OneOffQueryResult | ReducerResult | ProcedureResult"
)

# Wire tags, in sum order.
CLIENT_MESSAGE_TAGS: tuple[type, ...] = (
    Subscribe,
    Unsubscribe,
    OneOffQuery,
    CallReducer,
    CallProcedure,
)
SERVER_MESSAGE_TAGS: tuple[type, ...] = (
    InitialConnection,
    SubscribeApplied,
    UnsubscribeApplied,
    SubscriptionError,
    TransactionUpdate,
    OneOffQueryResult,
    ReducerResult,
    ProcedureResult,
)
