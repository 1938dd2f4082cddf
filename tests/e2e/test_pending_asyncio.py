"""A reducer call's ``Pending`` works with every asyncio idiom, and stays a ``Pending``.

``asyncio.create_task`` and ``TaskGroup.create_task`` take only coroutines; ``gather`` and
``wait_for`` take any awaitable.  All of them must work on ``conn.reducers.x(...)``, while
``.result()``, ``.done()``, plain ``await`` and fire-and-forget (the call is sent when made,
whether or not anyone waits) keep their meaning.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import sys
import warnings
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk import DbConnection, ReducerError
from spacetimedb_sdk.connection import Pending
from spacetimedb_sdk.server import LocalServer
from spacetimedb_sdk.server.local import load_module

ROOT = Path(__file__).resolve().parents[2]
CHAT = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")
T = 10.0


@pytest.fixture
async def conn() -> AsyncIterator[DbConnection]:
    async with LocalServer(CHAT, database="quickstart-chat") as srv:
        c = await asyncio.wait_for(
            DbConnection.builder().with_uri(srv.url).with_database_name(srv.database).connect(), T
        )
        await asyncio.wait_for(
            c.subscription_builder().subscribe(["SELECT * FROM user", "SELECT * FROM message"]),
            T,
        )
        yield c
        await asyncio.wait_for(c.disconnect(), T)


def texts(conn: DbConnection) -> list[str]:
    return sorted(m.text for m in conn.db.message)


async def test_create_task(conn: DbConnection) -> None:
    task = asyncio.create_task(conn.reducers.send_message(text="from a task"))
    assert await asyncio.wait_for(task, T) is None
    assert texts(conn) == ["from a task"]  # the caller's rows are in once it resolves


async def test_a_task_of_a_call_is_named_after_the_call(conn: DbConnection) -> None:
    # What asyncio's repr and "Task exception was never retrieved" show.
    task = asyncio.create_task(conn.reducers.send_message(text="named"))
    assert "coro=<Pending(reducer send_message)()>" in repr(task)
    await asyncio.wait_for(task, T)


async def test_create_task_of_a_failing_reducer_raises_its_error(conn: DbConnection) -> None:
    task = asyncio.create_task(conn.reducers.set_name(name=""))
    with pytest.raises(ReducerError, match="Names must not be empty"):
        await asyncio.wait_for(task, T)


async def test_gather(conn: DbConnection) -> None:
    results = await asyncio.wait_for(
        asyncio.gather(*(conn.reducers.send_message(text=f"m{i}") for i in range(3))), T
    )
    assert results == [None, None, None]
    assert texts(conn) == ["m0", "m1", "m2"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is new in Python 3.11")
async def test_task_group(conn: DbConnection) -> None:
    async with asyncio.timeout(T), asyncio.TaskGroup() as tg:
        first = tg.create_task(conn.reducers.send_message(text="a"))
        second = tg.create_task(conn.reducers.set_name(name="Grouped"))
    assert first.result() is None and second.result() is None
    assert texts(conn) == ["a"]
    assert conn.db.user.identity.find(conn.identity).name == "Grouped"


async def test_wait_for_and_ensure_future(conn: DbConnection) -> None:
    await asyncio.wait_for(conn.reducers.send_message(text="waited"), T)
    await asyncio.wait_for(asyncio.ensure_future(conn.reducers.send_message(text="future")), T)
    assert texts(conn) == ["future", "waited"]


async def test_result_done_and_await_on_the_same_pending(conn: DbConnection) -> None:
    pending = conn.reducers.send_message(text="once")
    assert isinstance(pending, Pending) and isinstance(pending, Coroutine)
    task = asyncio.create_task(pending)
    assert await asyncio.wait_for(pending, T) is None  # awaited besides the task
    assert await asyncio.wait_for(task, T) is None
    assert pending.done()
    assert await pending is None  # settled: awaiting again returns at once
    # .result() from another thread while the loop runs
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert await loop.run_in_executor(pool, pending.result, T) is None
    assert texts(conn) == ["once"]  # one call, however many waits


async def test_cancelling_the_task_stops_the_wait_not_the_call(conn: DbConnection) -> None:
    arrived = asyncio.Event()
    conn.db.message.on_insert(lambda ctx, row: arrived.set())
    pending = conn.reducers.send_message(text="still sent")
    task = asyncio.create_task(pending)
    await asyncio.sleep(0)  # let the task start waiting
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(arrived.wait(), T)
    assert await asyncio.wait_for(pending, T) is None
    assert texts(conn) == ["still sent"]


async def test_fire_and_forget_sends_without_a_never_awaited_warning(conn: DbConnection) -> None:
    arrived = asyncio.Event()
    conn.db.message.on_insert(lambda ctx, row: arrived.set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "coroutine ... was never awaited" would raise
        conn.reducers.send_message(text="not awaited")
        gc.collect()
    await asyncio.wait_for(arrived.wait(), T)
    assert texts(conn) == ["not awaited"]


async def test_a_callback_that_returns_a_call_does_not_stop_the_connection(
    conn: DbConnection,
) -> None:
    # The lambda returns the echo call's Pending; awaiting it inside the message's callbacks
    # would wait for a result that only a later message brings.
    conn.db.message.on_insert(
        lambda ctx, m: conn.reducers.send_message(text="echo") if m.text == "ping" else None
    )
    echoed = asyncio.Event()
    conn.db.message.on_insert(lambda ctx, m: echoed.set() if m.text == "echo" else None)
    await asyncio.wait_for(conn.reducers.send_message(text="ping"), T)
    await asyncio.wait_for(echoed.wait(), T)
    assert texts(conn) == ["echo", "ping"]


# ---- the coroutine protocol without a server ----------------------------------------------------


class _Owner:
    def _wait(self, fut: concurrent.futures.Future[Any], timeout: float | None, what: str) -> Any:
        return fut.result(timeout)


def test_settled_pending_finishes_on_the_first_send() -> None:
    p: Pending[int] = Pending(_Owner(), "test")
    p._set(42)
    with pytest.raises(StopIteration) as stop:
        p.send(None)
    assert stop.value.value == 42


def test_failed_pending_raises_through_the_protocol() -> None:
    p: Pending[int] = Pending(_Owner(), "test")
    p._fail(ReducerError("no"))
    with pytest.raises(ReducerError, match="no"):
        p.send(None)
    p.close()  # closing a finished runner is harmless


def test_asyncio_run_accepts_a_pending() -> None:
    p: Pending[str] = Pending(_Owner(), "test")
    p._set("done")
    assert asyncio.run(p) == "done"  # asyncio.run takes coroutines only
