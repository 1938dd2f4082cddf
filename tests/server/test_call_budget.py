"""The time budget of module calls on the local server: runaway reducers are stopped, rolled back
and answered with upstream's out-of-energy errors, and the server keeps serving.

Texts: ``"reducer ran out of energy"`` (``ReducerOutcome::InternalError``, upstream
``module_subscription_actor.rs``), ``"Module energy budget exhausted."`` with HTTP 402 (upstream
``client-api/src/routes/database.rs``), ``"Procedure terminated due to insufficient budget"``
(``ProcedureCallError::OutOfEnergy``, upstream ``module_host.rs``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from exec_support import STARTED, module, release_gates  # noqa: F401
from server_test_support import TIMEOUT, WsClient, args
from test_local_server import _read_banner

from spacetimedb_sdk import ConnectionId
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.server import Module, ReducerContext, SenderError
from spacetimedb_sdk.server.host import ClientConnection, ConnectionRejected, Database
from spacetimedb_sdk.server.local import LocalServer

BUDGET = 0.3


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(module, reducer_timeout=BUDGET) as server:
        yield server


def _notes(srv: LocalServer) -> list[str]:
    return [row.text for row in srv.db.rows("note")]


async def test_an_infinite_loop_reducer_is_stopped_while_others_are_served(
    srv: LocalServer,
) -> None:
    async with LocalServer(module, database="other") as other, aiohttp.ClientSession() as http:
        spinner = await WsClient.connect(srv.ws_url)
        await spinner.initial()
        second = await WsClient.connect(srv.ws_url)
        second_id = (await second.initial()).connection_id
        await spinner.send(m.CallReducer(1, 0, "spin_forever", b""))
        assert await asyncio.get_running_loop().run_in_executor(None, STARTED["spin"].wait, TIMEOUT)
        # Meanwhile: the second client's call to the same database waits its turn, while the
        # server answers HTTP and serves another database.
        await second.send(m.CallReducer(7, 0, "add_note", args(module, "add_note", "afterwards")))
        await asyncio.wait_for(await second.ws.ping(), TIMEOUT)  # the server has read it
        stats = srv.stats()
        assert stats.database_queue == 2  # the spinning call, and the second client's waiting
        waiting = [c.incoming_queued for c in stats.connections if c.connection_id == second_id]
        assert waiting == [1]
        async with http.get(f"{srv.url}/v1/ping") as r:
            assert r.status == 200
        elsewhere = await WsClient.connect(other.ws_url)
        await elsewhere.initial()
        served = await elsewhere.call(module, "add_note", "meanwhile")
        assert isinstance(served.result, m.ReducerOk)
        # The spinner is stopped by its budget, with upstream's error, its writes rolled back.
        stopped = await spinner.recv_type(m.ReducerResult)
        assert stopped.request_id == 1
        assert stopped.result == m.ReducerInternalError("reducer ran out of energy")
        # Afterwards the second client's call runs.
        after = await second.recv_type(m.ReducerResult)
        assert after.request_id == 7 and isinstance(after.result, m.ReducerOk)
    assert _notes(srv) == ["afterwards"]


async def test_a_reducer_that_swallows_the_interrupt_is_still_out_of_energy(
    srv: LocalServer,
) -> None:
    client = await WsClient.connect(srv.ws_url)
    await client.initial()
    result = await client.call(module, "swallow_once")
    assert result.result == m.ReducerInternalError("reducer ran out of energy")
    assert _notes(srv) == []


async def test_a_runaway_view_fails_its_subscription_and_the_database_goes_on(
    srv: LocalServer,
) -> None:
    client = await WsClient.connect(srv.ws_url)
    await client.initial()
    await client.send(m.Subscribe(1, 1, ["SELECT * FROM runaway_view"]))
    error = await client.recv_type(m.SubscriptionError)
    assert error.query_set_id == 1
    done = await client.call(module, "add_note", "still serving")
    assert isinstance(done.result, m.ReducerOk)
    assert _notes(srv) == ["still serving"]


async def test_http_call_of_a_runaway_reducer_is_402(srv: LocalServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{srv.url}/v1/database/{srv.database}/call/spin_forever",
            data=b"[]",
            headers={"Content-Type": "application/json"},
        ) as r:
            assert (r.status, await r.text()) == (402, "Module energy budget exhausted.")
        async with http.post(
            f"{srv.url}/v1/database/{srv.database}/call/spin_in_transaction",
            data=b"[]",
            headers={"Content-Type": "application/json"},
        ) as r:
            assert (r.status, await r.text()) == (
                402,
                "Procedure terminated due to insufficient budget",
            )
    # The procedure's first transaction stays; the runaway one was rolled back.
    assert _notes(srv) == ["before the spin"]


async def test_a_runaway_procedure_transaction_ends_the_procedure(srv: LocalServer) -> None:
    client = await WsClient.connect(srv.ws_url)
    await client.initial()
    await client.send(m.CallProcedure(3, 0, "spin_in_transaction", b""))
    result = await client.recv_type(m.ProcedureResult)
    # `except Exception` in the procedure does not catch it: the procedure is terminated.
    assert result.status == m.ProcedureInternalError(
        "Procedure terminated due to insufficient budget"
    )
    assert _notes(srv) == ["before the spin"]


def test_a_runaway_client_connected_refuses_the_client() -> None:
    runaway = Module("runaway-connect")

    @runaway.client_connected
    def connected(ctx: ReducerContext) -> None:
        while True:
            pass

    @runaway.reducer
    def ping(ctx: ReducerContext) -> None:
        raise SenderError("pong")

    db = Database(runaway, reducer_timeout=BUDGET)
    db.start()
    client = ClientConnection(db.owner_identity, ConnectionId.random(), "")
    with pytest.raises(ConnectionRejected) as e:
        db.connect(client)
    assert e.value.status == 503
    assert str(e.value) == "Insufficient energy balance to run `client_connected` reducer"
    # The database still serves (this call fails on purpose, after running).
    assert db.call_reducer("ping").message == "pong"
    response = db.http_call(db.owner_identity, "ping", b"[]")
    assert (response.status, response.body) == (
        503,
        "Insufficient energy balance to run `client_connected` reducer",
    )
    db.stop()


def test_reducer_timeout_none_disables_the_budget() -> None:
    db = Database(module, reducer_timeout=None)
    assert db.reducer_timeout is None
    assert db.call_reducer("add_note", "unbudgeted").ok
    db.stop()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
async def test_serve_reducer_timeout_sets_the_budget() -> None:
    module_file = Path(__file__).with_name("exec_support.py")
    proc = subprocess.Popen(
        [sys.executable, "-m", "spacetimedb_sdk.cli", "serve", str(module_file), "--port", "0",
         "--reducer-timeout", "0.3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    try:
        banner = await _read_banner(proc)
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{banner['url']}/v1/database/exec-test/call/spin_forever",
                data=b"[]",
                headers={"Content-Type": "application/json"},
            ) as r,
        ):
            assert (r.status, await r.text()) == (402, "Module energy budget exhausted.")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_reducer_timeout_must_be_a_number_of_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from spacetimedb_sdk.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["serve", "m.py"]).reducer_timeout == 10.0
    assert parser.parse_args(["serve", "m.py", "--reducer-timeout", "2.5"]).reducer_timeout == 2.5
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "m.py", "--reducer-timeout", "-1"])
    assert "must be 0 or a positive number of seconds" in capsys.readouterr().err
