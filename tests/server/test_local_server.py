"""LocalServer (async and sync), the pytest fixture and ``spacetimedb-py serve``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import httpx
import pytest
from server_test_support import CHAT_PATH, ROOT, TIMEOUT, WsClient, game, table_changes

from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.server.local import LocalServer, load_module
from spacetimedb_sdk.server.pytest_plugin import spacetimedb_server  # the fixture, for these tests

__all__ = ["spacetimedb_server"]


async def test_async_form_serves_and_stops() -> None:
    async with LocalServer(game, database="arcade") as srv:
        assert srv.database == "arcade"
        assert srv.url.startswith("http://127.0.0.1:") and srv.port > 0
        assert srv.ws_url == f"ws://127.0.0.1:{srv.port}/v1/database/arcade/subscribe"
        async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http:
            r = await http.get("/v1/database/arcade/identity")
            assert r.text == srv.db.identity.to_hex()
        url = srv.url
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{url}/v1/ping")


def test_sync_form_runs_its_own_loop() -> None:
    srv = LocalServer(game).start()
    try:
        assert threading.current_thread() is threading.main_thread()
        with httpx.Client(base_url=srv.url, timeout=TIMEOUT) as http:
            assert http.get("/v1/ping").status_code == 200
            owner = {"Authorization": f"Bearer {srv.owner_token}"}
            r = http.post(
                f"/v1/database/{srv.database}/sql", content="DELETE FROM counter", headers=owner
            )
            assert r.status_code == 200, r.text
        assert srv.db.rows("counter") == []
    finally:
        srv.stop()
    with pytest.raises(httpx.ConnectError), httpx.Client(timeout=TIMEOUT) as http:
        http.get(f"{srv.url}/v1/ping")


def test_sync_context_manager_and_fixture_transactions_reach_clients() -> None:
    with LocalServer(game) as srv:

        async def scenario() -> None:
            c = await WsClient.connect(srv.ws_url)
            await c.initial()
            await c.subscribe(1, "SELECT * FROM log WHERE text = 'from the test thread'")
            # The fixture runs in this thread while the server's loop runs in its own.
            log_row = game.table_schema("log").row_class
            await asyncio.to_thread(_insert_log, srv, log_row)
            update = await c.recv_type(m.TransactionUpdate)
            assert len(table_changes(update, "log")[0]) == 1
            await c.close()

        asyncio.run(scenario())


def _insert_log(srv: LocalServer, log_row: type) -> None:
    with srv.db.transaction() as tx:
        tx.log.insert(log_row(0, "from the test thread"))


def test_issue_token_and_owner_identity() -> None:
    srv = LocalServer(game)
    alice = srv.issue_token("alice")
    assert (
        srv.issuer.validate(alice).identity
        == srv.issuer.validate(srv.issue_token("alice")).identity
    )
    assert srv.issuer.validate(srv.owner_token).identity == srv.owner_identity
    assert srv.db.is_owner(srv.owner_identity)
    with pytest.raises(RuntimeError):
        _ = srv.url  # not started


def test_module_from_a_path_and_load_errors(tmp_path: Path) -> None:
    srv = LocalServer(str(CHAT_PATH))
    assert srv.database == "quickstart-chat"
    assert load_module(CHAT_PATH).name == "quickstart-chat"
    with pytest.raises(FileNotFoundError):
        load_module(tmp_path / "missing.py")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ImportError, match="must define"):
        load_module(empty)


def test_init_failure_fails_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad_init.py"
    bad.write_text(
        "from spacetimedb_sdk.server import Module, SenderError\n"
        "module = Module('bad')\n"
        "@module.init\n"
        "def init(ctx) -> None:\n"
        "    raise SenderError('no init for you')\n"
    )
    with pytest.raises(Exception, match="no init for you"):
        LocalServer(bad).start()


@pytest.mark.parametrize("spacetimedb_server", [game], indirect=True)
def test_pytest_fixture_by_parameter(spacetimedb_server: LocalServer) -> None:
    assert spacetimedb_server.db.module is game
    with httpx.Client(base_url=spacetimedb_server.url, timeout=TIMEOUT) as http:
        assert http.get("/v1/ping").status_code == 200


# The plugin registers this marker when pytest loads it as a plugin (its pytest11 entry
# point); here it is only imported, so the marker is built before it is known.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    _serve_chat = pytest.mark.spacetimedb_module(str(CHAT_PATH), database="chat")


@_serve_chat
async def test_pytest_fixture_by_marker_in_an_async_test(spacetimedb_server: LocalServer) -> None:
    assert spacetimedb_server.database == "chat"
    c = await WsClient.connect(spacetimedb_server.ws_url)
    await c.initial()
    await c.close()


# ---- the command line ------------------------------------------------------------------------


def _serve(*extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "spacetimedb_sdk.cli", "serve", str(CHAT_PATH), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


async def _read_banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    lines: dict[str, str] = {}
    while "Owner token" not in lines:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), TIMEOUT)
        assert line, f"serve exited early: {proc.stderr.read() if proc.stderr else ''}"
        if ": " in line:
            key, value = line.rstrip("\n").split(": ", 1)
            lines[key] = value
        elif line.startswith("Serving database"):
            lines["url"] = line.rsplit(" at ", 1)[1].strip()
    return lines


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child needs POSIX")
async def test_serve_prints_url_and_token_and_stops_on_sigint() -> None:
    proc = _serve("--port", "0", "--database", "chat")
    try:
        banner = await _read_banner(proc)
        url = banner["url"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http:
            r = await http.post(
                "/v1/database/chat/sql",
                content="DELETE FROM user",
                headers={"Authorization": f"Bearer {banner['Owner token']}"},
            )
            assert r.status_code == 200, r.text
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(asyncio.to_thread(proc.wait), TIMEOUT)
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_reports_a_missing_module_file() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spacetimedb_sdk.cli", "serve", "no/such/module.py", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "no module file" in proc.stderr


def test_cli_requires_a_command() -> None:
    from spacetimedb_sdk.cli import build_parser, main

    with pytest.raises(SystemExit):
        main([])
    args = build_parser().parse_args(["serve", "m.py", "--port", "0", "--host", "::1"])
    assert (args.module_file, args.port, args.host, args.database) == ("m.py", 0, "::1", None)
