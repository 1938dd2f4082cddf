"""Encoding and decoding v1 messages: BSATN (``v1.bsatn``) and typed SATS-JSON (``v1.json``).

The messages are mapped to the generic SATS values of their types (:mod:`.types`) and those go
through the project's BSATN codec or typed SATS-JSON writer (lenient reader on the way in, as
upstream's serde deserializer is).  Both directions exist for both sides: the local server
decodes client messages and encodes server messages; a v1 client (the tests' one) does the
mirror image.

Binary server frames carry the same compression envelope as v2 (:func:`encode_server_frame`);
text frames are bare JSON.  Like upstream's ``bsatn::from_slice``, bytes after one binary client
message are ignored.

Every malformed input raises :class:`~spacetimedb_sdk.errors.ProtocolError` naming the message
and what was wrong.

Example::

    >>> from .messages import Subscribe
    >>> decode_client_message(encode_client_message(Subscribe(["SELECT * FROM t"], 1), json=True))
    Subscribe(query_strings=['SELECT * FROM t'], request_id=1)
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable
from typing import Any

from ...errors import BsatnDecodeError, BsatnEncodeError, ProtocolError
from ...sats import bsatn
from ...sats.sats_json import SatsJsonError, from_json, to_json
from ...sats.values import SumValue
from ..framing import COMPRESSION_THRESHOLD, Compression, compress, decompress
from ..messages import BsatnRowList, FixedSize, RowOffsets
from . import messages as v1
from .types import BSATN_TYPES, JSON_TYPES, V1Types

# ---- dataclasses -> generic values ---------------------------------------------------------


def _rows_out(rows: v1.RowList, types: V1Types) -> Any:
    if types.json:
        if not isinstance(rows, list):
            raise TypeError("v1.json rows must be a list of JSON strings")
        return rows
    if not isinstance(rows, BsatnRowList):
        raise TypeError("v1.bsatn rows must be a BsatnRowList")
    hint = rows.size_hint
    size_hint = (
        SumValue("FixedSize", hint.size)
        if isinstance(hint, FixedSize)
        else SumValue("RowOffsets", list(hint.offsets))
    )
    return {"size_hint": size_hint, "rows_data": rows.rows_data}


def _rows_in(value: Any, types: V1Types) -> v1.RowList:
    if types.json:
        return list(value)
    hint = value["size_hint"]
    size_hint = FixedSize(hint.value) if hint.tag == "FixedSize" else RowOffsets(tuple(hint.value))
    return BsatnRowList(size_hint, value["rows_data"])


def _table_update_out(t: v1.TableUpdate, types: V1Types) -> dict[str, Any]:
    updates: list[Any] = []
    for u in t.updates:
        if isinstance(u, v1.CompressedQueryUpdate):
            if types.json:
                raise TypeError("v1.json table updates cannot be compressed")
            name = "Brotli" if u.compression is Compression.BROTLI else "Gzip"
            updates.append(SumValue(name, u.data))
            continue
        qu = {"deletes": _rows_out(u.deletes, types), "inserts": _rows_out(u.inserts, types)}
        updates.append(qu if types.json else SumValue("Uncompressed", qu))
    return {
        "table_id": t.table_id,
        "table_name": t.table_name,
        "num_rows": t.num_rows,
        "updates": updates,
    }


def _table_update_in(value: Any, types: V1Types) -> v1.TableUpdate:
    updates: list[v1.QueryUpdate | v1.CompressedQueryUpdate] = []
    for u in value["updates"]:
        if not types.json and u.tag != "Uncompressed":
            kind = Compression.BROTLI if u.tag == "Brotli" else Compression.GZIP
            updates.append(v1.CompressedQueryUpdate(kind, u.value))
            continue
        qu = u if types.json else u.value
        updates.append(
            v1.QueryUpdate(_rows_in(qu["deletes"], types), _rows_in(qu["inserts"], types))
        )
    return v1.TableUpdate(value["table_id"], value["table_name"], value["num_rows"], updates)


def _db_update_out(u: v1.DatabaseUpdate, types: V1Types) -> dict[str, Any]:
    return {"tables": [_table_update_out(t, types) for t in u.tables]}


def _db_update_in(value: Any, types: V1Types) -> v1.DatabaseUpdate:
    return v1.DatabaseUpdate([_table_update_in(t, types) for t in value["tables"]])


def _single_out(args: v1.Args, types: V1Types) -> v1.Args:
    if types.json and not isinstance(args, str):
        raise TypeError("v1.json arguments and return values are JSON text (str)")
    if not types.json and not isinstance(args, bytes):
        raise TypeError("v1.bsatn arguments and return values are BSATN bytes")
    return args


def _subscribe_rows_out(r: v1.SubscribeRows, types: V1Types) -> dict[str, Any]:
    return {
        "table_id": r.table_id,
        "table_name": r.table_name,
        "table_rows": _table_update_out(r.table_rows, types),
    }


def _server_out(msg: v1.ServerMessage, types: V1Types) -> SumValue:
    name = type(msg).__name__
    if isinstance(msg, v1.InitialSubscription):
        body: dict[str, Any] = {
            "database_update": _db_update_out(msg.database_update, types),
            "request_id": msg.request_id,
            "total_host_execution_duration": msg.total_host_execution_duration,
        }
    elif isinstance(msg, v1.TransactionUpdate):
        status = msg.status
        if isinstance(status, v1.Committed):
            status_value = SumValue("Committed", _db_update_out(status.update, types))
        elif isinstance(status, v1.Failed):
            status_value = SumValue("Failed", status.message)
        else:
            status_value = SumValue("OutOfEnergy", None)
        call = msg.reducer_call
        body = {
            "status": status_value,
            "timestamp": msg.timestamp,
            "caller_identity": msg.caller_identity,
            "caller_connection_id": msg.caller_connection_id,
            "reducer_call": {
                "reducer_name": call.reducer_name,
                "reducer_id": call.reducer_id,
                "args": _single_out(call.args, types),
                "request_id": call.request_id,
            },
            "energy_quanta_used": {"quanta": msg.energy_quanta_used},
            "total_host_execution_duration": msg.total_host_execution_duration,
        }
    elif isinstance(msg, v1.TransactionUpdateLight):
        body = {"request_id": msg.request_id, "update": _db_update_out(msg.update, types)}
    elif isinstance(msg, v1.IdentityToken):
        body = {
            "identity": msg.identity,
            "token": msg.token,
            "connection_id": msg.connection_id,
        }
    elif isinstance(msg, v1.OneOffQueryResponse):
        body = {
            "message_id": msg.message_id,
            "error": msg.error,
            "tables": [
                {"table_name": t.table_name, "rows": _rows_out(t.rows, types)} for t in msg.tables
            ],
            "total_host_execution_duration": msg.total_host_execution_duration,
        }
    elif isinstance(msg, (v1.SubscribeApplied, v1.UnsubscribeApplied)):
        body = {
            "request_id": msg.request_id,
            "total_host_execution_duration_micros": msg.total_host_execution_duration_micros,
            "query_id": {"id": msg.query_id},
            "rows": _subscribe_rows_out(msg.rows, types),
        }
    elif isinstance(msg, v1.SubscriptionError):
        body = {
            "total_host_execution_duration_micros": msg.total_host_execution_duration_micros,
            "request_id": msg.request_id,
            "query_id": msg.query_id,
            "table_id": msg.table_id,
            "error": msg.error,
        }
    elif isinstance(msg, (v1.SubscribeMultiApplied, v1.UnsubscribeMultiApplied)):
        body = {
            "request_id": msg.request_id,
            "total_host_execution_duration_micros": msg.total_host_execution_duration_micros,
            "query_id": {"id": msg.query_id},
            "update": _db_update_out(msg.update, types),
        }
    elif isinstance(msg, v1.ProcedureResult):
        st = msg.status
        if isinstance(st, v1.ProcedureReturned):
            st_value = SumValue("Returned", _single_out(st.value, types))
        elif isinstance(st, v1.ProcedureInternalError):
            st_value = SumValue("InternalError", st.message)
        else:
            st_value = SumValue("OutOfEnergy", None)
        body = {
            "status": st_value,
            "timestamp": msg.timestamp,
            "total_host_execution_duration": msg.total_host_execution_duration,
            "request_id": msg.request_id,
        }
    else:
        raise TypeError(f"not a v1 ServerMessage: {name}")
    return SumValue(name, body)


def _server_in(value: SumValue, types: V1Types) -> v1.ServerMessage:
    tag, b = value.tag, value.value
    if tag == "InitialSubscription":
        return v1.InitialSubscription(
            _db_update_in(b["database_update"], types),
            b["request_id"],
            b["total_host_execution_duration"],
        )
    if tag == "TransactionUpdate":
        st = b["status"]
        status: v1.UpdateStatus
        if st.tag == "Committed":
            status = v1.Committed(_db_update_in(st.value, types))
        elif st.tag == "Failed":
            status = v1.Failed(st.value)
        else:
            status = v1.OutOfEnergy()
        call = b["reducer_call"]
        return v1.TransactionUpdate(
            status,
            b["timestamp"],
            b["caller_identity"],
            b["caller_connection_id"],
            v1.ReducerCallInfo(
                call["reducer_name"], call["reducer_id"], call["args"], call["request_id"]
            ),
            b["energy_quanta_used"]["quanta"],
            b["total_host_execution_duration"],
        )
    if tag == "TransactionUpdateLight":
        return v1.TransactionUpdateLight(b["request_id"], _db_update_in(b["update"], types))
    if tag == "IdentityToken":
        return v1.IdentityToken(b["identity"], b["token"], b["connection_id"])
    if tag == "OneOffQueryResponse":
        return v1.OneOffQueryResponse(
            b["message_id"],
            b["error"],
            [v1.OneOffTable(t["table_name"], _rows_in(t["rows"], types)) for t in b["tables"]],
            b["total_host_execution_duration"],
        )
    if tag in ("SubscribeApplied", "UnsubscribeApplied"):
        r = b["rows"]
        rows = v1.SubscribeRows(
            r["table_id"], r["table_name"], _table_update_in(r["table_rows"], types)
        )
        cls = v1.SubscribeApplied if tag == "SubscribeApplied" else v1.UnsubscribeApplied
        return cls(
            b["request_id"], b["total_host_execution_duration_micros"], b["query_id"]["id"], rows
        )
    if tag == "SubscriptionError":
        return v1.SubscriptionError(
            b["total_host_execution_duration_micros"],
            b["request_id"],
            b["query_id"],
            b["table_id"],
            b["error"],
        )
    if tag in ("SubscribeMultiApplied", "UnsubscribeMultiApplied"):
        multi = (
            v1.SubscribeMultiApplied
            if tag == "SubscribeMultiApplied"
            else v1.UnsubscribeMultiApplied
        )
        return multi(
            b["request_id"],
            b["total_host_execution_duration_micros"],
            b["query_id"]["id"],
            _db_update_in(b["update"], types),
        )
    st = b["status"]
    proc: v1.ProcedureStatus
    if st.tag == "Returned":
        proc = v1.ProcedureReturned(st.value)
    elif st.tag == "InternalError":
        proc = v1.ProcedureInternalError(st.value)
    else:
        proc = v1.ProcedureOutOfEnergy()
    return v1.ProcedureResult(
        proc, b["timestamp"], b["total_host_execution_duration"], b["request_id"]
    )


def _client_out(msg: v1.ClientMessage, types: V1Types) -> SumValue:
    name = type(msg).__name__
    if isinstance(msg, v1.CallReducer):
        body: dict[str, Any] = {
            "reducer": msg.reducer,
            "args": _single_out(msg.args, types),
            "request_id": msg.request_id,
            "flags": int(msg.flags),
        }
    elif isinstance(msg, v1.CallProcedure):
        body = {
            "procedure": msg.procedure,
            "args": _single_out(msg.args, types),
            "request_id": msg.request_id,
            "flags": msg.flags,
        }
    elif isinstance(msg, v1.Subscribe):
        body = {"query_strings": list(msg.query_strings), "request_id": msg.request_id}
    elif isinstance(msg, v1.OneOffQuery):
        body = {"message_id": msg.message_id, "query_string": msg.query_string}
    elif isinstance(msg, v1.SubscribeSingle):
        body = {"query": msg.query, "request_id": msg.request_id, "query_id": {"id": msg.query_id}}
    elif isinstance(msg, v1.SubscribeMulti):
        body = {
            "query_strings": list(msg.query_strings),
            "request_id": msg.request_id,
            "query_id": {"id": msg.query_id},
        }
    elif isinstance(msg, (v1.Unsubscribe, v1.UnsubscribeMulti)):
        body = {"request_id": msg.request_id, "query_id": {"id": msg.query_id}}
    else:
        raise TypeError(f"not a v1 ClientMessage: {name}")
    return SumValue(name, body)


def _client_in(value: SumValue) -> v1.ClientMessage:
    tag, b = value.tag, value.value
    if tag == "CallReducer":
        if b["flags"] not in (0, 1):
            raise ProtocolError(f"invalid call reducer flag {b['flags']}")
        return v1.CallReducer(b["reducer"], b["args"], b["request_id"], b["flags"])
    if tag == "CallProcedure":
        if b["flags"] != 0:
            raise ProtocolError(f"invalid call procedure flag {b['flags']}")
        return v1.CallProcedure(b["procedure"], b["args"], b["request_id"], b["flags"])
    if tag == "Subscribe":
        return v1.Subscribe(list(b["query_strings"]), b["request_id"])
    if tag == "OneOffQuery":
        return v1.OneOffQuery(bytes(b["message_id"]), b["query_string"])
    if tag == "SubscribeSingle":
        return v1.SubscribeSingle(b["query"], b["request_id"], b["query_id"]["id"])
    if tag == "SubscribeMulti":
        return v1.SubscribeMulti(list(b["query_strings"]), b["request_id"], b["query_id"]["id"])
    cls = v1.Unsubscribe if tag == "Unsubscribe" else v1.UnsubscribeMulti
    return cls(b["request_id"], b["query_id"]["id"])


# ---- the public entry points ---------------------------------------------------------------


def _encode(convert: Callable[[], SumValue], ty: Any, types: V1Types, what: str) -> bytes | str:
    try:
        value = convert()
        if types.json:
            return _json.dumps(to_json(ty, value), ensure_ascii=False, separators=(",", ":"))
        return bsatn.codec_for(ty).encode(value)
    except (BsatnEncodeError, SatsJsonError, ValueError, TypeError) as e:
        raise BsatnEncodeError(f"cannot encode v1 {what}: {e}") from e


def _decode(data: bytes | str, ty: Any, what: str) -> tuple[SumValue, V1Types]:
    try:
        if isinstance(data, str):
            return from_json(ty[1], _json.loads(data)), JSON_TYPES
        value, _ = bsatn.codec_for(ty[0]).read(bytes(data), 0)  # trailing bytes ignored
        return value, BSATN_TYPES
    except ValueError as e:  # JSONDecodeError, SatsJsonError, offsets
        raise ProtocolError(f"invalid v1 {what}: {e}") from None
    except BsatnDecodeError as e:
        raise ProtocolError(f"invalid v1 {what}: {e}") from None
    except RecursionError:
        raise ProtocolError(f"invalid v1 {what}: JSON nested too deeply") from None


def encode_server_message(msg: v1.ServerMessage, *, json: bool = False) -> bytes | str:
    """A server message's body: BSATN ``bytes``, or JSON text when ``json``."""
    types = JSON_TYPES if json else BSATN_TYPES
    return _encode(lambda: _server_out(msg, types), types.server_message, types, "ServerMessage")


