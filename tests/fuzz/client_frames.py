"""What the client's frame decoder is fuzzed with, and what it may raise (issue 12).

Three targets, each fed arbitrary bytes: ``decompress`` (a compression tag and a body),
``decode_server_frame`` (v2 and v3 framing and every ServerMessage codec) and
``ClientCore.receive_frame`` (decoding plus the state machine and the cache, set up as if
the recorded frames' query sets, reducer and procedure calls were in flight, so mutated
recorded frames reach the row decoders).  :func:`run_targets` raises the first exception
that is not documented: anything but :class:`ProtocolError` / :class:`BsatnDecodeError`
(and their subclasses).

Seeds are the frames the official TypeScript implementation encoded
(``tests/fixtures/protocol/frames``).  Used by ``test_fuzz_client_frames.py`` (hypothesis,
in ``make test`` and, longer, in ``make stress``) and ``atheris_client_frames.py``
(coverage-guided, in ``make stress``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from spacetimedb_sdk.client import core as c
from spacetimedb_sdk.client.bindings import ModuleBindings
from spacetimedb_sdk.client.cache import ClientCache, TableCache
from spacetimedb_sdk.errors import BsatnDecodeError, ProtocolError
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_server_frame,
    decompress,
)
from spacetimedb_sdk.schema import ModuleSchema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FRAMES = FIXTURES / "protocol" / "frames"
#: Decompression bound for fuzzing: big enough for every seed, small enough to stay fast.
MAX_SIZE = 1 << 20
DOCUMENTED = (ProtocolError, BsatnDecodeError)
_RECORDED = [p.read_bytes() for p in sorted(FRAMES.glob("*.bin"))]
#: Every recorded frame (the client frame too: it is bytes like any other), plus each
#: compressed one re-framed uncompressed, so that mutations reach the message and row
#: decoders instead of stopping at a broken gzip or brotli stream.
SEEDS: list[bytes] = _RECORDED + [
    b"\x00" + decompress(f[0], f[1:], max_size=MAX_SIZE) for f in _RECORDED if f[0] in (1, 2)
]

_BINDINGS = ModuleBindings.from_schema(
    ModuleSchema.from_json((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())
)
_HELLO = (FRAMES / "v2_none_InitialConnection.bin").read_bytes()


def connected_core(protocol: str) -> c.ClientCore:
    """A quickstart-chat core after InitialConnection, with what the seeds answer in flight."""
    cache = ClientCache()
    for tb in _BINDINGS.tables.values():
        t: TableCache[Any] = TableCache(
            tb.name, tb.codec.decode, primary_key=tb.primary_key or None, indexes=tb.indexes
        )
        cache.add_table(t)
    core = c.ClientCore(cache, max_frame_size=MAX_SIZE)
    core.connection_opened(SUBPROTOCOL_V2)
    core.receive_frame(_HELLO)
    core.protocol = protocol
    core.subscriptions[1] = c._Subscription(1, ["q"], c.SubState.SENT)  # SubscribeApplied seeds
    core.subscriptions[7] = c._Subscription(7, ["q"], c.SubState.APPLIED)
    for rid in (0, 7, 8):  # the recorded ReducerResults answer these request ids
        core._next_request_id = rid
        core.call_reducer("set_name", b"")
    core._next_request_id = 10
    core.call_procedure("return_primitive", b"")
    core.data_to_send()
    return core


def run_targets(data: bytes) -> None:
    """Feed ``data`` to every target; documented errors are swallowed, others propagate."""
    if data:
        with contextlib.suppress(DOCUMENTED):
            decompress(data[0], data[1:], max_size=MAX_SIZE)
    for protocol in (SUBPROTOCOL_V2, SUBPROTOCOL_V3):
        with contextlib.suppress(DOCUMENTED):
            decode_server_frame(data, protocol, max_size=MAX_SIZE)
        core = connected_core(protocol)
        try:
            core.receive_frame(data)
        except DOCUMENTED:
            assert core.state is c.State.CLOSED, "a failed frame must close the core"
