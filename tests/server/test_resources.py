"""Bounded resources of the local server (issue 12): what one client may make it hold or do.

Each test plays one attack from the issue (a OneOffQuery flood, a reader that stops, a cubic
``/sql``, bad input on the HTTP routes, a reused connection id), asserts on the server's queue
counters (``srv.stats()``) and on the close code the client gets, and checks that a second
client is still served.  The memory and latency figures of the same scenarios are a benchmark
(``bench/server_resources.py``), not asserted here.

Where a test needs messages to pile up, it holds the database thread with a job of its own
(:func:`held`), so what is queued is known exactly, never raced against.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import AsyncIterator

import httpx
import pytest
from server_test_support import TIMEOUT, WsClient
from websockets.asyncio.client import connect

from spacetimedb_sdk import ConnectionId, Err, Ok
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3, encode_client_frame
from spacetimedb_sdk.sats import U32, U64
from spacetimedb_sdk.server import Module, ReducerContext, ServerLimits, column
from spacetimedb_sdk.server.limits import ConnectionStats
from spacetimedb_sdk.server.local import LocalServer

module = Module("resources")


@module.table(public=True)
class Item:
    id: U64 = column(primary_key=True, auto_inc=True)
    tag: U32 = column(index="btree")
    data: str


@module.table(public=True)
class Departure:
    id: U64 = column(primary_key=True, auto_inc=True)


@module.client_disconnected
def gone(ctx: ReducerContext) -> None:
    ctx.db.departure.insert(Departure(0))  # type: ignore[call-arg]


@module.reducer
def add(ctx: ReducerContext, tag: U32, size: U32) -> None:
    ctx.db.item.insert(Item(0, tag, "x" * size))  # type: ignore[call-arg]


def _add_args(tag: int, size: int) -> bytes:
    rd = module.reducer_def("add")
    assert rd is not None
    return module.args_codec(rd).encode({"tag": tag, "size": size})


def _fill(srv: LocalServer, rows: int, tag: int = 0) -> None:
    with srv.db.transaction() as tx:
        for _ in range(rows):
            tx.item.insert(Item(0, tag, "row"))  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def held(srv: LocalServer) -> AsyncIterator[None]:
    """Hold the database thread with a job of our own until the block ends."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(TIMEOUT * 3)

    srv.db.worker.post(hold)
    assert await asyncio.to_thread(started.wait, TIMEOUT)
    try:
        yield
    finally:
        release.set()


async def _read_by_server(c: WsClient) -> None:
    """Returns once the server has read every frame ``c`` sent before (its reader answers a
    ping after the frames ahead of it)."""
    pong = await c.ws.ping()
    await asyncio.wait_for(pong, TIMEOUT)


def _stats_of(srv: LocalServer, connection_id: ConnectionId) -> ConnectionStats | None:
    return next((c for c in srv.stats().connections if c.connection_id == connection_id), None)


async def _served(srv: LocalServer) -> None:
    """A second client connects, runs a one-off query and a reducer, and gets both answers."""
    other = await WsClient.connect(srv.ws_url)
    await other.initial()
    await other.send(m.OneOffQuery(1, "SELECT * FROM item WHERE id = 1"))
    result = await other.recv_type(m.OneOffQueryResult)
    assert result.request_id == 1 and isinstance(result.result, Ok)
    await other.send(m.CallReducer(2, 0, "add", _add_args(9, 1)))
    reply = await other.recv_type(m.ReducerResult)
    assert isinstance(reply.result, m.ReducerOk)
    await other.close()


# ---- incoming: upstream's 16,384-message queue and its 1013 -----------------------------------


@pytest.mark.parametrize("protocol", [SUBPROTOCOL_V3, SUBPROTOCOL_V2])
async def test_a_full_incoming_queue_closes_1013_and_drops_what_was_queued(protocol: str) -> None:
    limits = ServerLimits(incoming_queue_length=100)
    async with LocalServer(module, limits=limits) as srv:
        flooder = await WsClient.connect(srv.ws_url, protocols=[protocol])
        cid = (await flooder.initial()).connection_id
        async with held(srv):
            queries = [m.OneOffQuery(i, "SELECT * FROM item") for i in range(100)]
            for frame in [queries] if protocol == SUBPROTOCOL_V3 else [[q] for q in queries]:
                await flooder.send(*frame)
            await _read_by_server(flooder)
            stats = srv.stats()
            mine = _stats_of(srv, cid)
            assert mine is not None and mine.incoming_queued == 100
            assert stats.database_queue == 101  # our job + the client's 100 messages
            assert stats.incoming_queue_disconnects == 0
            # One more is one too many: closed at once, while the database is still busy.
            await flooder.send(m.OneOffQuery(100, "SELECT * FROM item"))
            assert await flooder.closed() == (1013, "too many requests")
            assert srv.stats().incoming_queue_disconnects == 1
        # What it had queued is dropped, not run: no answer reached it before the close.
        assert not any(isinstance(f, bytes) and len(f) > 1 for f in flooder.frames[1:])
        await _served(srv)


