"""A test-only v1 WebSocket client (``v1.json.spacetimedb`` or ``v1.bsatn.spacetimedb``).

For ``v1.json`` the client writes each message as upstream's serde derives it from
``websocket/v1.rs`` (written out by hand here, not with the server's codec): typed SATS-JSON,
an object keyed by the variant name, fields by name, ``QuerySetId`` as ``{"id": n}``, byte
arrays as hex, reducer arguments as a JSON *string*.  What it receives is kept raw (``raw``) for
shape checks and decoded for the flow.  For ``v1.bsatn`` it uses the protocol codec (whose bytes
``tests/protocol/test_v1_codec.py`` checks, and which the official TypeScript 1.x client speaks
against the server in ``tests/conformance``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from server_test_support import TIMEOUT
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from spacetimedb_sdk.protocol.v1 import (
    SUBPROTOCOL_V1_BSATN,
    SUBPROTOCOL_V1_JSON,
    decode_server_frame,
    encode_client_message,
)
from spacetimedb_sdk.protocol.v1 import messages as v1
from spacetimedb_sdk.sats.values import Identity


def upstream_json(msg: v1.ClientMessage) -> dict[str, Any]:
    """A client message as upstream's serde writes it (typed SATS-JSON)."""
    name = type(msg).__name__
    if isinstance(msg, v1.CallReducer):
        body: dict[str, Any] = {
            "reducer": msg.reducer,
            "args": msg.args,
            "request_id": msg.request_id,
            "flags": int(msg.flags),
        }
    elif isinstance(msg, v1.CallProcedure):
        body = {
            "procedure": msg.procedure,
            "args": msg.args,
            "request_id": msg.request_id,
            "flags": 0,
        }
    elif isinstance(msg, v1.Subscribe):
        body = {"query_strings": msg.query_strings, "request_id": msg.request_id}
    elif isinstance(msg, v1.OneOffQuery):
        body = {"message_id": msg.message_id.hex(), "query_string": msg.query_string}
    elif isinstance(msg, v1.SubscribeSingle):
        body = {"query": msg.query, "request_id": msg.request_id, "query_id": {"id": msg.query_id}}
    elif isinstance(msg, v1.SubscribeMulti):
        body = {
            "query_strings": msg.query_strings,
            "request_id": msg.request_id,
            "query_id": {"id": msg.query_id},
        }
    else:
        body = {"request_id": msg.request_id, "query_id": {"id": msg.query_id}}
    return {name: body}


class V1Client:
    """One v1 connection: ``send`` v1 messages, ``recv`` the server's (decoded)."""

    def __init__(self, ws: ClientConnection, json_format: bool) -> None:
        self.ws = ws
        self.json = json_format
        self.raw: list[Any] = []  # every JSON message received, as parsed JSON
        self.identity: Identity | None = None  # from IdentityToken, once read
        self.frames: list[bytes | str] = []

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        json_format: bool,
        token: str | None = None,
        query: dict[str, str] | None = None,
        protocols: list[str] | None = None,
    ) -> V1Client:
        params = {"compression": "None", **(query or {})}
        qs = "&".join(f"{k}={v}" for k, v in params.items())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        offered = protocols or [SUBPROTOCOL_V1_JSON if json_format else SUBPROTOCOL_V1_BSATN]
        ws = await asyncio.wait_for(
            connect(
                f"{url}?{qs}",
                subprotocols=offered,  # type: ignore[arg-type]
                additional_headers=headers,
                max_size=None,
                open_timeout=TIMEOUT,
                compression=None,
            ),
            TIMEOUT,
        )
        return cls(ws, ws.subprotocol == SUBPROTOCOL_V1_JSON)

    async def send(self, msg: v1.ClientMessage) -> None:
        if self.json:
            await self.ws.send(json.dumps(upstream_json(msg)))
        else:
            data = encode_client_message(msg)
            assert isinstance(data, bytes)
            await self.ws.send(data)

    async def recv(self) -> v1.ServerMessage:
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        self.frames.append(frame)
        if self.json:
            assert isinstance(frame, str), f"v1.json sends text frames, got {frame!r:.80}"
            self.raw.append(json.loads(frame))
        else:
            assert isinstance(frame, bytes), f"v1.bsatn sends binary frames, got {frame!r:.80}"
        return decode_server_frame(frame)

    async def recv_type(self, kind: type[Any]) -> Any:
        msg = await self.recv()
        assert isinstance(msg, kind), f"expected {kind.__name__}, got {msg!r:.300}"
        return msg

    def args(self, bsatn_args: bytes, json_args: list[Any]) -> v1.Args:
        """Reducer arguments in this client's format."""
        return json.dumps(json_args) if self.json else bsatn_args

    def rows(self, rows: v1.RowList) -> list[Any]:
        """Rows as comparable values: JSON rows parsed, BSATN rows as bytes."""
        if self.json:
            assert isinstance(rows, list)
            return [json.loads(r) for r in rows]
        assert not isinstance(rows, list)
        return rows.rows()

    async def closed(self) -> tuple[int | None, str | None]:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        except ConnectionClosed as e:
            if e.rcvd is None:
                return None, None
            return e.rcvd.code, e.rcvd.reason

    async def close(self) -> None:
        await self.ws.close()
