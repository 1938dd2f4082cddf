"""A TypeScript module's procedures, views, schedules, logs and callers through the local server.

The host-test module (``tests/modules_ts/host-test``) runs in Node.  Procedures run in their own
pooled Node processes, their transactions on the database thread; views are evaluated by the
subscription engine through the module; scheduled rows fire the module's reducers and
procedures; ``console.*`` goes to the database's module log; the caller's token reaches
``ctx.senderAuth``.  Waits are for the events that prove a change, never timed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import pytest
from server_test_support import TIMEOUT, WsClient, table_changes
from ts_support import host_module, logged, needs_node, results

from spacetimedb_sdk import Identity
from spacetimedb_sdk.errors import SpacetimeDBError
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.server.local import LocalServer

pytestmark = needs_node()


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(host_module(), reducer_timeout=3.0, allow_loopback_http=True) as server:
        yield server


async def procedure(srv: LocalServer, name: str, *args: Any) -> Any:
    # Off the event loop: a procedure blocks its caller, and its HTTP may need this loop.
    return await asyncio.to_thread(srv.db.call_procedure, name, *args)


# ---- procedures ----------------------------------------------------------------------------


async def test_procedure_transactions_commit_roll_back_and_do_not_nest(srv: LocalServer) -> None:
    done = await procedure(srv, "proc_commit", 3)
    assert (done.status, done.return_value) == ("ok", 1)
    assert [r.n for r in srv.db.rows("counter")] == [3]
    assert [list(t.inserts) for t in done.tx_results] == [["counter"]]
    rolled_back = await procedure(srv, "proc_rollback")
    assert (rolled_back.status, rolled_back.return_value) == ("ok", "Error: undo")
    assert [r.n for r in srv.db.rows("counter")] == [3]
    nested = await procedure(srv, "proc_nested")
    assert nested.return_value == (
        "WouldBlockTransaction: Attempted async or blocking op while holding open a transaction"
    )
    failed = await procedure(srv, "proc_throw")
    assert failed.status == "internal_error"
    assert failed.message.startswith("Uncaught Error: procedure failed\n\tat ")


async def test_procedure_http_goes_through_the_servers_client() -> None:
    seen: list[tuple[str, str, str]] = []

    async def echo(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append((request.method, await request.text(), request.headers.get("x-test", "")))
        return aiohttp.web.Response(text="pong")

    app = aiohttp.web.Application()
    app.router.add_route("*", "/echo", echo)
    runner = aiohttp.web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/echo"
    try:
        async with LocalServer(host_module(), allow_loopback_http=True) as srv:
            done = await procedure(srv, "proc_http", url)
            assert done.return_value == "200 pong"
            assert seen == [("POST", "ping", "yes")]
            in_tx = await procedure(srv, "proc_http_in_tx", url)
            assert in_tx.return_value.startswith("WouldBlockTransaction: ")
        # As upstream, this machine's addresses are refused unless allowed.
        async with LocalServer(host_module()) as srv:
            refused = await procedure(srv, "proc_http", url)
            assert refused.return_value.startswith("HttpError: ")
            assert len(seen) == 1
    finally:
        await runner.cleanup()


async def test_a_procedure_transaction_over_budget_is_stopped_and_rolled_back() -> None:
    async with LocalServer(host_module(), reducer_timeout=0.5) as srv:
        stopped = await procedure(srv, "proc_spin_in_tx")
        assert (stopped.status, stopped.message) == (
            "out_of_energy",
            "Procedure terminated due to insufficient budget",
        )
        assert srv.db.rows("counter") == []
        again = await procedure(srv, "proc_commit", 4)  # a new process took its place
        assert again.return_value == 2  # id 1 went to the rolled-back insert (a gap)


# ---- views -------------------------------------------------------------------------------


async def test_views_anonymous_per_caller_and_query_builder(srv: LocalServer) -> None:
    db = srv.db
    for pid, level in [(1, 5), (2, 12), (3, 20)]:
        assert db.call_reducer("insert_player", pid, level).ok
    assert db.call_reducer("insert_member", 2, 1).ok
    assert db.call_reducer("insert_member", 3, 2).ok
    me = Identity(0x4D)
    assert db.call_reducer("set_owner", 4, sender=me).ok
    assert db.sql("SELECT * FROM high_players")[0]["rows"] == [[2, 12], [3, 20]]
    # The query builder's SQL names tables and columns as the source does; the server runs it.
    assert db.sql("SELECT * FROM group_one_players")[0]["rows"] == [[2, 12]]
    assert db.sql("SELECT * FROM my_owner", sender=me)[0]["rows"] == [[["0x4d"], 4]]
    assert db.sql("SELECT * FROM my_owner")[0]["rows"] == []


async def test_a_failing_or_runaway_view_fails_the_query_only() -> None:
    async with LocalServer(host_module(), reducer_timeout=0.5) as srv:
        with pytest.raises(SpacetimeDBError, match="Uncaught Error: view failed"):
            await asyncio.to_thread(srv.db.sql, "SELECT * FROM failing_view")
        with pytest.raises(SpacetimeDBError, match="view ran out of energy"):
            await asyncio.to_thread(srv.db.sql, "SELECT * FROM spinning_view")
        assert (await asyncio.to_thread(srv.db.call_reducer, "insert_player", 1, 50)).ok
        assert srv.db.sql("SELECT * FROM high_players")[0]["rows"] == [[1, 50]]


async def test_view_rows_follow_commits_for_subscribers(srv: LocalServer) -> None:
    module = host_module()
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.subscribe(1, "SELECT * FROM high_players", "SELECT * FROM group_one_players")
    # The caller's own updates come in its ReducerResult.
    result = (await c.call(module, "insert_player", 9, 50)).result
    assert isinstance(result, m.ReducerOk)
    inserted, _ = table_changes(result, "high_players")
    assert [module.row_codec("player").decode(r).id for r in inserted] == [9]
    result = (await c.call(module, "insert_member", 9, 1)).result
    assert isinstance(result, m.ReducerOk)
    inserted, _ = table_changes(result, "group_one_players")
    assert [module.row_codec("player").decode(r).id for r in inserted] == [9]
    await c.close()


# ---- schedules -----------------------------------------------------------------------------


async def journal_inserts(c: WsClient, count: int) -> list[str]:
    module = host_module()
    texts: list[str] = []
    while len(texts) < count:
        msg = await c.recv()
        if isinstance(msg, m.TransactionUpdate):
            inserted, _ = table_changes(msg, "journal")
            texts += [module.row_codec("journal").decode(r).text for r in inserted]
    return texts


async def test_scheduled_reducers_procedures_and_immediate_calls_run(srv: LocalServer) -> None:
    module = host_module()
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.subscribe(1, "SELECT * FROM journal")
    assert isinstance(
        (await c.call(module, "schedule_tick", "once", 1_000, False)).result, m.ReducerOk
    )
    assert await journal_inserts(c, 1) == ["tick once"]
    await c.call(module, "schedule_proc_tick", "p")
    assert await journal_inserts(c, 1) == ["proc tick p"]
    await c.call(module, "schedule_record_now", "right away")
    assert await journal_inserts(c, 1) == ["right away"]
    assert srv.db.rows("tick") == []  # a one-shot schedule's row goes once it has run
    await c.close()


# ---- callers and logs --------------------------------------------------------------------


async def test_sender_auth_carries_the_callers_token(srv: LocalServer) -> None:
    module = host_module()
    token = srv.issue_token("alice")
    c = await WsClient.connect(srv.ws_url, token=token)
    initial = await c.initial()
    await c.call(module, "whoami")
    who = results(srv.db)["whoami"]
    assert who["sender"] == initial.identity.to_hex()
    assert who["connection"] == initial.connection_id.to_hex()
    assert (who["hasJwt"], who["subject"], who["internal"]) == (True, "alice", False)
    assert who["database"] == srv.db.identity.to_hex()
    await c.close()
    assert srv.db.call_reducer("whoami").ok  # a direct call: no connection, no token
    assert results(srv.db)["whoami"]["hasJwt"] is False


async def test_console_output_goes_to_the_module_log(srv: LocalServer) -> None:
    assert srv.db.call_reducer("log_levels").ok
    records = logged(srv.db)
    assert ("Error", "log_levels", "an error line") in records
    assert ("Warn", "log_levels", "a warning line") in records
    assert ("Info", "log_levels", "an info line") in records
    assert ("Debug", "log_levels", "a debug line") in records
    assert ("Info", "log_levels", "a log line { nested: [ 1, 2 ] }") in records
    timing = [msg for level, fn, msg in records if msg.startswith('Timing span "span": ')]
    assert len(timing) == 1
    assert json.loads(json.dumps(results(srv.db)["logged"])) is True


# ---- stopping and dying --------------------------------------------------------------------


async def test_an_infinite_loop_is_stopped_rolled_back_and_replaced() -> None:
    async with LocalServer(host_module(), reducer_timeout=0.5) as srv:
        stopped = await asyncio.to_thread(srv.db.call_reducer, "insert_then_spin")
        assert (stopped.status, stopped.message) == ("out_of_energy", "reducer ran out of energy")
        assert srv.db.rows("player") == []
        assert (await asyncio.to_thread(srv.db.call_reducer, "insert_player", 1, 1)).ok
        assert [r.id for r in srv.db.rows("player")] == [1]


async def test_a_node_process_that_dies_fails_its_call_only() -> None:
    async with (
        LocalServer(host_module(), reducer_timeout=None) as doomed,
        LocalServer(host_module(), reducer_timeout=None) as bystander,
    ):
        follower = doomed.db.log.follow(None)
        call = asyncio.ensure_future(asyncio.to_thread(doomed.db.call_reducer, "insert_then_spin"))
        while True:  # the module logs "spinning" once it is inside its loop
            line = await follower.next(TIMEOUT)
            assert line is not None
            if json.loads(line)["message"] == "spinning":
                break
        follower.close()
        process = doomed.db.runner._main  # type: ignore[attr-defined]
        os.kill(process.pid, signal.SIGKILL)  # as the OOM killer would
        died = await asyncio.wait_for(call, TIMEOUT)
        assert (died.status, died.message) == (
            "internal_error",
            "The instance encountered a fatal error.",
        )
        assert "was killed by signal 9" in str(died.error)
        assert doomed.db.rows("player") == []
        assert (await asyncio.to_thread(doomed.db.call_reducer, "insert_player", 2, 2)).ok
        assert (await asyncio.to_thread(bystander.db.call_reducer, "insert_player", 3, 3)).ok
        assert [r.id for r in bystander.db.rows("player")] == [3]
