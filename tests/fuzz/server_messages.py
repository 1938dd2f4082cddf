"""What the server's client-message decoder is fuzzed with, and what it may raise (issue 12).

The targets are what the local server's WebSocket sessions run on a client's frame before
anything reaches the database (``server/app/websocket_session.py``, ``websocket_v1.py``):

* v2: ``decode_client_frame(data, "v2.bsatn.spacetimedb")``;
* v3: ``decode_client_message`` from offset 0 until the frame is used up, as the session
  decodes a v3 frame message by message (and ``decode_client_frame`` for v3 as well);
* v1: ``protocol.v1.decode_client_message`` of a binary frame (BSATN) and of a text frame
  (JSON; a text frame is valid UTF-8, which the WebSocket layer checks first).

The documented errors are :class:`ProtocolError` and :class:`BsatnDecodeError` (and their
subclasses): the session turns them into a close with 1011.  :func:`run_targets` raises the
first exception of any other type.

Seeds: the client frames the official TypeScript implementation encoded
(``tests/fixtures/protocol``), plus one message of every v2 and v1 kind encoded by our codec
(v1 in both formats).  Used by ``test_fuzz_server_messages.py`` (hypothesis, in ``make test``
and, longer, in ``make stress``) and ``atheris_server_messages.py`` (coverage-guided, in
``make stress``).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from spacetimedb_sdk.errors import BsatnDecodeError, ProtocolError
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.codec import decode_client_message, encode_client_message
from spacetimedb_sdk.protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3, decode_client_frame
from spacetimedb_sdk.protocol.v1 import decode_client_message as decode_v1
from spacetimedb_sdk.protocol.v1 import encode_client_message as encode_v1
from spacetimedb_sdk.protocol.v1 import messages as v1

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"
DOCUMENTED = (ProtocolError, BsatnDecodeError)

_V2_MESSAGES: list[m.ClientMessage] = [
    m.Subscribe(1, 7, ["SELECT * FROM user", "SELECT * FROM message WHERE text = 'héllo'"]),
    m.Unsubscribe(2, 7, m.UnsubscribeFlags.SEND_DROPPED_ROWS),
    m.OneOffQuery(3, "SELECT * FROM user"),
    m.CallReducer(4, 0, "set_name", b"\x05\x00\x00\x00Alice"),
    m.CallProcedure(5, 0, "return_primitive", b""),
]
_V1_MESSAGES: list[v1.ClientMessage] = [
    v1.CallReducer("set_name", b"\x05\x00\x00\x00Alice", 1, 0),
    v1.Subscribe(["SELECT * FROM user"], 2),
    v1.OneOffQuery(b"\x01\x02", "SELECT * FROM user"),
    v1.SubscribeSingle("SELECT * FROM user", 3, 4),
    v1.SubscribeMulti(["SELECT * FROM user", "SELECT * FROM message"], 5, 6),
    v1.Unsubscribe(7, 4),
    v1.UnsubscribeMulti(8, 6),
    v1.CallProcedure("return_primitive", b"", 9, 0),
]
_V1_JSON_MESSAGES: list[v1.ClientMessage] = [
    v1.CallReducer("set_name", '["Alice"]', 1, 0),
    v1.CallProcedure("return_primitive", "[]", 9, 0),
    *(msg for msg in _V1_MESSAGES if not isinstance(msg, (v1.CallReducer, v1.CallProcedure))),
]


def _recorded() -> list[bytes]:
    frames = [(FIXTURES / "frames" / "v3_client_2_messages.bin").read_bytes()[1:]]
    for line in (FIXTURES / "v2_client_messages.jsonl").read_text().splitlines():
        frames.append(bytes.fromhex(json.loads(line)["hex"]))
    return frames


def _ours() -> list[bytes]:
    out = [encode_client_message(msg) for msg in _V2_MESSAGES]
    out.append(b"".join(out))  # a v3 frame of every kind
    for msg in _V1_MESSAGES:
        data = encode_v1(msg)
        assert isinstance(data, bytes)
        out.append(data)
    return out


#: Binary seeds (v2/v3 frames and v1 BSATN frames).
SEEDS: list[bytes] = _recorded() + _ours()
#: Text seeds: v1 JSON frames.
TEXT_SEEDS: list[str] = [str(encode_v1(msg, json=True)) for msg in _V1_JSON_MESSAGES]


def run_targets(data: bytes) -> None:
    """Feed ``data`` to every target; documented errors are swallowed, others propagate."""
    for protocol in (SUBPROTOCOL_V2, SUBPROTOCOL_V3):
        with contextlib.suppress(DOCUMENTED):
            decode_client_frame(data, protocol)
    with contextlib.suppress(DOCUMENTED):
        pos = 0
        while pos < len(data):  # the v3 session's loop
            _, end = decode_client_message(data, pos)
            assert end > pos, "the decoder must make progress"
            pos = end
    with contextlib.suppress(DOCUMENTED):
        decode_v1(data)
    run_text(data.decode("utf-8", errors="replace"))


def run_text(text: str) -> None:
    """A v1 text frame; documented errors are swallowed, others propagate."""
    with contextlib.suppress(DOCUMENTED):
        decode_v1(text)
