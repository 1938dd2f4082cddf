"""Module log lines: capture of print/logging in module functions, and the log's buffer and followers.

The line format is upstream's ``database_logger`` JSON (``crates/core/src/database_logger.rs``):
``level`` first, ``ts`` in microseconds, absent fields left out, ``__spacetimedb__`` for lines the
server writes itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_test_support import TIMEOUT

from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ProcedureContext, ReducerContext, SenderError, column
from spacetimedb_sdk.server.host import Database
from spacetimedb_sdk.server.host.module_log import ModuleLog, encode_record
from spacetimedb_sdk.server.module.console import LogRecord

m = Module("logging-module")
log = logging.getLogger("logging_module_test")


@m.table(public=True)
class Item:
    id: U32 = column(primary_key=True)


@m.init
def init(ctx: ReducerContext) -> None:
    print("starting up")


@m.reducer
def shout(ctx: ReducerContext, text: str) -> None:
    print(f"heard {text}", "twice")
    log.warning("warned about %s", text)
    log.debug("not let through by the default level")


@m.reducer
def refuse(ctx: ReducerContext) -> None:
    raise SenderError("no thanks")


@m.reducer
def crash(ctx: ReducerContext) -> None:
    raise ValueError("boom")


@m.procedure
def chatty(ctx: ProcedureContext) -> str:
    print("in the procedure")
    ctx.with_tx(lambda tx: print("in its transaction"))
    return "ok"


def lines(db: Database) -> list[dict[str, object]]:
    return [json.loads(line) for line in db.log.tail(None)]


def test_prints_logging_errors_and_system_lines_reach_the_log() -> None:
    db = Database(m)
    db.start()
    assert db.call_reducer("shout", "hi").ok
    assert db.call_reducer("refuse").message == "no thanks"
    assert not db.call_reducer("crash").ok
    assert db.call_procedure("chatty").return_value == "ok"
    got = lines(db)
    sentinel = "__spacetimedb__"
    assert got[0] == {
        "level": "Info",
        "ts": got[0]["ts"],
        "target": sentinel,
        "filename": sentinel,
        "function": sentinel,
        "message": "Creating table `item`",
    }
    messages = [(line["level"], line.get("function"), line["message"]) for line in got]
    assert messages[1:] == [
        ("Info", sentinel, "Invoking `init` reducer"),
        ("Info", "init", "starting up"),
        ("Info", sentinel, "Database initialized"),
        ("Info", "shout", "heard hi twice"),
        ("Warn", "shout", "warned about hi"),
        ("Error", "refuse", "no thanks"),
        ("Panic", "crash", "ValueError: boom"),
        ("Info", "chatty", "in the procedure"),
        ("Info", "chatty", "in its transaction"),
    ]
    printed = got[4]
    assert printed["filename"] == __file__ and isinstance(printed["line_number"], int)
    warned = got[5]
    assert warned["target"] == "logging_module_test" and warned["filename"] == __file__
    panic = got[7]
    assert panic["filename"] == __file__
    assert panic["trace"][0] == {"module_name": __file__, "func_name": "crash"}  # type: ignore[index]
    db.stop()


def test_output_outside_module_functions_is_not_captured() -> None:
    db = Database(m)
    db.start()
    print("the test itself prints")
    logging.getLogger("logging_module_test").warning("the test itself logs")
    assert [line["message"] for line in lines(db)][-1] == "Database initialized"
    db.stop()


def test_prints_still_reach_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    db = Database(m)
    db.start()
    db.call_reducer("shout", "out loud")
    assert "heard out loud twice" in capsys.readouterr().out
    db.stop()


@given(st.lists(st.text(max_size=40), max_size=30), st.integers(1, 400))
def test_the_buffer_keeps_the_newest_lines_within_its_size(texts: list[str], size: int) -> None:
    log_ = ModuleLog(max_bytes=size)
    encoded = []
    for i, text in enumerate(texts):
        record = LogRecord("Info", text, i + 1)
        log_.write(record)
        encoded.append(encode_record(record))
    kept = log_.tail(None)
    assert sum(map(len, kept)) <= size
    assert kept == encoded[len(encoded) - len(kept) :]  # a suffix: the oldest go first
    assert log_.tail(2) == kept[-2:] and log_.tail(0) == []
    for line in kept:
        assert json.loads(line)["level"] == "Info"


async def test_followers_get_new_lines_from_any_thread_and_end_when_closed() -> None:
    log_ = ModuleLog()
    log_.system("Info", "old")
    follower = log_.follow(5)
    assert [json.loads(x)["message"] for x in follower.backlog] == ["old"]
    fresh = log_.follow(None)
    assert fresh.backlog == []  # following without num_lines: new lines only, as upstream

    threading.Thread(target=log_.system, args=("Warn", "from a thread")).start()
    line = await follower.next(TIMEOUT)
    assert line is not None and json.loads(line)["message"] == "from a thread"
    assert await fresh.next(TIMEOUT) == line
    log_.close()
    assert await follower.next(TIMEOUT) is None
    follower.close()
    fresh.close()
    log_.system("Info", "after closing")
    assert [json.loads(x)["message"] for x in log_.tail(None)] == ["old", "from a thread"]


async def test_a_lagging_follower_skips_lines_but_sees_the_end() -> None:
    log_ = ModuleLog()
    follower = log_.follow(None)
    for i in range(3000):
        log_.system("Info", str(i))
    log_.close()
    got = []
    while (line := await asyncio.wait_for(follower.next(), TIMEOUT)) is not None:
        got.append(json.loads(line)["message"])
    assert 0 < len(got) < 3000 and got == sorted(got, key=int)
