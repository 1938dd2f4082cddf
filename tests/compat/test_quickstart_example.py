"""The 0.7-style quickstart client in ``examples/compat-07-quickstart`` against the local server.

The example runs as a user runs it: ``python main.py`` in its own process, typing on
stdin and reading stdout, with ``HOME`` pointing at a temporary directory so that
``local_config`` keeps its token there.  A second run must come back as the same
identity (the server greets it by the name set in the first run).

Its committed ``module_bindings`` must be what ``spacetimedb-py generate --compat-07``
writes today for the quickstart-chat module.
"""

from __future__ import annotations

import configparser
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_support import CHAT_MODULE, EXAMPLE, ChatProcess, T

from spacetimedb_sdk.codegen import load_schema_from_server, render
from spacetimedb_sdk.server.local import LocalServer


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer(CHAT_MODULE, database="quickstart-chat").start()
    try:
        yield srv
    finally:
        srv.stop()


def test_the_0_7_quickstart_chats_and_keeps_its_identity(
    server: LocalServer, tmp_path: Path
) -> None:
    first = ChatProcess(server, tmp_path, EXAMPLE / "main.py")
    try:
        identity = first.expect(r"SYSTEM: Your identity is ([0-9a-f]{64})").group(1)
        short = identity[:8]
        # Its own user row arrives with the subscription, before "Connected" (0.7's order).
        first.expect(rf"User {short} connected\.")
        first.expect(r"SYSTEM: Connected\.")
        assert first.lines[-2:] == [f"User {short} connected.", "SYSTEM: Connected."]

        first.type("/name Alice")
        first.expect(rf"User {short} renamed to Alice\.")  # a row update, old and new
        first.type("Hello from 0.7")
        first.expect(r"Alice: Hello from 0.7")  # the insert, its sender found by identity
        first.type("/name ")
        first.expect(r"Failed to set name: Names must not be empty")  # status "failed"
        first.quit()
    finally:
        first.kill()

    settings = tmp_path / ".spacetimedb-python-quickstart" / "settings.ini"
    parser = configparser.ConfigParser()
    parser.read(settings)
    assert parser.get("main", "auth_token").startswith("eyJ")  # on_connect saved the token
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600

    second = ChatProcess(server, tmp_path, EXAMPLE / "main.py")
    try:
        assert second.expect(r"SYSTEM: Your identity is ([0-9a-f]{64})").group(1) == identity
        second.expect(r"User Alice connected\.")  # the same user, name and all
        second.expect(r"SYSTEM: Connected\.")
        second.expect(r"Alice: Hello from 0.7")  # history, printed in order
        second.quit()
    finally:
        second.kill()


def test_committed_bindings_are_what_generate_writes(server: LocalServer) -> None:
    folder = EXAMPLE / "module_bindings"
    committed = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.is_file()}
    header = committed["__init__.py"].splitlines()[0]
    found = re.search(r"spacetimedb-sdk ([^)\s]+)\)", header)
    assert found, header
    schema = load_schema_from_server(server.url, server.database, timeout=T)
    fresh = render(schema, compat_07=True, version=found.group(1))
    assert sorted(fresh) == sorted(committed)
    for name, text in fresh.items():
        assert committed[name] == text, (
            f"{name} is stale: regenerate with `spacetimedb-py generate --server URL "
            f"--database quickstart-chat --compat-07 --out-dir {folder}`"
        )