def decode_server_message(data: bytes | str) -> v1.ServerMessage:
    """A server message from its BSATN body (``bytes``) or its JSON text (``str``)."""
    types_pair = (BSATN_TYPES.server_message, JSON_TYPES.server_message)
    value, types = _decode(data, types_pair, "ServerMessage")
    try:
        return _server_in(value, types)
    except (KeyError, TypeError, AttributeError) as e:
        raise ProtocolError(f"invalid v1 ServerMessage: missing or wrong field {e}") from None


def encode_client_message(msg: v1.ClientMessage, *, json: bool = False) -> bytes | str:
    """A client message: BSATN ``bytes`` (a binary frame), or JSON text (a text frame)."""
    types = JSON_TYPES if json else BSATN_TYPES
    return _encode(lambda: _client_out(msg, types), types.client_message, types, "ClientMessage")


def decode_client_message(data: bytes | str) -> v1.ClientMessage:
    """A client message from a binary frame (``bytes``, BSATN) or a text frame (``str``, JSON).

    As upstream, the frame's kind decides the format, whichever v1 subprotocol was chosen.
    """
    types_pair = (BSATN_TYPES.client_message, JSON_TYPES.client_message)
    value, _ = _decode(data, types_pair, "ClientMessage")
    try:
        return _client_in(value)
    except (KeyError, TypeError, AttributeError) as e:
        raise ProtocolError(f"invalid v1 ClientMessage: missing or wrong field {e}") from None


