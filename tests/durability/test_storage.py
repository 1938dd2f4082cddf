"""One database's folder: snapshots and pruning, torn tails, damage, schema changes, durability.

Each test runs a :class:`Database` on a data directory, closes it as a crash or a stop would,
and opens it again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from durable_module import build, module

from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.server import LocalServer, Module
from spacetimedb_sdk.server.durability import (
    DataDir,
    DataDirError,
    Durability,
    SchemaChangedError,
)
from spacetimedb_sdk.server.durability.commitlog import CommitLog, list_segments
from spacetimedb_sdk.server.durability.records import Changes, TableChanges, frame_record
from spacetimedb_sdk.server.durability.snapshots import list_snapshots, snapshot_name
from spacetimedb_sdk.server.host import Database, database_identity

T = 10.0


@contextmanager
def opened(path: Path, mod: Module = module, **kw: Any) -> Iterator[Database]:
    """A started database on ``path`` (not serving), closed (synced) at the end."""
    with DataDir.open(path, **kw) as data:
        db = Database(
            mod,
            name="durable",
            issuer=data.issuer,
            owner_token=data.owner_token(),
            storage=data.database(database_identity(data.issuer, "durable"), "durable"),
        )
        db.start()
        try:
            yield db
        finally:
            db.stop()
            db.close_storage()


def folder(path: Path, db: Database) -> Path:
    return path / "databases" / db.identity.to_hex()


def items(db: Database) -> dict[int, int]:
    return {r.id: r.value for r in db.rows("item")}


# ---- snapshots --------------------------------------------------------------------------------


def test_snapshots_fold_the_log_and_prune_it(tmp_path: Path) -> None:
    # Two runs: each takes at least one snapshot (how many more depends on how fast the
    # snapshot thread keeps up, which the test does not assume).
    for run in range(2):
        with opened(tmp_path, snapshot_bytes=2000) as db:
            for i in range(300):
                assert db.call_reducer("put", (i + run) % 50, i).ok
            assert db.call_reducer("add_note", "x").ok
            expected, notes = items(db), {r.id for r in db.rows("note")}
            where = folder(tmp_path, db)
    snapshots = list_snapshots(where / "snapshots")
    segments = list_segments(where / "clog")
    assert len(snapshots) == 2 and 0 not in snapshots  # the newest two are kept
    assert segments[0] == snapshots[0]  # segments before the older snapshot are deleted
    with opened(tmp_path, snapshot_bytes=2000) as db:
        assert items(db) == expected and {r.id for r in db.rows("note")} == notes
        assert db.call_reducer("add_note", "y").ok
        assert len({r.id for r in db.rows("note")}) == len(notes) + 1


def test_a_damaged_snapshot_falls_back_to_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with opened(tmp_path, snapshot_bytes=2000) as db:
        for i in range(300):
            db.call_reducer("put", i % 50, i)
        expected = items(db)
        where = folder(tmp_path, db)
    newest = where / "snapshots" / snapshot_name(list_snapshots(where / "snapshots")[-1])
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), opened(tmp_path, snapshot_bytes=2000) as db:
        assert items(db) == expected
    assert "is damaged" in caplog.text and "trying the one before it" in caplog.text


# ---- torn tails and damage ----------------------------------------------------------------------


def _segment(path: Path, db: Database) -> Path:
    clog = folder(path, db) / "clog"
    return clog / f"{list_segments(clog)[-1]:020d}.stlog"


def test_a_torn_tail_is_truncated_and_the_rest_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with opened(tmp_path) as db:
        for i in (1, 2, 3):
            db.call_reducer("put", i, i)
        segment = _segment(tmp_path, db)
        offset = db.storage.durability.committed  # type: ignore[union-attr]
    whole = segment.read_bytes()
    segment.write_bytes(whole + frame_record(offset, b"an append cut short")[:-7])
    with caplog.at_level(logging.WARNING), opened(tmp_path) as db:
        assert items(db) == {1: 1, 2: 2, 3: 3}
        assert segment.read_bytes() == whole  # the torn bytes are gone
        db.call_reducer("put", 4, 4)  # and the log goes on from there
    assert "truncating a torn tail" in caplog.text
    # The last record itself cut short: that transaction was never acknowledged, it is dropped.
    segment.write_bytes(segment.read_bytes()[:-3])
    with opened(tmp_path) as db:
        assert items(db) == {1: 1, 2: 2, 3: 3}


def test_a_damaged_record_before_the_end_is_refused_clearly(tmp_path: Path) -> None:
    with opened(tmp_path) as db:
        for i in (1, 2, 3):
            db.call_reducer("put", i, i)
        segment = _segment(tmp_path, db)
    data = bytearray(segment.read_bytes())
    data[60] ^= 0x10  # inside the first record (the init reducer's)
    segment.write_bytes(bytes(data))
    with pytest.raises(DataDirError) as caught, opened(tmp_path):
        pass
    message = str(caught.value)
    assert "clog/00000000000000000000.stlog" in message and "checksum" in message
    assert "serve --clear" in message and "backup" in message


def test_the_storage_refuses_rows_of_a_table_it_does_not_know(tmp_path: Path) -> None:
    """A record naming an unknown table (bytes that pass their checksums but are not ours)."""
    with opened(tmp_path) as db:
        durability = db.storage.durability  # type: ignore[union-attr]
        assert isinstance(durability, Durability)
        durability.append(Changes(0, [TableChanges("nope", inserts=b"", insert_count=0)]))
    with (
        pytest.raises(DataDirError, match="table 'nope', which the module does not have"),
        opened(tmp_path),
    ):
        pass


# ---- schema changes ---------------------------------------------------------------------------


def test_a_module_change_that_leaves_the_tables_alone_keeps_the_data(tmp_path: Path) -> None:
    with opened(tmp_path) as db:
        db.call_reducer("put", 1, 1)
    changed = build(extra_reducer=True)
    with opened(tmp_path, changed) as db:
        assert items(db) == {1: 1}
        db.call_reducer("put", 2, 2)
        snapshots = list_snapshots(folder(tmp_path, db) / "snapshots")
    assert len(snapshots) == 1  # rewritten once in the new schema; older files pruned
    with opened(tmp_path, changed) as db:
        assert items(db) == {1: 1, 2: 2}
    with opened(tmp_path) as db:  # and back again
        assert items(db) == {1: 1, 2: 2}


def test_an_incompatible_change_is_refused_naming_clear(tmp_path: Path) -> None:
    with opened(tmp_path) as db:
        db.call_reducer("put", 1, 1)
    with pytest.raises(SchemaChangedError) as caught, opened(tmp_path, build(value_type=str)):
        pass
    message = str(caught.value)
    assert "\n" not in message  # one line: the CLI prints it as its error line
    assert (  # upstream's rule and text
        "(Database update rejected: Changing the type of column value in table item from U64 "
        "to String requires a manual migration)"
    ) in message
    assert "serve --clear" in message
    with opened(tmp_path) as db:  # nothing was touched
        assert items(db) == {1: 1}


def test_an_added_column_with_a_default_keeps_the_rows(tmp_path: Path) -> None:
    with opened(tmp_path) as db:
        db.call_reducer("put", 1, 10)
        db.call_reducer("put", 2, 20)
        db.call_reducer("add_note", "kept")
    changed = build(extra_column=True, extra_table=True)
    with opened(tmp_path, changed) as db:
        assert sorted((r.id, r.value, r.tag) for r in db.rows("item")) == [
            (1, 10, "untagged"),
            (2, 20, "untagged"),
        ]
        assert db.rows("extra") == []
        assert db.call_reducer("add_note", "next").ok  # the sequence carried over
        assert len({r.id for r in db.rows("note")}) == 3
    with opened(tmp_path, changed) as db:  # the new schema is now the stored one
        assert len(db.rows("item")) == 2


def test_data_the_rules_cannot_keep_is_refused_with_upstreams_reason(tmp_path: Path) -> None:
    with opened(tmp_path) as db:
        db.call_reducer("put", 1, 5)
        db.call_reducer("put", 2, 5)  # the same value twice: no unique constraint can be added
        db.call_reducer("set_alarm", "bell", 3_600_000_000)
        db.call_reducer("add_note", "x")
    with pytest.raises(SchemaChangedError) as caught, opened(tmp_path, build(unique_value=True)):
        pass
    assert "Failed to create or update the database: Cannot add unique constraint" in str(
        caught.value
    )
    assert "serve --clear" in str(caught.value)
    with opened(tmp_path, build(with_rang=False)) as db:  # an empty table may go
        assert "rang" not in {t.name for t in db.module.table_schemas()}
        assert items(db) == {1: 5, 2: 5}


def test_a_removed_table_holding_rows_is_refused(tmp_path: Path) -> None:
    with opened(tmp_path, build(extra_table=True)) as db, db.transaction() as tx:
        tx.extra.insert(db.module.table_schema("extra").row_class(id=1))
    with (
        pytest.raises(SchemaChangedError, match="Cannot remove table `extra`: table contains data"),
        opened(tmp_path),
    ):
        pass
    with opened(tmp_path, build(extra_table=True)) as db:
        assert [r.id for r in db.rows("extra")] == [1]


# ---- durability -------------------------------------------------------------------------------


class HeldSync:
    """Holds the commit log's syncs until :meth:`release`; tells when a writer starts waiting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, db: Database) -> None:
        durability = db.storage.durability  # type: ignore[union-attr]
        assert durability is not None
        self.gate = threading.Event()
        self.waiting = asyncio.Event()
        real_sync, real_wait = CommitLog.sync, durability.wait_durable_async

        def sync(log: CommitLog) -> None:
            self.gate.wait(T)
            real_sync(log)

        async def wait(offset: int | None = None) -> None:
            self.waiting.set()
            await real_wait(offset)

        monkeypatch.setattr(CommitLog, "sync", sync)
        monkeypatch.setattr(durability, "wait_durable_async", wait)

    def release(self) -> None:
        self.gate.set()


