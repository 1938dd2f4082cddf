"""Tokens reach no logger, the SDK's or the libraries' it talks through (issue 12).

Every logger is captured at DEBUG (``caplog`` on the root logger) while the SDK mints an
identity, fetches a schema, connects, calls a reducer, and the CLI calls a reducer with
``--token``; no record may contain the token, and the libraries' records must still be
there and readable (only the secret is replaced).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from test_connection_bad_server import HELLO, TIMEOUT, builder, fake_server
from websockets.asyncio.server import ServerConnection

from spacetimedb_sdk import DbConnection
from spacetimedb_sdk._log import RedactingAdapter, redact
from spacetimedb_sdk.cli import main
from spacetimedb_sdk.http import AsyncHttpClient, HttpClient
from spacetimedb_sdk.server.local import LocalServer, load_module

ROOT = Path(__file__).resolve().parents[2]
CHAT = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")


def leaks(records: list[logging.LogRecord], secret: str) -> list[str]:
    """Every captured record (message, args, exception text) that contains ``secret``."""
    found = []
    for r in records:
        text = f"{r.name}: {r.getMessage()} {r.args!r} {r.exc_text or ''}"
        if secret in text or secret.split(".")[-1] in text:
            found.append(text[:300])
    return found


def messages(records: list[logging.LogRecord], logger: str) -> list[str]:
    return [r.getMessage() for r in records if r.name.startswith(logger)]


async def test_no_token_in_any_log_at_debug(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SPACETIMEDB_CLIENT_CREDENTIALS_DIR", str(tmp_path))
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records
    async with LocalServer(CHAT, database="quickstart-chat") as srv:
        # An identity over HTTP: the token comes back in the body and a response header.
        async with AsyncHttpClient(srv.url) as http:
            _, token = await http.create_identity()
        # Schema fetch over HTTP with the token, WebSocket with it, a reducer call.
        conn = await asyncio.wait_for(
            DbConnection.builder()
            .with_uri(srv.url)
            .with_database_name("quickstart-chat")
            .with_token(token)
            .connect(),
            TIMEOUT,
        )
        await asyncio.wait_for(conn.reducers.set_name(name="Logged"), TIMEOUT)
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
        # The CLI with --token (blocking HTTP: run it off the server's loop).
        code = await asyncio.to_thread(
            main,
            ["call", "set_name", '"Cli"', "--server", srv.url, "--database", srv.database,
             "--token", token],
        )  # fmt: skip
        assert code == 0, capsys.readouterr()
        with HttpClient(srv.url, token=token) as sync_http:
            await asyncio.to_thread(sync_http.schema_json, "quickstart-chat")
    assert leaks(caplog.records, token) == []
    assert token not in caplog.text
    # The libraries' DEBUG logs are still there and still say what happened.
    ws = messages(caplog.records, "websockets.client")
    assert any(m.startswith("> GET /v1/database/quickstart-chat/subscribe") for m in ws)
    assert "> Authorization: Bearer <redacted>" in ws
    core = messages(caplog.records, "httpcore")
    assert any("receive_response_headers.complete" in m for m in core)
    assert any("spacetime-identity-token', b'<redacted>'" in m for m in core)


async def test_a_token_of_any_shape_is_hidden_from_websockets_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A bearer token need not be a JWT: the connection's own token is hidden wherever the
    library prints it."""
    secret = "opaque-Secret_42"

    async def handler(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.wait_closed()

    caplog.set_level(logging.DEBUG)
    async with fake_server(handler) as uri:
        conn = await asyncio.wait_for(builder(uri).with_token(secret).connect(), TIMEOUT)
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)
    # (The fake server's own websockets.server logger prints what it received: not ours.)
    client_side = [r for r in caplog.records if not r.name.startswith("websockets.server")]
    assert leaks(client_side, secret) == []
    assert "> Authorization: Bearer <redacted>" in messages(caplog.records, "websockets.client")


def test_redaction_of_header_shapes() -> None:
    assert redact("> Authorization: Bearer abc.def") == "> Authorization: Bearer <redacted>"
    assert redact("< spacetime-identity-token: xyz") == "< spacetime-identity-token: <redacted>"
    assert redact("[(b'Spacetime-Identity-Token', b'xyz'), (b'content-length', b'2')]") == (
        "[(b'Spacetime-Identity-Token', b'<redacted>'), (b'content-length', b'2')]"
    )
    assert redact("no secrets here: 100%") == "no secrets here: 100%"
    assert redact("my token is hunter22", ["hunter22"]) == "my token is <redacted>"


def test_adapter_formats_then_redacts(caplog: pytest.LogCaptureFixture) -> None:
    log = RedactingAdapter(logging.getLogger("test.adapter"), ["s3cr3t", None])
    with caplog.at_level(logging.DEBUG, logger="test.adapter"):
        log.debug("> %s: %s", "X-Custom", "s3cr3t")
        log.info("100%% of %d", 3)
    assert [r.getMessage() for r in caplog.records] == ["> X-Custom: <redacted>", "100% of 3"]