def encode_server_frame(
    msg: v1.ServerMessage,
    compression: Compression = Compression.NONE,
    *,
    threshold: int = COMPRESSION_THRESHOLD,
) -> bytes:
    """A binary (``v1.bsatn``) server frame: compression tag, then the (maybe compressed) body."""
    body = encode_server_message(msg)
    assert isinstance(body, bytes)
    if compression is Compression.NONE or len(body) <= threshold:
        return b"\x00" + body
    return bytes((compression.tag,)) + compress(compression, body)


def decode_server_frame(frame: bytes | str) -> v1.ServerMessage:
    """A server frame: a text frame is JSON; a binary one has the compression envelope."""
    if isinstance(frame, str):
        return decode_server_message(frame)
    if not frame:
        raise ProtocolError("empty v1 server frame")
    return decode_server_message(decompress(frame[0], frame[1:]))


def query_update_of(update: v1.QueryUpdate | v1.CompressedQueryUpdate) -> v1.QueryUpdate:
    """The :class:`~.messages.QueryUpdate` of a table update entry (decompressed if needed)."""
    if isinstance(update, v1.QueryUpdate):
        return update
    body = decompress(update.compression.tag, update.data)
    try:
        value, _ = bsatn.codec_for(BSATN_TYPES.query_update).read(body, 0)
    except (BsatnDecodeError, ValueError) as e:
        raise ProtocolError(f"invalid v1 compressed QueryUpdate: {e}") from None
    return v1.QueryUpdate(
        _rows_in(value["deletes"], BSATN_TYPES), _rows_in(value["inserts"], BSATN_TYPES)
    )
