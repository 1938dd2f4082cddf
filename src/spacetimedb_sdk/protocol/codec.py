"""BSATN encoders and decoders for every v2 ``ClientMessage`` and ``ServerMessage``.

Both directions are here: the client encodes ``ClientMessage`` and decodes
``ServerMessage``; the local server does the mirror image.  The layouts follow
protocol.md §4.3–4.5 (``websocket/v2.rs`` upstream).

The decoders are written by hand over ``struct`` because they run on every
frame: there is no generic walk over a type description.  Row payloads are not
decoded: each :class:`~.messages.BsatnRowList` keeps its ``rows_data`` as one
``bytes`` slice of the input, and its size hint is checked against that slice so
that ``rows()`` can never cut rows out of thin air.

Every malformed input raises :class:`~spacetimedb_sdk.errors.ProtocolError`
whose message names the field path and the byte offset, e.g.
``truncated SubscribeApplied.rows.tables[0].rows.rows_data: length 4000 at
offset 23 exceeds the 12 remaining bytes``.  Encoding a value that does not fit
its wire type (a negative ``request_id``, a reserved flag above 255, ...) raises
:class:`~spacetimedb_sdk.errors.BsatnEncodeError`; passing an object that is not
a message raises ``TypeError``.

Example::

    >>> from spacetimedb_sdk.protocol import messages as m
    >>> data = encode_client_message(m.OneOffQuery(request_id=3, query_string="SELECT 1"))
    >>> decode_client_message(data)
    (OneOffQuery(request_id=3, query_string='SELECT 1'), 17)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import BsatnEncodeError, ProtocolError
from ..sats.values import ConnectionId, Err, Identity, Ok, TimeDuration, Timestamp
from .messages import (
    BsatnRowList,
    CallProcedure,
    CallReducer,
    ClientMessage,
    EventTableRows,
    FixedSize,
    InitialConnection,
    OneOffQuery,
    OneOffQueryResult,
    PersistentTableRows,
    ProcedureInternalError,
    ProcedureResult,
    ProcedureReturned,
    QueryRows,
    QuerySetUpdate,
    ReducerErr,
    ReducerInternalError,
    ReducerOk,
    ReducerOkEmpty,
    ReducerResult,
    RowOffsets,
    ServerMessage,
    SingleTableRows,
    Subscribe,
    SubscribeApplied,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    Unsubscribe,
    UnsubscribeApplied,
    UnsubscribeFlags,
)

__all__ = [
    "Buffer",
    "decode_client_message",
    "decode_server_message",
    "encode_client_message",
    "encode_client_message_into",
    "encode_server_message",
    "encode_server_message_into",
]

Buffer = bytes | bytearray | memoryview
"""What the decoders accept.  Anything but ``bytes`` is copied once to ``bytes``."""

_T = TypeVar("_T")

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_unpack_u16 = _U16.unpack_from
_unpack_u32 = _U32.unpack_from
_unpack_i64 = _I64.unpack_from
_unpack_u64 = struct.Struct("<Q").unpack_from
_pack_u16 = _U16.pack
_pack_u32 = _U32.pack
_pack_i64 = _I64.pack

_OPTION_HELP = "(Option: 0 = some, 1 = none)"
_EMPTY_ROWS = BsatnRowList.empty()


# ---- decoding: failures ----------------------------------------------------------------


class _Fail(Exception):
    """A decode failure on its way up; each level adds its path segment.

    Leaf readers do not know where they are, so the path is assembled while the
    exception propagates; this keeps path bookkeeping off the success path.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.segments: list[str] = []

    def to_error(self) -> ProtocolError:
        path = "".join(reversed(self.segments))
        return ProtocolError(f"{self.kind} {path}{self.detail}")


def _short(need: int, off: int, size: int) -> _Fail:
    return _Fail("truncated", f": {need} bytes needed at offset {off}, {max(size - off, 0)} remain")


def _unknown_tag(tag: int, off: int, note: str = "") -> _Fail:
    suffix = f" {note}" if note else ""
    return _Fail("unknown", f" tag {tag} at offset {off}{suffix}")


# ---- decoding: primitives (each returns the value and the new offset) ------------------


