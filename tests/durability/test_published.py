"""Databases published to a server on a data directory: kept, updated, reset and deleted
across restarts, as the first one is.

Programs are module sources (``publish`` of a file, or ``PUT /v1/database/NAME`` over HTTP);
the server keeps each program beside its data and loads it again when it starts.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from durable_module import module
from server_process import ServerProcess

from spacetimedb_sdk.server import LocalServer
from spacetimedb_sdk.server.migration import IncompatibleMigration

T = 10.0


def program(tmp_path: Path, name: str, options: str = "") -> Path:
    path = tmp_path / f"{name}.py"  # imports durable_module from the tests' folder
    path.write_text(f"from durable_module import build\n\nmodule = build({options})\n")
    return path


def items(db: object) -> dict[int, int]:
    return {r.id: r.value for r in db.rows("item")}  # type: ignore[attr-defined]


async def test_a_published_database_is_served_again_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    v1 = program(tmp_path, "v1")
    async with LocalServer(module, data_dir=data) as srv:
        scores = await srv.publish_async(v1, "scores")
        assert scores.call_reducer("put", 1, 10).ok
        identity, owner = scores.identity, scores.owner_identity
        async with httpx.AsyncClient(base_url=srv.url, timeout=T) as http:  # a second name
            r = await http.post(
                "/v1/database/scores/names",
                content="high-scores",
                headers={"Authorization": f"Bearer {srv.owner_token}"},
            )
            assert r.status_code == 200, r.text
    async with LocalServer(module, data_dir=data) as srv:
        again = srv.get_database("high-scores")
        assert again.identity == identity and again.owner_identity == owner
        assert srv.names_of(again) == ["scores", "high-scores"]
        assert items(again) == {1: 10}
        assert again.call_reducer("put", 2, 20).ok
    async with LocalServer(None, data_dir=data) as srv:  # no first database: the rest still
        assert items(srv.get_database("scores")) == {1: 10, 2: 20}


async def test_a_hot_swap_and_a_reset_are_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with LocalServer(module, data_dir=data) as srv:
        scores = await srv.publish_async(program(tmp_path, "v1"), "scores")
        scores.call_reducer("put", 1, 10)
        v2 = program(tmp_path, "v2", "extra_column=True")
        await srv.publish_async(v2, "scores", break_clients=True)  # added columns: clients go
        scores.call_reducer("put", 2, 20)
        with pytest.raises(IncompatibleMigration):  # refused: nothing changes
            await srv.publish_async(program(tmp_path, "v3", "value_type=str"), "scores")
    async with LocalServer(module, data_dir=data) as srv:
        scores = srv.get_database("scores")
        assert sorted((r.id, r.value, r.tag) for r in scores.rows("item")) == [
            (1, 10, "untagged"),
            (2, 20, "untagged"),
        ]
        await srv.publish_async(program(tmp_path, "v1"), "scores", clear=True)
        assert items(scores) == {}
        assert [n.text for n in scores.rows("note")] == ["made by init"]
    async with LocalServer(module, data_dir=data) as srv:
        scores = srv.get_database("scores")
        assert items(scores) == {} and "tag" not in {
            c.name for c in scores.module.table_schema("item").columns
        }


async def test_a_deleted_database_is_gone_with_its_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with LocalServer(module, data_dir=data) as srv:
        scores = await srv.publish_async(program(tmp_path, "v1"), "scores")
        folder = data / "databases" / scores.identity.to_hex()
        assert (folder / "program").read_text().startswith("from durable_module import build")
        async with httpx.AsyncClient(base_url=srv.url, timeout=T) as http:
            r = await http.delete(
                "/v1/database/scores", headers={"Authorization": f"Bearer {srv.owner_token}"}
            )
            assert r.status_code == 200, r.text
        assert not folder.exists()
    async with LocalServer(module, data_dir=data) as srv:
        assert [db.name for db in srv.databases] == ["durable"]


async def test_a_module_object_published_in_process_lives_in_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with LocalServer(module, data_dir=data) as srv:
        other = await srv.publish_async(module, "in-memory")
        other.call_reducer("put", 1, 1)
        assert not (data / "databases" / other.identity.to_hex()).exists()
    async with LocalServer(module, data_dir=data) as srv:
        assert [db.name for db in srv.databases] == ["durable"]


FAILING_INIT = """
from spacetimedb_sdk.server import Module, ReducerContext

module = Module("failing")


@module.init
def init(ctx: ReducerContext) -> None:
    raise ValueError("no init")
"""


async def test_over_http_and_a_failed_init_leaves_no_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = program(tmp_path, "v1").read_bytes()
    async with LocalServer(None, data_dir=data) as srv:
        owner = {"Authorization": f"Bearer {srv.owner_token}", "Content-Type": "text/x-python"}
        async with httpx.AsyncClient(base_url=srv.url, timeout=T) as http:
            r = await http.put(
                "/v1/database/scores", content=source, params={"host_type": "Python"}, headers=owner
            )
            assert r.status_code == 200, r.text
            failed = await http.put("/v1/database/failing", content=FAILING_INIT, headers=owner)
            assert (
                failed.status_code == 500
                and "init reducer of module 'failing' failed" in failed.text
            )
        srv.get_database("scores").call_reducer("put", 1, 10)
    assert len(list((data / "databases").iterdir())) == 1  # the failed one left nothing
    async with LocalServer(None, data_dir=data) as srv:
        assert [db.name for db in srv.databases] == ["scores"]
        assert items(srv.get_database("scores")) == {1: 10}


async def test_the_starting_module_wins_over_a_program_published_to_its_database(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with LocalServer(module, data_dir=data) as srv:
        await srv.publish_async(program(tmp_path, "v2", "extra_reducer=True"), "durable")
        assert srv.db.module.reducer_def("shout") is not None
        folder = data / "databases" / srv.db.identity.to_hex()
        assert (folder / "program").is_file()
    async with LocalServer(module, data_dir=data) as srv:
        assert srv.db.module is module and not (folder / "program").exists()
    async with LocalServer(None, data_dir=data) as srv:  # nothing to serve it from
        assert srv.databases == []


async def test_a_published_database_survives_sigkill(tmp_path: Path) -> None:
    """Every call answered before ``kill -9`` is there after the restart, and the owner's
    token from before still works."""
    server = ServerProcess(Path(__file__).with_name("durable_module.py"), tmp_path / "data")
    await server.start()
    try:
        owner = {"Authorization": f"Bearer {server.owner_token}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=T) as http:
            r = await http.put(
                "/v1/database/scores",
                content=program(tmp_path, "v1").read_bytes(),
                params={"host_type": "Python"},
                headers={**owner, "Content-Type": "text/x-python"},
            )
            assert r.status_code == 200, r.text
            for i in range(1, 21):
                r = await http.post("/v1/database/scores/call/put", json=[i, 10 * i], headers=owner)
                assert r.status_code == 200, r.text
        await server.kill()
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=T) as http:
            r = await http.post(
                "/v1/database/scores/sql", content="SELECT * FROM item", headers=owner
            )
            assert r.status_code == 200, r.text
            assert sorted(map(tuple, r.json()[0]["rows"])) == [(i, 10 * i) for i in range(1, 21)]
    finally:
        await server.stop()
