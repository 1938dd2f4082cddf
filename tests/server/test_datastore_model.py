"""Random insert/delete/update/commit/rollback sequences against a reference model."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.sats import I32, U8, U32
from spacetimedb_sdk.server import Module, UniqueConstraintViolation, column, index

m = Module("model")


@m.table(indexes=[index("by_group_score", btree=["group", "score"])])
class Entry:
    id: U32 = column(primary_key=True)
    name: str = column(unique=True)
    group: U8 = column(index="btree")
    score: I32


names = st.sampled_from(["a", "b", "c", "d"])
entries = st.builds(
    Entry,
    id=st.integers(0, 5),
    name=names,
    group=st.integers(0, 2),
    score=st.integers(-3, 3),
)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), entries),
        st.tuples(st.just("delete"), entries),
        st.tuples(st.just("delete_id"), st.integers(0, 5)),
        st.tuples(st.just("update"), entries),
        st.tuples(st.just("delete_group"), st.integers(0, 2)),
        st.tuples(st.just("commit"), st.none()),
        st.tuples(st.just("rollback"), st.none()),
    ),
    max_size=40,
)


class Model:
    """The obvious implementation: a list of rows, copied at transaction start."""

    def __init__(self) -> None:
        self.rows: list[Entry] = []
        self.saved: list[Entry] = []

    def violates(self, row: Entry) -> bool:
        return any(r.id == row.id or r.name == row.name for r in self.rows)

    def insert(self, row: Entry) -> bool:
        if row in self.rows:
            return True
        if self.violates(row):
            return False
        self.rows.append(row)
        return True

    def update(self, row: Entry) -> str:
        old = next((r for r in self.rows if r.id == row.id), None)
        if old is None:
            return "missing"
        if old == row:
            return "ok"
        if any(r != old and r.name == row.name for r in self.rows):
            return "violation"
        self.rows.remove(old)
        self.rows.append(row)
        return "ok"


def check_indexes(ds, model: Model) -> None:  # type: ignore[no-untyped-def]
    db = ds.read_view()
    assert sorted(db.entry.iter(), key=lambda r: r.id) == sorted(model.rows, key=lambda r: r.id)
    for r in model.rows:
        assert db.entry.id.find(r.id) == r
        assert db.entry.name.find(r.name) == r
    for g in range(3):
        expected = sorted((r for r in model.rows if r.group == g), key=lambda r: (r.score, r.id))
        got = list(db.entry.by_group_score.filter((g,)))
        assert [(r.score, r.id) for r in got] == [(r.score, r.id) for r in expected]
        assert sorted(db.entry.group.filter(g), key=lambda r: r.id) == sorted(
            expected, key=lambda r: r.id
        )
    assert db.entry.id.find(99) is None


@settings(max_examples=300, deadline=None)
@given(ops)
def test_datastore_matches_model(script: list[tuple[str, object]]) -> None:
    ds = m.new_datastore()
    model = Model()
    tx = ds.begin()
    for op, arg in script:
        if op == "insert":
            assert isinstance(arg, Entry)
            expect_ok = model.insert(arg)
            try:
                tx.db.entry.insert(arg)
                assert expect_ok
            except UniqueConstraintViolation:
                assert not expect_ok
        elif op == "delete":
            assert isinstance(arg, Entry)
            present = arg in model.rows
            if present:
                model.rows.remove(arg)
            assert tx.db.entry.delete(arg) is present
        elif op == "delete_id":
            victim = next((r for r in model.rows if r.id == arg), None)
            if victim is not None:
                model.rows.remove(victim)
            assert tx.db.entry.id.delete(arg) is (victim is not None)
        elif op == "delete_group":
            victims = [r for r in model.rows if r.group == arg]
            for v in victims:
                model.rows.remove(v)
            assert tx.db.entry.group.delete(arg) == len(victims)
        elif op == "update":
            assert isinstance(arg, Entry)
            expected = model.update(arg)
            try:
                tx.db.entry.id.update(arg)
                assert expected == "ok"
            except UniqueConstraintViolation:
                assert expected == "violation"
            except Exception as e:  # NoSuchRow
                assert expected == "missing", e
        elif op == "commit":
            before = {dataclasses.astuple(r) for r in model.saved}
            after = {dataclasses.astuple(r) for r in model.rows}
            result = tx.commit()
            assert {
                dataclasses.astuple(r) for r in result.inserts.get("entry", [])
            } == after - before
            assert {
                dataclasses.astuple(r) for r in result.deletes.get("entry", [])
            } == before - after
            model.saved = list(model.rows)
            tx = ds.begin()
        else:
            tx.rollback()
            model.rows = list(model.saved)
            tx = ds.begin()
        check_indexes(ds, model)
    tx.rollback()
    model.rows = list(model.saved)
    check_indexes(ds, model)
