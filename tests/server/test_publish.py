"""Publishing to a running server: creating databases, hot-swapping modules, clearing them.

Behaviour follows upstream's publish route (``crates/client-api/src/routes/database.rs``), its
standalone control state (``crates/standalone/src/lib.rs``) and its host controller's update
(``crates/core/src/host/host_controller.rs``): a compatible update keeps clients and their
subscriptions, one that breaks clients needs the pre-publish token and disconnects everyone
(1001 ``module exited``), an incompatible one is refused unless ``clear``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from publish_support import BROKEN, V1, V2, V3, V4, bearer, pre_publish, publish
from server_test_support import TIMEOUT, WsClient

from spacetimedb_sdk import DbConnection
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, column
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.server.migration import IncompatibleMigration


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(None) as server:  # like `spacetime start`: no database yet
        yield server


@pytest.fixture
async def http(srv: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as client:
        yield client


def _score_args(id: int, points: int) -> bytes:
    return id.to_bytes(4, "little") + points.to_bytes(4, "little")


def _ws_url(srv: LocalServer, name: str) -> str:
    return f"ws{srv.url[4:]}/v1/database/{name}/subscribe"


async def _call_add(client: WsClient, id: int, points: int) -> m.ReducerResult:
    rid = client.next_request_id()
    await client.send(m.CallReducer(rid, 0, "add", _score_args(id, points)))
    while True:
        msg = await client.recv()
        if isinstance(msg, m.ReducerResult) and msg.request_id == rid:
            return msg


async def _logs(http: httpx.AsyncClient, name: str, token: str) -> list[dict[str, object]]:
    r = await http.get(f"/v1/database/{name}/logs", headers=bearer(token))
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in r.text.splitlines()]


async def test_publishing_creates_databases_with_names_and_owners(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    alice = srv.issue_token("alice")
    alice_id = srv.issuer.validate(alice).identity
    created = await publish(http, V1, "scores", token=alice)
    assert created.status_code == 200 and created.headers["content-type"] == "application/json"
    success = created.json()["Success"]
    assert success["domain"] == "scores" and success["op"] == "created"
    db = srv.get_database("scores")
    assert success["database_identity"] == db.identity.to_hex()
    assert db.owner_identity == alice_id and db.is_owner(alice_id)
    assert [row.points for row in db.rows("score")] == [0]  # init ran

    names = await http.get("/v1/database/scores/names")
    assert names.json() == {"names": ["scores"]}
    identity = await http.get("/v1/database/scores/identity")
    assert identity.text == db.identity.to_hex()
    owned = await http.get(f"/v1/identity/{alice_id.to_hex()}/databases")
    assert owned.json() == {"identities": [db.identity.to_hex()]}

    # Without a name: a fresh identity and no domain; anyone (even anonymous) may create.
    anonymous = await publish(http, V1)
    fresh = anonymous.json()["Success"]
    assert fresh["domain"] is None and fresh["op"] == "created"
    assert fresh["database_identity"] != db.identity.to_hex()
    assert [d.name for d in srv.databases] == ["scores", fresh["database_identity"]]
    by_identity = await http.get(f"/v1/database/{fresh['database_identity']}/names")
    assert by_identity.json() == {"names": []}


async def test_a_compatible_update_keeps_data_clients_and_subscriptions(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    owner = srv.owner_token
    assert (await publish(http, V1, "scores", token=owner)).status_code == 200
    client = await WsClient.connect(_ws_url(srv, "scores"))
    await client.initial()
    applied = await client.subscribe(1, "SELECT * FROM score")
    assert len(applied.rows.tables[0].rows) == 1
    assert isinstance((await _call_add(client, 1, 10)).result, m.ReducerOk)

    plan = await pre_publish(http, V2, "scores", token=owner)
    auto = plan.json()["AutoMigrate"]
    assert (
        auto["break_clients"] is False
        and "▸ Created user table: badge (public)" in auto["migrate_plan"]
    )
    updated = await publish(http, V2, "scores", token=owner)
    assert updated.json()["Success"]["op"] == "updated"

    db = srv.get_database("scores")
    assert sorted(r.points for r in db.rows("score")) == [0, 10]
    assert db.rows("badge") == []
    # The same socket, its subscription planned again against the new module.
    result = await _call_add(client, 2, 20)
    assert isinstance(result.result, m.ReducerOk)
    (update,) = result.result.transaction_update.query_sets  # type: ignore[union-attr]
    assert update.query_set_id == 1
    schema = (await http.get("/v1/database/scores/schema", params={"version": "9"})).json()
    assert sorted(t["name"] for t in schema["tables"]) == ["badge", "score"]
    lines = [line["message"] for line in await _logs(http, "scores", owner)]
    assert "Creating table `badge`" in lines and lines[-3:] == [
        "Creating table `badge`",
        "Database updated",
        "adding 2",
    ]
    await client.close()


async def test_an_unchanged_program_changes_nothing(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    await publish(http, V1, "scores", token=srv.owner_token)
    before = await _logs(http, "scores", srv.owner_token)
    again = await publish(http, V1, "scores", token=srv.owner_token)
    assert again.json()["Success"]["op"] == "updated"
    assert await _logs(http, "scores", srv.owner_token) == before


async def test_a_breaking_update_needs_the_token_and_disconnects_everyone(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    owner = srv.owner_token
    await publish(http, V1, "scores", token=owner)
    client = await WsClient.connect(_ws_url(srv, "scores"))
    await client.initial()
    await client.subscribe(1, "SELECT * FROM score")
    await _call_add(client, 1, 10)

    refused = await publish(http, V3, "scores", token=owner)
    assert (refused.status_code, refused.text) == (
        400,
        "Failed to create or update the database: Migration plan contains a client-breaking "
        "change which is disallowed under current policy",
    )
    plan = (await pre_publish(http, V3, "scores", token=owner)).json()["AutoMigrate"]
    assert plan["break_clients"] is True and plan["major_version_upgrade"] is False
    assert "▸ Created column in table score\n    + bonus: U32 (default: 5)" in plan["migrate_plan"]
    assert "!!! Warning: All clients will be disconnected" in plan["migrate_plan"]
    coloured = (await pre_publish(http, V3, "scores", token=owner, style="AnsiColor")).json()
    assert "\x1b[" in coloured["AutoMigrate"]["migrate_plan"]

    no_token = await publish(http, V3, "scores", token=owner, policy="BreakClients")
    assert (no_token.status_code, no_token.text) == (
        400,
        "Migration policy is set to `BreakClients`, but no migration token was provided.",
    )
    wrong = await publish(
        http, V3, "scores", token=owner, policy="BreakClients", migration_token="0x1"
    )
    assert (wrong.status_code, wrong.text) == (
        400,
        "Failed to create or update the database: Token provided is invalid or does not match "
        "expected hash",
    )
    ok = await publish(
        http, V3, "scores", token=owner, policy="BreakClients", migration_token=plan["token"]
    )
    assert ok.status_code == 200, ok.text
    assert await client.closed() == (1001, "module exited")

    # Reconnecting, a client sees the new schema; the rows were kept with the default filled in.
    conn = await DbConnection.builder().with_uri(srv.url).with_database_name("scores").connect()
    await conn.subscription_builder().subscribe("SELECT * FROM score")
    assert sorted((r.id, r.points, r.bonus) for r in conn.db.score) == [(0, 0, 5), (1, 10, 5)]
    await conn.disconnect()


async def test_an_incompatible_update_is_refused_unless_clear(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    owner = srv.owner_token
    await publish(http, V1, "scores", token=owner)
    db = srv.get_database("scores")
    db.call_reducer("add", 1, 10)
    client = await WsClient.connect(_ws_url(srv, "scores"))
    await client.initial()

    reason = (
        "Errors occurred:\nRemoving a column points from table score requires a manual "
        "migration\n\n"
    )
    refused = await publish(http, V4, "scores", token=owner)
    assert (refused.status_code, refused.text) == (400, f"Database update rejected: {reason}")
    manual = (await pre_publish(http, V4, "scores", token=owner)).json()
    assert manual == {"ManualMigrate": {"reason": reason, "major_version_upgrade": False}}
    assert sorted(r.points for r in db.rows("score")) == [0, 10]  # nothing changed

    cleared = await publish(http, V4, "scores", token=owner, clear=True)
    assert cleared.json() == {
        "Success": {"domain": "scores", "database_identity": db.identity.to_hex(), "op": "updated"}
    }
    assert await client.closed() == (1001, "module exited")
    assert srv.get_database("scores") is db  # the same database, identity and names
    assert [r.id for r in db.rows("score")] == [0]  # empty but for what init wrote
    # The log starts afresh with the new module, as upstream's new replica's does.
    lines = [line["message"] for line in await _logs(http, "scores", owner)]
    assert lines == [
        "Creating table `score`",
        "Invoking `init` reducer",
        "scores initialized",
        "Database initialized",
    ]


async def test_reset_starts_empty_with_the_same_module(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    await publish(http, V1, "scores", token=srv.owner_token)
    db = srv.get_database("scores")
    db.call_reducer("add", 1, 10)
    reset = await http.put("/v1/database/scores/reset", headers=bearer(srv.owner_token))
    assert reset.json()["Success"]["op"] == "updated"
    assert [r.id for r in db.rows("score")] == [0]
    other = await http.put("/v1/database/scores/reset", headers=bearer(srv.issue_token("eve")))
    assert other.status_code == 403
    assert other.text.endswith(f"on database {db.identity.to_hex()}: reset database")


async def test_what_cannot_become_a_database_is_refused_and_leaves_nothing(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    broken = await publish(http, BROKEN, "broken", token=srv.owner_token)
    assert broken.status_code == 500
    assert broken.text.startswith("the module source has a syntax error at line 1")
    failing_init = V1.replace('print("scores initialized")', 'raise ValueError("no init")')
    failed = await publish(http, failing_init, "failing", token=srv.owner_token)
    assert failed.status_code == 500 and "the init reducer of module 'scores' failed" in failed.text
    wasm = await publish(http, b"\0asm", "wasm", token=srv.owner_token, host_type="Wasm")
    assert wasm.status_code == 500 and "cannot run Wasm modules" in wasm.text
    not_utf8 = await publish(http, b"\xff\xfe", "bytes", token=srv.owner_token)
    assert not_utf8.status_code == 500 and "not UTF-8" in not_utf8.text
    assert srv.databases == []
    # The names were registered before the module was checked, as upstream's are.
    assert (await http.get("/v1/database/failing")).text == "No such database."
    assert (await publish(http, V1, "failing", token=srv.owner_token)).status_code == 200


async def test_updates_are_for_the_owner(srv: LocalServer, http: httpx.AsyncClient) -> None:
    await publish(http, V1, "scores", token=srv.owner_token)
    db = srv.get_database("scores")
    eve = srv.issue_token("eve")
    eve_id = srv.issuer.validate(eve).identity.to_hex()
    for response in (
        await publish(http, V2, "scores", token=eve),
        await pre_publish(http, V2, "scores", token=eve),
    ):
        assert (response.status_code, response.text) == (
            403,
            f"{eve_id} is not authorized to perform action on database {db.identity.to_hex()}: "
            "update database",
        )
    # An unknown database has no plan: the CLI then publishes it as new.
    assert (await pre_publish(http, V2, "elsewhere", token=eve)).status_code == 404


def test_local_server_publishes_from_python(tmp_path: Path) -> None:
    v1, v2, v4 = tmp_path / "v1.py", tmp_path / "v2.py", tmp_path / "v4.py"
    v1.write_text(V1)
    v2.write_text(V2)
    v4.write_text(V4)
    with LocalServer(v1) as srv:
        assert [db.name for db in srv.databases] == ["scores"]
        srv.db.call_reducer("add", 1, 10)
        other = srv.publish(v1, "other")
        assert srv.get_database("other") is other and other.is_owner(srv.owner_identity)
        assert srv.get_database(other.identity) is other
        assert srv.publish(v2, "scores") is srv.db
        assert sorted(r.points for r in srv.db.rows("score")) == [0, 10]
        with pytest.raises(IncompatibleMigration, match="Removing a column points"):
            srv.publish(v4, "scores")
        srv.publish(v4, "scores", clear=True)
        assert [r.id for r in srv.db.rows("score")] == [0]
        assert srv.names_of(srv.db) == ["scores"]
        with pytest.raises(KeyError):
            srv.get_database("nowhere")


_VIEWED = (
    V1
    + """

