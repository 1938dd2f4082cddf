"""What every command shares: ``--version``, ``$SPACETIMEDB_SERVER``, usage errors that name
the command, Ctrl-C's status, one error style (``serve`` too), ``generate``'s server options,
``call --json``, and ``serve --example``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import PYTHON, TIMEOUT, Result, on

from spacetimedb_sdk import __version__
from spacetimedb_sdk.server.examples import EXAMPLES, load_example
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


def test_version(cli: Cli) -> None:
    r = cli("--version")
    assert (r.code, r.out, r.err) == (0, f"spacetimedb-py {__version__}\n", "")


def test_server_comes_from_the_environment(
    cli: Cli, things: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPACETIMEDB_SERVER", things.url)
    r = cli("sql", "-d", things.database, "SELECT * FROM num", "--json")
    assert (r.code, r.err) == (0, "")
    r = cli("describe", "-d", "nope")
    assert r.err == f"error: database 'nope' not found on {things.url}\n"
    # --server still wins over the variable.
    r = cli("describe", "-d", things.database, "--server", "http://127.0.0.1:1")
    assert r.code == 1 and "127.0.0.1:1" in r.err


def test_without_the_variable_the_default_is_local(cli: Cli) -> None:
    from spacetimedb_sdk.cli import build_parser

    assert os.environ.get("SPACETIMEDB_SERVER") is None
    args = build_parser().parse_args(["sql", "-d", "x", "SELECT 1"])
    assert args.server == "http://127.0.0.1:3000"


def test_a_bad_option_after_a_command_prints_that_commands_usage(cli: Cli) -> None:
    r = cli("sql", "-d", "chat", "SELECT 1", "--bogus")
    assert r.code == 2
    assert r.err.startswith("usage: spacetimedb-py sql ")
    assert r.err.rstrip().endswith("spacetimedb-py sql: error: unrecognized arguments: --bogus")


# ---- generate -----------------------------------------------------------------------------------


def test_generate_reads_database_from_the_default_server(
    cli: Cli, chat: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SPACETIMEDB_SERVER", chat.url)
    r = cli("generate", "-d", chat.database, "--out-dir", str(tmp_path / "mb"))
    assert (r.code, r.err) == (0, "")
    assert r.out.startswith(f"wrote 8 files to {tmp_path / 'mb'}")
    assert "class Message" in (tmp_path / "mb" / "_types.py").read_text()


def test_generate_errors_are_one_line(cli: Cli, chat: LocalServer, tmp_path: Path) -> None:
    r = cli("generate", "--out-dir", str(tmp_path))
    assert (r.code, r.err) == (
        2,
        "error: no schema given: pass --database NAME (or --schema FILE)\n",
    )
    r = cli("generate", "--schema", "s.json", "-d", "x", "--out-dir", str(tmp_path))
    assert (r.code, r.err) == (2, "error: give --schema FILE or --database NAME, not both\n")
    r = cli(*on(chat, "generate", "--out-dir", str(tmp_path)))
    assert r.code == 0
    r = cli("generate", "--server", chat.url, "-d", "nope", "--out-dir", str(tmp_path))
    assert (r.code, r.err) == (1, f"error: database 'nope' not found on {chat.url}\n")


# ---- call --json --------------------------------------------------------------------------------


def test_call_json_prints_one_object_for_reducers_and_procedures(
    cli: Cli, things: LocalServer
) -> None:
    r = cli(*on(things, "call", "add_nums", "2", "--json"))
    assert (r.code, r.json_lines(), r.err) == (
        0,
        [{"name": "add_nums", "kind": "reducer", "result": None}],
        "",
    )
    r = cli(*on(things, "call", "add", "2", "3", "--json"))
    assert r.json_lines() == [{"name": "add", "kind": "procedure", "result": 5}]
    r = cli(*on(things, "call", "mirror", '{"x": 1, "y": 2}', "--json"))
    assert r.json_lines() == [{"name": "mirror", "kind": "procedure", "result": {"x": 2, "y": 1}}]
    r = cli(*on(things, "call", "fail", "--json"))  # failures stay one line on stderr
    assert (r.code, r.out, r.err) == (1, "", "error: fail failed: fail always fails\n")


# ---- serve --------------------------------------------------------------------------------------


def test_serve_errors_are_one_error_line(cli: Cli, tmp_path: Path) -> None:
    r = cli("serve", "--example", "nope")
    assert (r.code, r.out) == (2, "")
    assert r.err == "error: no example module named 'nope' (available: quickstart-chat)\n"
    r = cli("serve")
    assert (r.code, r.err) == (
        2,
        "error: serve needs a module: pass a module PATH or --example NAME\n",
    )
    r = cli("serve", str(tmp_path / "missing.py"))
    assert (r.code, r.err) == (2, f"error: no module file at {str(tmp_path / 'missing.py')!r}\n")
    r = cli("serve", str(tmp_path / "missing.ts"))  # a TypeScript entry file
    assert (r.code, r.err) == (2, f"error: no module file at {str(tmp_path / 'missing.ts')!r}\n")
    (tmp_path / "empty-ts-module").mkdir()
    (tmp_path / "empty-ts-module" / "package.json").write_text("{}")
    r = cli("serve", str(tmp_path / "empty-ts-module"))
    assert r.code == 2 and r.err.count("\n") == 1
    assert "has no src/index.ts" in r.err
    not_a_module = tmp_path / "plain.py"
    not_a_module.write_text("x = 1\n")
    r = cli("serve", str(not_a_module))
    assert r.code == 1 and r.err.startswith("error: ") and r.err.count("\n") == 1
    assert "must define a spacetimedb_sdk.server.Module" in r.err


def test_serve_on_a_taken_port_is_one_error_line(cli: Cli) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = cli("serve", "--example", "quickstart-chat", "--port", str(port))
    assert (r.code, r.out) == (1, "")
    assert r.err.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert r.err.count("\n") == 1


def test_serve_example_and_module_file_exclude_each_other(cli: Cli) -> None:
    r = cli("serve", "m.py", "--example", "quickstart-chat")
    assert r.code == 2 and "not allowed with argument" in r.err


def test_the_shipped_example_is_the_repository_example() -> None:
    from spacetimedb_sdk.server.local import load_module

    assert sorted(EXAMPLES) == ["quickstart-chat"]
    repo = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")
    assert repo is load_example("quickstart-chat")  # one module, re-exported: they cannot drift
    with pytest.raises(LookupError, match=r"available: quickstart-chat"):
        load_example("quickstart_chat")


async def test_serve_example_serves_until_ctrl_c_then_exits_0() -> None:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "spacetimedb_sdk", "serve", "--example", "quickstart-chat", "--port", "0",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
        assert first.startswith(b"Serving database 'quickstart-chat' at http://127.0.0.1:")
        while b"Press Ctrl-C" not in await asyncio.wait_for(proc.stdout.readline(), TIMEOUT):
            pass
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert (proc.returncode, err) == (0, b"")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---- Ctrl-C -------------------------------------------------------------------------------------


async def test_ctrl_c_in_a_client_command_exits_130() -> None:
    """``sql`` against a server that never answers, interrupted while it waits."""
    arrived = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        arrived.set()
        try:
            await reader.read()  # until the client goes away; never answer
        finally:
            writer.close()  # Server.wait_closed waits for every connection (3.12+)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "spacetimedb_sdk", "sql", "--server", f"http://127.0.0.1:{port}",
        "-d", "db", "SELECT 1",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.wait_for(arrived.wait(), TIMEOUT)  # it is waiting for the answer now
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert (proc.returncode, out, err) == (130, b"", b"")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


def test_python_dash_m_server_is_serve() -> None:
    done = subprocess.run(
        [PYTHON, "-m", "spacetimedb_sdk.server", "--example", "nope"],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        2,
        "error: no example module named 'nope' (available: quickstart-chat)\n",
    )
