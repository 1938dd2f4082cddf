"""The v1 WebSocket protocols (``v1.json.spacetimedb``, ``v1.bsatn.spacetimedb``) as upstream 2.8
serves them: negotiation, IdentityToken, subscriptions (single, multi, legacy), light and full
transaction updates, reducer calls with their flags, one-off queries, procedures, and errors.

References: ``crates/client-api-messages/src/websocket/v1.rs`` (messages),
``crates/client-api/src/routes/subscribe.rs`` (negotiation, in-band execution errors),
``crates/core/src/client/message_handlers_v1.rs`` and ``client_connection.rs`` (flags),
``crates/core/src/subscription/module_subscription_{actor,manager}.rs`` (v1 updates).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from server_test_support import TIMEOUT, WsClient, args, game
from v1_test_client import V1Client
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from spacetimedb_sdk.protocol.v1 import SUBPROTOCOL_V1_BSATN, SUBPROTOCOL_V1_JSON
from spacetimedb_sdk.protocol.v1 import messages as v1
from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ReducerContext
from spacetimedb_sdk.server.local import LocalServer

FORMATS = {"json": True, "bsatn": False}
U32_MAX = 2**32 - 1


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(game) as server:
        yield server


def counter_row(c: V1Client, n: int) -> object:
    """The `counter` row (id 1, n) as the client sees it."""
    return [1, n] if c.json else struct.pack("<IQ", 1, n)


async def _client(srv: LocalServer, fmt: str, **kw: object) -> V1Client:
    c = await V1Client.connect(srv.ws_url, json_format=FORMATS[fmt], **kw)  # type: ignore[arg-type]
    hello = await c.recv_type(v1.IdentityToken)
    assert hello.connection_id.value != 0
    c.identity = hello.identity
    return c


def _table(update: v1.DatabaseUpdate, name: str) -> v1.TableUpdate:
    (table,) = [t for t in update.tables if t.table_name == name]
    return table


# ---- connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ([SUBPROTOCOL_V1_JSON], SUBPROTOCOL_V1_JSON),
        ([SUBPROTOCOL_V1_BSATN], SUBPROTOCOL_V1_BSATN),
        ([SUBPROTOCOL_V1_JSON, SUBPROTOCOL_V1_BSATN], SUBPROTOCOL_V1_BSATN),
        ([SUBPROTOCOL_V1_JSON, "v2.bsatn.spacetimedb"], "v2.bsatn.spacetimedb"),
        ([SUBPROTOCOL_V1_BSATN, "v3.bsatn.spacetimedb"], "v3.bsatn.spacetimedb"),
    ],
)
async def test_negotiation_prefers_v3_v2_v1bsatn_v1json(
    srv: LocalServer, offered: list[str], chosen: str
) -> None:
    async with connect(
        srv.ws_url + "?compression=None",
        subprotocols=offered,
        open_timeout=TIMEOUT,  # type: ignore[arg-type]
    ) as ws:
        assert ws.subprotocol == chosen


@pytest.mark.parametrize("fmt", FORMATS)
async def test_identity_token_first(srv: LocalServer, fmt: str) -> None:
    token = srv.issue_token("alice")
    c = await V1Client.connect(srv.ws_url, json_format=FORMATS[fmt], token=token)
    hello = await c.recv_type(v1.IdentityToken)
    assert hello.token == token
    assert hello.identity == srv.issuer.validate(token).identity
    if c.json:
        body = c.raw[0]["IdentityToken"]
        assert list(body) == ["identity", "token", "connection_id"]
        assert body["identity"] == {"__identity__": f"0x{hello.identity.to_hex().lstrip('0')}"}
    await c.close()


# ---- subscriptions and updates ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("light", ["true", "false"])
async def test_subscribe_multi_and_updates(srv: LocalServer, fmt: str, light: str) -> None:
    watcher = await _client(srv, fmt, query={"light": light})
    caller = await _client(srv, fmt)
    await watcher.send(v1.SubscribeMulti(["SELECT * FROM counter"], 1, 10))
    applied = await watcher.recv_type(v1.SubscribeMultiApplied)
    assert (applied.request_id, applied.query_id) == (1, 10)
    table = _table(applied.update, "counter")
    assert table.table_id == 4096 and table.num_rows == 1
    (qu,) = table.updates
    assert isinstance(qu, v1.QueryUpdate)
    assert watcher.rows(qu.inserts) == [counter_row(watcher, 0)]
    assert watcher.rows(qu.deletes) == []

    await caller.send(v1.CallReducer("bump", caller.args(args(game, "bump", 5), [5]), 42))
    # The caller is not subscribed: a full TransactionUpdate with an empty update, its details.
    tx = await caller.recv_type(v1.TransactionUpdate)
    assert tx.status == v1.Committed(v1.DatabaseUpdate([]))
    assert tx.caller_identity == caller.identity
    assert (tx.reducer_call.reducer_name, tx.reducer_call.request_id) == ("bump", 42)
    assert tx.reducer_call.args == caller.args(args(game, "bump", 5), [5])
    # Others only learn the table changes (2.x modules hide reducer details, light or not).
    light_update = await watcher.recv_type(v1.TransactionUpdateLight)
    (change,) = _table(light_update.update, "counter").updates
    assert isinstance(change, v1.QueryUpdate)
    assert watcher.rows(change.deletes) == [counter_row(watcher, 0)]
    assert watcher.rows(change.inserts) == [counter_row(watcher, 5)]
    if watcher.json:
        body = watcher.raw[-1]["TransactionUpdateLight"]["update"]["tables"][0]
        assert list(body) == ["table_id", "table_name", "num_rows", "updates"]
        assert list(body["updates"][0]) == ["deletes", "inserts"]  # deletes first
        assert body["updates"][0]["inserts"] == ["[1,5]"]  # each row is JSON text
    for c in (watcher, caller):
        await c.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_caller_subscribed_gets_its_changes_in_the_full_update(
    srv: LocalServer, fmt: str
) -> None:
    c = await _client(srv, fmt)
    await c.send(v1.SubscribeSingle("SELECT * FROM counter", 1, 3))
    applied = await c.recv_type(v1.SubscribeApplied)
    assert (applied.rows.table_id, applied.rows.table_name) == (4096, "counter")
    (qu,) = applied.rows.table_rows.updates
    assert isinstance(qu, v1.QueryUpdate) and c.rows(qu.inserts) == [counter_row(c, 0)]
    await c.send(v1.CallReducer("bump", c.args(args(game, "bump", 2), [2]), 7))
    tx = await c.recv_type(v1.TransactionUpdate)
    assert isinstance(tx.status, v1.Committed)
    (change,) = _table(tx.status.update, "counter").updates
    assert isinstance(change, v1.QueryUpdate)
    assert c.rows(change.inserts) == [counter_row(c, 2)]
    # Unsubscribe returns the rows to remove as deletes.
    await c.send(v1.Unsubscribe(2, 3))
    gone = await c.recv_type(v1.UnsubscribeApplied)
    (qu,) = gone.rows.table_rows.updates
    assert isinstance(qu, v1.QueryUpdate) and c.rows(qu.deletes) == [counter_row(c, 2)]
    await c.send(v1.Unsubscribe(3, 3))
    error = await c.recv_type(v1.SubscriptionError)
    assert (error.request_id, error.query_id) == (3, 3)
    assert error.error.startswith("Subscription not found")
    await c.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_no_success_notify(srv: LocalServer, fmt: str) -> None:
    c = await _client(srv, fmt)
    await c.send(v1.SubscribeMulti(["SELECT * FROM counter"], 1, 1))
    await c.recv_type(v1.SubscribeMultiApplied)
    flags = v1.CallReducerFlags.NO_SUCCESS_NOTIFY
    await c.send(v1.CallReducer("bump", c.args(args(game, "bump", 1), [1]), 2, flags))
    # Treated like any subscriber: the light update only.
    await c.recv_type(v1.TransactionUpdateLight)
    # A failure is not reported at all (as upstream): the next message is the one-off answer.
    await c.send(v1.CallReducer("fail", c.args(b"", []), 3, flags))
    await c.send(v1.OneOffQuery(b"\x01", "SELECT * FROM counter"))
    answer = await c.recv_type(v1.OneOffQueryResponse)
    assert answer.message_id == b"\x01"
    assert [c.rows(t.rows) for t in answer.tables] == [[counter_row(c, 1)]]
    await c.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_failures_are_reported_in_band(srv: LocalServer, fmt: str) -> None:
    c = await _client(srv, fmt)
    await c.send(v1.CallReducer("fail", c.args(b"", []), 5))
    tx = await c.recv_type(v1.TransactionUpdate)
    assert tx.status == v1.Failed("nope")
    assert tx.reducer_call.reducer_name == "fail"
    await c.send(v1.CallReducer("nosuch", c.args(b"", []), 6))
    tx = await c.recv_type(v1.TransactionUpdate)
    assert tx.status == v1.Failed("no such reducer")
    assert (tx.reducer_call.reducer_id, tx.reducer_call.request_id) == (U32_MAX, 0)
    await c.send(v1.CallReducer("bump", c.args(b"\x01", ["x"]), 7))
    tx = await c.recv_type(v1.TransactionUpdate)
    assert isinstance(tx.status, v1.Failed)
    assert tx.status.message.startswith("invalid arguments for reducer bump")
    # Subscription errors carry the request and query ids.
    await c.send(v1.SubscribeMulti(["SELECT * FROM nowhere"], 8, 9))
    error = await c.recv_type(v1.SubscriptionError)
    assert (error.request_id, error.query_id, error.table_id) == (8, 9, None)
    assert error.error.startswith("no such table: `nowhere`")
    # A query id in use is an execution error, answered in-band.
    await c.send(v1.SubscribeMulti(["SELECT * FROM counter"], 10, 11))
    await c.recv_type(v1.SubscribeMultiApplied)
    await c.send(v1.SubscribeMulti(["SELECT * FROM log"], 12, 11))
    tx = await c.recv_type(v1.TransactionUpdate)
    assert isinstance(tx.status, v1.Failed)
    assert "Subscription with id QuerySetId { id: 11 } already exists" in tx.status.message
    # One-off query errors.
    await c.send(v1.OneOffQuery(b"\xab", "SELECT * FROM nowhere"))
    answer = await c.recv_type(v1.OneOffQueryResponse)
    assert answer.message_id == b"\xab" and answer.tables == []
    assert answer.error is not None and "nowhere" in answer.error
    await c.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_shared_queries_and_legacy_subscribe(srv: LocalServer, fmt: str) -> None:
    c = await _client(srv, fmt)
    await c.send(v1.SubscribeMulti(["SELECT * FROM counter"], 1, 1))
    await c.recv_type(v1.SubscribeMultiApplied)
    # The same query under another id is shared: no new rows to send.
    await c.send(v1.SubscribeMulti(["SELECT * FROM counter", "SELECT * FROM banned"], 2, 2))
    applied = await c.recv_type(v1.SubscribeMultiApplied)
    assert [t.table_name for t in applied.update.tables] == []
    # Dropping one id keeps the shared query; dropping both removes its rows.
    await c.send(v1.UnsubscribeMulti(3, 1))
    assert (await c.recv_type(v1.UnsubscribeMultiApplied)).update.tables == []
    await c.send(v1.UnsubscribeMulti(4, 2))
    dropped = await c.recv_type(v1.UnsubscribeMultiApplied)
    (qu,) = _table(dropped.update, "counter").updates
    assert isinstance(qu, v1.QueryUpdate) and c.rows(qu.deletes) == [counter_row(c, 0)]
    # The legacy Subscribe answers InitialSubscription, and replaces itself.
    await c.send(v1.Subscribe(["SELECT * FROM counter"], 5))
    initial = await c.recv_type(v1.InitialSubscription)
    assert initial.request_id == 5
    (qu,) = _table(initial.database_update, "counter").updates
    assert isinstance(qu, v1.QueryUpdate) and c.rows(qu.inserts) == [counter_row(c, 0)]
    await c.send(v1.Subscribe(["SELECT * FROM nowhere"], 6))
    tx = await c.recv_type(v1.TransactionUpdate)  # legacy failures are execution errors
    assert isinstance(tx.status, v1.Failed) and "nowhere" in tx.status.message
    await c.close()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_procedures(srv: LocalServer, fmt: str) -> None:
    c = await _client(srv, fmt)
    await c.send(v1.CallProcedure("add", c.args(args(game, "add", 2, 3), [2, 3]), 4))
    result = await c.recv_type(v1.ProcedureResult)
    assert result.request_id == 4
    assert result.status == v1.ProcedureReturned("5" if c.json else struct.pack("<I", 5))
    await c.send(v1.CallProcedure("nosuch", c.args(b"", []), 5))
    failed = await c.recv_type(v1.ProcedureResult)
    assert failed.status == v1.ProcedureInternalError("No such procedure")
    await c.close()


# ---- event tables, bad input, compression -----------------------------------------------------

events = Module("v1-events")


@events.table(public=True, event=True)
class Ping:
    n: U32


@events.reducer
def send_ping(ctx: ReducerContext, n: U32) -> None:
    ctx.db.ping.insert(Ping(n))  # type: ignore[call-arg]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_event_tables_need_v2(fmt: str) -> None:
    async with LocalServer(events) as srv:
        c = await _client(srv, fmt)
        await c.send(v1.SubscribeSingle("SELECT * FROM ping", 1, 1))
        error = await c.recv_type(v1.SubscriptionError)
        assert error.error == (
            "Subscribing to event tables requires WebSocket v2. "
            "Please upgrade your client SDK and regenerate your module bindings."
        )
        await c.close()


@pytest.mark.parametrize(
    ("fmt", "frame"),
    [("bsatn", b"\x09\x00"), ("bsatn", b""), ("json", "{oops"), ("json", '{"Nope": {}}')],
)
async def test_undecodable_frames_close_with_1011(
    srv: LocalServer, fmt: str, frame: bytes | str
) -> None:
    c = await _client(srv, fmt)
    await c.ws.send(frame)
    code, reason = await c.closed()
    assert code == 1011 and reason
    # Nothing is lost: others keep being served.
    other = await _client(srv, fmt)
    await other.send(v1.OneOffQuery(b"", "SELECT * FROM counter"))
    assert (await other.recv_type(v1.OneOffQueryResponse)).error is None
    await other.close()


async def test_text_frames_on_the_binary_protocol_are_json(srv: LocalServer) -> None:
    """As upstream, the frame's kind decides its format, whichever v1 protocol was chosen."""
    c = await _client(srv, "bsatn")
    await c.ws.send(
        '{"OneOffQuery": {"message_id": "07", "query_string": "SELECT * FROM counter"}}'
    )
    answer = await c.recv_type(v1.OneOffQueryResponse)
    assert answer.message_id == b"\x07"
    await c.close()


