"""The harness that points the upstream scenarios at a real SpacetimeDB (``conftest.py``).

It cannot run here (no real server can be built on these machines), so these tests check that it
is only the environment variables away from running: the variables are read as documented, the
``spacetime publish`` command is upstream's, and publishing calls the CLI so and reports its
failures.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from targets import (
    UPSTREAM_MODULES,
    RealServer,
    publish,
    publish_command,
    random_database_name,
)

MODULES_DIR = Path(__file__).resolve().parents[1] / "modules"


def test_publish_command_is_upstreams() -> None:
    cmd = publish_command(
        "spacetime", "http://127.0.0.1:3000", Path("/src/modules/sdk-test"), "db1"
    )
    assert cmd == [
        "spacetime",
        "publish",
        "--anonymous",
        "--server",
        "http://127.0.0.1:3000",
        "--module-path",
        "/src/modules/sdk-test",
        "--clear-database",
        "--yes",
        "db1",
    ]


def test_every_port_names_its_upstream_module() -> None:
    assert set(UPSTREAM_MODULES) == {p.stem for p in MODULES_DIR.glob("sdk_test*.py")}
    for port, (folder, _) in UPSTREAM_MODULES.items():
        assert folder == port.replace("_", "-")


def test_database_names_are_fresh_and_valid() -> None:
    names = {random_database_name() for _ in range(50)}
    assert len(names) == 50
    assert all(re.fullmatch(r"[a-z0-9-]+", n) for n in names)


def _fake_cli(tmp_path: Path, script: str) -> Path:
    cli = tmp_path / "bin" / "spacetime"
    cli.parent.mkdir(parents=True)
    cli.write_text("#!/bin/sh\n" + script)
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    return cli


def test_environment_selects_the_real_server(tmp_path: Path) -> None:
    assert RealServer.from_env({}) is None
    with pytest.raises(pytest.UsageError, match="SPACETIMEDB_TEST_MODULES"):
        RealServer.from_env({"SPACETIMEDB_TEST_SERVER": "http://h:3000"})
    env = {"SPACETIMEDB_TEST_SERVER": "http://h:3000/", "SPACETIMEDB_TEST_MODULES": "/m"}
    old_path = os.environ["PATH"]
    try:
        os.environ["PATH"] = str(tmp_path)
        with pytest.raises(pytest.UsageError, match="`spacetime` CLI is not on PATH"):
            RealServer.from_env(env)
        cli = _fake_cli(tmp_path, "exit 0\n")
        os.environ["PATH"] = str(cli.parent)
        assert RealServer.from_env(env) == RealServer("http://h:3000", Path("/m"), str(cli))
        twins = RealServer.from_env({**env, "SPACETIMEDB_TEST_MODULE_VARIANT": "-ts"})
        assert twins is not None and twins.variant == "-ts"
        with pytest.raises(pytest.UsageError, match="SPACETIMEDB_TEST_MODULE_VARIANT"):
            RealServer.from_env({**env, "SPACETIMEDB_TEST_MODULE_VARIANT": "ts"})
    finally:
        os.environ["PATH"] = old_path


def test_publish_runs_the_cli_and_reports_failures(tmp_path: Path) -> None:
    log = tmp_path / "args"
    cli = _fake_cli(tmp_path, f'echo "$@" > {log}\n')
    real = RealServer("http://h:3000", tmp_path / "modules", str(cli))
    name = publish(real, "sdk_test_view_pk")
    assert (
        log.read_text().split()
        == publish_command("publish", real.url, real.modules / "sdk-test-view-pk", name)[1:]
    )
    # A variant's twin where upstream has one, the Rust module where it has not.
    (tmp_path / "modules" / "sdk-test-ts").mkdir(parents=True)
    twins = RealServer(real.url, real.modules, real.cli, "-ts")
    assert twins.module_dir("sdk_test") == real.modules / "sdk-test-ts"
    assert twins.module_dir("sdk_test_event_table") == real.modules / "sdk-test-event-table"
    failing = RealServer(
        real.url, real.modules, str(_fake_cli(tmp_path / "x", "echo nope; exit 3\n"))
    )
    with pytest.raises(RuntimeError, match="nope"):
        publish(failing, "sdk_test")