@module.view(public=True, anonymous=True)
def big_scores(ctx: AnonymousViewContext) -> list[Score]:
    return [s for s in ctx.db.score.iter() if s.points >= THRESHOLD]
"""
).replace(
    "from spacetimedb_sdk.server import", "from spacetimedb_sdk.server import AnonymousViewContext,"
)


async def test_subscribers_of_a_changed_view_get_its_new_rows(
    srv: LocalServer, http: httpx.AsyncClient
) -> None:
    owner = srv.owner_token
    await publish(http, _VIEWED.replace("THRESHOLD", "10"), "scores", token=owner)
    db = srv.get_database("scores")
    db.call_reducer("add", 1, 5)
    db.call_reducer("add", 2, 50)
    client = await WsClient.connect(_ws_url(srv, "scores"))
    await client.initial()
    applied = await client.subscribe(1, "SELECT * FROM big_scores")
    assert applied.rows.tables[0].rows.rows() == [_score_args(2, 50)]

    # The same view, computed differently: upstream re-evaluates it and sends the difference.
    updated = await publish(http, _VIEWED.replace("THRESHOLD", "1"), "scores", token=owner)
    assert updated.status_code == 200, updated.text
    update = await client.recv_type(m.TransactionUpdate)
    [query_set] = update.query_sets
    [table] = query_set.tables
    assert (query_set.query_set_id, table.table_name) == (1, "big_scores")
    [rows] = table.rows
    assert isinstance(rows, m.PersistentTableRows)
    assert (rows.inserts.rows(), rows.deletes.rows()) == ([_score_args(1, 5)], [])
    await client.close()


def test_publishing_module_objects_replaces_by_object() -> None:
    first, second = Module("objects"), Module("objects")
    for module in (first, second):

        @module.table(public=True)
        class Thing:
            id: U32 = column(primary_key=True)

    @second.table(public=True)
    class Extra:
        id: U32 = column(primary_key=True)

    with LocalServer(first) as srv:
        with srv.db.transaction() as tx:
            tx.thing.insert(srv.db.module.table_schema("thing").row_class(1))
        assert srv.publish(first, "objects") is srv.db  # the same object: nothing to do
        assert srv.db.module is first
        srv.publish(second, "objects")  # another module of the same name: an update
        assert srv.db.module is second
        assert [r.id for r in srv.db.rows("thing")] == [1] and srv.db.rows("extra") == []
