"""The execution model end to end: procedures interleave with reducers, the event loop stays free.

Modelled on upstream's procedure-concurrency scenarios (``sdks/rust/tests/procedure-concurrency-
client``: ``procedure-reducer-interleaving``, ``procedure-reducer-same-client-interleaved``,
``procedure-concurrent-with-scheduled-reducer``, ``scheduled-procedure-scheduled-reducer-not-
interleaved``) against :mod:`exec_support`, plus the event loop's responsiveness while a reducer
blocks.  Concurrency is observed through events (a reducer waits on a gate the test opens after it
saw what it expects), never by timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from exec_support import GATES, STARTED, http_server, module, release_gates  # noqa: F401
from server_test_support import TIMEOUT, WsClient, args, game, table_changes

from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.server.local import LocalServer

ROWS = "SELECT * FROM procedure_concurrency_row"


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(module, reducer_timeout=5.0, allow_loopback_http=True) as server:
        yield server


class Observer:
    """A WebSocket client that records the order of the ``procedure_concurrency_row`` inserts
    it is told about and keeps every other message."""

    def __init__(self, ws: WsClient) -> None:
        self.ws = ws
        self.rows: dict[str, int] = {}
        self.messages: list[m.ServerMessage] = []

    @classmethod
    async def connect(cls, srv: LocalServer) -> Observer:
        ws = await WsClient.connect(srv.ws_url)
        await ws.initial()
        await ws.subscribe(1, ROWS)
        return cls(ws)

    def _record(self, msg: m.ServerMessage) -> None:
        update: m.TransactionUpdate | m.ReducerOk | None = None
        if isinstance(msg, m.TransactionUpdate):
            update = msg
        elif isinstance(msg, m.ReducerResult) and isinstance(msg.result, m.ReducerOk):
            update = msg.result
        if update is not None:
            codec = module.row_codec("procedure_concurrency_row")
            for data in table_changes(update, "procedure_concurrency_row")[0]:
                row = codec.decode(data)
                assert row.insertion_context not in self.rows, "a row was delivered twice"
                self.rows[row.insertion_context] = row.insertion_order
        self.messages.append(msg)

    async def until(self, predicate: Callable[[Observer], bool]) -> None:
        async def loop() -> None:
            while not predicate(self):
                self._record(await self.ws.recv())

        await asyncio.wait_for(loop(), 3 * TIMEOUT)

    async def until_rows(self, *contexts: str) -> None:
        await self.until(lambda o: all(c in o.rows for c in contexts))

    def first(self, kind: type[Any]) -> Any:
        return next(msg for msg in self.messages if isinstance(msg, kind))

    def index_of(self, kind: type[Any]) -> int:
        return next(i for i, msg in enumerate(self.messages) if isinstance(msg, kind))

    async def call_procedure(self, name: str, *values: Any) -> int:
        rid = self.ws.next_request_id()
        await self.ws.send(m.CallProcedure(rid, 0, name, args(module, name, *values)))
        return rid

    async def call_reducer(self, name: str, *values: Any) -> int:
        rid = self.ws.next_request_id()
        await self.ws.send(m.CallReducer(rid, 0, name, args(module, name, *values)))
        return rid


def _ordered(rows: dict[str, int], *contexts: str) -> bool:
    orders = [rows[c] for c in contexts]
    return orders == sorted(orders) and len(set(orders)) == len(orders)


# ---- upstream's concurrency scenarios ----------------------------------------------------------


async def test_procedure_reducer_interleaving(srv: LocalServer) -> None:
    proc, red = await Observer.connect(srv), await Observer.connect(srv)
    await proc.call_procedure("procedure_sleep_between_inserts")
    # The reducer client reacts to the procedure's first row, as upstream's on_insert does.
    await red.until_rows("procedure_before")
    await red.call_reducer("insert_reducer_row")
    await proc.until(lambda o: any(isinstance(x, m.ProcedureResult) for x in o.messages))
    await red.until_rows("reducer", "procedure_after")
    for observer in (proc, red):
        assert _ordered(observer.rows, "procedure_before", "reducer", "procedure_after")
    result = proc.first(m.ProcedureResult)
    assert isinstance(result.status, m.ProcedureReturned)
    # Every transaction of the procedure reached its caller before its ProcedureResult.
    assert set(proc.rows) == {"procedure_before", "reducer", "procedure_after"}
    assert proc.index_of(m.ProcedureResult) == len(proc.messages) - 1


async def test_procedure_reducer_same_client_interleaved(srv: LocalServer) -> None:
    client = await Observer.connect(srv)
    await client.call_procedure("procedure_sleep_between_inserts")
    await client.until_rows("procedure_before")
    # The same client's next message is not held behind its running procedure.
    rid = await client.call_reducer("insert_reducer_row")
    await client.until(lambda o: any(isinstance(x, m.ProcedureResult) for x in o.messages))
    assert _ordered(client.rows, "procedure_before", "reducer", "procedure_after")
    reducer_result = client.first(m.ReducerResult)
    assert reducer_result.request_id == rid
    assert client.messages.index(reducer_result) < client.index_of(m.ProcedureResult)


async def test_procedure_concurrent_with_scheduled_reducer(srv: LocalServer) -> None:
    client = await Observer.connect(srv)
    await client.call_procedure("procedure_schedule_reducer_between_inserts")
    await client.until(lambda o: any(isinstance(x, m.ProcedureResult) for x in o.messages))
    assert _ordered(client.rows, "procedure_before", "scheduled_reducer", "procedure_after")


async def test_scheduled_procedure_scheduled_reducer_not_interleaved(srv: LocalServer) -> None:
    # Upstream's scheduler runs one scheduled call at a time: the reducer that came due while
    # the scheduled procedure slept runs only after the procedure has finished.
    client = await Observer.connect(srv)
    await client.call_reducer("schedule_procedure_then_reducer")
    await client.until_rows(
        "scheduled_procedure_before", "scheduled_procedure_after", "scheduled_reducer"
    )
    assert _ordered(
        client.rows, "scheduled_procedure_before", "scheduled_procedure_after", "scheduled_reducer"
    )


async def test_a_procedure_waiting_on_http_lets_another_clients_reducer_commit() -> None:
    # A procedure commits, waits for an HTTP response, commits again; the HTTP server answers
    # only after another client's reducer has committed in between.
    answer = asyncio.Event()

    async def gate(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        await answer.wait()
        return aiohttp.web.Response(text="released")

    async with (
        http_server({"/gate": gate}) as base,
        LocalServer(module, allow_loopback_http=True) as srv,
    ):
        proc, red = await Observer.connect(srv), await Observer.connect(srv)
        await proc.call_procedure("procedure_http_between_inserts", f"{base}/gate")
        await red.until_rows("procedure_before")
        rid = await red.call_reducer("insert_reducer_row")
        await red.until(lambda o: any(isinstance(x, m.ReducerResult) for x in o.messages))
        assert red.first(m.ReducerResult).request_id == rid
        answer.set()
        await proc.until(lambda o: any(isinstance(x, m.ProcedureResult) for x in o.messages))
        await red.until_rows("procedure_after")
        for observer in (proc, red):
            assert _ordered(observer.rows, "procedure_before", "reducer", "procedure_after")
        status = proc.first(m.ProcedureResult).status
        assert status == m.ProcedureReturned(_bsatn_string("released"))


# ---- the event loop serves others while a database is busy ------------------------------------


async def test_the_event_loop_answers_others_while_a_reducer_blocks(srv: LocalServer) -> None:
    async with LocalServer(module, database="other") as other, aiohttp.ClientSession() as http:
        blocked = await Observer.connect(srv)
        rid = await blocked.call_reducer("wait_for_gate", "long")
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, STARTED["long"].wait, TIMEOUT)
        # While the reducer holds its database thread: HTTP routes, a new identity, and a
        # whole call on another database are answered.
        async with http.get(f"{srv.url}/v1/ping") as r:
            assert r.status == 200
        async with http.post(f"{srv.url}/v1/identity") as r:
            assert r.status == 200 and "token" in await r.json()
        elsewhere = await Observer.connect(other)
        done = await elsewhere.ws.call(module, "insert_reducer_row")
        assert isinstance(done.result, m.ReducerOk)
        # Still blocked: nothing was answered on the busy database yet.
        assert not any(isinstance(x, m.ReducerResult) for x in blocked.messages)
        GATES["long"].set()
        await blocked.until(lambda o: any(isinstance(x, m.ReducerResult) for x in o.messages))
        result = blocked.first(m.ReducerResult)
        assert result.request_id == rid and isinstance(result.result, m.ReducerOk)


async def test_the_direct_api_works_from_the_event_loop_thread(srv: LocalServer) -> None:
    watcher = await Observer.connect(srv)
    assert srv.db.call_reducer("insert_reducer_row").ok  # blocking call on the loop's thread
    row_class = module.table_schema("procedure_concurrency_row").row_class
    with srv.db.transaction() as tx:
        tx.procedure_concurrency_row.insert(row_class(0, "fixture"))
        # Inside the block this thread owns the database: the direct API runs inline.
        assert len(srv.db.rows("procedure_concurrency_row")) == 2
    assert srv.db.sql(f"{ROWS} WHERE insertion_context = 'fixture'")[0]["rows"]
    await watcher.until_rows("reducer", "fixture")
    result = srv.db.call_procedure("procedure_uuids")
    assert result.ok and len(str(result.return_value).split()) == 3


def _bsatn_string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "little") + data


async def test_messages_sent_before_a_client_leaves_still_run_in_order() -> None:
    # Upstream runs what it has enqueued: a call sent right before the socket closes still
    # runs, before the client's `client_disconnected`.
    async with LocalServer(game) as srv:
        watcher = await WsClient.connect(srv.ws_url)
        await watcher.initial()
        await watcher.subscribe(1, "SELECT * FROM counter", "SELECT * FROM log")
        leaver = await WsClient.connect(srv.ws_url)
        first = await leaver.initial()
        await leaver.send(m.CallReducer(1, 0, "bump", args(game, "bump", 5)))
        await leaver.close()
        goodbye = f"disconnected {first.identity.to_hex()[:8]}"
        seen: list[str] = []
        while goodbye not in seen:
            update = await watcher.recv_type(m.TransactionUpdate)
            if table_changes(update, "counter")[0]:
                seen.append("bump")
            codec = game.row_codec("log")
            seen += [codec.decode(r).text for r in table_changes(update, "log")[0]]
        assert seen.index("bump") < seen.index(goodbye)
        assert srv.db.rows("counter")[0].n == 5


async def test_a_clients_messages_run_in_the_order_it_sent_them(srv: LocalServer) -> None:
    # Sent back to back, without waiting: the call sees the subscription applied first.
    client = await WsClient.connect(srv.ws_url)
    await client.initial()
    await client.send(m.Subscribe(1, 1, [ROWS]))
    await client.send(m.CallReducer(2, 0, "insert_reducer_row", b""))
    applied = await client.recv_type(m.SubscribeApplied)
    result = await client.recv_type(m.ReducerResult)
    assert (applied.request_id, result.request_id) == (1, 2)
    assert isinstance(result.result, m.ReducerOk)
    (inserted,) = table_changes(result.result, "procedure_concurrency_row")[0]
    row = module.row_codec("procedure_concurrency_row").decode(inserted)
    assert row.insertion_context == "reducer"