async def test_a_frame_of_50000_one_off_queries_is_cut_off_at_the_limit() -> None:
    async with LocalServer(module) as srv:  # the default limits: upstream's 16,384
        _fill(srv, 100)
        flooder = await WsClient.connect(srv.ws_url)
        cid = (await flooder.initial()).connection_id
        frame = encode_client_frame(
            [m.OneOffQuery(i, "SELECT * FROM item") for i in range(50_000)], SUBPROTOCOL_V3
        )
        async with held(srv):
            await flooder.send_raw(frame)
            assert await flooder.closed() == (1013, "too many requests")
            # Decoding stopped at the limit: 16,384 messages were queued, no more.
            mine = _stats_of(srv, cid)
            assert mine is not None and mine.incoming_queued == 16_384
        assert srv.stats().incoming_queue_disconnects == 1
        await _served(srv)


async def test_v1_clients_have_the_same_incoming_limit() -> None:
    async with LocalServer(module, limits=ServerLimits(incoming_queue_length=3)) as srv:
        ws = await connect(srv.ws_url, subprotocols=["v1.json.spacetimedb"])  # type: ignore[list-item]
        try:
            await asyncio.wait_for(ws.recv(), TIMEOUT)  # IdentityToken
            async with held(srv):
                query = (
                    '{"OneOffQuery": {"message_id": "01", "query_string": "SELECT * FROM item"}}'
                )
                for _ in range(4):
                    await ws.send(query)
                await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert ws.close_code == 1013 and ws.close_reason == "too many requests"
        finally:
            await ws.close()
        assert srv.stats().incoming_queue_disconnects == 1


# ---- outgoing: a reader that stops is dropped --------------------------------------------------


async def test_a_reader_that_stops_is_closed_and_its_queue_freed() -> None:
    limits = ServerLimits(outgoing_queue_length=20)
    srv = LocalServer(module, limits=limits)
    srv.settings.close_timeout = TIMEOUT  # the stalled client gets time to read its close
    async with srv:
        stalled = await WsClient.connect(srv.ws_url)
        cid = (await stalled.initial()).connection_id
        await stalled.subscribe(1, "SELECT * FROM item")
        # From here on the stalled client reads nothing: the kernel's buffers fill, then the
        # server's queue for it.  Another client commits 100 KB rows until the server gives up.
        writer = await WsClient.connect(srv.ws_url)
        await writer.initial()
        for request_id in range(1, 2001):
            await writer.send(m.CallReducer(request_id, 0, "add", _add_args(1, 100_000)))
            reply = await writer.recv_type(m.ReducerResult)  # the commit was fanned out
            assert isinstance(reply.result, m.ReducerOk)
            if srv.stats().outgoing_queue_disconnects:
                break
            mine = _stats_of(srv, cid)
            assert mine is not None and mine.outgoing_queued <= 20
        else:
            pytest.fail("the client that stopped reading was never dropped")
        # Its queue is freed at once (it may already be gone from the list).
        mine = _stats_of(srv, cid)
        assert mine is None or (mine.outgoing_queued, mine.outgoing_bytes) == (0, 0)
        # Reading again, it finds the close frame after what the socket still held.
        code, reason = await stalled.closed()
        assert code == 1013
        assert reason is not None and reason.startswith("too far behind: 21 messages")
        # The writer was served throughout, and still is.
        await _served(srv)


# ---- /sql: refused up front, bounded while it runs ----------------------------------------------

CUBIC = "SELECT a.* FROM item a JOIN item b ON a.tag = b.tag JOIN item c ON b.tag = c.tag"


async def test_a_cubic_sql_query_of_an_anonymous_caller_is_refused_up_front() -> None:
    async with LocalServer(module) as srv, httpx.AsyncClient(timeout=TIMEOUT) as http:
        _fill(srv, 100)
        url = f"{srv.url}/v1/database/{srv.database}/sql"
        r = await http.post(url, content=CUBIC)
        assert r.status_code == 400
        assert r.text == "Estimated cardinality (1010100 rows) exceeds limit (100000 rows)"
        assert srv.stats().sql_refused == 1
        # The same over the WebSocket, as a one-off query (two tables: the grammar's most).
        c = await WsClient.connect(srv.ws_url)
        await c.initial()
        _fill(srv, 300)  # 400 rows in one tag: 160,000 rows joined
        join = "SELECT a.* FROM item a JOIN item b ON a.tag = b.tag"
        await c.send(m.OneOffQuery(1, join))
        refused = await c.recv_type(m.OneOffQueryResult)
        assert isinstance(refused.result, Err)
        assert "exceeds limit (100000 rows)" in refused.result.error
        assert srv.stats().sql_refused == 2
        # The owner may set another row limit, which replaces the server's default.
        owner = {"Authorization": f"Bearer {srv.owner_token}"}
        assert (await http.post(url, content="SET row_limit = 10", headers=owner)).is_success
        r = await http.post(url, content="SELECT * FROM item WHERE tag = 0")
        assert r.text == "Estimated cardinality (400 rows) exceeds limit (10 rows)"
        await c.close()
        await _served(srv)