def _u8(d: bytes, o: int) -> tuple[int, int]:
    if o >= len(d):
        raise _short(1, o, len(d))
    return d[o], o + 1


def _u16(d: bytes, o: int) -> tuple[int, int]:
    if o + 2 > len(d):
        raise _short(2, o, len(d))
    return _unpack_u16(d, o)[0], o + 2


def _u32(d: bytes, o: int) -> tuple[int, int]:
    if o + 4 > len(d):
        raise _short(4, o, len(d))
    return _unpack_u32(d, o)[0], o + 4


def _i64(d: bytes, o: int) -> tuple[int, int]:
    if o + 8 > len(d):
        raise _short(8, o, len(d))
    return _unpack_i64(d, o)[0], o + 8


def _blob(d: bytes, o: int) -> tuple[bytes, int]:
    n, p = _u32(d, o)
    e = p + n
    if e > len(d):
        raise _Fail(
            "truncated", f": length {n} at offset {o} exceeds the {len(d) - p} remaining bytes"
        )
    return d[p:e], e


def _str(d: bytes, o: int) -> tuple[str, int]:
    raw, e = _blob(d, o)
    try:
        return raw.decode("utf-8"), e
    except UnicodeDecodeError as x:
        raise _Fail("invalid UTF-8 in", f" at offset {o + 4 + x.start}: {x.reason}") from None


def _identity(d: bytes, o: int) -> tuple[Identity, int]:
    e = o + 32
    if e > len(d):
        raise _short(32, o, len(d))
    return Identity(int.from_bytes(d[o:e], "little")), e


def _connection_id(d: bytes, o: int) -> tuple[ConnectionId, int]:
    e = o + 16
    if e > len(d):
        raise _short(16, o, len(d))
    return ConnectionId(int.from_bytes(d[o:e], "little")), e


def _timestamp(d: bytes, o: int) -> tuple[Timestamp, int]:
    v, p = _i64(d, o)
    return Timestamp(v), p


def _duration(d: bytes, o: int) -> tuple[TimeDuration, int]:
    v, p = _i64(d, o)
    return TimeDuration(v), p


def _is_some(d: bytes, o: int) -> tuple[bool, int]:
    tag, p = _u8(d, o)
    if tag == 0:
        return True, p
    if tag == 1:
        return False, p
    raise _unknown_tag(tag, o, _OPTION_HELP)


def _array(
    d: bytes, o: int, item: Callable[[bytes, int], tuple[_T, int]], min_size: int
) -> tuple[list[_T], int]:
    """``Array<T>``; ``min_size`` (the smallest encoding of one item) rejects absurd counts early."""
    n, p = _u32(d, o)
    if n * min_size > len(d) - p:
        raise _Fail(
            "truncated",
            f": {n} elements at offset {o} need at least {n * min_size} bytes, {len(d) - p} remain",
        )
    out: list[_T] = []
    append = out.append
    i = 0
    try:
        for i in range(n):  # noqa: B007 - i names the failing element below
            v, p = item(d, p)
            append(v)
    except _Fail as e:
        e.segments.append(f"[{i}]")
        raise
    return out, p


# ---- decoding: shared structures -------------------------------------------------------

# Smallest encodings, used by _array's plausibility check.
_MIN_ROW_LIST = 1 + 2 + 4  # FixedSize tag + u16 + empty rows_data
_MIN_SINGLE_TABLE_ROWS = 4 + _MIN_ROW_LIST
_MIN_TABLE_UPDATE_ROWS = 1 + _MIN_ROW_LIST
_MIN_TABLE_UPDATE = 4 + 4
_MIN_QUERY_SET_UPDATE = 4 + 4


def _unpack_offsets(n: int, d: bytes, o: int) -> tuple[int, ...]:
    if n == 1:
        return _unpack_u64(d, o)
    if n == 0:
        return ()
    return struct.unpack_from(f"<{n}Q", d, o)


def _ascending(offs: tuple[int, ...]) -> bool:
    # Sorting a sorted sequence is linear; this keeps the check in C.
    return list(offs) == sorted(offs)


