"""The command line as a whole: ``python -m spacetimedb_sdk``, the parser, and error lines."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable

import pytest
from conftest import PYTHON, TIMEOUT, Result

from spacetimedb_sdk.cli import build_parser
from spacetimedb_sdk.cli.options import client_command
from spacetimedb_sdk.errors import SpacetimeDBError
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]


async def _run(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "spacetimedb_sdk", *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_python_dash_m_lists_every_command() -> None:
    code, out, _ = await _run("--help")
    assert code == 0
    for command in ("serve", "generate", "describe", "sql", "call", "subscribe", "identity"):
        assert command in out


async def test_python_dash_m_runs_a_command(things: LocalServer) -> None:
    env = {**os.environ, "SPACETIMEDB_TOKEN": things.owner_token}
    code, out, err = await _run(
        "sql", "--server", things.url, "-d", things.database, "SELECT * FROM num", "--json",
        env=env,
    )  # fmt: skip
    assert (code, out, err) == (0, "", "")
    code, out, err = await _run("sql", "--server", things.url, "-d", "nope", "SELECT 1", env=env)
    assert (code, out) == (1, "")
    assert err == f"error: database 'nope' not found on {things.url}\n"


def test_no_command_is_a_usage_error(cli: Cli) -> None:
    r = cli()
    assert r.code == 2 and "usage: spacetimedb-py" in r.err


def test_serve_and_generate_are_still_registered() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve", "m.py"]).port == 3000
    assert parser.parse_args(["generate", "--schema", "s.json", "--out-dir", "o"]).command == (
        "generate"
    )


def test_arguments_after_options_and_negative_numbers(cli: Cli, things: LocalServer) -> None:
    r = cli("call", "add", "--server", things.url, "-d", things.database, "-1", "3")
    assert r.code == 2
    assert r.err.startswith("error: argument 1 (a: U32): -1 is out of range for U32")
    r = cli("call", "add", "--server", things.url, "-d", things.database, "1", "--bogus")
    assert r.code == 2 and "unrecognized arguments: 1 --bogus" in r.err


def test_errors_never_show_tokens(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    monkeypatch.setenv("SPACETIMEDB_TOKEN", "plain-secret")

    def leaky(args: argparse.Namespace) -> int:
        raise SpacetimeDBError(f"boom {jwt} and plain-secret and {args.token}")

    code = client_command(leaky)(argparse.Namespace(token="flag-secret"))
    err = capsys.readouterr().err
    assert code == 1
    assert err == "error: boom <token> and <token> and <token>\n"


def test_ctrl_c_outside_subscribe_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    assert client_command(interrupted)(argparse.Namespace()) == 130
    assert capsys.readouterr().err == ""
