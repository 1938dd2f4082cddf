"""Garbage from one client closes its connection with 1011, and only its connection (issue 12).

Seeded random frames whose first undecodable byte is known (a message tag no ClientMessage
has), after zero or more valid messages: the server runs the valid head, closes with 1011 and
the decoder's error, and a bystander's calls go on being answered after each one.  The decoder
itself is fuzzed without sockets in ``tests/fuzz/test_fuzz_server_messages.py``.
"""

from __future__ import annotations

import random

import pytest
from server_test_support import WsClient

from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.codec import encode_client_message
from spacetimedb_sdk.protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3
from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ReducerContext, column
from spacetimedb_sdk.server.local import LocalServer

live = Module("garbage")


@live.table(public=True)
class Hit:
    id: U32 = column(primary_key=True, auto_inc=True)


@live.reducer
def record_hit(ctx: ReducerContext) -> None:
    ctx.db.hit.insert(Hit(0))  # type: ignore[call-arg]


def _garbage(rng: random.Random, valid_head: int) -> bytes:
    head = b"".join(
        encode_client_message(m.CallReducer(i, 0, "record_hit", b"")) for i in range(valid_head)
    )
    tail = bytes([rng.randint(5, 255)]) + rng.randbytes(rng.randint(0, 40))
    return head + tail


@pytest.mark.parametrize("protocol", [SUBPROTOCOL_V3, SUBPROTOCOL_V2])
async def test_garbage_frames_close_1011_while_another_client_is_served(protocol: str) -> None:
    rng = random.Random(protocol)
    async with LocalServer(live) as srv:
        bystander = await WsClient.connect(srv.ws_url)
        await bystander.initial()
        expected_hits = 0
        for i in range(8):
            client = await WsClient.connect(srv.ws_url, protocols=[protocol])
            await client.initial()
            head = i % 3 if protocol == SUBPROTOCOL_V3 else 0  # v2: one message a frame
            await client.send_raw(_garbage(rng, head))
            code, reason = await client.closed()
            assert code == 1011 and reason is not None and "tag" in reason, reason
            expected_hits += head  # the valid head ran, as upstream
            reply = await bystander.call(live, "record_hit")
            assert isinstance(reply.result, m.ReducerOk)
            expected_hits += 1
        await bystander.close()
        assert len(srv.db.rows("hit")) == expected_hits
