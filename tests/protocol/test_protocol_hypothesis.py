"""Property tests: decoders never raise anything but ProtocolError; encode/decode round-trips."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_fixture_data import FRAME_LINES, FRAMES_DIR

from spacetimedb_sdk.errors import ProtocolError
from spacetimedb_sdk.protocol import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    Compression,
    decode_client_frame,
    decode_client_message,
    decode_server_frame,
    decode_server_message,
    encode_client_frame,
    encode_client_message,
    encode_server_frame,
    encode_server_message,
)
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats.values import ConnectionId, Err, Identity, Ok, TimeDuration, Timestamp

PROTOCOLS = st.sampled_from([SUBPROTOCOL_V2, SUBPROTOCOL_V3])
SERVER_FRAMES = [
    (FRAMES_DIR / x["file"]).read_bytes() for x in FRAME_LINES if x["direction"] == "server->client"
]
CLIENT_FRAMES = [
    (FRAMES_DIR / x["file"]).read_bytes() for x in FRAME_LINES if x["direction"] == "client->server"
]


def _decodes_or_protocol_error(fn: Any, *args: Any) -> None:
    with contextlib.suppress(ProtocolError):
        fn(*args)


# ---- fuzzing ---------------------------------------------------------------------------


@given(st.binary(max_size=300), PROTOCOLS)
def test_random_server_frames(frame: bytes, protocol: str) -> None:
    _decodes_or_protocol_error(decode_server_frame, frame, protocol)


@given(st.sampled_from([0, 1, 2]), st.binary(max_size=300), PROTOCOLS)
def test_random_bodies_behind_a_valid_tag(tag: int, body: bytes, protocol: str) -> None:
    _decodes_or_protocol_error(decode_server_frame, bytes([tag]) + body, protocol)


@given(st.integers(0, 7), st.binary(max_size=300))
def test_random_bodies_behind_each_message_tag(tag: int, body: bytes) -> None:
    _decodes_or_protocol_error(decode_server_message, bytes([tag]) + body)
    _decodes_or_protocol_error(decode_client_message, bytes([tag % 5]) + body)


@st.composite
def _mutated(draw: st.DrawFn, frames: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(frames)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(SERVER_FRAMES), PROTOCOLS)
def test_mutated_server_frames(frame: bytes, protocol: str) -> None:
    _decodes_or_protocol_error(decode_server_frame, frame, protocol)


@given(_mutated(CLIENT_FRAMES), PROTOCOLS)
def test_mutated_client_frames(frame: bytes, protocol: str) -> None:
    _decodes_or_protocol_error(decode_client_frame, frame, protocol)


# ---- message strategies ----------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=20)
blob = st.binary(max_size=40)


@st.composite
def row_lists(draw: st.DrawFn) -> m.BsatnRowList:
    kind = draw(st.sampled_from(["rows", "fixed", "offsets"]))
    if kind == "rows":  # the server's own packing rule
        return m.BsatnRowList.from_rows(draw(st.lists(blob, max_size=5)))
    if kind == "fixed":
        size = draw(st.integers(1, 0xFFFF))
        count = draw(st.integers(0, 3)) if size <= 64 else 0
        return m.BsatnRowList(
            m.FixedSize(size), draw(st.binary(min_size=size * count, max_size=size * count))
        )
    data = draw(blob)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=5)))
    offsets = (0, *cuts) if data or cuts else ()
    return m.BsatnRowList(m.RowOffsets(tuple(offsets)), data)


query_rows = st.builds(
    m.QueryRows, st.lists(st.builds(m.SingleTableRows, text, row_lists()), max_size=3)
)
table_update_rows = st.one_of(
    st.builds(m.PersistentTableRows, row_lists(), row_lists()),
    st.builds(m.EventTableRows, row_lists()),
)
transaction_updates = st.builds(
    m.TransactionUpdate,
    st.lists(
        st.builds(
            m.QuerySetUpdate,
            u32,
            st.lists(
                st.builds(m.TableUpdate, text, st.lists(table_update_rows, max_size=2)), max_size=2
            ),
        ),
        max_size=2,
    ),
)
timestamps = st.builds(Timestamp, i64)

server_messages: st.SearchStrategy[Any] = st.one_of(
    st.builds(
        m.InitialConnection,
        st.builds(Identity, st.integers(0, 2**256 - 1)),
        st.builds(ConnectionId, st.integers(0, 2**128 - 1)),
        text,
    ),
    st.builds(m.SubscribeApplied, u32, u32, query_rows),
    st.builds(m.UnsubscribeApplied, u32, u32, st.none() | query_rows),
    st.builds(m.SubscriptionError, st.none() | u32, u32, text),
    transaction_updates,
    st.builds(m.OneOffQueryResult, u32, st.builds(Ok, query_rows) | st.builds(Err, text)),
    st.builds(
        m.ReducerResult,
        u32,
        timestamps,
        st.one_of(
            st.builds(m.ReducerOk, blob, transaction_updates),
            st.just(m.ReducerOkEmpty()),
            st.builds(m.ReducerErr, blob),
            st.builds(m.ReducerInternalError, text),
        ),
    ),
    st.builds(
        m.ProcedureResult,
        st.builds(m.ProcedureReturned, blob) | st.builds(m.ProcedureInternalError, text),
        timestamps,
        st.builds(TimeDuration, i64),
        u32,
    ),
)

client_messages: st.SearchStrategy[Any] = st.one_of(
    st.builds(m.Subscribe, u32, u32, st.lists(text, max_size=3)),
    st.builds(m.Unsubscribe, u32, u32, st.sampled_from(m.UnsubscribeFlags)),
    st.builds(m.OneOffQuery, u32, text),
    st.builds(m.CallReducer, u32, st.just(0), text, blob),
    st.builds(m.CallProcedure, u32, st.just(0), text, blob),
)


# ---- round trips -----------------------------------------------------------------------


@given(server_messages)
def test_server_message_round_trip(msg: Any) -> None:
    data = encode_server_message(msg)
    assert decode_server_message(data) == (msg, len(data))
    assert decode_server_message(b"pad" + data, 3) == (msg, len(data) + 3)


@given(client_messages)
def test_client_message_round_trip(msg: Any) -> None:
    data = encode_client_message(msg)
    assert decode_client_message(data) == (msg, len(data))


@given(
    st.lists(server_messages, min_size=1, max_size=4),
    st.sampled_from(Compression),
    st.integers(0, 2000),
)
def test_server_frame_round_trip(msgs: list[Any], comp: Compression, threshold: int) -> None:
    frame = encode_server_frame(msgs, SUBPROTOCOL_V3, comp, threshold=threshold)
    assert decode_server_frame(frame, SUBPROTOCOL_V3) == msgs
    single = encode_server_frame(msgs[:1], SUBPROTOCOL_V2, comp, threshold=threshold)
    assert decode_server_frame(single, SUBPROTOCOL_V2) == msgs[:1]


@given(st.lists(client_messages, min_size=1, max_size=4))
def test_client_frame_round_trip(msgs: list[Any]) -> None:
    assert decode_client_frame(encode_client_frame(msgs, SUBPROTOCOL_V3), SUBPROTOCOL_V3) == msgs
    v2 = encode_client_frame(msgs[:1], SUBPROTOCOL_V2)
    assert decode_client_frame(v2, SUBPROTOCOL_V2) == msgs[:1]


@given(server_messages)
def test_row_lists_split_back_into_their_bytes(msg: Any) -> None:
    # rows() of a decoded list always covers rows_data exactly, in order.
    decoded, _ = decode_server_message(encode_server_message(msg))
    from protocol_fixture_data import message_row_lists

    for rl in message_row_lists(decoded):
        assert b"".join(rl.rows()) == rl.rows_data
        assert len(rl.rows()) == len(rl)


@given(st.lists(st.binary(max_size=6), max_size=8))
def test_packed_rows_split_back_into_the_same_rows(rows: list[bytes]) -> None:
    # Rows of equal length pack as FixedSize, except empty rows (a row holding only a unit
    # struct is zero bytes): their count cannot be told from a size of 0, so, as upstream's
    # BsatnRowListBuilder, they are packed with offsets.
    packed = m.BsatnRowList.from_rows(rows)
    assert packed.rows() == rows and len(packed) == len(rows)
    if rows and not rows[0]:
        assert isinstance(packed.size_hint, m.RowOffsets)
