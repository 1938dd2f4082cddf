"""Fixtures for the command-line tests: local servers, an isolated credentials folder,
and ``cli(...)``, which runs ``main(argv)`` in-process and captures its output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk.cli import main
from spacetimedb_sdk.server.local import LocalServer, load_module

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHAT = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")
THINGS_PATH = HERE / "cli_module.py"
THINGS = load_module(THINGS_PATH)
TIMEOUT = 20.0  # seconds: the bound on every subprocess and await


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real ~/.spacetimedb_client_credentials or token."""
    folder = tmp_path / "credentials"
    monkeypatch.setenv("SPACETIMEDB_CLIENT_CREDENTIALS_DIR", str(folder))
    monkeypatch.delenv("SPACETIMEDB_TOKEN", raising=False)
    return folder


@pytest.fixture
def chat() -> Iterator[LocalServer]:
    srv = LocalServer(CHAT, database="quickstart-chat").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def things() -> Iterator[LocalServer]:
    srv = LocalServer(THINGS, database="cli-test").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """``cli("sql", "--server", url, ...)``: run the command line, return status and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's usage errors
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def on(srv: LocalServer, *argv: str) -> list[str]:
    """``argv`` plus the server and database options for ``srv``."""
    return [*argv, "--server", srv.url, "--database", srv.database]


PYTHON = sys.executable
