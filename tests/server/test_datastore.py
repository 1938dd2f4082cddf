"""The transactional datastore: CRUD, indexes, constraints, rollback, changesets."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from spacetimedb_sdk import Identity, Timestamp
from spacetimedb_sdk.errors import BsatnEncodeError
from spacetimedb_sdk.sats import I32, U8, U32, U64
from spacetimedb_sdk.sats.types import AlgebraicType, Typespace
from spacetimedb_sdk.server import (
    Module,
    NoSuchRow,
    Range,
    ReducerContext,
    SenderError,
    UniqueConstraintViolation,
    column,
    index,
)
from spacetimedb_sdk.server.datastore import AutoIncOverflow, DatastoreError, satn

m = Module("ds-test")


@m.table(public=True)
class User:
    identity: Identity = column(primary_key=True)
    name: str | None
    online: bool


@m.table(indexes=[index("by_owner_level", btree=["owner", "level"])])
class Item:
    id: U64 = column(primary_key=True, auto_inc=True)
    owner: U32 = column(index="btree")
    level: I32
    code: str = column(unique=True)


@m.table
class Tag:
    text: str
    n: U8 = column(auto_inc=True)


@m.table
class Note:
    key: uuid.UUID = column(unique=True)
    body: str


@m.table(event=True)
class Ping:
    n: U32


@m.reducer
def fail_midway(ctx: ReducerContext, code: str) -> None:
    ctx.db.item.insert(Item(0, 1, 1, code))
    ctx.db.user.identity.delete(Identity(1))
    raise RuntimeError("boom")


@m.reducer
def reject(ctx: ReducerContext) -> None:
    ctx.db.item.insert(Item(0, 1, 1, "rejected"))
    raise SenderError("nope")


ALICE, BOB = Identity(0xA11CE), Identity(0xB0B)


def commit(ds, fn):  # type: ignore[no-untyped-def]
    with ds.transaction() as tx:
        fn(tx.db)
    return ds.last_result


def test_insert_find_update_delete_and_changesets() -> None:
    ds = m.new_datastore()
    res = commit(ds, lambda db: db.user.insert(User(ALICE, None, True)))
    assert res.inserts == {"user": [User(ALICE, None, True)]} and res.deletes == {}
    assert ds.store("user").find(ds.store("user").index("identity"), [ALICE]) == User(
        ALICE, None, True
    )

    def rename(db):  # type: ignore[no-untyped-def]
        u = db.user.identity.find(ALICE)
        return db.user.identity.update(dataclasses.replace(u, name="alice"))

    res = commit(ds, rename)
    # A primary-key update is a delete of the old row plus an insert of the new one.
    assert res.deletes == {"user": [User(ALICE, None, True)]}
    assert res.inserts == {"user": [User(ALICE, "alice", True)]}

    res = commit(ds, lambda db: db.user.identity.delete(ALICE))
    assert res.deletes == {"user": [User(ALICE, "alice", True)]} and res.inserts == {}
    assert ds.store("user").count() == 0


def test_update_with_identical_row_changes_nothing() -> None:
    ds = m.new_datastore()
    commit(ds, lambda db: db.user.insert(User(ALICE, "a", True)))
    res = commit(ds, lambda db: db.user.identity.update(User(ALICE, "a", True)))
    assert res.is_empty()


def test_insert_then_delete_in_one_tx_is_no_change() -> None:
    ds = m.new_datastore()
    commit(ds, lambda db: db.user.insert(User(BOB, None, False)))

    def churn(db):  # type: ignore[no-untyped-def]
        db.user.insert(User(ALICE, None, True))
        db.user.delete(User(ALICE, None, True))
        db.user.delete(User(BOB, None, False))
        db.user.insert(User(BOB, None, False))

    assert commit(ds, churn).is_empty()
    assert list(ds.store("user").iter_rows()) == [User(BOB, None, False)]


def test_duplicate_row_insert_is_a_noop() -> None:
    ds = m.new_datastore()
    commit(ds, lambda db: db.user.insert(User(ALICE, None, True)))
    res = commit(ds, lambda db: db.user.insert(User(ALICE, None, True)))
    assert res.is_empty() and ds.store("user").count() == 1


def test_primary_key_violation_has_upstream_text() -> None:
    ds = m.new_datastore()
    commit(ds, lambda db: db.user.insert(User(Identity(5), None, True)))
    with pytest.raises(UniqueConstraintViolation) as e:
        commit(ds, lambda db: db.user.insert(User(Identity(5), "other", True)))
    assert str(e.value) == (
        "Unique constraint violation 'user_identity_idx_btree' in table 'user': "
        "column(s): '[\"identity\"]' value: (0 = 5)"
    )
    assert ds.store("user").count() == 1


def test_unique_violation_on_string_column() -> None:
    ds = m.new_datastore()
    commit(ds, lambda db: db.item.insert(Item(0, 1, 5, "sword")))
    with pytest.raises(UniqueConstraintViolation) as e:
        commit(ds, lambda db: db.item.insert(Item(0, 2, 5, "sword")))
    assert str(e.value) == (
        "Unique constraint violation 'item_code_idx_btree' in table 'item': "
        'column(s): \'["code"]\' value: "sword"'
    )


def test_update_checks_other_unique_columns_first() -> None:
    ds = m.new_datastore()

    def setup(db):  # type: ignore[no-untyped-def]
        db.item.insert(Item(0, 1, 1, "a"))
        db.item.insert(Item(0, 1, 1, "b"))

    commit(ds, setup)
    with pytest.raises(UniqueConstraintViolation, match="item_code_idx_btree"):
        commit(ds, lambda db: db.item.id.update(Item(2, 1, 1, "a")))
    assert sorted(r.code for r in ds.store("item").iter_rows()) == ["a", "b"]


def test_update_of_missing_row() -> None:
    ds = m.new_datastore()
    with pytest.raises(NoSuchRow, match=r"The row was not found, e\.g\., in an update call"):
        commit(ds, lambda db: db.user.identity.update(User(ALICE, None, True)))


def test_update_only_on_primary_key() -> None:
    ds = m.new_datastore()
    with pytest.raises(DatastoreError, match="only available on the primary key"):
        commit(ds, lambda db: db.item.code.update(Item(1, 1, 1, "a")))


def test_auto_inc_fills_zero_and_keeps_explicit_values() -> None:
    ds = m.new_datastore()
    got = []
    commit(
        ds,
        lambda db: got.extend(
            [db.item.insert(Item(0, 1, 1, "x")), db.item.insert(Item(10, 1, 1, "y"))]
        ),
    )
    commit(ds, lambda db: got.append(db.item.insert(Item(0, 1, 1, "z"))))
    assert [r.id for r in got] == [1, 10, 2]


def test_sequences_are_not_rolled_back() -> None:
    ds = m.new_datastore()
    with pytest.raises(RuntimeError):
        commit(ds, lambda db: (db.item.insert(Item(0, 1, 1, "x")), 1 / 0 if False else _raise()))
    got = commit(ds, lambda db: db.item.insert(Item(0, 1, 1, "x")))
    assert got.inserts["item"][0].id == 2  # id 1 was consumed by the failed transaction


def _raise() -> None:
    raise RuntimeError("fail")


def test_auto_inc_overflow() -> None:
    ds = m.new_datastore()

    def fill(db):  # type: ignore[no-untyped-def]
        for i in range(255):
            db.tag.insert(Tag(f"t{i}", 0))

    commit(ds, fill)
    with pytest.raises(AutoIncOverflow, match="The auto-increment sequence overflowed"):
        commit(ds, lambda db: db.tag.insert(Tag("last", 0)))


def test_btree_filter_points_prefixes_and_ranges() -> None:
    ds = m.new_datastore()

    def setup(db):  # type: ignore[no-untyped-def]
        for owner, level, code in [
            (1, 5, "a"),
            (2, -3, "b"),
            (1, -1, "c"),
            (1, 9, "d"),
            (3, 0, "e"),
        ]:
            db.item.insert(Item(0, owner, level, code))

    commit(ds, setup)
    db = ds.read_view()
    assert sorted(r.code for r in db.item.owner.filter(1)) == ["a", "c", "d"]
    assert [r.code for r in db.item.owner.filter(Range(2, None))] == ["b", "e"]
    assert sorted(r.code for r in db.item.owner.filter(range(1, 3))) == ["a", "b", "c", "d"]
    assert [r.code for r in db.item.by_owner_level.filter((1,))] == ["c", "a", "d"]
    assert [r.code for r in db.item.by_owner_level.filter((1, Range(-1, 9)))] == ["c", "a"]
    assert [
        r.code
        for r in db.item.by_owner_level.filter(
            (1, Range(-1, 9, start_inclusive=False, stop_inclusive=True))
        )
    ] == ["a", "d"]
    assert [
        r.code for r in db.item.by_owner_level.filter((1, Range(None, 5, stop_inclusive=True)))
    ] == ["c", "a"]
    assert list(db.item.by_owner_level.filter((1, 9))) == [Item(4, 1, 9, "d")]
    with pytest.raises(DatastoreError, match="read-only"):
        db.item.insert(Item(0, 1, 1, "zz"))


def test_btree_delete_by_filter() -> None:
    ds = m.new_datastore()
    commit(
        ds,
        lambda db: (
            [db.item.insert(Item(0, o, 0, f"{o}-{i}")) for i, o in enumerate((1, 1, 2))] and None
        ),
    )
    counts: list[int] = []
    res = commit(ds, lambda db: counts.append(db.item.owner.delete(1)))
    assert counts == [2]
    assert sorted(r.code for r in res.deletes["item"]) == ["1-0", "1-1"]
    assert [r.code for r in ds.store("item").iter_rows()] == ["2-2"]


def test_unique_find_and_delete() -> None:
    ds = m.new_datastore()
    key = uuid.UUID(int=42)
    commit(ds, lambda db: db.note.insert(Note(key, "hello")))
    db = ds.read_view()
    assert db.note.key.find(key) == Note(key, "hello")
    assert db.note.key.find(uuid.UUID(int=43)) is None
    deleted: list[bool] = []
    commit(ds, lambda db: deleted.extend([db.note.key.delete(key), db.note.key.delete(key)]))
    assert deleted == [True, False]


def test_wrong_types_are_rejected_before_storing() -> None:
    ds = m.new_datastore()
    with pytest.raises(BsatnEncodeError, match="out of range for U32"):
        commit(ds, lambda db: db.item.insert(Item(0, -1, 0, "neg")))
    with pytest.raises(BsatnEncodeError, match="expected String"):
        commit(ds, lambda db: db.user.insert(User(ALICE, 5, True)))  # type: ignore[arg-type]
    with pytest.raises(BsatnEncodeError, match="expected a User row"):
        commit(ds, lambda db: db.user.insert(Item(0, 1, 1, "x")))
    assert ds.store("item").count() == 0 and ds.store("user").count() == 0


def test_event_table_rows_reach_the_changeset_only() -> None:
    ds = m.new_datastore()
    seen: list[int] = []

    def emit(db):  # type: ignore[no-untyped-def]
        db.ping.insert(Ping(1))
        db.ping.insert(Ping(2))
        seen.append(db.ping.count())

    res = commit(ds, emit)
    assert res.inserts == {"ping": [Ping(1), Ping(2)]} and res.deletes == {}
    assert seen == [2]  # visible inside the transaction
    assert ds.store("ping").count() == 0
    assert commit(ds, lambda db: None).is_empty()


def test_rollback_after_exception_mid_reducer_restores_rows_and_indexes() -> None:
    ds = m.new_datastore()

    def setup(db):  # type: ignore[no-untyped-def]
        db.user.insert(User(Identity(1), "one", True))
        db.user.insert(User(Identity(2), "two", True))
        db.item.insert(Item(0, 7, 1, "kept"))

    commit(ds, setup)
    before_users = list(ds.store("user").iter_rows())
    result = m.call_reducer(ds, "fail_midway", {"code": "new"}, sender=ALICE)
    assert result.status == "internal_error"
    assert result.message == "The instance encountered a fatal error."
    assert isinstance(result.error, RuntimeError) and result.tx is None
    assert list(ds.store("user").iter_rows()) == before_users  # order restored too
    db = ds.read_view()
    assert db.user.identity.find(Identity(1)) == User(Identity(1), "one", True)
    assert db.item.code.find("new") is None
    assert [r.code for r in db.item.owner.filter(1)] == []
    assert [r.code for r in db.item.owner.filter(7)] == ["kept"]
    assert ds.active is None  # ready for the next transaction


def test_sender_error_is_the_reducer_error() -> None:
    ds = m.new_datastore()
    result = m.call_reducer(ds, "reject", (), sender=ALICE, timestamp=Timestamp(5))
    assert result.status == "err" and result.message == "nope"
    assert ds.store("item").count() == 0


def test_one_transaction_at_a_time() -> None:
    ds = m.new_datastore()
    tx = ds.begin()
    with pytest.raises(DatastoreError, match="already open"):
        ds.begin()
    tx.rollback()
    with pytest.raises(DatastoreError, match="already been committed"):
        tx.commit()


def test_delete_while_iterating_is_safe() -> None:
    ds = m.new_datastore()
    commit(ds, lambda db: [db.tag.insert(Tag(str(i), 0)) for i in range(5)] and None)

    def drop_all(db):  # type: ignore[no-untyped-def]
        for row in db.tag.iter():
            db.tag.delete(row)

    res = commit(ds, drop_all)
    assert len(res.deletes["tag"]) == 5 and ds.store("tag").count() == 0


def test_satn_of_composite_values() -> None:
    ts = Typespace(())
    opt = AlgebraicType.option(AlgebraicType.STRING)
    assert satn(opt, "x", ts, {}) == '( = "x")'
    assert satn(opt, None, ts, {}) == "( = ())"
    assert satn(AlgebraicType.array(AlgebraicType.U8), b"\x01\xff", ts, {}) == "0x01ff"
    assert satn(AlgebraicType.array(AlgebraicType.I32), [1, -2], ts, {}) == "[1, -2]"
    assert satn(AlgebraicType.F64, 1.0, ts, {}) == "1"
    assert satn(AlgebraicType.F64, 1e21, ts, {}) == "1000000000000000000000"
    assert satn(AlgebraicType.F32, 0.1, ts, {}) == "0.1"
    pt = AlgebraicType.product({"a": AlgebraicType.BOOL, "b": AlgebraicType.U8})
    assert satn(pt, {"a": True, "b": 3}, ts, {}) == "(0 = true, 1 = 3)"