def _hint_problem(hint: FixedSize | RowOffsets, size: int) -> str | None:
    """Why ``hint`` cannot split ``size`` bytes of rows, or ``None`` if it can."""
    if isinstance(hint, FixedSize):
        n = hint.size
        if n == 0:
            return f"FixedSize(0) with {size} bytes of rows_data" if size else None
        if size % n:
            return f"rows_data length {size} is not a multiple of FixedSize({n})"
        return None
    offs = hint.offsets
    if not offs:
        return f"RowOffsets([]) with {size} bytes of rows_data" if size else None
    if offs[0] != 0:
        return f"the first row offset is {offs[0]}, not 0"
    if offs[-1] > size:
        return f"row offset {offs[-1]} is past the end of the {size}-byte rows_data"
    if not _ascending(offs):
        return "row offsets are not in increasing order"
    return None


def _row_list(d: bytes, o: int) -> tuple[BsatnRowList, int]:
    # Row lists are the most frequent structure in a frame, so well-formed ones take
    # this inlined path; anything unusual is handed to _row_list_checked, which
    # re-reads it carefully and raises the precise error.
    size = len(d)
    if o + 3 <= size:
        tag = d[o]
        if tag == 1 and o + 5 <= size:
            n = _unpack_u32(d, o + 1)[0]
            p = o + 5 + 8 * n
            if p + 4 <= size:
                ln = _unpack_u32(d, p)[0]
                e = p + 4 + ln
                if e <= size:
                    if n == 0:
                        if not ln:
                            return _EMPTY_ROWS, e
                    else:
                        offs = _unpack_offsets(n, d, o + 5)
                        if offs[0] == 0 and offs[-1] <= ln and (n == 1 or _ascending(offs)):
                            return BsatnRowList(RowOffsets(offs), d[p + 4 : e]), e
        elif tag == 0:
            n = _unpack_u16(d, o + 1)[0]
            p = o + 3
            if p + 4 <= size:
                ln = _unpack_u32(d, p)[0]
                e = p + 4 + ln
                if e <= size and (ln % n == 0 if n else ln == 0):
                    return BsatnRowList(FixedSize(n), d[p + 4 : e]), e
    return _row_list_checked(d, o)


