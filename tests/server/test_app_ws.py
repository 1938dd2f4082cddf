"""The WebSocket endpoint, driven by a raw client: negotiation, auth, framing, flows, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from server_test_support import (
    TIMEOUT,
    Counter,
    WsClient,
    args,
    decode_rows,
    game,
    load_chat,
    table_changes,
)
from websockets.exceptions import InvalidStatus

from spacetimedb_sdk import ConnectionId
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_server_frame,
    encode_client_frame,
)
from spacetimedb_sdk.sats import AlgebraicType, bsatn
from spacetimedb_sdk.server.local import LocalServer

chat = load_chat()


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(game) as server:
        yield server


@pytest.fixture
async def chat_srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(chat.module) as server:
        yield server


async def _status_of_refused(url: str, **kw: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as e:
        await WsClient.connect(url, **kw)
    response = e.value.response
    return response.status_code, response.body.decode() if response.body else ""


# ---- connecting ------------------------------------------------------------------------------


async def test_anonymous_connect_gets_initial_connection_and_identity_headers(
    srv: LocalServer,
) -> None:
    c = await WsClient.connect(srv.ws_url)
    first = await c.initial()
    headers = c.response_headers
    assert headers["spacetime-identity"] == first.identity.to_hex()
    assert headers["spacetime-identity-token"] == first.token
    assert srv.issuer.validate(first.token).identity == first.identity
    assert not first.connection_id.is_zero()
    await c.close()


async def test_token_keeps_the_identity_header_wins_over_query(srv: LocalServer) -> None:
    alice, bob = srv.issue_token("alice"), srv.issue_token("bob")
    alice_id = srv.issuer.validate(alice).identity
    by_header = await WsClient.connect(srv.ws_url, token=alice)
    first = await by_header.initial()
    assert first.identity == alice_id and first.token == alice
    by_query = await WsClient.connect(srv.ws_url, query={"token": alice})
    assert (await by_query.initial()).identity == alice_id
    both = await WsClient.connect(srv.ws_url, token=alice, query={"token": bob})
    assert (await both.initial()).identity == alice_id
    for c in (by_header, by_query, both):
        await c.close()


async def test_bad_or_foreign_tokens_are_refused(srv: LocalServer) -> None:
    other = LocalServer(game).issuer.mint("alice")  # signed by another key
    assert (await _status_of_refused(srv.ws_url, token=other))[0] == 401
    assert (await _status_of_refused(srv.ws_url, token="garbage"))[0] == 401
    expired = srv.issuer.mint("x", expires_in=-3600)
    assert (await _status_of_refused(srv.ws_url, token=expired))[0] == 401
    status, _ = await _status_of_refused(srv.ws_url, headers={"Authorization": "Basic abc"})
    assert status == 400


async def test_connect_by_database_identity(srv: LocalServer) -> None:
    url = srv.ws_url.replace(f"/{srv.database}/", f"/{srv.db.identity.to_hex()}/")
    c = await WsClient.connect(url)
    await c.initial()
    await c.close()
    status, text = await _status_of_refused(srv.ws_url.replace(srv.database, "nowhere"))
    assert (status, text) == (404, "`nowhere` not found")
    stranger = "c200" + "00" * 30
    status, text = await _status_of_refused(srv.ws_url.replace(srv.database, stranger))
    assert (status, text) == (404, "No such database.")


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        ((SUBPROTOCOL_V2, SUBPROTOCOL_V3), SUBPROTOCOL_V3),  # the server's preference wins
        ((SUBPROTOCOL_V3,), SUBPROTOCOL_V3),
        ((SUBPROTOCOL_V2,), SUBPROTOCOL_V2),
        (("v1.bsatn.spacetimedb", SUBPROTOCOL_V2), SUBPROTOCOL_V2),
    ],
)
async def test_subprotocol_negotiation(
    srv: LocalServer, offered: tuple[str, ...], chosen: str
) -> None:
    c = await WsClient.connect(srv.ws_url, protocols=offered)
    assert c.ws.subprotocol == chosen
    await c.initial()
    await c.close()


@pytest.mark.parametrize("offered", [(), ("v4.bsatn.spacetimedb", "v1.spacetimedb", "json")])
async def test_no_acceptable_subprotocol_is_400(srv: LocalServer, offered: tuple[str, ...]) -> None:
    assert await _status_of_refused(srv.ws_url, protocols=offered) == (
        400,
        "no valid protocol selected",
    )


async def test_connection_id_parameter(srv: LocalServer) -> None:
    wanted = ConnectionId(0x1234)
    c = await WsClient.connect(srv.ws_url, query={"connection_id": wanted.to_hex()})
    assert (await c.initial()).connection_id == wanted
    await c.close()
    status, text = await _status_of_refused(srv.ws_url, query={"connection_id": "0" * 32})
    assert (status, text) == (400, "Invalid connection ID: the all-zeros ConnectionId is reserved.")
    assert (await _status_of_refused(srv.ws_url, query={"connection_id": "xyz"}))[0] == 400


async def test_confirmed_is_accepted_and_bad_parameters_are_400(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url, query={"confirmed": "true"})
    await c.initial()
    await c.close()
    assert (await _status_of_refused(srv.ws_url, query={"confirmed": "maybe"}))[0] == 400
    assert (await _status_of_refused(srv.ws_url, compression="Zstd"))[0] == 400


async def test_rejected_client_connected_drops_the_socket_after_the_upgrade(
    srv: LocalServer,
) -> None:
    token = srv.issue_token("mallory")
    with srv.db.transaction() as tx:
        tx.banned.insert(game.table_schema("banned").row_class(srv.issuer.validate(token).identity))
    c = await WsClient.connect(srv.ws_url, token=token)  # the upgrade itself succeeds
    assert await c.closed() == (None, None)  # then: no close frame, no InitialConnection
    assert c.frames == []


# ---- compression -----------------------------------------------------------------------------


async def _big_subscribe(srv: LocalServer, compression: str | None) -> tuple[bytes, bytes]:
    """(first frame = small InitialConnection, frame of a large SubscribeApplied)."""
    srv.db.call_reducer("fill", 20, 200)
    c = await WsClient.connect(srv.ws_url, compression=compression)
    await c.initial()
    applied = await c.subscribe(1, "SELECT * FROM blob")
    assert len(decode_rows(game, "blob", applied.rows.tables[0].rows)) == 20
    await c.close()
    return c.frames[0], c.frames[-1]


@pytest.mark.parametrize(
    ("compression", "tag"), [("None", 0), ("Gzip", 2), ("Brotli", 1), (None, 1)]
)
async def test_compression_above_the_threshold_only(
    srv: LocalServer, compression: str | None, tag: int
) -> None:
    small, big = await _big_subscribe(srv, compression)
    assert small[0] == 0  # InitialConnection is below 1024 bytes
    assert big[0] == tag
    assert len(big) < 4000 or tag == 0


# ---- the chat flow ---------------------------------------------------------------------------


async def test_chat_subscribe_set_name_and_updates(chat_srv: LocalServer) -> None:
    module = chat_srv.module
    alice = await WsClient.connect(chat_srv.ws_url)
    me = (await alice.initial()).identity
    applied = await alice.subscribe(1, "SELECT * FROM user")
    users = decode_rows(module, "user", applied.rows.tables[0].rows)
    assert [(u.identity, u.online) for u in users] == [(me, True)]

    bob = await WsClient.connect(chat_srv.ws_url, protocols=(SUBPROTOCOL_V2,))
    bob_id = (await bob.initial()).identity
    joined = await alice.recv_type(m.TransactionUpdate)  # bob's client_connected
    inserted, _ = table_changes(joined, "user")
    assert [module.row_codec("user").decode(r).identity for r in inserted] == [bob_id]
    await bob.subscribe(5, "SELECT * FROM user")

    result = await alice.call(module, "set_name", "Alice")
    assert isinstance(result.result, m.ReducerOk)
    inserted, deleted = table_changes(result.result, "user")
    assert [module.row_codec("user").decode(r).name for r in inserted] == ["Alice"]
    assert [module.row_codec("user").decode(r).name for r in deleted] == [None]
    update = await bob.recv_type(m.TransactionUpdate)
    assert [qs.query_set_id for qs in update.query_sets] == [5]
    assert table_changes(update, "user") == (inserted, deleted)

    # A failing reducer: Err to the caller, nothing to bob (his next message is the next commit).
    failed = await alice.call(module, "set_name", "")
    assert failed.result == m.ReducerErr(
        bsatn.encode(AlgebraicType.STRING, "Names must not be empty")
    )
    await alice.call(module, "send_message", "hello")  # touches `message`, not `user`
    await alice.call(module, "set_name", "Alicia")
    update = await bob.recv_type(m.TransactionUpdate)
    inserted, _ = table_changes(update, "user")
    assert [module.row_codec("user").decode(r).name for r in inserted] == ["Alicia"]

    await bob.close()
    left = await alice.recv_type(m.TransactionUpdate)  # bob's client_disconnected
    inserted, _ = table_changes(left, "user")
    assert [module.row_codec("user").decode(r).online for r in inserted] == [False]
    await alice.close()


async def test_unknown_and_lifecycle_reducers_are_internal_errors(chat_srv: LocalServer) -> None:
    c = await WsClient.connect(chat_srv.ws_url)
    await c.initial()
    await c.send(m.CallReducer(1, 0, "no_such_thing", b""))
    await c.send(m.CallReducer(2, 0, "identity_connected", b""))
    first = await c.recv_type(m.ReducerResult)
    second = await c.recv_type(m.ReducerResult)
    assert (first.request_id, first.result) == (1, m.ReducerInternalError("no such reducer"))
    assert (second.request_id, second.result) == (
        2,
        m.ReducerInternalError("can't directly call special OnConnect lifecycle reducer"),
    )
    await c.close()


async def test_one_off_query_and_unsubscribe(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.send(m.OneOffQuery(3, "SELECT * FROM counter"))
    result = await c.recv_type(m.OneOffQueryResult)
    assert isinstance(result.result, m.Ok) and result.request_id == 3
    (table,) = result.result.value.tables
    assert decode_rows(game, "counter", table.rows) == [Counter(1, 0)]  # type: ignore[call-arg]
    await c.send(m.OneOffQuery(4, "SELECT * FROM nowhere"))
    bad = await c.recv_type(m.OneOffQueryResult)
    assert isinstance(bad.result, m.Err)

    await c.subscribe(9, "SELECT * FROM counter")
    await c.send(m.Unsubscribe(5, 9, m.UnsubscribeFlags.SEND_DROPPED_ROWS))
    gone = await c.recv_type(m.UnsubscribeApplied)
    assert gone.rows is not None and (gone.request_id, gone.query_set_id) == (5, 9)
    assert decode_rows(game, "counter", gone.rows.tables[0].rows) == [Counter(1, 0)]  # type: ignore[call-arg]
    await c.subscribe(9, "SELECT * FROM counter")  # the id is free again
    await c.send(m.Unsubscribe(6, 9, m.UnsubscribeFlags.DEFAULT))
    assert await c.recv() == m.UnsubscribeApplied(6, 9, None)
    await c.close()


async def test_procedure_call(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.send(m.CallProcedure(7, 0, "add", args(game, "add", 2, 40)))
    result = await c.recv_type(m.ProcedureResult)
    assert result.request_id == 7
    assert result.status == m.ProcedureReturned(bsatn.encode(AlgebraicType.U32, 42))
    await c.close()


async def test_v3_frames_carry_several_messages_both_ways(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url, protocols=(SUBPROTOCOL_V3,))
    await c.initial()
    await c.send(
        m.CallReducer(1, 0, "bump", args(game, "bump", 1)),
        m.CallReducer(2, 0, "bump", args(game, "bump", 2)),
    )
    results = [await c.recv_type(m.ReducerResult), await c.recv_type(m.ReducerResult)]
    assert [r.request_id for r in results] == [1, 2]
    assert srv.db.rows("counter") == [Counter(1, 3)]  # type: ignore[call-arg]
    await c.close()


async def test_v2_ignores_bytes_after_the_first_message(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url, protocols=(SUBPROTOCOL_V2,))
    await c.initial()
    one = encode_client_frame([m.CallReducer(1, 0, "bump", args(game, "bump", 1))], SUBPROTOCOL_V2)
    two = encode_client_frame([m.CallReducer(2, 0, "bump", args(game, "bump", 2))], SUBPROTOCOL_V2)
    await c.send_raw(one + two)
    assert (await c.recv_type(m.ReducerResult)).request_id == 1
    await c.send(m.OneOffQuery(3, "SELECT * FROM counter"))
    assert (await c.recv_type(m.OneOffQueryResult)).request_id == 3  # nothing for request 2
    assert srv.db.rows("counter") == [Counter(1, 1)]  # type: ignore[call-arg]
    await c.close()


# ---- fatal client errors close with 1011; others keep being served ----------------------------


async def _still_served(srv: LocalServer, c: WsClient) -> None:
    result = await c.call(game, "bump", 1)
    assert isinstance(result.result, m.ReducerOk)


async def test_reused_query_set_id_closes_1011_and_others_keep_working(srv: LocalServer) -> None:
    bystander = await WsClient.connect(srv.ws_url)
    await bystander.initial()
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.subscribe(1, "SELECT * FROM counter")
    await c.send(m.Subscribe(2, 1, ["SELECT * FROM log"]))
    code, reason = await c.closed()
    assert code == 1011 and reason is not None and "already exists" in reason
    await _still_served(srv, bystander)
    await bystander.close()


@pytest.mark.parametrize("protocol", [SUBPROTOCOL_V2, SUBPROTOCOL_V3])
async def test_garbage_and_text_frames_close_1011(srv: LocalServer, protocol: str) -> None:
    bystander = await WsClient.connect(srv.ws_url)
    await bystander.initial()
    garbage = await WsClient.connect(srv.ws_url, protocols=(protocol,))
    await garbage.initial()
    await garbage.send_raw(b"\xff\x00\x01")
    code, reason = await garbage.closed()
    assert code == 1011 and reason
    text = await WsClient.connect(srv.ws_url, protocols=(protocol,))
    await text.initial()
    await text.send_raw("hello")
    version = protocol.split(".")[0]
    assert await text.closed() == (1011, f"{version} websocket does not support text messages")
    await _still_served(srv, bystander)
    await bystander.close()


async def test_empty_v3_frame_closes_1011(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url, protocols=(SUBPROTOCOL_V3,))
    await c.initial()
    await c.send_raw(b"")
    code, reason = await c.closed()
    assert code == 1011 and reason and "at least one" in reason


async def test_message_over_the_size_limit_closes(srv: LocalServer) -> None:
    srv.settings.max_message_size = 1024
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.send_raw(b"\x02" + b"\x00" * 2048)
    code, _ = await c.closed()
    assert code == 1009


# ---- scheduled reducers reach subscribers ------------------------------------------------------


async def test_scheduled_reducer_fires_and_its_updates_arrive(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.subscribe(1, "SELECT * FROM log WHERE text = 'tick soon'", "SELECT * FROM ticker")
    result = await c.call(game, "schedule_every", 30_000, "soon")
    inserted, _ = table_changes(result.result, "ticker")  # type: ignore[arg-type]
    (timer,) = [game.row_codec("ticker").decode(r) for r in inserted]
    for _ in range(2):  # an interval repeats
        update = await c.recv_type(m.TransactionUpdate)
        inserted, _ = table_changes(update, "log")
        assert [game.row_codec("log").decode(r).text for r in inserted] == ["tick soon"]
    await c.call(game, "cancel", timer.scheduled_id)
    assert srv.db.scheduler.pending() == []
    await c.close()


async def test_one_shot_schedule_deletes_its_row(srv: LocalServer) -> None:
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    await c.subscribe(1, "SELECT * FROM log WHERE text = 'tick once'", "SELECT * FROM ticker")
    await c.call(game, "schedule_in", 20_000, "once")
    fired = await c.recv_type(m.TransactionUpdate)
    assert len(table_changes(fired, "log")[0]) == 1
    removed = await c.recv_type(m.TransactionUpdate)
    assert (
        table_changes(removed, "ticker")[0] == [] and len(table_changes(removed, "ticker")[1]) == 1
    )
    await c.close()


# ---- keep-alive and shutdown ---------------------------------------------------------------


async def test_server_pings_and_drops_an_idle_client() -> None:
    async with (
        LocalServer(game, ping_interval=0.05, idle_timeout=0.5) as srv,
        aiohttp.ClientSession() as session,
    ):
        url = srv.ws_url + "?compression=None"
        ws = await session.ws_connect(url, protocols=(SUBPROTOCOL_V2,), autoping=False)
        first = await ws.receive(timeout=TIMEOUT)
        assert first.type is aiohttp.WSMsgType.BINARY
        assert isinstance(decode_server_frame(first.data, SUBPROTOCOL_V2)[0], m.InitialConnection)
        ping = await ws.receive(timeout=TIMEOUT)
        assert ping.type is aiohttp.WSMsgType.PING
        # No pong and nothing else from us: the server drops the connection, without a close frame.
        end = await ws.receive(timeout=TIMEOUT)
        assert end.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert end.type is not aiohttp.WSMsgType.CLOSE


async def test_answered_pings_keep_a_quiet_client_connected() -> None:
    async with (
        LocalServer(game, ping_interval=0.05, idle_timeout=1.0) as srv,
        aiohttp.ClientSession() as session,
    ):
        url = srv.ws_url + "?compression=None"
        ws = await session.ws_connect(url, protocols=(SUBPROTOCOL_V2,), autoping=False)
        await ws.receive(timeout=TIMEOUT)  # InitialConnection
        # The next ping only comes once the previous one is answered; 30 of them span
        # more than the idle timeout, and our pongs keep the connection open.
        for _ in range(30):
            ping = await ws.receive(timeout=TIMEOUT)
            assert ping.type is aiohttp.WSMsgType.PING
            await ws.pong(ping.data)
        frame = encode_client_frame([m.OneOffQuery(1, "SELECT * FROM counter")], SUBPROTOCOL_V2)
        await ws.send_bytes(frame)
        while True:
            msg = await ws.receive(timeout=TIMEOUT)
            if msg.type is aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
                continue
            assert msg.type is aiohttp.WSMsgType.BINARY
            (reply,) = decode_server_frame(msg.data, SUBPROTOCOL_V2)
            assert isinstance(reply, m.OneOffQueryResult)
            break
        await ws.close()


async def test_stopping_the_server_closes_clients_with_1001() -> None:
    srv = await LocalServer(game).start_async()
    c = await WsClient.connect(srv.ws_url)
    await c.initial()
    stopping = asyncio.create_task(srv.stop_async())
    assert await c.closed() == (1001, "module exited")
    await asyncio.wait_for(stopping, TIMEOUT)
