"""Module features of procedures and reducers: transactions that roll back, ``ctx.http`` and its
errors, ``sleep_until``, UUIDs, ``sender_auth``, and what a reducer may return.

Upstream texts reproduced (``crates/core/src/host/instance_env.rs`` and reqwest/hyper-util's error
chain, which upstream joins with ``": "``): ``refusing to connect to private or special-purpose
addresses``, ``error sending request for url (URL): operation timed out``, ``error sending
request for url (URL): client error (Connect): dns error: ...``; the errno text ``Attempted async
or blocking op while holding open a transaction`` (``crates/primitives/src/errno.rs``).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from exec_support import http_server, module, release_gates  # noqa: F401
from server_test_support import WsClient, args, table_changes

from spacetimedb_sdk import Timestamp
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats import AlgebraicType, bsatn
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.server.module import AuthCtx, HttpPolicy
from spacetimedb_sdk.server.module.uuids import uuid_v4, uuid_v7


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(module, allow_loopback_http=True) as server:
        yield server


async def _procedure(srv: LocalServer, name: str, *values: Any, token: str | None = None) -> Any:
    """Call a procedure over the WebSocket; its decoded return value (or its error text)."""
    client = await WsClient.connect(srv.ws_url, token=token)
    await client.initial()
    await client.send(m.CallProcedure(1, 0, name, args(module, name, *values)))
    while True:
        msg = await client.recv()
        if isinstance(msg, m.ProcedureResult):
            break
    await client.close()
    if isinstance(msg.status, m.ProcedureInternalError):
        return msg.status
    pd = module.procedure_def(name)
    assert pd is not None
    return module.return_codec(pd).decode(msg.status.value)


def _notes(srv: LocalServer) -> list[str]:
    return [row.text for row in srv.db.rows("note")]


# ---- transactions that roll back --------------------------------------------------------------


async def test_try_with_tx_returning_err_rolls_back_and_returns_the_err(srv: LocalServer) -> None:
    result = await _procedure(srv, "try_with_tx_err")
    assert result == "Err(error='not this time') Ok(value=None) 1"
    assert _notes(srv) == ["kept"]


async def test_a_procedure_raising_mid_transaction_rolls_back_and_loses_nothing(
    srv: LocalServer,
) -> None:
    watcher = await WsClient.connect(srv.ws_url)
    await watcher.initial()
    await watcher.subscribe(1, "SELECT * FROM note")
    result = await _procedure(srv, "raise_mid_transaction")
    assert result == m.ProcedureInternalError("ValueError: mid-transaction failure")
    # The first transaction stays (and reached subscribers); the failing one left nothing.
    assert _notes(srv) == ["first, committed"]
    update = await watcher.recv_type(m.TransactionUpdate)
    codec = module.row_codec("note")
    assert [codec.decode(r).text for r in table_changes(update, "note")[0]] == ["first, committed"]
    # The database goes on as before.
    after = await watcher.call(module, "add_note", "later")
    assert isinstance(after.result, m.ReducerOk)
    assert _notes(srv) == ["first, committed", "later"]


# ---- ctx.http ---------------------------------------------------------------------------------


async def test_http_get_reads_a_local_server(srv: LocalServer) -> None:
    # Upstream's `read_my_schema`: a procedure fetches from the server it runs on.
    body = await _procedure(srv, "http_get", f"{srv.url}/v1/ping", 0)
    assert body == "200 "
    schema = await _procedure(
        srv, "http_get", f"{srv.url}/v1/database/{srv.db.identity.to_hex()}/schema?version=9", 0
    )
    assert schema.startswith("200 ") and "procedure_concurrency_row" in schema


async def test_http_to_an_unreachable_host_is_an_http_error(srv: LocalServer) -> None:
    # Upstream's `invalid_request` (the Rust procedure client asserts "error" and the URL).
    result = await _procedure(srv, "http_get", "http://foo.invalid/path?secret=1", 0)
    assert result.startswith(
        "error: error sending request for url (http://foo.invalid/path): "
        "client error (Connect): dns error: failed to lookup address information: "
    )
    assert "secret" not in result  # the query is never echoed (it may carry credentials)


async def test_http_timeout_is_an_http_error(srv: LocalServer) -> None:
    release = asyncio.Event()

    async def hang(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        await release.wait()
        return aiohttp.web.Response(text="too late")

    async with http_server({"/hang": hang}) as base:
        try:
            result = await _procedure(srv, "http_get", f"{base}/hang", 200)
        finally:
            release.set()
    assert result == f"error: error sending request for url ({base}/hang): operation timed out"


async def test_loopback_is_refused_unless_allowed() -> None:
    async with LocalServer(module) as srv:
        literal = await _procedure(srv, "http_get", f"{srv.url}/v1/ping", 0)
        assert literal == "error: refusing to connect to private or special-purpose addresses"
        by_name = await _procedure(srv, "http_get", f"http://localhost:{srv.port}/v1/ping", 0)
        assert by_name == (
            f"error: error sending request for url (http://localhost:{srv.port}/v1/ping): "
            "client error (Connect): dns error: "
            "refusing to connect to private or special-purpose addresses"
        )


async def test_a_refused_connection_is_an_http_error(srv: LocalServer) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await _procedure(srv, "http_get", f"http://127.0.0.1:{port}/", 0)
    assert result == (
        f"error: error sending request for url (http://127.0.0.1:{port}/): "
        "client error (Connect): tcp connect error: Connection refused (os error 111)"
    )


async def test_http_inside_a_transaction_is_refused(srv: LocalServer) -> None:
    result = await _procedure(srv, "http_inside_tx", f"{srv.url}/v1/ping")
    assert result == (
        "WouldBlockTransaction: Attempted async or blocking op while holding open a transaction"
    )


async def test_a_redirect_to_a_blocked_address_is_refused() -> None:
    async def to_private(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        raise aiohttp.web.HTTPFound("http://10.0.0.1/inside")

    async def to_ping(request: aiohttp.web.Request) -> aiohttp.web.Response:
        raise aiohttp.web.HTTPFound("/ok")

    async def ok(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="followed")

    async def loop(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        raise aiohttp.web.HTTPFound("/loop")

    routes = {"/private": to_private, "/hop": to_ping, "/ok": ok, "/loop": loop}
    async with http_server(routes) as base, LocalServer(module, allow_loopback_http=True) as srv:
        assert await _procedure(srv, "http_get", f"{base}/hop", 0) == "200 followed"
        refused = await _procedure(srv, "http_get", f"{base}/private", 0)
        assert refused == (  # reqwest names the URL that redirected
            f"error: error following redirect for url ({base}/private): "
            "refusing to connect to private or special-purpose addresses"
        )
        looping = await _procedure(srv, "http_get", f"{base}/loop", 0)
        assert (
            looping == f"error: error following redirect for url ({base}/loop): too many redirects"
        )


def test_the_address_filter_follows_upstreams_special_purpose_ranges() -> None:
    policy = HttpPolicy()
    blocked = [
        "0.1.2.3", "10.0.0.1", "100.64.0.1", "127.0.0.1", "169.254.1.1", "172.16.0.1",
        "172.31.255.255", "192.0.0.1", "192.0.2.1", "192.168.1.1", "198.18.0.1", "198.51.100.1",
        "203.0.113.1", "240.0.0.1", "255.255.255.255", "::", "::1", "::ffff:10.0.0.1",
        "::ffff:8.8.8.8", "2002:a00:1::1", "64:ff9b::a00:1", "2001:db8::1", "fc00::1",
        "fe80::1", "3fff::1", "5f00::1", "2620:4f:8000::1", "100::1",
    ]  # fmt: skip
    allowed = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2001:4860::8888"]
    assert [a for a in blocked if not policy.is_blocked(a)] == []
    assert [a for a in allowed if policy.is_blocked(a)] == []
    loopback_ok = HttpPolicy(allow_loopback=True)
    assert not loopback_ok.is_blocked("127.0.0.1") and not loopback_ok.is_blocked("::1")
    assert loopback_ok.is_blocked("::ffff:127.0.0.1")  # an IPv4-mapped address stays blocked


# ---- sleep_until, uuids ------------------------------------------------------------------------


async def test_sleep_until_waits_and_moves_the_timestamp(srv: LocalServer) -> None:
    before, target, woke = map(int, (await _procedure(srv, "sleep_for", 50_000)).split())
    assert target == before + 50_000 and woke >= target
    # A target in the past returns at once with the current time.
    before, target, woke = map(int, (await _procedure(srv, "sleep_for", 0)).split())
    assert woke >= before


def test_uuid_layouts_match_upstream() -> None:
    # The examples of upstream's `Uuid::from_random_bytes_v4` / `from_counter_v7` docs.
    assert str(uuid_v4(bytes(16))) == "00000000-0000-4000-8000-000000000000"
    assert (
        str(uuid_v7(1, Timestamp(1_686_000_000_000), bytes(4)))
        == "0000647e-5180-7000-8000-000200000000"
    )
    u = uuid_v7(0x7FFF_FFFF, Timestamp(1_686_000_000_000), b"\xff\xff\xff\xff")
    assert u.version == 7 and u.variant == uuid.RFC_4122


async def test_uuids_from_reducers_and_procedures(srv: LocalServer) -> None:
    assert srv.db.call_reducer("insert_uuids", 1000).ok  # sorted, as upstream checks
    made = [uuid.UUID(text) for text in _notes(srv)]
    assert len(set(made)) == 1000 and all(u.version == 7 for u in made)
    v4, first, second = map(uuid.UUID, (await _procedure(srv, "procedure_uuids")).split())
    assert v4.version == 4 and first.version == second.version == 7 and first < second


# ---- sender_auth and reducer results ----------------------------------------------------------


async def test_sender_auth_carries_the_callers_claims(srv: LocalServer) -> None:
    token = srv.issuer.mint("alice", extra_claims={"role": "admin"})
    client = await WsClient.connect(srv.ws_url, token=token)
    await client.initial()
    assert isinstance((await client.call(module, "record_auth")).result, m.ReducerOk)
    # Over HTTP too; a direct call and a scheduled call are internal / without a token.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{srv.url}/v1/database/{srv.database}/call/record_auth",
            data=b"[]",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        ) as r,
    ):
        assert r.status == 200
    assert srv.db.call_reducer("record_auth").ok
    watcher = await WsClient.connect(srv.ws_url)
    await watcher.initial()
    await watcher.subscribe(1, "SELECT * FROM note")
    assert srv.db.call_reducer("schedule_record_auth").ok
    while len(_notes(srv)) < 4:
        await watcher.recv_type(m.TransactionUpdate)
    issuer = srv.issuer.issuer
    alice = f"internal=False sub=alice iss={issuer} aud=spacetimedb role=admin same=True"
    assert _notes(srv) == [alice, alice, "internal=True jwt=None", "internal=True jwt=None"]


def test_auth_ctx_parses_a_payload() -> None:
    auth = AuthCtx.from_jwt_payload('{"sub": "bob", "iss": "me", "aud": ["a", "b"], "x": 1}')
    assert not auth.is_internal and auth.has_jwt
    assert auth.jwt is not None
    assert (auth.jwt.subject, auth.jwt.issuer, auth.jwt.audience) == ("bob", "me", ["a", "b"])
    assert auth.jwt.payload["x"] == 1
    assert not AuthCtx.internal().has_jwt


async def test_a_reducer_returning_err_fails_and_returning_a_value_is_an_error(
    srv: LocalServer,
) -> None:
    client = await WsClient.connect(srv.ws_url)
    await client.initial()
    err = await client.call(module, "returns_err")
    assert err.result == m.ReducerErr(bsatn.encode(AlgebraicType.STRING, "refused politely"))
    value = await client.call(module, "returns_value")
    assert value.result == m.ReducerInternalError("The instance encountered a fatal error.")
    ok = await client.call(module, "add_note", "fine")
    assert ok.result == m.ReducerOk(b"", m.TransactionUpdate([]))  # no return value, as upstream
    assert _notes(srv) == ["fine"]