async def test_confirmed_reads_wait_for_the_sync_and_unconfirmed_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LocalServer(module, data_dir=tmp_path) as srv:
        base = DbConnection.builder().with_uri(srv.url).with_database_name(srv.database)
        fast = await asyncio.wait_for(base.with_confirmed_reads(False).connect(), T)
        sure = await asyncio.wait_for(
            DbConnection.builder().with_uri(srv.url).with_database_name(srv.database).connect(), T
        )  # confirmed reads: the default of v2/v3
        held: HeldSync | None = None
        try:
            for conn in (fast, sure):
                await asyncio.wait_for(
                    conn.subscription_builder().subscribe("SELECT * FROM item"), T
                )
            held = HeldSync(monkeypatch, srv.db)  # from here on, syncs wait for release()
            seen = asyncio.Event()
            sure.db.item.on_insert(lambda ctx, row: seen.set())
            await asyncio.wait_for(fast.reducers.put(id=1, value=1), T)  # answered before the sync
            assert [r.id for r in fast.db.item] == [1]
            await asyncio.wait_for(held.waiting.wait(), T)  # the confirmed writer holds it ...
            assert sure.db.item.count() == 0 and not seen.is_set()
            held.release()  # ... until the sync
            await asyncio.wait_for(seen.wait(), T)
            assert [r.id for r in sure.db.item] == [1]
        finally:
            if held is not None:
                held.release()
            await asyncio.gather(fast.disconnect(), sure.disconnect())


