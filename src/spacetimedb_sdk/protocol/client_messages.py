"""BSATN of every v2 ``ClientMessage``: what the client sends and the server decodes.

The client encodes these (one per call, subscription or query); the local server
decodes them.  Reserved ``flags`` of ``CallReducer``/``CallProcedure`` other than 0
are rejected on decode, as upstream does, but any u8 is written on encode so that a
test can send what a real server rejects.

Example::

    >>> from spacetimedb_sdk.protocol import messages as m
    >>> data = encode_client_message(m.OneOffQuery(request_id=3, query_string="SELECT 1"))
    >>> decode_client_message(data)
    (OneOffQuery(request_id=3, query_string='SELECT 1'), 17)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .messages import (
    CallProcedure,
    CallReducer,
    ClientMessage,
    OneOffQuery,
    Subscribe,
    Unsubscribe,
    UnsubscribeFlags,
)
from .primitives import (
    Buffer,
    _array,
    _blob,
    _decode,
    _encode_into,
    _Encoder,
    _Fail,
    _pack_u32,
    _str,
    _u8,
    _u32,
    _unknown_tag,
    _w_blob,
    _w_str,
)

__all__ = [
    "decode_client_message",
    "encode_client_message",
    "encode_client_message_into",
]


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


# ---- decoding: entry point -------------------------------------------------------------


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


_CLIENT_ENCODERS: dict[type, tuple[int, _Encoder]] = {
    Subscribe: (0, _e_subscribe),
    Unsubscribe: (1, _e_unsubscribe),
    OneOffQuery: (2, _e_one_off_query),
    CallReducer: (3, _e_call_reducer),
    CallProcedure: (4, _e_call_procedure),
}


def encode_client_message_into(out: bytearray, msg: ClientMessage) -> None:
    """Append the BSATN of one ``ClientMessage`` to ``out`` (used to build v3 batches).

    Example::

        >>> buf = bytearray()
        >>> encode_client_message_into(buf, OneOffQuery(1, ""))
        >>> bytes(buf).hex()
        '020100000000000000'
    """
    _encode_into(out, "ClientMessage", _CLIENT_ENCODERS, msg)


def encode_client_message(msg: ClientMessage) -> bytes:
    """The BSATN of one v2 ``ClientMessage``: the whole payload of a v2 client frame.

    Example::

        >>> encode_client_message(Unsubscribe(request_id=2, query_set_id=7)).hex()
        '01020000000700000001'
    """
    out = bytearray()
    _encode_into(out, "ClientMessage", _CLIENT_ENCODERS, msg)
    return bytes(out)
