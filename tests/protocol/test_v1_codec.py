"""The v1 message codecs (BSATN and JSON), from upstream's ``websocket/v1.rs`` definitions.

Round trips for every message in both formats (hypothesis), hand-derived bytes for the layouts
that differ from v2 (IdentityToken's field order, deletes before inserts, flags), upstream's
JSON shapes (typed SATS-JSON: objects by field name, sums by variant name, rows and arguments as
JSON text inside strings), and malformed input as ProtocolError.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk.errors import ProtocolError
from spacetimedb_sdk.protocol.framing import Compression, compress
from spacetimedb_sdk.protocol.messages import BsatnRowList
from spacetimedb_sdk.protocol.v1 import (
    decode_client_message,
    decode_server_frame,
    decode_server_message,
    encode_client_message,
    encode_server_frame,
    encode_server_message,
    query_update_of,
)
from spacetimedb_sdk.protocol.v1 import messages as v1
from spacetimedb_sdk.protocol.v1.types import BSATN_TYPES
from spacetimedb_sdk.sats import bsatn
from spacetimedb_sdk.sats.values import ConnectionId, Identity, SumValue, TimeDuration, Timestamp

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
text = st.text(max_size=12)
identities = st.integers(0, 2**256 - 1).map(Identity)
connection_ids = st.integers(0, 2**128 - 1).map(ConnectionId)
timestamps = st.integers(-(2**63), 2**63 - 1).map(Timestamp)
durations = st.integers(-(2**63), 2**63 - 1).map(TimeDuration)


def formats(json_format: bool) -> dict[str, Any]:
    """Strategies for the format-dependent parts: rows and arguments."""
    if json_format:
        rows: st.SearchStrategy[Any] = st.lists(
            st.lists(st.integers(0, 9)).map(json.dumps), max_size=3
        )
        single: st.SearchStrategy[Any] = st.lists(text).map(json.dumps)
        updates = st.builds(v1.QueryUpdate, rows, rows)
    else:
        rows = st.lists(st.binary(min_size=1, max_size=6), max_size=4).map(BsatnRowList.from_rows)
        single = st.binary(max_size=16)
        updates = st.one_of(
            st.builds(v1.QueryUpdate, rows, rows),
            st.builds(
                v1.CompressedQueryUpdate,
                st.sampled_from([Compression.GZIP, Compression.BROTLI]),
                st.binary(max_size=8),
            ),
        )
    table = st.builds(v1.TableUpdate, u32, text, u64, st.lists(updates, max_size=2))
    db = st.builds(v1.DatabaseUpdate, st.lists(table, max_size=2))
    return {"rows": rows, "single": single, "table": table, "db": db}


def server_messages(json_format: bool) -> st.SearchStrategy[v1.ServerMessage]:
    f = formats(json_format)
    status = st.one_of(
        st.builds(v1.Committed, f["db"]), st.builds(v1.Failed, text), st.just(v1.OutOfEnergy())
    )
    call = st.builds(v1.ReducerCallInfo, text, u32, f["single"], u32)
    sub_rows = st.builds(v1.SubscribeRows, u32, text, f["table"])
    opt = st.none() | u32
    proc = st.one_of(
        st.builds(v1.ProcedureReturned, f["single"]),
        st.just(v1.ProcedureOutOfEnergy()),
        st.builds(v1.ProcedureInternalError, text),
    )
    return st.one_of(
        st.builds(v1.InitialSubscription, f["db"], u32, durations),
        st.builds(
            v1.TransactionUpdate,
            status,
            timestamps,
            identities,
            connection_ids,
            call,
            st.integers(0, 2**128 - 1),
            durations,
        ),
        st.builds(v1.TransactionUpdateLight, u32, f["db"]),
        st.builds(v1.IdentityToken, identities, text, connection_ids),
        st.builds(
            v1.OneOffQueryResponse,
            st.binary(max_size=8),
            st.none() | text,
            st.lists(st.builds(v1.OneOffTable, text, f["rows"]), max_size=2),
            durations,
        ),
        st.builds(v1.SubscribeApplied, u32, u64, u32, sub_rows),
        st.builds(v1.UnsubscribeApplied, u32, u64, u32, sub_rows),
        st.builds(v1.SubscriptionError, u64, opt, opt, opt, text),
        st.builds(v1.SubscribeMultiApplied, u32, u64, u32, f["db"]),
        st.builds(v1.UnsubscribeMultiApplied, u32, u64, u32, f["db"]),
        st.builds(v1.ProcedureResult, proc, timestamps, durations, u32),
    )


def client_messages(json_format: bool) -> st.SearchStrategy[v1.ClientMessage]:
    single = formats(json_format)["single"]
    queries = st.lists(text, max_size=3)
    return st.one_of(
        st.builds(v1.CallReducer, text, single, u32, st.sampled_from([0, 1])),
        st.builds(v1.Subscribe, queries, u32),
        st.builds(v1.OneOffQuery, st.binary(max_size=8), text),
        st.builds(v1.SubscribeSingle, text, u32, u32),
        st.builds(v1.SubscribeMulti, queries, u32, u32),
        st.builds(v1.Unsubscribe, u32, u32),
        st.builds(v1.UnsubscribeMulti, u32, u32),
        st.builds(v1.CallProcedure, text, single, u32, st.just(0)),
    )


@given(server_messages(False))
def test_server_messages_round_trip_bsatn(msg: v1.ServerMessage) -> None:
    data = encode_server_message(msg)
    assert isinstance(data, bytes)
    assert decode_server_message(data) == msg


@given(server_messages(True))
def test_server_messages_round_trip_json(msg: v1.ServerMessage) -> None:
    data = encode_server_message(msg, json=True)
    assert isinstance(data, str)
    assert decode_server_message(data) == msg
    # Typed SATS-JSON: one key, the variant name.
    assert list(json.loads(data)) == [type(msg).__name__]


@given(client_messages(False))
def test_client_messages_round_trip_bsatn(msg: v1.ClientMessage) -> None:
    assert decode_client_message(encode_client_message(msg)) == msg


@given(client_messages(True))
def test_client_messages_round_trip_json(msg: v1.ClientMessage) -> None:
    assert decode_client_message(encode_client_message(msg, json=True)) == msg


def test_bsatn_layouts() -> None:
    # IdentityToken is tag 3: identity, token, connection_id (v2's order differs).
    data = encode_server_message(v1.IdentityToken(Identity(1), "t", ConnectionId(2)))
    assert data == (
        b"\x03" + (1).to_bytes(32, "little") + b"\x01\x00\x00\x00t" + (2).to_bytes(16, "little")
    )
    # QueryUpdate: deletes first; the table update entry is CompressableQueryUpdate::Uncompressed.
    rows_a = BsatnRowList.from_rows([b"\xaa"])
    light = v1.TransactionUpdateLight(
        9,
        v1.DatabaseUpdate(
            [v1.TableUpdate(4096, "t", 1, [v1.QueryUpdate(rows_a, BsatnRowList.empty())])]
        ),
    )
    data = encode_server_message(light)
    assert isinstance(data, bytes)
    assert data[:5] == b"\x02\x09\x00\x00\x00"
    tail = data[5 + 4 + 4 + 4 + 1 + 8 + 4 :]
    assert tail[:1] == b"\x00"  # Uncompressed
    assert tail[1:4] == b"\x00\x01\x00"  # deletes: FixedSize(1)
    # CallReducer: reducer, args, request_id, flags (v2 puts request_id first).
    call = encode_client_message(v1.CallReducer("go", b"\x07", 5, 1))
    assert call == b"\x00\x02\x00\x00\x00go\x01\x00\x00\x00\x07\x05\x00\x00\x00\x01"


def test_json_shapes() -> None:
    msg = v1.SubscriptionError(0, 4, None, None, "nope")
    assert json.loads(encode_server_message(msg, json=True)) == {
        "SubscriptionError": {
            "total_host_execution_duration_micros": 0,
            "request_id": {"some": 4},
            "query_id": {"none": []},
            "table_id": {"none": []},
            "error": "nope",
        }
    }
    tx = v1.TransactionUpdate(
        v1.Failed("boom"),
        Timestamp(5),
        Identity(1),
        ConnectionId(2),
        v1.ReducerCallInfo("go", 0, '["a"]', 3),
        0,
        TimeDuration(7),
    )
    body = json.loads(encode_server_message(tx, json=True))["TransactionUpdate"]
    assert body["status"] == {"Failed": "boom"}
    assert body["timestamp"] == {"__timestamp_micros_since_unix_epoch__": 5}
    assert body["reducer_call"]["args"] == '["a"]'
    assert body["energy_quanta_used"] == {"quanta": 0}
    # Clients may send products as objects or arrays, sums by name (serde's lenient reading).
    assert decode_client_message('{"Unsubscribe": [1, {"id": 2}]}') == v1.Unsubscribe(1, 2)
    assert decode_client_message('{"OneOffQuery": {"message_id": "ab", "query_string": "q"}}') == (
        v1.OneOffQuery(b"\xab", "q")
    )


def test_compression_envelope_and_compressed_query_updates() -> None:
    rows = BsatnRowList.from_rows([b"x" * 40] * 40)
    msg = v1.TransactionUpdateLight(
        1, v1.DatabaseUpdate([v1.TableUpdate(1, "t", 40, [v1.QueryUpdate(rows, rows)])])
    )
    frame = encode_server_frame(msg, Compression.GZIP)
    assert frame[0] == 2 and len(frame) < 400
    assert decode_server_frame(frame) == msg
    assert encode_server_frame(msg, Compression.NONE)[0] == 0
    # A compressed QueryUpdate (upstream may send one) decodes to the same rows.
    raw = bsatn.codec_for(BSATN_TYPES.query_update).encode(
        {
            "deletes": {"size_hint": SumValue("RowOffsets", []), "rows_data": b""},
            "inserts": {"size_hint": SumValue("FixedSize", 1), "rows_data": b"ab"},
        }
    )
    packed = v1.CompressedQueryUpdate(Compression.GZIP, compress(Compression.GZIP, raw))
    assert query_update_of(packed).inserts == BsatnRowList.from_rows([b"a", b"b"])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x09",  # no such ClientMessage tag
        b"\x00\x02\x00\x00\x00go",  # truncated CallReducer
        b"\x00\x02\x00\x00\x00go\x00\x00\x00\x00\x01\x00\x00\x00\x07",  # flag 7
        "not json",
        '{"Nope": {}}',
        '{"CallReducer": {"reducer": "x"}}',
        '{"CallReducer": {"reducer": "x", "args": 5, "request_id": 1, "flags": 0}}',
    ],
)
def test_malformed_client_messages(data: bytes | str) -> None:
    with pytest.raises(ProtocolError):
        decode_client_message(data)


def test_wrong_format_payloads_are_refused_when_encoding() -> None:
    with pytest.raises(ValueError, match="BSATN bytes"):
        encode_client_message(v1.CallReducer("x", "[]", 1))
    with pytest.raises(ValueError, match="JSON text"):
        encode_client_message(v1.CallReducer("x", b"", 1), json=True)
