"""A local server on a data directory, stopped and started again: what it keeps.

Rows, sequences (never reusing a value, even one a rolled-back transaction took), scheduled
rows and their timers, ``st_var``, the signing key (tokens stay valid, a client keeps its
identity) and the owner; ``init`` runs once; ``clear=True`` starts empty; the directory is
locked while in use and its secrets are private.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import durable_module
import pytest
from durable_module import module

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.sats.values import ConnectionId, Identity
from spacetimedb_sdk.server import LocalServer
from spacetimedb_sdk.server.durability import DataDir, DataDirLocked
from spacetimedb_sdk.server.host import ClientConnection, Database, database_identity

T = 10.0


def items(srv: LocalServer) -> dict[int, int]:
    return {r.id: r.value for r in srv.db.rows("item")}


def notes(srv: LocalServer) -> dict[int, str]:
    return {r.id: r.text for r in srv.db.rows("note")}


async def test_rows_and_sequences_survive_and_init_runs_once(tmp_path: Path) -> None:
    durable_module.inits.clear()
    async with LocalServer(module, data_dir=tmp_path) as srv:
        for call in (("put", 1, 10), ("put", 2, 20), ("put", 1, 11), ("remove", 2)):
            assert srv.db.call_reducer(*call).ok
        assert srv.db.call_reducer("add_note", "a").ok
        assert not srv.db.call_reducer("add_note_then_fail", "x").ok  # takes id 3, rolls back
        assert srv.db.call_reducer("add_note", "b").ok
        before_items, before_notes = items(srv), notes(srv)
    assert before_items == {1: 11} and sorted(before_notes.values()) == ["a", "b", "made by init"]
    async with LocalServer(module, data_dir=tmp_path) as srv:
        assert items(srv) == before_items and notes(srv) == before_notes
        assert durable_module.inits == [1]  # a loaded database is not initialised again
        assert srv.db.call_reducer("add_note", "c").ok
        (new_id,) = set(notes(srv)) - set(before_notes)
    assert new_id > max(before_notes) and new_id != 3


async def test_clear_starts_empty_and_runs_init_again(tmp_path: Path) -> None:
    durable_module.inits.clear()
    async with LocalServer(module, data_dir=tmp_path) as srv:
        srv.db.call_reducer("put", 5, 5)
        owner = srv.owner_identity
    async with LocalServer(module, data_dir=tmp_path, clear=True) as srv:
        assert items(srv) == {} and list(notes(srv).values()) == ["made by init"]
        assert srv.owner_identity == owner  # the key and the owner are kept
    assert durable_module.inits == [1, 1]
    with pytest.raises(ValueError, match="pass data_dir too"):
        LocalServer(module, clear=True)


async def test_st_var_survives(tmp_path: Path) -> None:
    async with LocalServer(module, data_dir=tmp_path) as srv:
        srv.db.sql("SET row_limit = 7")
        (shown,) = srv.db.sql("SHOW row_limit")
    async with LocalServer(module, data_dir=tmp_path) as srv:
        assert srv.db.sql("SHOW row_limit")[0]["rows"] == shown["rows"]
        assert srv.db.subscriptions.system.row_limit() == 7
        srv.db.sql("DELETE FROM st_var WHERE name = 'row_limit'")
    async with LocalServer(module, data_dir=tmp_path) as srv:
        assert srv.db.subscriptions.system.row_limit() is None


async def test_scheduled_rows_are_restored_and_fire(tmp_path: Path) -> None:
    durable_module.fired.clear()
    async with LocalServer(module, data_dir=tmp_path) as srv:
        srv.db.call_reducer("set_repeating", "hourly", 3_600_000_000)
        srv.db.call_reducer("set_alarm", "soon", 1_500_000)  # fires after the restart
        armed = sorted(srv.db.scheduler.pending())
    assert not durable_module.fired.is_set()
    async with LocalServer(module, data_dir=tmp_path) as srv:
        assert sorted(srv.db.scheduler.pending()) == armed  # every timer re-armed
        assert await asyncio.to_thread(durable_module.fired.wait, T)
        assert [r.label for r in srv.db.rows("rang")] == ["soon"]
        assert [r.label for r in srv.db.rows("alarm")] == ["hourly"]  # the one-shot row is gone


async def test_tokens_stay_valid_and_a_saved_token_keeps_its_identity(tmp_path: Path) -> None:
    async with LocalServer(module, data_dir=tmp_path) as srv:
        alice = srv.issue_token("alice")
        owner, owner_token = srv.owner_identity, srv.owner_token
        conn = await asyncio.wait_for(_builder(srv).connect(), T)
        identity, saved = conn.identity, conn.token
        await asyncio.wait_for(conn.disconnect(), T)
    async with LocalServer(module, data_dir=tmp_path) as srv:
        assert srv.owner_identity == owner
        assert srv.issuer.validate(owner_token).identity == owner
        assert srv.issuer.validate(alice).subject == "alice"
        conn = await asyncio.wait_for(_builder(srv).with_token(saved).connect(), T)
        try:
            assert conn.identity == identity
        finally:
            await asyncio.wait_for(conn.disconnect(), T)


async def test_a_reconnecting_client_carries_on_across_a_restart(tmp_path: Path) -> None:
    srv = LocalServer(module, data_dir=tmp_path)
    await srv.start_async()
    port = srv.port
    reconnected = asyncio.Event()
    conn = await asyncio.wait_for(
        _builder(srv)
        .with_reconnect(min_delay=0.05, max_delay=0.2, jitter=0.1)
        .on_reconnected(lambda c: reconnected.set())
        .connect(),
        T,
    )
    try:
        await asyncio.wait_for(conn.subscription_builder().subscribe("SELECT * FROM item"), T)
        await asyncio.wait_for(conn.reducers.put(id=1, value=1), T)
        identity = conn.identity
        await srv.stop_async()
        srv = LocalServer(module, data_dir=tmp_path, port=port)
        await srv.start_async()
        await asyncio.wait_for(reconnected.wait(), T)
        await asyncio.wait_for(conn.reducers.put(id=2, value=2), T)
        assert conn.identity == identity
        assert sorted((r.id, r.value) for r in conn.db.item) == [(1, 1), (2, 2)]
    finally:
        await asyncio.wait_for(conn.disconnect(), T)
        await srv.stop_async()


def test_clients_connected_at_a_crash_are_disconnected_on_start(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path)
    db = _database(data)
    db.start()
    client = ClientConnection(Identity(7), ConnectionId.random(), "")
    db.connect(client)
    assert {r.client: r.online for r in db.rows("online")} == {Identity(7).to_hex(): True}
    db.close_storage()  # a crash: the storage ends with the client still connected
    data.close()
    with DataDir.open(tmp_path) as data:
        again = _database(data)
        again.start()  # runs client_disconnected for it, as upstream does
        assert {r.client: r.online for r in again.rows("online")} == {Identity(7).to_hex(): False}
        again.stop()
        again.close_storage()
    with DataDir.open(tmp_path) as data:
        third = _database(data)
        third.start()  # ... once: it was recorded as disconnected
        assert third.restored is not None and third.restored.connected() == []
        third.close_storage()


def test_the_directory_is_locked_while_in_use(tmp_path: Path) -> None:
    first = LocalServer(module, data_dir=tmp_path)
    try:
        with pytest.raises(
            DataDirLocked, match=rf"in use by another server \(process {os.getpid()}\)"
        ):
            LocalServer(module, data_dir=tmp_path)
    finally:
        first.start().stop()
    LocalServer(module, data_dir=tmp_path).start().stop()  # released


def test_secrets_are_private_and_the_layout_is_documented(tmp_path: Path) -> None:
    srv = LocalServer(module, data_dir=tmp_path).start()
    srv.db.call_reducer("put", 1, 1)
    srv.stop()
    folder = tmp_path / "databases" / srv.db.identity.to_hex()
    for secret in (tmp_path / "id_ecdsa", tmp_path / "server.json", folder / "database.json"):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert sorted(p.name for p in folder.iterdir()) == ["clog", "database.json", "snapshots"]
    assert [p.name for p in (folder / "clog").iterdir()] == ["00000000000000000000.stlog"]
    assert [p.name for p in (folder / "snapshots").iterdir()] == ["00000000000000000000.stsnap"]
    assert (tmp_path / "id_ecdsa.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_a_server_stopped_cannot_start_again_on_its_closed_directory(tmp_path: Path) -> None:
    srv = LocalServer(module, data_dir=tmp_path).start()
    srv.stop()
    with pytest.raises(RuntimeError, match="create a new LocalServer on the same data_dir"):
        srv.start()


def _database(data: DataDir) -> Database:
    return Database(
        module,
        issuer=data.issuer,
        owner_token=data.owner_token(),
        storage=data.database(database_identity(data.issuer, "durable"), "durable"),
    )


def _builder(srv: LocalServer) -> Any:
    return DbConnection.builder().with_uri(srv.url).with_database_name(srv.database)
