"""The control routes under ``/v1``: names, delete, logs, health, energy, the clock, and refusals.

Statuses and bodies are upstream's (``crates/client-api/src/routes/{database,energy,health}.rs``,
``crates/standalone/src/control_db.rs`` for name ownership, ``crates/core/src/database_logger.rs``
for log lines); bad input of every kind on every new route gets upstream's status and a clear
text, and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from publish_support import V1, bearer, publish
from server_test_support import TIMEOUT, WsClient

from spacetimedb_sdk.server.app import publish_routes
from spacetimedb_sdk.server.local import LocalServer


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(None) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
            assert (await publish(http, V1, "scores", token=server.owner_token)).status_code == 200
        yield server


@pytest.fixture
async def http(srv: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as client:
        yield client


# ---- names -------------------------------------------------------------------------------------


async def test_adding_and_replacing_names(srv: LocalServer, http: httpx.AsyncClient) -> None:
    db = srv.get_database("scores")
    owner = bearer(srv.owner_token)
    added = await http.post("/v1/database/scores/names", content="high-scores", headers=owner)
    assert added.json() == {
        "Success": {"domain": "high-scores", "database_identity": db.identity.to_hex()}
    }
    assert (await http.get("/v1/database/high-scores/names")).json() == {
        "names": ["scores", "high-scores"]
    }
    taken = await http.post("/v1/database/scores/names", content="high-scores", headers=owner)
    assert (taken.status_code, taken.text) == (
        500,
        "record with the name high-scores already exists",
    )
    bad = await http.post("/v1/database/scores/names", content="High_Scores", headers=owner)
    assert (bad.status_code, bad.text) == (400, "invalid characters in database name")

    # `spacetime rename`: PUT a JSON list; the owner only; names in use are refused.
    eve = bearer(srv.issue_token("eve"))
    renamed = await http.put("/v1/database/scores/names", json=["board"], headers=eve)
    assert (renamed.status_code, renamed.json()) == (
        401,
        {"NotYourDatabase": {"database": db.identity.to_hex()}},
    )
    in_use = await http.put("/v1/database/scores/names", json=["scores"], headers=owner)
    assert (in_use.status_code, in_use.json()) == (
        400,
        {"OtherError": "Cannot rename to scores because it already is in use."},
    )
    renamed = await http.put("/v1/database/scores/names", json=["board"], headers=owner)
    assert (renamed.status_code, renamed.json()) == (200, "Success")
    assert srv.names_of(db) == ["board"] and db.name == "board"
    gone = await http.get("/v1/database/scores/names")
    assert (gone.status_code, gone.text) == (404, "`scores` not found")

    # A name someone else registered cannot be taken over.
    mine = await http.post("/v1/database/board/names", content="evenames", headers=eve)
    assert mine.status_code == 200  # upstream asks nothing but owning the name
    stolen = await http.put("/v1/database/board/names", json=["evenames"], headers=owner)
    assert stolen.status_code == 400  # in use


async def test_deleting_a_database(srv: LocalServer, http: httpx.AsyncClient) -> None:
    db = srv.get_database("scores")
    client = await WsClient.connect(f"ws{srv.url[4:]}/v1/database/scores/subscribe")
    await client.initial()
    eve = await http.delete("/v1/database/scores", headers=bearer(srv.issue_token("eve")))
    assert eve.status_code == 403 and eve.text.endswith(": delete database")

    deleted = await http.delete("/v1/database/scores", headers=bearer(srv.owner_token))
    assert (deleted.status_code, deleted.text) == (200, "")
    assert await client.closed() == (1001, "module exited")
    assert srv.databases == []
    # The name stays registered (upstream keeps DNS records): "No such database." now.
    assert (await http.get("/v1/database/scores")).text == "No such database."
    assert (await http.delete("/v1/database/scores")).status_code == 200  # nothing to delete
    unknown = await http.delete("/v1/database/nowhere")
    assert (unknown.status_code, unknown.text) == (404, "`nowhere` not found")
    # Publishing to the name again recreates the database with the same identity.
    again = await publish(http, V1, "scores", token=srv.owner_token)
    assert again.json()["Success"]["database_identity"] == db.identity.to_hex()


# ---- logs --------------------------------------------------------------------------------------


async def test_logs_are_the_owners_in_upstreams_format(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    db = srv.get_database("scores")
    db.call_reducer("add", 1, 10)
    owner = bearer(srv.owner_token)
    everything = await http.get("/v1/database/scores/logs", headers=owner)
    assert everything.headers["cache-control"] == "no-cache"
    lines = [json.loads(x) for x in everything.text.splitlines()]
    assert [x["message"] for x in lines][-2:] == ["Database initialized", "adding 1"]
    last = lines[-1]
    assert list(last) == ["level", "ts", "filename", "line_number", "function", "message"]
    assert (last["level"], last["function"]) == ("Info", "add")
    assert isinstance(last["ts"], int) and last["filename"] == "<published module scores>"
    two = await http.get("/v1/database/scores/logs", params={"num_lines": "2"}, headers=owner)
    assert [json.loads(x)["message"] for x in two.text.splitlines()] == [
        "Database initialized",
        "adding 1",
    ]
    eve = await http.get("/v1/database/scores/logs", headers=bearer(srv.issue_token("eve")))
    assert eve.status_code == 403 and eve.text.endswith(": view module logs")


async def test_following_logs_streams_new_lines_until_the_database_goes(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    db = srv.get_database("scores")
    params = {"num_lines": "1", "follow": "true"}
    async with http.stream(
        "GET", "/v1/database/scores/logs", params=params, headers=bearer(srv.owner_token)
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = response.aiter_lines()
        first = json.loads(await asyncio.wait_for(anext(lines), TIMEOUT))
        assert first["message"] == "Database initialized"
        await asyncio.to_thread(db.call_reducer, "add", 7, 70)
        added = json.loads(await asyncio.wait_for(anext(lines), TIMEOUT))
        assert (added["function"], added["message"]) == ("add", "adding 7")
        await http.delete("/v1/database/scores", headers=bearer(srv.owner_token))
        rest = [line async for line in lines]
        assert rest == []  # the stream ended with the database


# ---- health, energy, the clock, and what is not served --------------------------------------


async def test_health_energy_and_timestamp(srv: LocalServer, http: httpx.AsyncClient) -> None:
    health = await http.get("/v1/health")
    assert health.headers["content-type"] == "application/json"
    assert health.json() == {
        "package_name": "spacetimedb-client-api",
        "version": "2.8.3",
        "nodes": [0],
        "schedulable": True,
    }
    me = srv.owner_identity.to_hex()
    assert (await http.get(f"/v1/energy/{me}")).json() == {"balance": "0"}
    added = await http.post(
        f"/v1/energy/{me}", params={"amount": "12"}, headers=bearer(srv.owner_token)
    )
    assert added.json() == {"balance": "12"}
    assert (await http.get(f"/v1/energy/{me}")).json() == {"balance": "12"}
    assert (await http.post(f"/v1/energy/{me}")).status_code == 401  # a token is required
    assert (await http.put(f"/v1/energy/{me}", headers=bearer(srv.owner_token))).status_code == 401
    bad = await http.get("/v1/energy/nobody")
    assert (bad.status_code, bad.text) == (400, "Invalid identity: expected 64 hex digits")

    stamp = (await http.get("/v1/database/scores/unstable/timestamp")).json()
    assert isinstance(stamp["__timestamp_micros_since_unix_epoch__"], int)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/metrics"),
        ("GET", "/v1/prometheus/sd_config"),
        ("POST", "/v1/database/scores/lock"),
        ("POST", "/v1/database/scores/unlock"),
    ],
)
async def test_routes_not_served_say_so(http: httpx.AsyncClient, method: str, path: str) -> None:
    r = await http.request(method, path)
    assert r.status_code == 501 and "not available on the local server" in r.text


# ---- bad input, on every new route ----------------------------------------------------------

_NEW_DB_ROUTES = [
    ("GET", "names"),
    ("POST", "names"),
    ("PUT", "names"),
    ("GET", "logs"),
    ("POST", "pre_publish"),
    ("PUT", "reset"),
    ("GET", "unstable/timestamp"),
]


@pytest.mark.parametrize(("method", "route"), _NEW_DB_ROUTES)
async def test_unknown_databases_bad_names_and_bad_tokens(
    srv: LocalServer, http: httpx.AsyncClient, method: str, route: str
) -> None:
    owner = bearer(srv.owner_token)
    by_name = await http.request(
        method, f"/v1/database/nowhere/{route}", headers=owner, content=b"x"
    )
    assert (by_name.status_code, by_name.text) == (404, "`nowhere` not found")
    stranger = "c200" + "ab" * 30
    by_identity = await http.request(method, f"/v1/database/{stranger}/{route}", headers=owner)
    assert (by_identity.status_code, by_identity.text) == (404, "No such database.")
    invalid = await http.request(method, f"/v1/database/Not_A_Name/{route}", headers=owner)
    assert (invalid.status_code, invalid.text) == (
        400,
        "Invalid URL: invalid characters in database name",
    )
    bad_token = await http.request(
        method, f"/v1/database/scores/{route}", headers=bearer("not.a.token")
    )
    assert bad_token.status_code == 401
    malformed = await http.request(
        method, f"/v1/database/scores/{route}", headers={"Authorization": "Basic x"}
    )
    assert (malformed.status_code, malformed.text) == (
        400,
        "Authorization is invalid: malformed token",
    )
    assert "spacetime-identity" in by_name.headers  # upstream's auth answers every request


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/database/scores/names", "GET, HEAD, POST, PUT"),
        ("POST", "/v1/database/scores/logs", "GET, HEAD"),
        ("GET", "/v1/database/scores/pre_publish", "POST"),
        ("POST", "/v1/database/scores/reset", "PUT"),
        ("POST", "/v1/health", "GET, HEAD"),
        ("DELETE", "/v1/energy/" + "c200" + "00" * 30, "GET, HEAD, POST, PUT"),
        ("PATCH", "/v1/database/scores", "DELETE, GET, HEAD, PUT"),
        ("GET", "/v1/database", "POST"),
    ],
)
async def test_wrong_methods(http: httpx.AsyncClient, method: str, path: str, allowed: str) -> None:
    r = await http.request(method, path)
    assert r.status_code == 405
    assert r.text == f"Method Not Allowed: {path} accepts {allowed}, not {method}"


async def test_bad_bodies_and_queries(
    srv: LocalServer, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = bearer(srv.owner_token)
    names = "/v1/database/scores/names"
    cases = [
        (
            await http.put(
                names, content=b"[", headers={**owner, "Content-Type": "application/json"}
            ),
            400,
            "Failed to parse the request body as JSON: ",
        ),
        (
            await http.put(names, json={"a": 1}, headers=owner),
            422,
            "Failed to deserialize the JSON body into the target type: invalid type: map, expected a sequence",
        ),
        (
            await http.put(names, content=b'["x"]', headers=owner),
            415,
            "Expected request with `Content-Type: application/json`",
        ),
        (
            await http.put(names, json=["Bad Name"], headers=owner),
            400,
            "Error parsing `Bad Name`: invalid characters in database name",
        ),
        (
            await http.post(names, content=b"\xff", headers=owner),
            400,
            "Request body didn't contain valid UTF-8",
        ),
        (
            await http.post(names, content=b"x" * (2 * 1024 * 1024 + 1), headers=owner),
            413,
            "Failed to buffer the request body: length limit exceeded",
        ),
        (
            await http.get("/v1/database/scores/logs", params={"num_lines": "-1"}, headers=owner),
            400,
            "Failed to deserialize query string: num_lines: invalid digit found in string",
        ),
        (
            await http.get("/v1/database/scores/logs", params={"follow": "yes"}, headers=owner),
            400,
            "Failed to deserialize query string: provided string was not `true` or `false`",
        ),
        (
            await publish(http, V1, "scores", token=srv.owner_token, policy="Whatever"),
            400,
            "Failed to deserialize query string: unknown variant `Whatever`, expected `Compatible` or `BreakClients`",
        ),
        (
            await publish(http, V1, "scores", token=srv.owner_token, clear="maybe"),
            400,
            "Failed to deserialize query string: provided string was not `true` or `false`",
        ),
        (
            await publish(http, V1, None, token=srv.owner_token, clear=True),
            400,
            "Clear database requires database name or identity",
        ),
        (
            await publish(http, V1, "scores", token=srv.owner_token, num_replicas=300),
            400,
            "Replication factor 300 out of bounds",
        ),
    ]
    monkeypatch.setattr(publish_routes, "PROGRAM_BODY_LIMIT", 1000)
    cases.append(
        (
            await publish(http, V1 + "#" * 1000, "scores", token=srv.owner_token),
            413,
            "Failed to buffer the request body: length limit exceeded",
        )
    )
    for response, status, text in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert response.text.startswith(text), (response.request.url, response.text)
    # Nothing was lost and the server keeps serving.
    db = srv.get_database("scores")
    assert [r.id for r in db.rows("score")] == [0] and srv.names_of(db) == ["scores"]
    sql = await http.post("/v1/database/scores/sql", content="SELECT * FROM score", headers=owner)
    assert sql.status_code == 200 and (await http.get("/v1/health")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/database"), ("PUT", "/v1/database/scores"), ("DELETE", "/v1/database/scores")],
)
async def test_publishing_and_deleting_refuse_bad_tokens(
    srv: LocalServer, http: httpx.AsyncClient, method: str, path: str
) -> None:
    r = await http.request(
        method, path, params={"host_type": "Python"}, content=V1.encode(), headers=bearer("x.y.z")
    )
    assert r.status_code == 401
    assert srv.names_of(srv.get_database("scores")) == ["scores"] and len(srv.databases) == 1