async def test_sql_answers_after_the_sync_unless_confirmed_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with LocalServer(module, data_dir=tmp_path) as srv:
        held = HeldSync(monkeypatch, srv.db)
        auth = {"Authorization": f"Bearer {srv.owner_token}"}
        url = f"/v1/database/{srv.database}/sql"
        async with httpx.AsyncClient(base_url=srv.url, timeout=T, headers=auth) as http:
            fast = await http.post(
                url + "?confirmed=false", content="INSERT INTO item (id, value) VALUES (1, 1)"
            )
            assert fast.status_code == 200
            sure = asyncio.create_task(http.post(url, content="SELECT * FROM item"))
            await asyncio.wait_for(held.waiting.wait(), T)
            assert not sure.done()
            held.release()
            answer = await asyncio.wait_for(sure, T)
            assert answer.status_code == 200 and answer.json()[0]["rows"] == [[1, 1]]


def test_a_failed_write_acknowledges_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with opened(tmp_path) as db:
        db.call_reducer("put", 1, 1)

        def broken(fd: int, data: Any) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr("spacetimedb_sdk.server.durability.commitlog.os.write", broken)
        with pytest.raises(DataDirError, match="No space left on device"):
            db.call_reducer("put", 2, 2)
        monkeypatch.undo()
        with pytest.raises(DataDirError, match="No space left on device"):  # failed for good
            db.call_reducer("put", 3, 3)
    with opened(tmp_path) as db:
        assert items(db) == {1: 1}


def test_a_database_folder_missing_its_meta_file_is_not_wiped(tmp_path: Path) -> None:
    with opened(tmp_path, snapshot_bytes=2000) as db:
        for i in range(100):
            db.call_reducer("put", i, i)
        where = folder(tmp_path, db)
    (where / "database.json").unlink()
    missing = r"database\.json' is missing, but the folder holds"
    with pytest.raises(DataDirError, match=missing), opened(tmp_path, snapshot_bytes=2000):
        pass
    assert len(list_snapshots(where / "snapshots")) == 2  # nothing was deleted
