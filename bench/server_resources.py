#!/usr/bin/env python3
"""What the local server's memory and event loop do under the attacks of issue 12.

Each scenario gets a fresh server process (``bench/_resource_server.py``), so every RSS figure
starts from the same idle server.  While the scenario runs, the benchmark samples the server's
RSS (peak), and two probes measure how long others wait: ``GET /v1/ping`` (the event loop:
other routes, other databases) and a second WebSocket client's one-row one-off query on the
same database (it waits for the database thread, as on SpacetimeDB).

Scenarios:

* ``flood``: one v3 frame carrying ``--flood`` (50,000) OneOffQuery messages over a 100-row
  table; the server closes the client with 1013 ``too many requests`` (upstream's incoming
  limit, 16,384 messages), unless its database thread keeps up with the decoding (the
  scenario then reports that every query was answered);
* ``stalled``: a subscriber that stops reading while another client rewrites one 4.7 KB row
  ``--commits`` (20,000) times; the server drops the stalled client when its queue passes
  the outgoing limits (16,384 messages or 64 MiB) and frees it;
* ``cubic-sql``: an anonymous ``/sql`` three-way self-join over 100 rows, refused up front by
  the row-limit estimate; ``owner-cubic``: the owner's (who has no row limit) over 101 rows,
  stopped past ``sql_max_rows`` (1,000,000);
* ``spin``: a reducer that never returns, stopped by the time budget (``--reducer-timeout``,
  2 s here).

Reported per scenario: what the attacker got, how long it took, the server's RSS before, at its
peak and after (1 s after the attack ended; CPython keeps freed memory in its arenas, so
"after" can stay above "before" even when everything was released), and the longest wait of
each probe.

Run: ``make bench`` or ``.venv/bin/python bench/server_resources.py [--scenarios flood,spin]``.
Figures depend on the machine.  Point ``PYTHONPATH`` at another checkout's ``src`` to measure
that one (the scenarios use only the wire protocol and HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from _procs import ResourceServer, rss_mb
from _util import format_table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V3,
    decode_server_frame,
    encode_client_frame,
)

V3 = Subprotocol(SUBPROTOCOL_V3)
CUBIC = "SELECT a.* FROM item a JOIN item b ON a.tag = b.tag JOIN item c ON b.tag = c.tag"


@dataclass
class Probes:
    """Peak RSS and the longest waits of the two probes, sampled until stopped.

    The probes run on an event loop of their own, in a thread, so what the attacking client
    does in this process (encoding 50,000 messages...) does not hold them up.
    """

    srv: ResourceServer
    peak: float = 0.0
    ping_ms: float = 0.0
    query_ms: float = 0.0
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None

    async def _rss(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.srv.pid))
            await asyncio.sleep(0.02)

    async def _ping(self) -> None:
        async with httpx.AsyncClient(timeout=120) as http:
            while True:
                start = time.perf_counter()
                await http.get(f"{self.srv.url}/v1/ping")
                self.ping_ms = max(self.ping_ms, (time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.02)

    async def _query(self) -> None:
        query = "SELECT * FROM item WHERE id = 1"
        async with connect(self.srv.ws_url, subprotocols=[V3], max_size=None) as ws:
            await ws.recv()  # InitialConnection
            request_id = 0
            while True:
                request_id += 1
                start = time.perf_counter()
                await ws.send(
                    encode_client_frame([m.OneOffQuery(request_id, query)], SUBPROTOCOL_V3)
                )
                while not any(isinstance(x, m.OneOffQueryResult) for x in await _recv(ws)):
                    pass
                self.query_ms = max(self.query_ms, (time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.02)

    async def _probe(self, started: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(c()) for c in (self._rss, self._ping, self._query)]
        await asyncio.sleep(0.5)  # connected and warm: their first waits
        self.ping_ms = self.query_ms = 0.0  # (connecting, first requests) do not count
        started.set()
        await self._stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def start(self) -> None:
        self.peak = rss_mb(self.srv.pid)
        started = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._probe(started),))
        self._thread.start()
        await asyncio.to_thread(started.wait)

    async def stop(self) -> None:
        assert self._loop is not None and self._stop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join)


async def _recv(ws: ClientConnection) -> list[m.ServerMessage]:
    frame = await ws.recv()
    assert isinstance(frame, bytes)
    return decode_server_frame(frame, SUBPROTOCOL_V3)


@contextlib.asynccontextmanager
async def client(srv: ResourceServer, **kw: object) -> AsyncIterator[ClientConnection]:
    async with connect(srv.ws_url, subprotocols=[V3], max_size=None, **kw) as ws:  # type: ignore[arg-type]
        await ws.recv()  # InitialConnection
        yield ws


async def call(ws: ClientConnection, request_id: int, reducer: str, args: bytes) -> None:
    await ws.send(
        encode_client_frame([m.CallReducer(request_id, 0, reducer, args)], SUBPROTOCOL_V3)
    )


def u32s(*values: int) -> bytes:
    return b"".join(v.to_bytes(4, "little") for v in values)


async def until_reply(ws: ClientConnection, request_id: int) -> None:
    while True:
        for msg in await _recv(ws):
            if isinstance(msg, m.ReducerResult) and msg.request_id == request_id:
                return


async def closed(ws: ClientConnection) -> str:
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as e:
        return _close_outcome(e)


def _close_outcome(e: ConnectionClosed) -> str:
    rcvd = e.rcvd
    return f"close {rcvd.code} {rcvd.reason!r}" if rcvd is not None else "dropped (no close frame)"


async def prepare(srv: ResourceServer, rows: int, size: int) -> None:
    async with client(srv) as ws:
        await call(ws, 1, "fill", u32s(rows, size))
        await until_reply(ws, 1)


# ---- the scenarios: each returns what the attacker got ---------------------------------------------


async def flood(srv: ResourceServer, args: argparse.Namespace) -> str:
    frame = encode_client_frame(
        [m.OneOffQuery(i, "SELECT * FROM item") for i in range(args.flood)], SUBPROTOCOL_V3
    )
    async with client(srv) as ws:
        await ws.send(frame)
        return await closed_or_answered(ws, args.flood)


async def closed_or_answered(ws: ClientConnection, queries: int) -> str:
    """What the server did with the flood: closed the socket, or answered every query (the
    database thread kept up, so the incoming queue never reached its limit)."""
    answered = 0
    try:
        while answered < queries:
            answered += sum(isinstance(x, m.OneOffQueryResult) for x in await _recv(ws))
    except ConnectionClosed as e:
        return _close_outcome(e)
    return f"answered all {queries} queries (no close)"


async def stalled(srv: ResourceServer, args: argparse.Namespace) -> str:
    reader = await connect(srv.ws_url, subprotocols=[V3], max_size=None, max_queue=1)
    await reader.recv()
    await reader.send(
        encode_client_frame([m.Subscribe(1, 1, ["SELECT * FROM item"])], SUBPROTOCOL_V3)
    )
    # From here on `reader` reads nothing: its library buffers one frame, then the kernel.
    async with client(srv) as writer:
        window, sent, done = 64, 0, 0
        while done < args.commits:
            while sent < args.commits and sent - done < window:
                sent += 1
                await call(writer, sent, "rewrite", u32s(1, 4700))
            frame = await writer.recv()
            assert isinstance(frame, bytes)
            done += sum(
                isinstance(x, m.ReducerResult) for x in decode_server_frame(frame, SUBPROTOCOL_V3)
            )
    outcome = await asyncio.wait_for(closed(reader), 60)
    await reader.close()
    return outcome


async def cubic_sql(srv: ResourceServer, args: argparse.Namespace, owner: bool = False) -> str:
    headers = {"Authorization": f"Bearer {srv.owner_token}"} if owner else {}
    async with httpx.AsyncClient(timeout=600) as http:
        r = await http.post(
            f"{srv.url}/v1/database/{srv.database}/sql", content=CUBIC, headers=headers
        )
    return (
        f"HTTP {r.status_code} {r.text[:60]!r}"
        if r.status_code != 200
        else f"HTTP 200, {len(r.content) / 1e6:.0f} MB"
    )


async def owner_cubic(srv: ResourceServer, args: argparse.Namespace) -> str:
    return await cubic_sql(srv, args, owner=True)


async def spin(srv: ResourceServer, args: argparse.Namespace) -> str:
    async with client(srv) as ws:
        await call(ws, 1, "spin", b"")
        while True:
            for msg in await _recv(ws):
                if isinstance(msg, m.ReducerResult):
                    return repr(msg.result)[:60]


Scenario = Callable[[ResourceServer, argparse.Namespace], Awaitable[str]]
SCENARIOS: dict[str, tuple[Scenario, int, list[str]]] = {
    # name: (run, rows of 100 bytes to prepare, server options)
    "flood": (flood, 100, []),
    "stalled": (stalled, 1, []),
    "cubic-sql": (cubic_sql, 100, []),
    "owner-cubic": (owner_cubic, 101, []),
    "spin": (spin, 1, ["--reducer-timeout", "2"]),
}


async def run(name: str, args: argparse.Namespace) -> list[str]:
    scenario, rows, options = SCENARIOS[name]
    limits = [arg for limit in args.limit for arg in ("--limit", limit)]
    async with ResourceServer([*options, *limits]) as srv:
        await prepare(srv, rows, 100)
        probes = Probes(srv)
        await probes.start()
        try:
            before = rss_mb(srv.pid)
            start = time.perf_counter()
            outcome = await asyncio.wait_for(scenario(srv, args), args.timeout)
            took = time.perf_counter() - start
            await asyncio.sleep(1.0)  # let the server finish with the attacker
        finally:
            await probes.stop()
        after = rss_mb(srv.pid)
    return [
        name,
        outcome,
        f"{took:.2f}",
        f"{before:.0f}",
        f"{probes.peak:.0f}",
        f"{after:.0f}",
        f"{probes.ping_ms:.0f}",
        f"{probes.query_ms:.0f}",
    ]


async def main_async(args: argparse.Namespace) -> None:
    rows = [await run(name, args) for name in args.scenarios]
    header = [
        "scenario",
        "attacker got",
        "s",
        "RSS MB before",
        "peak",
        "after",
        "ping max ms",
        "2nd client max ms",
    ]
    print(format_table(header, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), type=lambda s: s.split(","))
    parser.add_argument(
        "--flood", type=int, default=50_000, help="OneOffQuery messages in the frame"
    )
    parser.add_argument(
        "--commits", type=int, default=20_000, help="row rewrites while one client stalls"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per scenario")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=N",
        help="one of the server's limits (ServerLimits), for every scenario",
    )
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
