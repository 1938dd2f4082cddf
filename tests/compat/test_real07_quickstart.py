"""A 0.7 client with bindings the 0.7 CLI generated, unmodified, chats with a 2.x client.

``real07/module_bindings`` are in the exact form ``spacetime generate --lang python`` of
SpacetimeDB 0.7 wrote for the quickstart chat module (tabs, ``typing.List``, rows built with
``User(data)`` from 0.7's JSON, calls to ``SpacetimeDBClient.instance._register_row_update``
and friends); ``real07/main.py`` runs the 0.7 quickstart client of
``examples/compat-07-quickstart`` (which queries ``SELECT * FROM User`` as the 0.7 module named
its tables) with them.  It runs as a user runs it, in its own process, against the local
server serving the 2.x chat module, while a 2.x ``DbConnection`` takes part in the chat; a
second run comes back as the same identity with the saved token.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_support import CHAT_MODULE, ChatProcess, T

from spacetimedb_sdk import DbConnection
from spacetimedb_sdk.server.local import LocalServer

REAL07 = Path(__file__).resolve().parent / "real07"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer(CHAT_MODULE, database="quickstart-chat").start()
    try:
        yield srv
    finally:
        srv.stop()


def test_07_cli_bindings_chat_with_a_2x_client_and_keep_their_identity(
    server: LocalServer, tmp_path: Path
) -> None:
    bob = (
        DbConnection.builder()
        .with_uri(server.url)
        .with_database_name(server.database)
        .connect_sync(timeout=T)
    )
    heard: queue.Queue[str] = queue.Queue()
    bob.db.message.on_insert(lambda ctx, message: heard.put(message.text))
    bob.subscription_builder().subscribe_sync(["SELECT * FROM message"], timeout=T)
    bob.reducers.set_name(name="Bob").result(T)
    try:
        first = ChatProcess(server, tmp_path, REAL07 / "main.py")
        try:
            identity = first.expect(r"SYSTEM: Your identity is ([0-9a-f]{64})").group(1)
            first.expect(r"User Bob connected\.")  # a subscribed row: the 2.x client
            first.expect(r"SYSTEM: Connected\.")

            first.type("/name Alice")
            first.expect(rf"User {identity[:8]} renamed to Alice\.")

            first.type("Hello from 0.7")
            assert heard.get(timeout=T) == "Hello from 0.7"  # the 2.x client got it
            first.expect(r"Alice: Hello from 0.7")

            bob.reducers.send_message(text="Hi from 2.x").result(T)
            first.expect(r"Bob: Hi from 2\.x")  # another client's row, its sender found

            first.type("/name ")
            first.expect(r"Failed to set name: Names must not be empty")
            first.quit()
        finally:
            first.kill()

        second = ChatProcess(server, tmp_path, REAL07 / "main.py")
        try:
            # The token local_config saved: the same identity, its name kept.
            assert second.expect(r"SYSTEM: Your identity is ([0-9a-f]{64})").group(1) == identity
            second.expect(r"User Alice connected\.")
            second.expect(r"SYSTEM: Connected\.")
            second.expect(r"Alice: Hello from 0.7")  # the history, in order
            second.expect(r"Bob: Hi from 2\.x")
            second.quit()
        finally:
            second.kill()
    finally:
        bob.disconnect().result(T)
