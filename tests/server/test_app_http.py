"""The HTTP API of the local server: every route, its status codes and headers."""

from __future__ import annotations

import httpx
import pytest
from server_test_support import TIMEOUT, Counter, WsClient, game, load_chat, table_changes

from spacetimedb_sdk import Identity
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.server.local import LocalServer

chat = load_chat()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _db(srv: LocalServer, *rest: str) -> str:
    return "/".join([f"/v1/database/{srv.database}", *rest])


# ---- /v1/identity and /v1/ping -----------------------------------------------------------------


async def test_create_identity(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/identity")
    assert r.status_code == 200
    body = r.json()
    assert srv.issuer.validate(body["token"]).identity == Identity.from_hex(body["identity"])
    assert len(body["identity"]) == 64 and body["identity"].startswith("c200")
    again = (await http.post("/v1/identity")).json()
    assert again["identity"] != body["identity"]


async def test_websocket_token(srv: LocalServer, http: httpx.AsyncClient) -> None:
    assert (await http.post("/v1/identity/websocket-token")).status_code == 401
    token = srv.issue_token("alice")
    r = await http.post("/v1/identity/websocket-token", headers=_bearer(token))
    assert r.status_code == 200
    short = srv.issuer.validate(r.json()["token"])
    assert short.identity == srv.issuer.validate(token).identity
    assert short.expires_at is not None and short.expires_at - short.issued_at == 60
    bad = await http.post("/v1/identity/websocket-token", headers=_bearer("x.y.z"))
    assert bad.status_code == 401


async def test_public_key(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/identity/public-key")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pem-certificate-chain"
    assert r.text == srv.issuer.public_key_pem()


async def test_verify_identity(srv: LocalServer, http: httpx.AsyncClient) -> None:
    token = srv.issue_token("alice")
    mine = srv.issuer.validate(token).identity.to_hex()
    other = srv.issuer.validate(srv.issue_token("bob")).identity.to_hex()
    assert (
        await http.get(f"/v1/identity/{mine}/verify", headers=_bearer(token))
    ).status_code == 204
    assert (
        await http.get(f"/v1/identity/{other}/verify", headers=_bearer(token))
    ).status_code == 400
    assert (await http.get(f"/v1/identity/{mine}/verify")).status_code == 401


async def test_databases_of_an_identity(srv: LocalServer, http: httpx.AsyncClient) -> None:
    owned = await http.get(f"/v1/identity/{srv.owner_identity.to_hex()}/databases")
    assert owned.json() == {"identities": [srv.db.identity.to_hex()]}
    nobody = await http.get(f"/v1/identity/{'c2' + '0' * 62}/databases")
    assert nobody.json() == {"identities": []}


async def test_ping(srv: LocalServer, http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/ping")).status_code == 200
    assert (await http.get("/v1/ping", headers=_bearer(srv.issue_token()))).status_code == 200
    assert (await http.get("/v1/ping", headers=_bearer("bad"))).status_code == 401


# ---- auth on database routes -------------------------------------------------------------------


async def test_anonymous_identity_is_minted_per_request(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    a = await http.get(_db(srv, "identity"))
    b = await http.get(_db(srv, "identity"))
    ids = [r.headers["spacetime-identity"] for r in (a, b)]
    assert ids[0] != ids[1]
    token = a.headers["spacetime-identity-token"]
    assert srv.issuer.validate(token).identity.to_hex() == ids[0]
    again = await http.get(_db(srv, "identity"), headers=_bearer(token))
    assert again.headers["spacetime-identity"] == ids[0]
    assert again.headers["spacetime-identity-token"] == token
    by_query = await http.get(_db(srv, "identity"), params={"token": token})
    assert by_query.headers["spacetime-identity"] == ids[0]


async def test_bad_tokens_on_database_routes(srv: LocalServer, http: httpx.AsyncClient) -> None:
    foreign = LocalServer(game).issue_token("alice")
    for token in (foreign, "garbage", srv.issuer.mint("x", expires_in=-3600)):
        r = await http.get(_db(srv, "schema"), params={"version": "9"}, headers=_bearer(token))
        assert r.status_code == 401, token
    r = await http.get(_db(srv, "identity"), headers={"Authorization": "Basic abc"})
    assert r.status_code == 400


async def test_cors_allows_any_origin(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/ping", headers={"Origin": "http://example.test"})
    assert r.headers["access-control-allow-origin"] == "*"
    pre = await http.options(
        _db(srv, "sql"),
        headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"


# ---- /v1/database/{db} ---------------------------------------------------------------------------


async def test_database_identity_and_info(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await http.get(_db(srv, "identity"))
    assert (r.status_code, r.text) == (200, srv.db.identity.to_hex())
    by_identity = await http.get(f"/v1/database/0x{srv.db.identity.to_hex()}/identity")
    assert by_identity.text == srv.db.identity.to_hex()
    info = (await http.get(_db(srv))).json()
    assert info["database_identity"] == {"__identity__": f"0x{srv.db.identity.to_hex()}"}
    assert info["owner_identity"] == {"__identity__": f"0x{srv.owner_identity.to_hex()}"}
    # Upstream: an unknown name is "`name` not found"; an identity is given back as it is.
    missing = await http.get("/v1/database/nowhere/identity")
    assert (missing.status_code, missing.text) == (404, "`nowhere` not found")
    stranger = "c200" + "00" * 30
    assert (await http.get(f"/v1/database/{stranger}/identity")).text == stranger
    gone = await http.get(f"/v1/database/{stranger}")
    assert (gone.status_code, gone.text) == (404, "No such database.")


async def test_schema(srv: LocalServer, http: httpx.AsyncClient) -> None:
    v9 = await http.get(_db(srv, "schema"), params={"version": "9"})
    assert v9.status_code == 200 and v9.headers["content-type"].startswith("application/json")
    assert v9.json() == game.describe_v9()
    assert "spacetime-identity" in v9.headers and "spacetime-identity-token" in v9.headers
    v10 = await http.get(_db(srv, "schema"), params={"version": "10"})
    assert v10.json() == game.describe_v10()
    assert (await http.get(_db(srv, "schema"))).status_code == 400
    assert (await http.get(_db(srv, "schema"), params={"version": "11"})).status_code == 400
    missing = await http.get("/v1/database/nowhere/schema", params={"version": "9"})
    assert missing.status_code == 404


async def _call(
    http: httpx.AsyncClient, srv: LocalServer, name: str, body: str, token: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json", **(_bearer(token) if token else {})}
    return await http.post(_db(srv, "call", name), content=body, headers=headers)


async def test_call_reducer(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await _call(http, srv, "bump", "[2]")
    assert (r.status_code, r.text) == (200, "")
    assert r.headers["spacetime-energy-used"] == "0"
    assert int(r.headers["spacetime-execution-duration-micros"]) >= 0
    assert (await _call(http, srv, "bump", '{"by": 3}')).status_code == 200
    assert srv.db.rows("counter") == [Counter(1, 5)]  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("name", "body", "status", "text"),
    [
        ("fail", "[]", 530, "nope"),
        ("bump", '["two"]', 400, None),
        ("bump", "[1, 2]", 400, None),
        ("bump", "{", 400, None),
        ("connected", "[]", 400, "can't directly call special OnConnect lifecycle reducer"),
        ("nothing_here", "[]", 404, "No such procedure"),
        ("on_tick", "[]", 404, "No such procedure"),
    ],
)
async def test_call_errors(
    srv: LocalServer, http: httpx.AsyncClient, name: str, body: str, status: int, text: str | None
) -> None:
    r = await _call(http, srv, name, body)
    assert r.status_code == status
    if text is not None:
        assert r.text == text
    elif status == 400:
        assert r.text.startswith(f"invalid arguments for reducer {name}: ")


async def test_call_needs_json_content_type(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await http.post(
        _db(srv, "call", "bump"), content="[1]", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    charset = {"Content-Type": "application/json; charset=utf-8"}
    assert (
        await http.post(_db(srv, "call", "bump"), content="[1]", headers=charset)
    ).status_code == 415
    assert (await http.post(_db(srv, "call", "bump"), content="[1]")).status_code == 400


async def test_call_procedure(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await _call(http, srv, "add", "[20, 22]")
    assert r.status_code == 200 and r.json() == 42
    assert (await _call(http, srv, "add", '{"a": 1, "b": 2}')).json() == 3
    bad = await _call(http, srv, "add", '["x", 1]')
    assert bad.status_code == 400 and bad.text.startswith("invalid arguments for procedure add: ")
    assert (await _call(http, srv, "explode", "[]")).status_code == 500


async def test_owner_may_call_private_scheduled_reducer(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    body = '[{"scheduled_id": 5, "scheduled_at": {"Time": {"__timestamp_micros_since_unix_epoch__": 0}}, "label": "http"}]'
    r = await _call(http, srv, "on_tick", body, token=srv.owner_token)
    assert r.status_code == 200, r.text
    assert srv.db.rows("log")[-2].text == "tick http"  # before the disconnect row


async def test_call_runs_lifecycle_and_rejection_is_403(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    token = srv.issue_token("carol")
    identity = srv.issuer.validate(token).identity
    await _call(http, srv, "bump", "[1]", token=token)
    prefix = identity.to_hex()[:8]
    texts = [r.text for r in srv.db.rows("log")]
    assert texts[-2:] == [f"connected {prefix}", f"disconnected {prefix}"]
    with srv.db.transaction() as tx:
        tx.banned.insert(game.table_schema("banned").row_class(identity))
    r = await _call(http, srv, "bump", "[1]", token=token)
    assert (r.status_code, r.text) == (403, "you are banned")


async def test_chat_set_name_over_http_leaves_the_user_offline() -> None:
    async with (
        LocalServer(chat.module) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http,
    ):
        r = await _call(http, srv, "set_name", '["Zed"]')
        assert r.status_code == 200
        (user,) = srv.db.rows("user")
        assert (user.name, user.online) == ("Zed", False)
        assert user.identity.to_hex() == r.headers["spacetime-identity"]


async def test_sql(srv: LocalServer, http: httpx.AsyncClient) -> None:
    r = await http.post(_db(srv, "sql"), content="SELECT * FROM counter")
    assert r.status_code == 200
    (result,) = r.json()
    assert result["rows"] == [[1, 0]]
    assert [e["name"] for e in result["schema"]["elements"]] == [{"some": "id"}, {"some": "n"}]
    assert "spacetime-execution-duration-micros" in r.headers
    bad = await http.post(_db(srv, "sql"), content="SELECT * FROM nowhere")
    assert bad.status_code == 400 and "nowhere" in bad.text
    confirmed = await http.post(
        _db(srv, "sql"), params={"confirmed": "true"}, content="SELECT * FROM counter"
    )
    assert confirmed.status_code == 200


async def test_sql_dml_needs_the_owner_and_is_broadcast(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    watcher = await WsClient.connect(srv.ws_url)
    await watcher.initial()
    await watcher.subscribe(1, "SELECT * FROM counter")
    denied = await http.post(_db(srv, "sql"), content="UPDATE counter SET n = 7")
    assert denied.status_code == 400
    ok = await http.post(
        _db(srv, "sql"), content="UPDATE counter SET n = 7", headers=_bearer(srv.owner_token)
    )
    assert ok.status_code == 200, ok.text
    update = await watcher.recv_type(m.TransactionUpdate)
    inserted, deleted = table_changes(update, "counter")
    codec = game.row_codec("counter")
    assert [codec.decode(r) for r in inserted] == [Counter(1, 7)]  # type: ignore[call-arg]
    assert [codec.decode(r) for r in deleted] == [Counter(1, 0)]  # type: ignore[call-arg]
    await watcher.close()
