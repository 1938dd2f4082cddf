"""The 0.7 synchronous client: ``SpacetimeDBClient.init(...)`` and a loop calling ``update()``.

0.7 promised that callbacks run inside ``update()``, on the caller's thread; these
tests hold it to that (the network itself runs on a background thread).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from compat_support import CHAT_MODULE, binding, example_bindings, pump

from spacetimedb_sdk.errors import ConnectError
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.spacetimedb_client import SpacetimeDBClient


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer(CHAT_MODULE, database="quickstart-chat").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def no_current_client() -> Iterator[None]:
    yield
    SpacetimeDBClient.instance = None


def test_callbacks_run_inside_update_on_the_callers_thread(server: LocalServer) -> None:
    events: list[tuple[Any, ...]] = []
    threads: set[int] = set()

    def record(*entry: Any) -> None:
        events.append(entry)
        threads.add(threading.get_ident())

    def on_identity(token: str, identity: Any, address: Any) -> None:
        record("identity", token, identity, address)
        SpacetimeDBClient.instance.subscribe(["SELECT * FROM user"])  # type: ignore[union-attr]

    client = SpacetimeDBClient.init(
        None,
        f"localhost:{server.port}",
        "quickstart-chat",
        False,
        example_bindings(),
        on_connect=lambda: record("connect"),
        on_identity=on_identity,
        on_disconnect=lambda msg: record("disconnect", msg),
    )
    assert SpacetimeDBClient.instance is client
    binding("user").User.register_row_update(lambda op, old, new, ev: record("row", op, new, ev))
    binding("set_name_reducer").register_on_set_name(lambda *args: record("set_name", *args))
    client.register_on_subscription_applied(lambda: record("applied"))
    assert events == []  # nothing runs before the first update()

    client.update()
    assert events[0] == ("connect",)
    assert events[1] == ("identity", client.token, client.identity, client.address)
    pump(client.update, lambda: ("applied",) in events, "the subscription")
    me = binding("user").User.filter_by_identity(client.identity)
    assert events[2:] == [("row", "insert", me, None), ("applied",)]

    binding("set_name_reducer").set_name("Carol")
    pump(client.update, lambda: events[-1][0] == "set_name", "set_name's callback")
    row, reducer = events[-2:]
    assert row[:2] == ("row", "update") and row[2].name == "Carol"
    assert (row[3].reducer_name, row[3].status) == ("set_name", "committed")
    assert reducer == ("set_name", client.identity, client.address, "committed", "", "Carol")

    client.close()
    assert events[-1] == ("disconnect", "")
    assert threads == {threading.get_ident()}


def test_connect_failure_goes_to_on_error_or_raises() -> None:
    errors: list[str] = []
    SpacetimeDBClient.init(
        None, "127.0.0.1:1", "quickstart-chat", False, example_bindings(), on_error=errors.append
    )
    assert len(errors) == 1 and errors[0]
    with pytest.raises(ConnectError):
        SpacetimeDBClient.init(None, "127.0.0.1:1", "quickstart-chat", False, example_bindings())