def _row_list_checked(d: bytes, o: int) -> tuple[BsatnRowList, int]:
    f = ".size_hint"
    try:
        tag, p = _u8(d, o)
        hint: FixedSize | RowOffsets
        if tag == 0:
            size, p = _u16(d, p)
            hint = FixedSize(size)
        elif tag == 1:
            f = ".size_hint.RowOffsets"
            n, q = _u32(d, p)
            need = 8 * n
            if q + need > len(d):
                raise _Fail(
                    "truncated",
                    f": {n} row offsets at offset {p} need {need} bytes, {len(d) - q} remain",
                )
            hint = RowOffsets(_unpack_offsets(n, d, q))
            p = q + need
        else:
            raise _unknown_tag(tag, o, "(RowSizeHint: 0 = FixedSize, 1 = RowOffsets)")
        f = ".rows_data"
        data, p = _blob(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    problem = _hint_problem(hint, len(data))
    if problem is not None:
        raise _Fail("invalid", f": {problem} (row list at offset {o})")
    return BsatnRowList(hint, data), p


def _single_table_rows(d: bytes, o: int) -> tuple[SingleTableRows, int]:
    f = ".table"
    try:
        table, p = _str(d, o)
        f = ".rows"
        rows, p = _row_list(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return SingleTableRows(table, rows), p


def _query_rows(d: bytes, o: int) -> tuple[QueryRows, int]:
    try:
        tables, p = _array(d, o, _single_table_rows, _MIN_SINGLE_TABLE_ROWS)
    except _Fail as e:
        e.segments.append(".tables")
        raise
    return QueryRows(tables), p


def _table_update_rows(d: bytes, o: int) -> tuple[PersistentTableRows | EventTableRows, int]:
    tag, p = _u8(d, o)
    if tag == 0:
        f = ".PersistentTable.inserts"
        try:
            inserts, p = _row_list(d, p)
            f = ".PersistentTable.deletes"
            deletes, p = _row_list(d, p)
        except _Fail as e:
            e.segments.append(f)
            raise
        return PersistentTableRows(inserts, deletes), p
    if tag == 1:
        try:
            events, p = _row_list(d, p)
        except _Fail as e:
            e.segments.append(".EventTable.events")
            raise
        return EventTableRows(events), p
    raise _unknown_tag(tag, o, "(TableUpdateRows: 0 = PersistentTable, 1 = EventTable)")


def _table_update(d: bytes, o: int) -> tuple[TableUpdate, int]:
    f = ".table_name"
    try:
        name, p = _str(d, o)
        f = ".rows"
        rows, p = _array(d, p, _table_update_rows, _MIN_TABLE_UPDATE_ROWS)
    except _Fail as e:
        e.segments.append(f)
        raise
    return TableUpdate(name, rows), p


def _query_set_update(d: bytes, o: int) -> tuple[QuerySetUpdate, int]:
    f = ".query_set_id"
    try:
        qs, p = _u32(d, o)
        f = ".tables"
        tables, p = _array(d, p, _table_update, _MIN_TABLE_UPDATE)
    except _Fail as e:
        e.segments.append(f)
        raise
    return QuerySetUpdate(qs, tables), p


def _transaction_update(d: bytes, o: int) -> tuple[TransactionUpdate, int]:
    try:
        sets, p = _array(d, o, _query_set_update, _MIN_QUERY_SET_UPDATE)
    except _Fail as e:
        e.segments.append(".query_sets")
        raise
    return TransactionUpdate(sets), p


# ---- decoding: server messages ---------------------------------------------------------


def _initial_connection(d: bytes, o: int) -> tuple[InitialConnection, int]:
    f = ".identity"
    try:
        identity, p = _identity(d, o)
        f = ".connection_id"
        cid, p = _connection_id(d, p)
        f = ".token"
        token, p = _str(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return InitialConnection(identity, cid, token), p


def _subscribe_applied(d: bytes, o: int) -> tuple[SubscribeApplied, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".query_set_id"
        qs, p = _u32(d, p)
        f = ".rows"
        rows, p = _query_rows(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return SubscribeApplied(rid, qs, rows), p


def _unsubscribe_applied(d: bytes, o: int) -> tuple[UnsubscribeApplied, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".query_set_id"
        qs, p = _u32(d, p)
        f = ".rows"
        some, p = _is_some(d, p)
        rows: QueryRows | None = None
        if some:
            rows, p = _query_rows(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return UnsubscribeApplied(rid, qs, rows), p


def _subscription_error(d: bytes, o: int) -> tuple[SubscriptionError, int]:
    f = ".request_id"
    try:
        some, p = _is_some(d, o)
        rid: int | None = None
        if some:
            rid, p = _u32(d, p)
        f = ".query_set_id"
        qs, p = _u32(d, p)
        f = ".error"
        error, p = _str(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return SubscriptionError(rid, qs, error), p


def _one_off_query_result(d: bytes, o: int) -> tuple[OneOffQueryResult, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".result"
        tag, q = _u8(d, p)
        result: Ok[QueryRows] | Err[str]
        if tag == 0:
            f = ".result.ok"
            rows, p = _query_rows(d, q)
            result = Ok(rows)
        elif tag == 1:
            f = ".result.err"
            text, p = _str(d, q)
            result = Err(text)
        else:
            raise _unknown_tag(tag, p, "(Result: 0 = ok, 1 = err)")
    except _Fail as e:
        e.segments.append(f)
        raise
    return OneOffQueryResult(rid, result), p


_REDUCER_OK_EMPTY = ReducerOkEmpty()


def _reducer_outcome(
    d: bytes, o: int
) -> tuple[ReducerOk | ReducerOkEmpty | ReducerErr | ReducerInternalError, int]:
    tag, p = _u8(d, o)
    f = ""
    try:
        if tag == 0:
            f = ".Ok.ret_value"
            ret, p = _blob(d, p)
            f = ".Ok.transaction_update"
            update, p = _transaction_update(d, p)
            return ReducerOk(ret, update), p
        if tag == 1:
            return _REDUCER_OK_EMPTY, p
        if tag == 2:
            f = ".Err"
            err, p = _blob(d, p)
            return ReducerErr(err), p
        if tag == 3:
            f = ".InternalError"
            text, p = _str(d, p)
            return ReducerInternalError(text), p
    except _Fail as e:
        e.segments.append(f)
        raise
    raise _unknown_tag(tag, o, "(ReducerOutcome: 0 = Ok, 1 = OkEmpty, 2 = Err, 3 = InternalError)")


def _reducer_result(d: bytes, o: int) -> tuple[ReducerResult, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".timestamp"
        ts, p = _timestamp(d, p)
        f = ".result"
        outcome, p = _reducer_outcome(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return ReducerResult(rid, ts, outcome), p


def _procedure_status(d: bytes, o: int) -> tuple[ProcedureReturned | ProcedureInternalError, int]:
    tag, p = _u8(d, o)
    if tag == 0:
        try:
            value, p = _blob(d, p)
        except _Fail as e:
            e.segments.append(".Returned")
            raise
        return ProcedureReturned(value), p
    if tag == 1:
        try:
            text, p = _str(d, p)
        except _Fail as e:
            e.segments.append(".InternalError")
            raise
        return ProcedureInternalError(text), p
    raise _unknown_tag(tag, o, "(ProcedureStatus: 0 = Returned, 1 = InternalError)")


def _procedure_result(d: bytes, o: int) -> tuple[ProcedureResult, int]:
    f = ".status"
    try:
        status, p = _procedure_status(d, o)
        f = ".timestamp"
        ts, p = _timestamp(d, p)
        f = ".total_host_execution_duration"
        dur, p = _duration(d, p)
        f = ".request_id"
        rid, p = _u32(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return ProcedureResult(status, ts, dur, rid), p


_SERVER_DECODERS: tuple[tuple[str, Callable[[bytes, int], tuple[Any, int]]], ...] = (
    ("InitialConnection", _initial_connection),
    ("SubscribeApplied", _subscribe_applied),
    ("UnsubscribeApplied", _unsubscribe_applied),
    ("SubscriptionError", _subscription_error),
    ("TransactionUpdate", _transaction_update),
    ("OneOffQueryResult", _one_off_query_result),
    ("ReducerResult", _reducer_result),
    ("ProcedureResult", _procedure_result),
)


# ---- decoding: client messages ---------------------------------------------------------


def _subscribe(d: bytes, o: int) -> tuple[Subscribe, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".query_set_id"
        qs, p = _u32(d, p)
        f = ".query_strings"
        queries, p = _array(d, p, _str, 4)
    except _Fail as e:
        e.segments.append(f)
        raise
    return Subscribe(rid, qs, queries), p


def _unsubscribe(d: bytes, o: int) -> tuple[Unsubscribe, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".query_set_id"
        qs, p = _u32(d, p)
        f = ".flags"
        flag, q = _u8(d, p)
        if flag > 1:
            raise _unknown_tag(flag, p, "(UnsubscribeFlags: 0 = Default, 1 = SendDroppedRows)")
    except _Fail as e:
        e.segments.append(f)
        raise
    return Unsubscribe(rid, qs, UnsubscribeFlags(flag)), q


def _one_off_query(d: bytes, o: int) -> tuple[OneOffQuery, int]:
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".query_string"
        query, p = _str(d, p)
    except _Fail as e:
        e.segments.append(f)
        raise
    return OneOffQuery(rid, query), p


def _call_fields(d: bytes, o: int) -> tuple[int, str, bytes, int]:
    """``request_id, flags, name, args`` shared by CallReducer and CallProcedure (name field: ``.name``)."""
    f = ".request_id"
    try:
        rid, p = _u32(d, o)
        f = ".flags"
        flags, q = _u8(d, p)
        # Upstream's flag types decode only 0; anything else fails the whole message there too.
        if flags != 0:
            raise _Fail("invalid", f": {flags} at offset {p} (reserved, must be 0)")
        f = ".name"
        name, q = _str(d, q)
        f = ".args"
        args, q = _blob(d, q)
    except _Fail as e:
        e.segments.append(f)
        raise
    return rid, name, args, q


def _rename(e: _Fail, name_field: str) -> None:
    if e.segments and e.segments[-1] == ".name":
        e.segments[-1] = name_field


def _call_reducer(d: bytes, o: int) -> tuple[CallReducer, int]:
    try:
        rid, name, args, p = _call_fields(d, o)
    except _Fail as e:
        _rename(e, ".reducer")
        raise
    return CallReducer(rid, 0, name, args), p


def _call_procedure(d: bytes, o: int) -> tuple[CallProcedure, int]:
    try:
        rid, name, args, p = _call_fields(d, o)
    except _Fail as e:
        _rename(e, ".procedure")
        raise
    return CallProcedure(rid, 0, name, args), p


_CLIENT_DECODERS: tuple[tuple[str, Callable[[bytes, int], tuple[Any, int]]], ...] = (
    ("Subscribe", _subscribe),
    ("Unsubscribe", _unsubscribe),
    ("OneOffQuery", _one_off_query),
    ("CallReducer", _call_reducer),
    ("CallProcedure", _call_procedure),
)


# ---- decoding: entry points ------------------------------------------------------------


def _as_bytes(data: Buffer, offset: int) -> bytes:
    d = data if type(data) is bytes else bytes(data)
    if offset < 0 or offset > len(d):
        raise ValueError(f"offset {offset} is outside the {len(d)}-byte buffer")
    return d


def _decode(
    kind: str,
    table: tuple[tuple[str, Callable[[bytes, int], tuple[Any, int]]], ...],
    data: Buffer,
    offset: int,
) -> tuple[Any, int]:
    d = _as_bytes(data, offset)
    if offset >= len(d):
        raise ProtocolError(f"truncated {kind}: no tag byte at offset {offset}")
    tag = d[offset]
    if tag >= len(table):
        raise ProtocolError(f"unknown {kind} tag {tag} at offset {offset}")
    name, decode = table[tag]
    try:
        return decode(d, offset + 1)
    except _Fail as e:
        e.segments.append(name)
        raise e.to_error() from None


def decode_server_message(data: Buffer, offset: int = 0) -> tuple[ServerMessage, int]:
    """Decode one v2 ``ServerMessage`` starting at ``offset``; return it and the offset after it.

    Bytes after the message are left alone (frame-level rules live in ``framing``).
    Raises :class:`ProtocolError` on any malformed input.

    Example::

        >>> decode_server_message(bytes.fromhex("0400000000"))
        (TransactionUpdate(query_sets=[]), 5)
    """
    msg, end = _decode("ServerMessage", _SERVER_DECODERS, data, offset)
    return msg, end


def decode_client_message(data: Buffer, offset: int = 0) -> tuple[ClientMessage, int]:
    """Decode one v2 ``ClientMessage`` starting at ``offset``; return it and the offset after it.

    Reserved ``flags`` of ``CallReducer``/``CallProcedure`` other than 0 are rejected, as upstream does.

    Example::

        >>> decode_client_message(bytes.fromhex("01050000000700000001"))[0].query_set_id
        7
    """
    msg, end = _decode("ClientMessage", _CLIENT_DECODERS, data, offset)
    return msg, end


# ---- encoding --------------------------------------------------------------------------


def _w_blob(out: bytearray, b: bytes) -> None:
    out += _pack_u32(len(b))
    out += b


def _w_str(out: bytearray, s: str) -> None:
    _w_blob(out, s.encode("utf-8"))


def _w_row_list(out: bytearray, rl: BsatnRowList) -> None:
    hint = rl.size_hint
    if isinstance(hint, FixedSize):
        out.append(0)
        out += _pack_u16(hint.size)
    elif isinstance(hint, RowOffsets):
        offs = hint.offsets
        out.append(1)
        out += _pack_u32(len(offs))
        if offs:
            out += struct.pack(f"<{len(offs)}Q", *offs)
    else:
        raise TypeError(f"size_hint must be FixedSize or RowOffsets, not {type(hint).__name__}")
    _w_blob(out, rl.rows_data)


def _w_query_rows(out: bytearray, qr: QueryRows) -> None:
    out += _pack_u32(len(qr.tables))
    for t in qr.tables:
        _w_str(out, t.table)
        _w_row_list(out, t.rows)


def _w_transaction_update(out: bytearray, tu: TransactionUpdate) -> None:
    out += _pack_u32(len(tu.query_sets))
    for qs in tu.query_sets:
        out += _pack_u32(qs.query_set_id)
        out += _pack_u32(len(qs.tables))
        for table in qs.tables:
            _w_str(out, table.table_name)
            out += _pack_u32(len(table.rows))
            for rows in table.rows:
                if isinstance(rows, PersistentTableRows):
                    out.append(0)
                    _w_row_list(out, rows.inserts)
                    _w_row_list(out, rows.deletes)
                elif isinstance(rows, EventTableRows):
                    out.append(1)
                    _w_row_list(out, rows.events)
                else:
                    raise TypeError(
                        f"TableUpdate.rows items must be PersistentTableRows or EventTableRows,"
                        f" not {type(rows).__name__}"
                    )


def _e_initial_connection(out: bytearray, m: InitialConnection) -> None:
    out += m.identity.to_bytes()
    out += m.connection_id.to_bytes()
    _w_str(out, m.token)


def _e_subscribe_applied(out: bytearray, m: SubscribeApplied) -> None:
    out += _pack_u32(m.request_id)
    out += _pack_u32(m.query_set_id)
    _w_query_rows(out, m.rows)


def _e_unsubscribe_applied(out: bytearray, m: UnsubscribeApplied) -> None:
    out += _pack_u32(m.request_id)
    out += _pack_u32(m.query_set_id)
    if m.rows is None:
        out.append(1)
    else:
        out.append(0)
        _w_query_rows(out, m.rows)


def _e_subscription_error(out: bytearray, m: SubscriptionError) -> None:
    if m.request_id is None:
        out.append(1)
    else:
        out.append(0)
        out += _pack_u32(m.request_id)
    out += _pack_u32(m.query_set_id)
    _w_str(out, m.error)


def _e_one_off_query_result(out: bytearray, m: OneOffQueryResult) -> None:
    out += _pack_u32(m.request_id)
    result = m.result
    if isinstance(result, Ok):
        out.append(0)
        _w_query_rows(out, result.value)
    elif isinstance(result, Err):
        out.append(1)
        _w_str(out, result.error)
    else:
        raise TypeError(f"result must be Ok(QueryRows) or Err(str), not {type(result).__name__}")


def _e_reducer_result(out: bytearray, m: ReducerResult) -> None:
    out += _pack_u32(m.request_id)
    out += _pack_i64(m.timestamp.micros)
    outcome = m.result
    if isinstance(outcome, ReducerOk):
        out.append(0)
        _w_blob(out, outcome.ret_value)
        _w_transaction_update(out, outcome.transaction_update)
    elif isinstance(outcome, ReducerOkEmpty):
        out.append(1)
    elif isinstance(outcome, ReducerErr):
        out.append(2)
        _w_blob(out, outcome.error)
    elif isinstance(outcome, ReducerInternalError):
        out.append(3)
        _w_str(out, outcome.message)
    else:
        raise TypeError(f"result must be a ReducerOutcome, not {type(outcome).__name__}")


def _e_procedure_result(out: bytearray, m: ProcedureResult) -> None:
    status = m.status
    if isinstance(status, ProcedureReturned):
        out.append(0)
        _w_blob(out, status.value)
    elif isinstance(status, ProcedureInternalError):
        out.append(1)
        _w_str(out, status.message)
    else:
        raise TypeError(f"status must be a ProcedureStatus, not {type(status).__name__}")
    out += _pack_i64(m.timestamp.micros)
    out += _pack_i64(m.total_host_execution_duration.micros)
    out += _pack_u32(m.request_id)


def _e_subscribe(out: bytearray, m: Subscribe) -> None:
    out += _pack_u32(m.request_id)
    out += _pack_u32(m.query_set_id)
    out += _pack_u32(len(m.query_strings))
    for q in m.query_strings:
        _w_str(out, q)


def _e_unsubscribe(out: bytearray, m: Unsubscribe) -> None:
    out += _pack_u32(m.request_id)
    out += _pack_u32(m.query_set_id)
    out.append(UnsubscribeFlags(m.flags).value)


def _e_one_off_query(out: bytearray, m: OneOffQuery) -> None:
    out += _pack_u32(m.request_id)
    _w_str(out, m.query_string)


def _e_call_reducer(out: bytearray, m: CallReducer) -> None:
    # Any u8 flag is written so a test can send what a real server rejects.
    out += _pack_u32(m.request_id)
    out.append(m.flags)
    _w_str(out, m.reducer)
    _w_blob(out, m.args)


def _e_call_procedure(out: bytearray, m: CallProcedure) -> None:
    out += _pack_u32(m.request_id)
    out.append(m.flags)
    _w_str(out, m.procedure)
    _w_blob(out, m.args)


_Encoder = Callable[[bytearray, Any], None]

_SERVER_ENCODERS: dict[type, tuple[int, _Encoder]] = {
    InitialConnection: (0, _e_initial_connection),
    SubscribeApplied: (1, _e_subscribe_applied),
    UnsubscribeApplied: (2, _e_unsubscribe_applied),
    SubscriptionError: (3, _e_subscription_error),
    TransactionUpdate: (4, _w_transaction_update),
    OneOffQueryResult: (5, _e_one_off_query_result),
    ReducerResult: (6, _e_reducer_result),
    ProcedureResult: (7, _e_procedure_result),
}

_CLIENT_ENCODERS: dict[type, tuple[int, _Encoder]] = {
    Subscribe: (0, _e_subscribe),
    Unsubscribe: (1, _e_unsubscribe),
    OneOffQuery: (2, _e_one_off_query),
    CallReducer: (3, _e_call_reducer),
    CallProcedure: (4, _e_call_procedure),
}

# What a field of the wrong type or range raises inside the encoders above.
_ENCODE_FAILURES = (struct.error, OverflowError, TypeError, ValueError, AttributeError)


def _encode_into(
    out: bytearray, kind: str, table: dict[type, tuple[int, _Encoder]], msg: object
) -> None:
    entry = table.get(type(msg))
    if entry is None:
        raise TypeError(f"not a v2 {kind}: {type(msg).__name__}")
    tag, encode = entry
    start = len(out)
    out.append(tag)
    try:
        encode(out, msg)
    except _ENCODE_FAILURES as e:
        del out[start:]
        name = type(msg).__name__
        raise BsatnEncodeError(f"cannot encode {name}: {e}", path=name) from e


def encode_server_message_into(out: bytearray, msg: ServerMessage) -> None:
    """Append the BSATN of one ``ServerMessage`` to ``out`` (used to build v3 batches).

    Example::

        >>> buf = bytearray()
        >>> encode_server_message_into(buf, TransactionUpdate([]))
        >>> bytes(buf).hex()
        '0400000000'
    """
    _encode_into(out, "ServerMessage", _SERVER_ENCODERS, msg)


def encode_client_message_into(out: bytearray, msg: ClientMessage) -> None:
    """Append the BSATN of one ``ClientMessage`` to ``out`` (used to build v3 batches).

    Example::

        >>> buf = bytearray()
        >>> encode_client_message_into(buf, OneOffQuery(1, ""))
        >>> bytes(buf).hex()
        '020100000000000000'
    """
    _encode_into(out, "ClientMessage", _CLIENT_ENCODERS, msg)


def encode_server_message(msg: ServerMessage) -> bytes:
    """The BSATN of one v2 ``ServerMessage`` (no compression byte).

    Example::

        >>> encode_server_message(TransactionUpdate(query_sets=[])).hex()
        '0400000000'
    """
    out = bytearray()
    _encode_into(out, "ServerMessage", _SERVER_ENCODERS, msg)
    return bytes(out)


def encode_client_message(msg: ClientMessage) -> bytes:
    """The BSATN of one v2 ``ClientMessage``: the whole payload of a v2 client frame.

    Example::

        >>> encode_client_message(Unsubscribe(request_id=2, query_set_id=7)).hex()
        '01020000000700000001'
    """
    out = bytearray()
    _encode_into(out, "ClientMessage", _CLIENT_ENCODERS, msg)
    return bytes(out)