async def test_the_owners_sql_is_bounded_in_rows_and_bytes() -> None:
    limits = ServerLimits(sql_max_rows=5_000, sql_max_result_bytes=20_000)
    async with LocalServer(module, limits=limits) as srv, httpx.AsyncClient(timeout=TIMEOUT) as h:
        _fill(srv, 100)
        url = f"{srv.url}/v1/database/{srv.database}/sql"
        owner = {"Authorization": f"Bearer {srv.owner_token}"}
        r = await h.post(url, content=CUBIC, headers=owner)  # the owner has no row limit...
        assert r.status_code == 400  # ... but the join stops past sql_max_rows
        assert r.text == (
            "SQL query stopped: it produces more than 5000 rows, the server's limit "
            "(sql_max_rows); narrow it with a WHERE clause"
        )
        r = await h.post(url, content="SELECT * FROM item", headers=owner)
        assert r.status_code == 200  # 100 short rows: small enough
        srv.db.call_reducer("add", 1, 5_000)
        srv.db.call_reducer("add", 1, 5_000)
        r = await h.post(url, content="SELECT * FROM item WHERE tag = 1")
        assert r.status_code == 200  # 10 KB
        srv.db.call_reducer("add", 1, 5_000)
        srv.db.call_reducer("add", 1, 5_000)
        r = await h.post(url, content="SELECT * FROM item WHERE tag = 1")
        assert r.status_code == 400
        assert r.text == (
            "SQL result exceeds the server's limit of 20000 bytes of JSON "
            "(sql_max_result_bytes): select fewer rows or columns"
        )
        assert srv.stats().sql_refused == 2


# ---- the HTTP routes: bad input is a 4xx with a clear message ------------------------------------


async def test_deep_json_and_bad_tokens_are_client_errors() -> None:
    async with LocalServer(module) as srv, httpx.AsyncClient(timeout=TIMEOUT) as http:
        base = f"{srv.url}/v1/database/{srv.database}"
        json_headers = {"Content-Type": "application/json"}
        deep = "[" * 100_000 + "]" * 100_000
        r = await http.post(f"{base}/call/add", content=deep, headers=json_headers)
        assert (r.status_code, r.text) == (
            400,
            "invalid arguments for reducer add: invalid JSON: recursion limit exceeded",
        )
        deep_field = '{"tag": ' + "[" * 100_000 + "]" * 100_000 + ', "size": 1}'
        r = await http.post(f"{base}/call/add", content=deep_field, headers=json_headers)
        assert r.status_code == 400
        r = await http.post(f"{base}/mcp", content=deep, headers=json_headers)
        assert r.status_code == 400 and "recursion limit exceeded" in r.text
        # A bearer token that is not visible ASCII: upstream's typed header refuses it.
        for token in ("é".encode(), "tok\xffen".encode("latin-1"), b"a b"):
            r = await http.post(
                f"{base}/sql", content="SELECT 1", headers={"Authorization": b"Bearer " + token}
            )
            assert (r.status_code, r.text) == (400, "Authorization is invalid: malformed token")
        # A token whose header is JSON nested past the parser's depth: refused, not a crash.
        header = base64.urlsafe_b64encode(("[" * 2_000 + "]" * 2_000).encode()).rstrip(b"=")
        r = await http.post(
            f"{base}/sql",
            content="SELECT 1",
            headers={"Authorization": f"Bearer {header.decode()}.e30.x"},
        )
        assert r.status_code == 401
        await _served(srv)


# ---- connection ids -------------------------------------------------------------------------------


async def test_a_live_connections_id_cannot_be_reused() -> None:
    async with LocalServer(module) as srv:
        watcher = await WsClient.connect(srv.ws_url)
        await watcher.initial()
        await watcher.subscribe(1, "SELECT * FROM departure")
        wanted = {"connection_id": ConnectionId(0xC0FFEE).to_hex()}
        first = await WsClient.connect(srv.ws_url, query=wanted)
        assert (await first.initial()).connection_id == ConnectionId(0xC0FFEE)
        # As upstream: the upgrade succeeds, then the socket is dropped without a close frame.
        second = await WsClient.connect(srv.ws_url, query=wanted)
        assert await second.closed() == (None, None) and second.frames == []
        assert ConnectionId(0xC0FFEE) in [c.connection_id for c in srv.stats().connections]
        await first.send(m.OneOffQuery(1, "SELECT * FROM item"))
        assert isinstance((await first.recv_type(m.OneOffQueryResult)).result, Ok)  # unharmed
        # The dropped second connection never connected: no client_disconnected ran for it.
        await first.close()
        await watcher.recv_type(m.TransactionUpdate)  # the first one's client_disconnected
        # Once the first is gone, its id is free again.
        again = await WsClient.connect(srv.ws_url, query=wanted)
        assert (await again.initial()).connection_id == ConnectionId(0xC0FFEE)
        await again.close()
        await watcher.close()
