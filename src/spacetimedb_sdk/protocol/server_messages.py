"""BSATN of every v2 ``ServerMessage``: what the server sends and the client decodes.

The client decodes these on every frame (the hot path); the local server encodes
them.  Row lists, query rows and transaction updates live here because only server
messages carry rows.  Row payloads are not decoded: each :class:`~.messages.BsatnRowList`
keeps its ``rows_data`` as one ``bytes`` slice of the input, and its size hint is
checked against that slice so that ``rows()`` can never cut rows out of thin air.

Example::

    >>> decode_server_message(encode_server_message(TransactionUpdate([])))
    (TransactionUpdate(query_sets=[]), 5)
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ..sats.values import Err, Ok
from .messages import (
    BsatnRowList,
    EventTableRows,
    FixedSize,
    InitialConnection,
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
    SubscribeApplied,
    SubscriptionError,
    TableUpdate,
    TransactionUpdate,
    UnsubscribeApplied,
)
from .primitives import (
    Buffer,
    _array,
    _blob,
    _connection_id,
    _decode,
    _duration,
    _encode_into,
    _Encoder,
    _Fail,
    _identity,
    _is_some,
    _pack_i64,
    _pack_u16,
    _pack_u32,
    _str,
    _timestamp,
    _u8,
    _u16,
    _u32,
    _unknown_tag,
    _unpack_u16,
    _unpack_u32,
    _unpack_u64,
    _w_blob,
    _w_str,
)

__all__ = [
    "decode_server_message",
    "encode_server_message",
    "encode_server_message_into",
]

_EMPTY_ROWS = BsatnRowList.empty()


# ---- decoding: row lists, rows, updates ------------------------------------------------

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


# ---- decoding: entry point -------------------------------------------------------------


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


# ---- encoding --------------------------------------------------------------------------


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


def encode_server_message_into(out: bytearray, msg: ServerMessage) -> None:
    """Append the BSATN of one ``ServerMessage`` to ``out`` (used to build v3 batches).

    Example::

        >>> buf = bytearray()
        >>> encode_server_message_into(buf, TransactionUpdate([]))
        >>> bytes(buf).hex()
        '0400000000'
    """
    _encode_into(out, "ServerMessage", _SERVER_ENCODERS, msg)


def encode_server_message(msg: ServerMessage) -> bytes:
    """The BSATN of one v2 ``ServerMessage`` (no compression byte).

    Example::

        >>> encode_server_message(TransactionUpdate(query_sets=[])).hex()
        '0400000000'
    """
    out = bytearray()
    _encode_into(out, "ServerMessage", _SERVER_ENCODERS, msg)
    return bytes(out)
