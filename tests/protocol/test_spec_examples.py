"""The worked byte examples of protocol.md §4.3 and §4.5."""

from __future__ import annotations

import pytest

from spacetimedb_sdk.protocol import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_client_frame,
    decode_server_frame,
    encode_client_frame,
    encode_server_frame,
    encode_server_message,
)
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats.values import Timestamp

PERSON_ROW = bytes.fromhex("0100000000000000 03000000 426f62")

SUBSCRIBE_APPLIED_FRAME = bytes.fromhex(
    "00"  # compression: none
    "01"  # SubscribeApplied
    "01000000"  # request_id
    "07000000"  # query_set_id
    "01000000"  # one table
    "06000000 706572736f6e"  # "person"
    "00 0f00"  # FixedSize(15)
    "0f000000"  # rows_data length
    "0100000000000000 03000000 426f62"
)

TS = Timestamp(1_700_000_000_000_000)

SERVER_EXAMPLES = [
    pytest.param(
        SUBSCRIBE_APPLIED_FRAME,
        m.SubscribeApplied(
            1,
            7,
            m.QueryRows([m.SingleTableRows("person", m.BsatnRowList(m.FixedSize(15), PERSON_ROW))]),
        ),
        id="SubscribeApplied-person",
    ),
    pytest.param(
        bytes.fromhex("00 06 05000000 00401e18240a0600 00 00000000 00000000"),
        m.ReducerResult(5, TS, m.ReducerOk(b"", m.TransactionUpdate([]))),
        id="ReducerResult-Ok",
    ),
    pytest.param(
        bytes.fromhex("00 06 05000000 00401e18240a0600 02 08000000 04000000 626f6f6d"),
        m.ReducerResult(5, TS, m.ReducerErr(b"\x04\x00\x00\x00boom")),
        id="ReducerResult-Err",
    ),
]


@pytest.mark.parametrize(("frame", "message"), SERVER_EXAMPLES)
def test_server_frame_example(frame: bytes, message: m.ReducerResult) -> None:
    assert decode_server_frame(frame, SUBPROTOCOL_V2) == [message]
    assert encode_server_frame([message], SUBPROTOCOL_V2) == frame


def test_person_row_splits_out() -> None:
    (msg,) = decode_server_frame(SUBSCRIBE_APPLIED_FRAME, SUBPROTOCOL_V2)
    assert isinstance(msg, m.SubscribeApplied)
    assert msg.rows.tables[0].rows.rows() == [PERSON_ROW]


SELECT = "SELECT * FROM person"

CLIENT_EXAMPLES = [
    pytest.param(
        "00 01000000 07000000 01000000 14000000" + SELECT.encode().hex(),
        m.Subscribe(1, 7, [SELECT]),
        id="Subscribe",
    ),
    pytest.param(
        "03 2a000000 00 03000000 616464 07000000 03000000 426f62",
        m.CallReducer(42, 0, "add", b"\x03\x00\x00\x00Bob"),
        id="CallReducer",
    ),
    pytest.param(
        "01 02000000 07000000 01",
        m.Unsubscribe(2, 7, m.UnsubscribeFlags.SEND_DROPPED_ROWS),
        id="Unsubscribe",
    ),
    pytest.param(
        "02 03000000 14000000" + SELECT.encode().hex(),
        m.OneOffQuery(3, SELECT),
        id="OneOffQuery",
    ),
]


@pytest.mark.parametrize(("hex_", "message"), CLIENT_EXAMPLES)
def test_client_frame_example(hex_: str, message: object) -> None:
    frame = bytes.fromhex(hex_)
    assert encode_client_frame([message], SUBPROTOCOL_V2) == frame  # type: ignore[list-item]
    assert decode_client_frame(frame, SUBPROTOCOL_V2) == [message]


def test_empty_row_list_bytes() -> None:
    # §4.3: the empty list is RowOffsets([]) with empty data.
    msg = m.SubscribeApplied(0, 0, m.QueryRows([m.SingleTableRows("", m.BsatnRowList.empty())]))
    assert encode_server_message(msg).endswith(bytes.fromhex("01 00000000 00000000"))


def test_v3_batches_share_one_tag() -> None:
    a = m.ReducerResult(5, TS, m.ReducerOkEmpty())
    b = m.TransactionUpdate([])
    frame = encode_server_frame([a, b], SUBPROTOCOL_V3)
    assert frame == b"\x00" + encode_server_message(a) + encode_server_message(b)
    assert decode_server_frame(frame, SUBPROTOCOL_V3) == [a, b]