async def test_bsatn_frames_are_compressed_when_asked(srv: LocalServer) -> None:
    srv.db.call_reducer("fill", 50, 200)
    c = await _client(srv, "bsatn", query={"compression": "Gzip"})
    await c.send(v1.SubscribeMulti(["SELECT * FROM blob"], 1, 1))
    applied = await c.recv_type(v1.SubscribeMultiApplied)
    assert _table(applied.update, "blob").num_rows == 50
    frame = c.frames[-1]
    assert isinstance(frame, bytes) and frame[0] == 2  # gzip
    await c.close()


async def test_v1_and_v2_clients_side_by_side(srv: LocalServer) -> None:
    v1c = await _client(srv, "bsatn")
    v2c = await WsClient.connect(srv.ws_url)
    await v2c.initial()
    await v1c.send(v1.SubscribeMulti(["SELECT * FROM counter"], 1, 1))
    await v1c.recv_type(v1.SubscribeMultiApplied)
    from spacetimedb_sdk.protocol import messages as m

    await v2c.send(m.CallReducer(1, 0, "bump", args(game, "bump", 9)))
    result = await v2c.recv_type(m.ReducerResult)
    assert isinstance(result.result, m.ReducerOk)
    light = await v1c.recv_type(v1.TransactionUpdateLight)
    (change,) = _table(light.update, "counter").updates
    assert isinstance(change, v1.QueryUpdate)
    assert v1c.rows(change.inserts) == [struct.pack("<IQ", 1, 9)]
    await asyncio.gather(v1c.close(), v2c.ws.close())


@pytest.mark.parametrize(
    ("path", "query", "headers", "status", "text"),
    [
        ("nowhere", "", {}, 404, "`nowhere` not found"),
        (None, "", {"Authorization": "Bearer not.a.token"}, 401, "Invalid token"),
        (None, "&light=maybe", {}, 400, "Failed to deserialize query string"),
    ],
    ids=["unknown-database", "bad-token", "bad-light"],
)
async def test_refused_upgrades(
    srv: LocalServer,
    path: str | None,
    query: str,
    headers: dict[str, str],
    status: int,
    text: str,
) -> None:
    url = srv.ws_url if path is None else srv.ws_url.replace(srv.database, path)
    with pytest.raises(InvalidStatus) as e:
        await connect(
            f"{url}?compression=None{query}",
            subprotocols=[SUBPROTOCOL_V1_JSON],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=TIMEOUT,
        )
    response = e.value.response
    assert response.status_code == status
    assert (response.body or b"").decode().startswith(text)
    # The server keeps serving.
    c = await _client(srv, "json")
    await c.close()
