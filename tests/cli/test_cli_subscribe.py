"""``spacetimedb-py subscribe``: JSON lines for the snapshot and every change, and each way out.

In-process runs cover the snapshot, ``--limit``, ``--timeout`` and errors; real
subprocesses (``python -m spacetimedb_sdk``) cover live changes, SIGINT, end of input,
a closed output pipe and the progress line on a terminal.  Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from conftest import PYTHON, TIMEOUT, Result, on

from spacetimedb_sdk.http import AsyncHttpClient, HttpClient
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]
OWNER = "c2" * 32


def _add_thing(srv: LocalServer, id: int) -> None:
    with HttpClient(srv.url) as http:
        http.call(
            srv.database,
            "add_thing",
            [id, [0, []], [1, []], [1, []], "", 0, [0], [f"0x{OWNER}"]],
        )


def _thing(id: int, ratio: float = 0.5) -> dict[str, Any]:
    return {
        "id": id,
        "owner": OWNER,
        "at": "1970-01-01T00:00:00.000000Z",
        "wait": 1500,
        "color": "red",
        "shape": "empty",
        "spot": None,
        "blob": "",
        "big": 0,
        "ratio": ratio,
        "tags": ["a", "b"],
    }


# ---- in-process ---------------------------------------------------------------------------------


def test_snapshot_then_applied_then_timeout(cli: Cli, things: LocalServer) -> None:
    _add_thing(things, 1)
    _add_thing(things, 2)
    r = cli(
        *on(things, "subscribe", "SELECT * FROM thing", "SELECT * FROM num"), "--timeout", "0.5"
    )
    assert (r.code, r.err) == (0, "")  # no progress line: stderr is not a terminal
    lines = r.json_lines()
    assert sorted(lines[:2], key=lambda x: x["row"]["id"]) == [
        {"op": "insert", "table": "thing", "row": _thing(1)},
        {"op": "insert", "table": "thing", "row": _thing(2)},
    ]
    assert lines[2:] == [{"op": "applied", "rows": 2, "tables": {"thing": 2}}]


def test_limit_counts_printed_changes(cli: Cli, things: LocalServer) -> None:
    _add_thing(things, 1)
    _add_thing(things, 2)
    r = cli(*on(things, "subscribe", "SELECT * FROM thing", "--limit", "1"))
    assert r.code == 0 and len(r.json_lines()) == 1
    assert r.json_lines()[0]["op"] == "insert"


def test_no_snapshot_prints_only_the_applied_line(cli: Cli, things: LocalServer) -> None:
    _add_thing(things, 1)
    r = cli(*on(things, "subscribe", "SELECT * FROM thing", "--no-snapshot", "--timeout", "0.3"))
    assert r.code == 0
    assert r.json_lines() == [{"op": "applied", "rows": 1, "tables": {"thing": 1}}]


def test_timeout_before_the_limit_is_an_error(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "subscribe", "SELECT * FROM thing", "--limit", "1", "--timeout", "0.3"))
    assert r.code == 1
    assert r.json_lines() == [{"op": "applied", "rows": 0, "tables": {}}]
    assert r.err == "error: timed out after 0.3 s with 0 of 1 changes\n"


def test_rejected_query(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "subscribe", "SELECT * FROM nope", "--timeout", str(TIMEOUT)))
    assert r.code == 1 and r.out == ""
    assert r.err.startswith("error: subscription rejected: ") and "nope" in r.err
    assert r.err.count("\n") == 1


def test_unknown_database(cli: Cli, things: LocalServer) -> None:
    r = cli("subscribe", "--server", things.url, "--database", "nope", "SELECT * FROM thing")
    assert (r.code, r.err) == (1, f"error: database 'nope' not found on {things.url}\n")


def test_options_may_come_between_queries(cli: Cli, things: LocalServer) -> None:
    _add_thing(things, 1)
    r = cli("subscribe", "SELECT * FROM num", "--server", things.url, "-d", things.database,
            "SELECT * FROM thing", "--limit", "1")  # fmt: skip
    assert r.code == 0 and r.json_lines()[0]["table"] == "thing"


def test_bad_limit_is_a_usage_error(cli: Cli, things: LocalServer) -> None:
    assert cli(*on(things, "subscribe", "SELECT * FROM thing", "--limit", "0")).code == 2


# ---- subprocesses -------------------------------------------------------------------------------


@asynccontextmanager
async def subscriber(
    srv: LocalServer, *extra: str, stdin: int = asyncio.subprocess.DEVNULL, stderr: Any = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "spacetimedb_sdk", *on(srv, "subscribe"), *extra,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if stderr is None else stderr,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), TIMEOUT)


async def next_line(proc: asyncio.subprocess.Process) -> Any:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
    assert line, "the subscriber ended early"
    return json.loads(line)


async def test_live_changes_then_sigint(things: LocalServer) -> None:
    async with (
        subscriber(things, "SELECT * FROM thing", "--no-snapshot") as proc,
        AsyncHttpClient(things.url) as http,
    ):
        assert await next_line(proc) == {"op": "applied", "rows": 0, "tables": {}}
        args = [[5, [0, []], [1, []], [1, []], "", 0, [0], [f"0x{OWNER}"]]]
        await asyncio.wait_for(http.call(things.database, "add_thing", *args), TIMEOUT)
        assert await next_line(proc) == {"op": "insert", "table": "thing", "row": _thing(5)}
        await asyncio.wait_for(http.call(things.database, "set_ratio", [5, 2.0]), TIMEOUT)
        assert await next_line(proc) == {
            "op": "update",
            "table": "thing",
            "old": _thing(5),
            "new": _thing(5, 2.0),
        }
        await asyncio.wait_for(http.call(things.database, "delete_thing", [5]), TIMEOUT)
        assert await next_line(proc) == {"op": "delete", "table": "thing", "row": _thing(5, 2.0)}
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert (proc.returncode, out, err) == (130, b"", b"")  # the shells' status for Ctrl-C


async def test_end_of_input_stops_it(things: LocalServer) -> None:
    async with subscriber(things, "SELECT * FROM thing", stdin=asyncio.subprocess.PIPE) as proc:
        assert (await next_line(proc))["op"] == "applied"
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert proc.returncode == 0


async def test_a_closed_output_pipe_ends_it_quietly(things: LocalServer) -> None:
    with HttpClient(things.url) as http:
        http.call(things.database, "add_nums", [20000])
    async with subscriber(things, "SELECT * FROM num") as proc:
        assert (await next_line(proc))["op"] == "insert"
        assert proc.stdout is not None and proc.stderr is not None
        transport = proc._transport  # type: ignore[attr-defined]
        transport.get_pipe_transport(1).close()  # like `| head -1` exiting
        err = await asyncio.wait_for(proc.stderr.read(), TIMEOUT)
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert (proc.returncode, err) == (0, b"")


async def test_progress_on_a_terminal(things: LocalServer) -> None:
    with HttpClient(things.url) as http:
        http.call(things.database, "add_nums", [2500])
    master, slave = pty.openpty()
    try:
        async with subscriber(things, "SELECT * FROM num", "--limit", "2500", stderr=slave) as proc:
            os.close(slave)
            slave = -1
            out = await asyncio.wait_for(proc.stdout.read(), TIMEOUT)  # type: ignore[union-attr]
            await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert proc.returncode == 0 and len(out.splitlines()) == 2500
        shown = _read_all(master)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert b"initial rows: 1000 of 2500" in shown and b"initial rows: 2000 of 2500" in shown
    assert shown.endswith(b"\r\x1b[K")  # the line is cleared before exit


def _read_all(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 1.0)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        data += chunk
    return data


async def test_the_server_going_away_is_an_error(things: LocalServer) -> None:
    async with subscriber(things, "SELECT * FROM thing") as proc:
        assert (await next_line(proc))["op"] == "applied"
        await asyncio.get_running_loop().run_in_executor(None, things.stop)
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert (proc.returncode, out) == (1, b"")
        assert err.decode().startswith("error: the server closed the connection")
        assert err.count(b"\n") == 1
