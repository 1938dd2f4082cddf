"""The limits themselves, without sockets: a client's outgoing queue, ServerLimits, ``serve --limit``.

The queue is a :class:`ClientConnection` with an encoder, as the web app creates it; its
bounds are the number of messages and their encoded bytes not yet written to the socket.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk import ConnectionId, Err, Identity
from spacetimedb_sdk.cli.options import CliError
from spacetimedb_sdk.cli.parser import build_parser
from spacetimedb_sdk.cli.serve import _limits
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.server import ServerLimits
from spacetimedb_sdk.server.host import ClientConnection
from spacetimedb_sdk.server.limits import LimitCounters


def _client(
    max_queued: int | None = None, max_queued_bytes: int | None = None
) -> tuple[ClientConnection, LimitCounters]:
    counters = LimitCounters()
    client = ClientConnection(
        Identity(1),
        ConnectionId(2),
        "",
        encoder=lambda msg: b"x" * msg.request_id,  # a message's size is its request id
        max_queued=max_queued,
        max_queued_bytes=max_queued_bytes,
        counters=counters,
    )
    return client, counters


def _msg(size: int) -> m.ServerMessage:
    return m.OneOffQueryResult(size, Err("e"))


def test_the_message_bound_aborts_the_client_and_frees_its_queue() -> None:
    client, counters = _client(max_queued=3)
    for _ in range(3):
        client.send(_msg(10))
    assert (client.outgoing_queued, client.outgoing_bytes) == (3, 30)
    client.send(_msg(10))
    assert client.abort_close is not None and client.abort_close.code == 1013
    assert client.abort_close.reason == "too far behind: 4 messages (0.0 MiB) not yet read"
    assert (client.outgoing_queued, client.outgoing_bytes) == (0, 0)
    assert client.closing and client.closed_by_server
    assert counters.outgoing_queue_disconnects == 1
    client.send(_msg(10))  # nothing more is queued, nothing counted twice
    assert client.outgoing_queued == 0 and counters.outgoing_queue_disconnects == 1


def test_the_byte_bound_lets_one_big_message_through_alone() -> None:
    client, counters = _client(max_queued_bytes=100)
    client.send(_msg(500))  # alone: accepted, however big
    assert (client.outgoing_queued, client.outgoing_bytes) == (1, 500)
    client.written(1, 500)  # the writer wrote it
    client.send(_msg(60))
    client.send(_msg(40))
    assert client.outgoing_bytes == 100 and client.abort_close is None
    client.send(_msg(1))
    assert client.abort_close is not None and counters.outgoing_queue_disconnects == 1


@given(st.lists(st.tuples(st.integers(1, 50), st.booleans()), max_size=60))
def test_what_is_queued_is_what_was_sent_and_not_yet_written(ops: list[tuple[int, bool]]) -> None:
    """The counters follow a model: sends add, the writer's reports subtract, and the bounds
    trip exactly when the model passes them."""
    client, _ = _client(max_queued=10, max_queued_bytes=200)
    queued: list[int] = []
    for size, write in ops:
        if write and queued:
            client.written(1, queued.pop(0))
            continue
        over = len(queued) + 1 > 10 or (queued and sum(queued) + size > 200)
        client.send(_msg(size))
        if over:
            assert client.abort_close is not None
            assert (client.outgoing_queued, client.outgoing_bytes) == (0, 0)
            return
        queued.append(size)
        assert (client.outgoing_queued, client.outgoing_bytes) == (len(queued), sum(queued))


def test_server_limits_validate_their_values() -> None:
    assert ServerLimits().incoming_queue_length == 16_384  # upstream's
    assert ServerLimits().outgoing_queue_length == 16_384  # upstream's
    with pytest.raises(ValueError, match="outgoing_queue_bytes must be a positive int or None"):
        ServerLimits(outgoing_queue_bytes=0)


def test_serve_limit_options() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["serve", "m.py", "--limit", "outgoing_queue_length=100", "--limit", "sql-row-limit=0"]
    )
    limits = _limits(args.limit)
    assert limits.outgoing_queue_length == 100 and limits.sql_row_limit is None
    assert limits.incoming_queue_length == 16_384
    with pytest.raises(CliError, match="no limit named 'queue'; one of incoming_queue_length"):
        _limits(parser.parse_args(["serve", "m.py", "--limit", "queue=1"]).limit)
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "m.py", "--limit", "sql_max_rows=many"])
