#!/usr/bin/env python3
"""A relay in front of the chat server that can hold a subscriber's transactions back and
release them at once (``tx_stream.py``'s burst case; not a benchmark itself).

Run as a child by ``tx_stream.py``: ``_burst_proxy.py --upstream http://127.0.0.1:PORT``.
It listens on a port of its own and relays everything between a client and the server: plain
HTTP requests (the schema our SDK fetches) are forwarded, and each WebSocket is joined to one
of its own to the server, opened with the client's path, query and subprotocols (so the
server chooses the subprotocol and compression, as if the client had come straight to it).
Frames pass unchanged, byte for byte.

Paced by the server, a subscriber spends most of a transaction stream waiting (see
``tx_stream.py``); held and released at once, the same frames arrive faster than a client
reads them, and the time to the last callback is the client's own.

JSON lines:

- stdout ``{"event": "ready", "url": ...}`` once listening;
- stdin ``{"cmd": "hold", "count": N}``: from now on, the newest client's frames from the
  server are held until they carry ``N`` inserted rows; answers ``{"event": "holding"}`` at
  once, then ``{"event": "released", "t0_ns": ..., "frames": F, "bytes": B}`` right after
  writing all ``F`` frames to the client in one socket write (``t0_ns`` is
  ``time.monotonic_ns()`` just before that write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from _clients import inserted_rows
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from spacetimedb_sdk.protocol import decode_server_frame

TIMEOUT = 60.0


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def ws_frame(payload: bytes) -> bytes:
    """One final, unmasked binary frame (RFC 6455 5.2): what a server writes."""
    n = len(payload)
    if n < 126:
        head = bytes((0x82, n))
    elif n < 1 << 16:
        head = bytes((0x82, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x82, 127)) + n.to_bytes(8, "big")
    return head + payload


@dataclass
class Hold:
    """Frames held back until they carry ``count`` inserted rows."""

    count: int
    rows: int = 0
    frames: list[bytes] = field(default_factory=list)


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.ws_upstream = "ws" + self.upstream[len("http") :]
        self.opened: dict[int, ClientConnection] = {}  # by id(request), till the handler
        self.newest: ServerConnection | None = None
        self.hold: Hold | None = None

    # ---- the handshake -------------------------------------------------------------------

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await asyncio.to_thread(self.forward_http, request)
        offered = [
            p.strip()
            for line in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in line.split(",")
            if p.strip()
        ]
        extra = {k: v for k, v in request.headers.raw_items() if k.lower() == "authorization"}
        up = await connect(
            self.ws_upstream + request.path,
            subprotocols=offered or None,  # type: ignore[arg-type]
            additional_headers=extra,
            compression=None,
            max_size=None,
            ping_interval=None,
            open_timeout=TIMEOUT,
        )
        self.opened[id(request)] = up
        return None

    def select_subprotocol(self, conn: ServerConnection, offered: Any) -> Any:
        up = self.opened.get(id(conn.request))
        return None if up is None else up.subprotocol

    def forward_http(self, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.raw_items() if k.lower() == "authorization"}
        req = urllib.request.Request(self.upstream + request.path, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                status, reason, body = resp.status, resp.reason, resp.read()
                ctype = resp.headers.get("Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as e:
            status, reason, body = e.code, e.reason, e.read()
            ctype = e.headers.get("Content-Type", "text/plain")
        out = Headers()
        out["Content-Type"] = ctype
        out["Content-Length"] = str(len(body))
        out["Connection"] = "close"
        return Response(status, str(reason), out, body)

    # ---- relaying ------------------------------------------------------------------------

    async def handler(self, client: ServerConnection) -> None:
        assert client.request is not None
        up = self.opened.pop(id(client.request))
        self.newest = client
        protocol = up.subprotocol or ""

        async def to_server() -> None:
            async for msg in client:
                await up.send(msg)

        async def to_client() -> None:
            async for msg in up:
                assert isinstance(msg, bytes)
                hold = self.hold
                if hold is None or client is not self.newest:
                    await client.send(msg)
                    continue
                hold.frames.append(msg)
                hold.rows += inserted_rows(decode_server_frame(msg, protocol))
                if hold.rows >= hold.count:
                    self.release(client, hold)

        tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await up.close()

    def release(self, client: ServerConnection, hold: Hold) -> None:
        self.hold = None
        blob = b"".join(ws_frame(f) for f in hold.frames)
        t0 = time.monotonic_ns()
        client.transport.write(blob)  # one write: every frame is in the socket at once
        emit({"event": "released", "t0_ns": t0, "frames": len(hold.frames), "bytes": len(blob)})

    async def commands(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            if not line.strip():
                continue
            cmd = json.loads(line)
            if cmd["cmd"] == "hold":
                self.hold = Hold(int(cmd["count"]))
                emit({"event": "holding"})
            else:
                emit({"event": "error", "error": f"unknown cmd {cmd['cmd']!r}"})


async def amain(upstream: str) -> None:
    proxy = Proxy(upstream)
    async with serve(
        proxy.handler,
        "127.0.0.1",
        0,
        process_request=proxy.process_request,
        select_subprotocol=proxy.select_subprotocol,
        compression=None,
        max_size=None,
        ping_interval=None,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        emit({"event": "ready", "url": f"http://127.0.0.1:{port}"})
        await proxy.commands()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--upstream", required=True, help="the chat server's http:// URL")
    args = parser.parse_args(argv)
    asyncio.run(amain(args.upstream))
    return 0


if __name__ == "__main__":
    sys.exit(main())
