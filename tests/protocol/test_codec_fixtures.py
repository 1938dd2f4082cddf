"""Every v2 message and frame produced by the official TypeScript package decodes and re-encodes exactly."""

from __future__ import annotations

from typing import Any

import pytest
from protocol_fixture_data import (
    CLIENT_BY_NAME,
    CLIENT_LINES,
    FRAME_LINES,
    FRAMES_DIR,
    SERVER_BY_NAME,
    SERVER_LINES,
    client_message,
    json_row_lists,
    message_row_lists,
    server_message,
)

from spacetimedb_sdk.protocol import (
    Compression,
    decode_client_frame,
    decode_client_message,
    decode_server_frame,
    decode_server_message,
    decompress,
    encode_client_frame,
    encode_client_message,
    encode_server_frame,
    encode_server_message,
)
from spacetimedb_sdk.protocol import messages as m


def _ids(lines: list[dict[str, Any]]) -> list[str]:
    return [line["name"] for line in lines]


@pytest.mark.parametrize("line", CLIENT_LINES, ids=_ids(CLIENT_LINES))
def test_client_message_fixture(line: dict[str, Any]) -> None:
    data = bytes.fromhex(line["hex"])
    expected = client_message(line["message"])
    assert decode_client_message(data) == (expected, len(data))
    assert encode_client_message(expected).hex() == line["hex"]


@pytest.mark.parametrize("line", SERVER_LINES, ids=_ids(SERVER_LINES))
def test_server_message_fixture(line: dict[str, Any]) -> None:
    data = bytes.fromhex(line["hex"])
    expected = server_message(line["message"])
    decoded, end = decode_server_message(data)
    assert decoded == expected
    assert end == len(data)
    assert encode_server_message(expected).hex() == line["hex"]


@pytest.mark.parametrize("line", SERVER_LINES, ids=_ids(SERVER_LINES))
def test_server_message_rows_split_as_the_fixture_says(line: dict[str, Any]) -> None:
    decoded, _ = decode_server_message(bytes.fromhex(line["hex"]))
    expected = json_row_lists(line["message"])
    got = message_row_lists(decoded)
    assert len(got) == len(expected)
    for rl, exp in zip(got, expected, strict=True):
        assert [r.hex() for r in rl.rows()] == exp["rows"]
        assert len(rl) == len(exp["rows"])


def test_fixtures_cover_every_variant() -> None:
    client = {type(client_message(line["message"])) for line in CLIENT_LINES}
    server = {type(server_message(line["message"])) for line in SERVER_LINES}
    assert client == set(m.CLIENT_MESSAGE_TAGS)
    assert server == set(m.SERVER_MESSAGE_TAGS)


def test_one_off_query_err_uses_the_rust_layout() -> None:
    # README §2: the TS encoder writes Result err payloads with the ok serializer; the fixture
    # holds the correct layout (tag 1, then a BSATN String), which is what we must produce.
    line = SERVER_BY_NAME["OneOffQueryResult/err"]
    text = "SQL parse error: unexpected token"
    expected = bytes([5]) + (6).to_bytes(4, "little") + b"\x01"
    expected += len(text).to_bytes(4, "little") + text.encode()
    assert bytes.fromhex(line["hex"]) == expected
    assert encode_server_message(server_message(line["message"])) == expected


# ---- frames ----------------------------------------------------------------------------


def _frame_messages(line: dict[str, Any]) -> list[Any]:
    if line["direction"] == "client->server":
        return [client_message(CLIENT_BY_NAME[n]["message"]) for n in line["messages"]]
    return [server_message(SERVER_BY_NAME[n]["message"]) for n in line["messages"]]


@pytest.mark.parametrize("line", FRAME_LINES, ids=[x["file"] for x in FRAME_LINES])
def test_frame_fixture(line: dict[str, Any]) -> None:
    frame = (FRAMES_DIR / line["file"]).read_bytes()
    expected = _frame_messages(line)
    protocol = line["protocol"]
    if line["direction"] == "client->server":
        assert frame.hex() == line["payload_hex"]
        assert decode_client_frame(frame, protocol) == expected
        assert encode_client_frame(expected, protocol) == frame
        return
    assert decode_server_frame(frame, protocol) == expected
    comp = Compression.from_tag(line["compression_tag"])
    assert comp.query_value.lower() == line["compression"]
    assert frame[0] == comp.tag
    assert decompress(frame[0], frame[1:]).hex() == line["payload_hex"]
    if comp is Compression.NONE:
        assert encode_server_frame(expected, protocol, Compression.NONE) == frame
        # Asking for compression changes nothing below the threshold.
        assert (
            encode_server_frame(expected, protocol, Compression.GZIP, threshold=len(frame)) == frame
        )
    else:
        ours = encode_server_frame(expected, protocol, comp, threshold=0)
        assert ours[0] == comp.tag
        assert decompress(ours[0], ours[1:]).hex() == line["payload_hex"]
        assert decode_server_frame(ours, protocol) == expected
