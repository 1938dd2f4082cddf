"""The subscription engine: initial rows, deltas, joins, RLS, views, event tables, errors, /sql."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk import Identity
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats import F64, I32, U8, U32
from spacetimedb_sdk.server import (
    AnonymousViewContext,
    Module,
    Transaction,
    TxResult,
    ViewContext,
    column,
)
from spacetimedb_sdk.server.datastore import Datastore
from spacetimedb_sdk.server.subscriptions import (
    CommitUpdates,
    DuplicateQuerySet,
    SqlExecutionError,
    SubscriptionFailure,
    SubscriptionManager,
    UnknownQuerySet,
    execute_sql,
)

mod = Module("subs-test")


@mod.table(name="pk_u_32", public=True)
class PkU32:
    n: U32 = column(primary_key=True)
    data: I32


@mod.table(name="pk_u_32_two", public=True)
class PkU32Two:
    n: U32 = column(primary_key=True)
    data: I32


@mod.table(name="unique_u_32", public=True)
class UniqueU32:
    n: U32 = column(unique=True)
    data: I32


@mod.table(name="btree_u_32", public=True)
class BTreeU32:
    n: U32 = column(index="btree")
    data: I32


@mod.table(public=True)
class Person:
    id: U32 = column(primary_key=True)
    name: str
    age: U8 = column(index="btree")
    score: F64
    owner: Identity


@mod.table(name="users", public=True)
class Users:
    identity: Identity = column(primary_key=True)
    name: str


@mod.table(public=True, event=True)
class Ping:
    text: str
    n: U32


@mod.table
class Secret:
    code: str


@mod.view(public=True)
def my_person(ctx: ViewContext) -> list[Person]:
    return [p for p in ctx.db.person.iter() if p.owner == ctx.sender]


@mod.view(public=True, anonymous=True)
def adults(ctx: AnonymousViewContext) -> list[Person]:
    return [p for p in ctx.db.person.iter() if p.age >= 18]


mod.client_visibility_filter("SELECT * FROM users WHERE identity = :sender")

ALICE = Identity(0xA11CE)
BOB = Identity(0xB0B)
OWNER = Identity(0x0123)


# ---- helpers -----------------------------------------------------------------------------------


def fresh() -> tuple[Datastore, SubscriptionManager]:
    ds = mod.new_datastore()
    return ds, SubscriptionManager(mod, ds)


def run(ds: Datastore, body: Callable[[Transaction], Any]) -> TxResult:
    tx = ds.begin()
    body(tx)
    return tx.commit()


def commit(
    ds: Datastore, mgr: SubscriptionManager, body: Callable[[Transaction], Any]
) -> CommitUpdates:
    return mgr.on_commit(run(ds, body))


def decode(table: str, data: bytes) -> Any:
    if table in ("my_person", "adults"):
        return mod.row_codec("person").decode(data)
    return mod.row_codec(table).decode(data)


def initial(rows: m.QueryRows) -> list[tuple[str, list[Any]]]:
    """``(table, rows)`` per entry, decoded."""
    return [(t.table, [decode(t.table, r) for r in t.rows.rows()]) for t in rows.tables]


def changes(updates: list[m.QuerySetUpdate]) -> list[tuple[int, str, list[Any], list[Any]]]:
    """``(query_set_id, table, inserts, deletes)`` per rows entry (events as inserts)."""
    out = []
    for qs in updates:
        for tu in qs.tables:
            for rows in tu.rows:
                if isinstance(rows, m.EventTableRows):
                    ins = [decode(tu.table_name, r) for r in rows.events.rows()]
                    out.append((qs.query_set_id, tu.table_name, ins, []))
                else:
                    ins = [decode(tu.table_name, r) for r in rows.inserts.rows()]
                    dels = [decode(tu.table_name, r) for r in rows.deletes.rows()]
                    out.append((qs.query_set_id, tu.table_name, ins, dels))
    return out


class ClientCache:
    """A client's row cache with reference counts, as protocol.md §7.1 describes."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, bytes]] = Counter()

    def add(self, rows: m.QueryRows, sign: int = 1) -> None:
        for t in rows.tables:
            for r in t.rows.rows():
                self.counts[(t.table, r)] += sign
        self._check()

    def apply(self, updates: list[m.QuerySetUpdate]) -> tuple[list[Any], list[Any]]:
        """Apply one message; returns the semantic (0→n) inserts and (n→0) deletes."""
        before = Counter(self.counts)
        for qs in updates:
            for tu in qs.tables:
                for rows in tu.rows:
                    if isinstance(rows, m.EventTableRows):
                        continue
                    for r in rows.inserts.rows():
                        self.counts[(tu.table_name, r)] += 1
                    for r in rows.deletes.rows():
                        self.counts[(tu.table_name, r)] -= 1
        self._check()
        keys = set(before) | set(self.counts)
        ins = [decode(*k) for k in keys if before[k] <= 0 < self.counts[k]]
        dels = [decode(*k) for k in keys if self.counts[k] <= 0 < before[k]]
        return ins, dels

    def _check(self) -> None:
        assert all(n >= 0 for n in self.counts.values()), "a row was deleted more than inserted"
        self.counts = +self.counts


# ---- initial rows and filters ------------------------------------------------------------------


def test_initial_rows_and_empty_tables() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: [tx.insert("pk_u_32", PkU32(i, i * 10)) for i in range(3)])
    rows = mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32", "SELECT * FROM unique_u_32"])
    # Upstream omits queries over empty tables from SubscribeApplied.
    assert initial(rows) == [("pk_u_32", [PkU32(0, 0), PkU32(1, 10), PkU32(2, 20)])]


PEOPLE = [
    Person(1, "ann", 17, 1.5, ALICE),
    Person(2, "bob", 18, -2.0, BOB),
    Person(3, "cy", 40, 0.0, ALICE),
    Person(4, "O'Brian", 65, 9.25, BOB),
]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("age = 18", lambda p: p.age == 18),
        ("age != 18", lambda p: p.age != 18),
        ("age <> 18", lambda p: p.age != 18),
        ("age < 18", lambda p: p.age < 18),
        ("age <= 18", lambda p: p.age <= 18),
        ("age > 18", lambda p: p.age > 18),
        ("age >= 18", lambda p: p.age >= 18),
        ("score < 0", lambda p: p.score < 0),
        ("score >= 1.5", lambda p: p.score >= 1.5),
        ("name = 'O''Brian'", lambda p: p.name == "O'Brian"),
        ("name > 'b'", lambda p: p.name > "b"),
        ("age > 17 AND age < 65", lambda p: 17 < p.age < 65),
        ("age = 17 OR name = 'cy'", lambda p: p.age == 17 or p.name == "cy"),
        ("(age = 17 OR age = 65) AND score > 5", lambda p: p.age in (17, 65) and p.score > 5),
        (f"owner = 0x{ALICE.to_hex()}", lambda p: p.owner == ALICE),
        ("owner = :sender", lambda p: p.owner == ALICE),
        ("person.id = 2", lambda p: p.id == 2),
        ("TRUE", lambda p: True),
    ],
)
def test_filters_initially_and_on_commit(where: str, expected: Callable[[Person], bool]) -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: [tx.insert("person", p) for p in PEOPLE[:2]])
    rows = mgr.subscribe("c", ALICE, 1, [f"SELECT * FROM person WHERE {where}"])
    got = [r for _, rs in initial(rows) for r in rs]
    assert got == [p for p in PEOPLE[:2] if expected(p)]
    updates = commit(ds, mgr, lambda tx: [tx.insert("person", p) for p in PEOPLE[2:]])
    inserted = [r for _, _, ins, _ in changes(updates.get("c", [])) for r in ins]
    assert inserted == [p for p in PEOPLE[2:] if expected(p)]


def test_sender_parameter_gives_each_client_its_rows() -> None:
    ds, mgr = fresh()
    q = ["SELECT * FROM person WHERE owner = :sender"]
    mgr.subscribe("alice", ALICE, 1, q)
    mgr.subscribe("bob", BOB, 1, q)
    updates = commit(ds, mgr, lambda tx: [tx.insert("person", p) for p in PEOPLE])
    assert {p.id for _, _, ins, _ in changes(updates["alice"]) for p in ins} == {1, 3}
    assert {p.id for _, _, ins, _ in changes(updates["bob"]) for p in ins} == {2, 4}


def test_pk_update_is_a_delete_and_an_insert_in_one_rows_entry() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("pk_u_32", PkU32(42, 1)))
    mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32"])
    updates = commit(ds, mgr, lambda tx: tx.update("pk_u_32", "n", PkU32(42, 2)))
    assert changes(updates["c"]) == [(1, "pk_u_32", [PkU32(42, 2)], [PkU32(42, 1)])]
    # A row leaving the filter is a lone delete.
    mgr.subscribe("d", ALICE, 1, ["SELECT * FROM pk_u_32 WHERE data = 2"])
    updates = commit(ds, mgr, lambda tx: tx.update("pk_u_32", "n", PkU32(42, 3)))
    assert changes(updates["d"]) == [(1, "pk_u_32", [], [PkU32(42, 2)])]


def test_clients_without_changes_are_absent_and_empty_commits_yield_nothing() -> None:
    ds, mgr = fresh()
    mgr.subscribe("a", ALICE, 1, ["SELECT * FROM pk_u_32"])
    mgr.subscribe("b", BOB, 1, ["SELECT * FROM unique_u_32"])
    updates = commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(1, 1)))
    assert set(updates) == {"a"}
    assert mgr.on_commit(TxResult()) == {}


# ---- overlapping queries -----------------------------------------------------------------------


def test_overlapping_queries_in_one_set_each_contribute_rows() -> None:
    ds, mgr = fresh()
    rows = mgr.subscribe(
        "c",
        ALICE,
        7,
        ["SELECT * FROM pk_u_32 WHERE n < 100", "SELECT * FROM pk_u_32 WHERE n < 200"],
    )
    assert rows.tables == []
    cache = ClientCache()
    updates = commit(ds, mgr, lambda tx: [tx.insert("pk_u_32", PkU32(n, 0)) for n in (24, 42, 150)])
    [qs] = updates["c"]
    assert qs.query_set_id == 7
    [tu] = qs.tables  # one TableUpdate per table, one rows entry per query
    assert tu.table_name == "pk_u_32" and len(tu.rows) == 2
    ins, _ = cache.apply(updates["c"])
    assert sorted(p.n for p in ins) == [24, 42, 150]
    assert cache.counts[("pk_u_32", mod.row_codec("pk_u_32").encode(PkU32(42, 0)))] == 2
    # row_deduplication: delete 24, update 42: one delete and one update, no duplicates.
    updates = commit(
        ds,
        mgr,
        lambda tx: (tx.delete("pk_u_32", PkU32(24, 0)), tx.update("pk_u_32", "n", PkU32(42, 9))),
    )
    ins, dels = cache.apply(updates["c"])
    assert ins == [PkU32(42, 9)]
    assert sorted(dels, key=lambda p: p.n) == [PkU32(24, 0), PkU32(42, 0)]


def test_identical_queries_in_a_set_are_deduplicated() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("pk_u_32", PkU32(1, 1)))
    rows = mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32", "  SELECT * FROM pk_u_32 "])
    assert len(rows.tables) == 1


def test_the_same_query_in_two_sets_and_two_clients_shares_encoded_rows() -> None:
    ds, mgr = fresh()
    for client, qsid in (("a", 1), ("a", 2), ("b", 1)):
        mgr.subscribe(client, ALICE if client == "a" else BOB, qsid, ["SELECT * FROM pk_u_32"])
    updates = commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(5, 5)))
    assert [qs.query_set_id for qs in updates["a"]] == [1, 2]
    rows_a = updates["a"][0].tables[0].rows[0]
    rows_b = updates["b"][0].tables[0].rows[0]
    assert rows_a is rows_b  # evaluated and encoded once


def test_update_lists_tables_by_name_and_sets_by_id() -> None:
    ds, mgr = fresh()
    mgr.subscribe("c", ALICE, 9, ["SELECT * FROM unique_u_32", "SELECT * FROM pk_u_32"])
    mgr.subscribe("c", ALICE, 3, ["SELECT * FROM pk_u_32"])
    updates = commit(
        ds,
        mgr,
        lambda tx: (tx.insert("unique_u_32", UniqueU32(1, 1)), tx.insert("pk_u_32", PkU32(1, 1))),
    )
    assert [qs.query_set_id for qs in updates["c"]] == [3, 9]
    assert [t.table_name for t in updates["c"][1].tables] == ["pk_u_32", "unique_u_32"]


# ---- semijoins ---------------------------------------------------------------------------------

JOIN_US = "SELECT unique_u_32.* FROM unique_u_32 JOIN pk_u_32 ON unique_u_32.n = pk_u_32.n"
JOIN_US2 = "SELECT unique_u_32.* FROM unique_u_32 JOIN pk_u_32_two ON unique_u_32.n = pk_u_32_two.n"


def test_row_deduplication_join_r_and_s() -> None:
    ds, mgr = fresh()
    cache = ClientCache()
    cache.add(mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32", JOIN_US]))
    ins, _ = cache.apply(commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(42, 50)))["c"])
    assert ins == [PkU32(42, 50)]
    # insert_unique_u_32_update_pk_u_32: one insert on unique_u_32, one update on pk_u_32
    ins, dels = cache.apply(
        commit(
            ds,
            mgr,
            lambda tx: (
                tx.insert("unique_u_32", UniqueU32(42, 0xBEEF)),
                tx.update("pk_u_32", "n", PkU32(42, 100)),
            ),
        )["c"]
    )
    assert sorted(map(repr, ins)) == sorted(map(repr, [UniqueU32(42, 0xBEEF), PkU32(42, 100)]))
    assert dels == [PkU32(42, 50)]


def test_row_deduplication_r_join_s_and_r_join_t() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("unique_u_32", UniqueU32(42, 0xBEEF)))
    cache = ClientCache()
    queries = ["SELECT * FROM pk_u_32", "SELECT * FROM pk_u_32_two", JOIN_US, JOIN_US2]
    cache.add(mgr.subscribe("c", ALICE, 1, queries))
    assert cache.counts == Counter()
    ins, _ = cache.apply(commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(42, 0xBEEF)))["c"])
    assert sorted(map(repr, ins)) == sorted(map(repr, [PkU32(42, 0xBEEF), UniqueU32(42, 0xBEEF)]))
    # Move the row to the other pk table: unique_u_32 keeps its row (no delete, no insert).
    ins, dels = cache.apply(
        commit(
            ds,
            mgr,
            lambda tx: (
                tx.delete("pk_u_32", PkU32(42, 0xBEEF)),
                tx.insert("pk_u_32_two", PkU32Two(42, 0xBEEF)),
            ),
        )["c"]
    )
    assert ins == [PkU32Two(42, 0xBEEF)]
    assert dels == [PkU32(42, 0xBEEF)]


def test_lhs_join_update() -> None:
    ds, mgr = fresh()
    cache = ClientCache()
    join = (
        "SELECT p.* FROM pk_u_32 p JOIN unique_u_32 u ON p.n = u.n WHERE u.data > 0 AND u.data < 5"
    )
    cache.add(mgr.subscribe("c", ALICE, 1, ["SELECT p.* FROM pk_u_32 p WHERE n = 1", join]))
    for body in (
        lambda tx: tx.insert("pk_u_32", PkU32(1, 0)),
        lambda tx: tx.insert("pk_u_32", PkU32(2, 0)),
        lambda tx: tx.insert("unique_u_32", UniqueU32(1, 3)),
        lambda tx: tx.insert("unique_u_32", UniqueU32(2, 4)),
    ):
        cache.apply(commit(ds, mgr, body).get("c", []))
    codec = mod.row_codec("pk_u_32")
    assert cache.counts == Counter(
        {("pk_u_32", codec.encode(PkU32(1, 0))): 2, ("pk_u_32", codec.encode(PkU32(2, 0))): 1}
    )
    ins, dels = cache.apply(commit(ds, mgr, lambda tx: tx.update("pk_u_32", "n", PkU32(2, 1)))["c"])
    assert (ins, dels) == ([PkU32(2, 1)], [PkU32(2, 0)])
    ins, dels = cache.apply(commit(ds, mgr, lambda tx: tx.update("pk_u_32", "n", PkU32(2, 0)))["c"])
    assert (ins, dels) == ([PkU32(2, 0)], [PkU32(2, 1)])


def test_intra_query_bag_semantics_for_join() -> None:
    ds, mgr = fresh()
    cache = ClientCache()
    join = "SELECT pk_u_32.* FROM pk_u_32 JOIN btree_u_32 ON pk_u_32.n = btree_u_32.n"
    cache.add(mgr.subscribe("c", ALICE, 1, ["SELECT * FROM btree_u_32", join]))
    cache.apply(commit(ds, mgr, lambda tx: tx.insert("btree_u_32", BTreeU32(0, 0)))["c"])
    cache.apply(
        commit(
            ds,
            mgr,
            lambda tx: (tx.insert("pk_u_32", PkU32(0, 0)), tx.insert("btree_u_32", BTreeU32(0, 1))),
        )["c"]
    )
    key = ("pk_u_32", mod.row_codec("pk_u_32").encode(PkU32(0, 0)))
    assert cache.counts[key] == 2  # joined with two btree rows
    _, dels = cache.apply(commit(ds, mgr, lambda tx: tx.delete("btree_u_32", BTreeU32(0, 0)))["c"])
    assert dels == [BTreeU32(0, 0)] and cache.counts[key] == 1
    _, dels = cache.apply(commit(ds, mgr, lambda tx: tx.delete("btree_u_32", BTreeU32(0, 1)))["c"])
    assert sorted(map(repr, dels)) == sorted(map(repr, [BTreeU32(0, 1), PkU32(0, 0)]))


def test_join_initial_rows_have_bag_semantics() -> None:
    ds, mgr = fresh()
    run(
        ds,
        lambda tx: (
            tx.insert("pk_u_32", PkU32(0, 0)),
            tx.insert("btree_u_32", BTreeU32(0, 0)),
            tx.insert("btree_u_32", BTreeU32(0, 1)),
        ),
    )
    join = "SELECT pk_u_32.* FROM pk_u_32 JOIN btree_u_32 ON pk_u_32.n = btree_u_32.n"
    assert initial(mgr.subscribe("c", ALICE, 1, [join])) == [("pk_u_32", [PkU32(0, 0)] * 2)]


# ---- RLS, views, event tables ------------------------------------------------------------------


def test_rls_gives_each_client_only_its_row() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("users", Users(ALICE, "alice")))
    a = mgr.subscribe("alice", ALICE, 1, ["SELECT * FROM users"])
    b = mgr.subscribe("bob", BOB, 1, ["SELECT * FROM users"])
    assert initial(a) == [("users", [Users(ALICE, "alice")])]
    assert initial(b) == [("users", [])]  # the table is not empty: an empty entry
    updates = commit(ds, mgr, lambda tx: tx.insert("users", Users(BOB, "bob")))
    assert list(updates) == ["bob"]
    assert changes(updates["bob"]) == [(1, "users", [Users(BOB, "bob")], [])]
    # The owner bypasses RLS.
    owner = mgr.subscribe("owner", OWNER, 1, ["SELECT * FROM users"], is_owner=True)
    assert len(initial(owner)[0][1]) == 2
    # One-off queries and /sql apply RLS too.
    one_off = mgr.one_off_query(BOB, "SELECT * FROM users")
    assert initial(one_off) == [("users", [Users(BOB, "bob")])]
    [res], _ = execute_sql(mod, ds, "SELECT name FROM users", caller=ALICE, is_owner=False)
    assert res.rows == [["alice"]]


def test_rls_applies_inside_joins() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: (tx.insert("users", Users(ALICE, "a")), tx.insert("users", Users(BOB, "b"))))
    run(ds, lambda tx: [tx.insert("person", p) for p in PEOPLE])
    q = "SELECT person.* FROM person JOIN users ON person.owner = users.identity"
    got = initial(mgr.subscribe("c", ALICE, 1, [q]))
    assert sorted(p.id for _, rows in got for p in rows) == [1, 3]


def test_event_tables_reach_matching_subscribers_once() -> None:
    ds, mgr = fresh()
    assert initial(mgr.subscribe("c", ALICE, 1, ["SELECT * FROM ping WHERE n > 1"])) == []
    mgr.subscribe("d", ALICE, 1, ["SELECT * FROM ping"])
    updates = commit(ds, mgr, lambda tx: [tx.insert("ping", Ping("hi", n)) for n in (1, 2)])
    [qs] = updates["c"]
    [rows] = qs.tables[0].rows
    assert isinstance(rows, m.EventTableRows)
    assert changes(updates["c"]) == [(1, "ping", [Ping("hi", 2)], [])]
    assert len(changes(updates["d"])[0][2]) == 2
    assert ds.store("ping").count() == 0
    assert initial(mgr.unsubscribe("d", 1)) == []


def test_per_caller_and_anonymous_views() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("person", PEOPLE[0]))
    a = mgr.subscribe("alice", ALICE, 1, ["SELECT * FROM my_person", "SELECT * FROM adults"])
    b = mgr.subscribe("bob", BOB, 1, ["SELECT * FROM my_person WHERE age > 20"])
    assert initial(a) == [("my_person", [PEOPLE[0]])]
    assert initial(b) == []
    updates = commit(ds, mgr, lambda tx: [tx.insert("person", p) for p in PEOPLE[1:]])
    got_a = changes(updates["alice"])
    assert sorted((t, p.id) for _, t, ins, _ in got_a for p in ins) == [
        ("adults", 2), ("adults", 3), ("adults", 4), ("my_person", 3)
    ]  # fmt: skip
    assert [(t, [p.id for p in ins]) for _, t, ins, _ in changes(updates["bob"])] == [
        ("my_person", [4])
    ]
    updates = commit(
        ds, mgr, lambda tx: tx.update("person", "id", dataclasses.replace(PEOPLE[2], age=10))
    )
    got_a = changes(updates["alice"])
    assert sorted((t, [p.age for p in i], [p.age for p in d]) for _, t, i, d in got_a) == [
        ("adults", [], [40]),
        ("my_person", [10], [40]),
    ]
    assert "bob" not in updates
    assert initial(mgr.one_off_query(BOB, "SELECT * FROM my_person")) == [
        ("my_person", [PEOPLE[1], PEOPLE[3]])
    ]


def test_view_failure_drops_the_set_and_reports_it() -> None:
    fail_mod = Module("view-fail")

    @fail_mod.table(public=True)
    class Item:
        n: U32

    @fail_mod.view(public=True, anonymous=True)
    def items(ctx: AnonymousViewContext) -> list[Item]:
        rows = list(ctx.db.item.iter())
        if any(r.n == 13 for r in rows):
            raise RuntimeError("unlucky")
        return rows

    ds = fail_mod.new_datastore()
    mgr = SubscriptionManager(fail_mod, ds)
    mgr.subscribe("c", ALICE, 5, ["SELECT * FROM items"])
    mgr.subscribe("c", ALICE, 6, ["SELECT * FROM item"])
    updates = mgr.on_commit(run(ds, lambda tx: tx.insert("item", Item(13))))
    assert updates.failures == {
        "c": [(5, "RuntimeError: unlucky, executing: `SELECT * FROM items`")]
    }
    assert [qs.query_set_id for qs in updates["c"]] == [6]
    assert mgr.query_sets("c") == [6]
    # Subscribing while the view fails is refused with upstream's text.
    with pytest.raises(SubscriptionFailure) as e:
        mgr.subscribe("d", ALICE, 1, ["SELECT * FROM items"])
    assert e.value.message == "Internal error evaluating queries"
    assert mgr.query_sets("d") == []


# ---- unsubscribe, drop, errors -----------------------------------------------------------------


def test_unsubscribe_returns_current_rows_and_stops_updates() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("pk_u_32", PkU32(1, 1)))
    mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32"])
    commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(2, 2)))
    assert initial(mgr.unsubscribe("c", 1)) == [("pk_u_32", [PkU32(1, 1), PkU32(2, 2)])]
    assert commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(3, 3))) == {}
    with pytest.raises(UnknownQuerySet) as e:
        mgr.unsubscribe("c", 1)
    assert e.value.message == "Subscription not found: QuerySetId { id: 1 }"
    mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32"])  # ids are reusable


def test_drop_client_forgets_its_sets() -> None:
    ds, mgr = fresh()
    mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32"])
    mgr.subscribe("c", ALICE, 2, ["SELECT * FROM my_person"])
    mgr.drop_client("c")
    assert mgr.query_sets("c") == []
    assert commit(ds, mgr, lambda tx: tx.insert("pk_u_32", PkU32(1, 1))) == {}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELEcCT * FROM pk_u_32",
            "sql parser error: Expected an SQL statement, found: SELEcCT at Line: 1, Column 1, "
            "executing: `SELEcCT * FROM pk_u_32`",
        ),
        (
            "SELECT * FROM nope",
            "no such table: `nope`. If the table exists, it may be marked private., "
            "executing: `SELECT * FROM nope`",
        ),
        (
            "SELECT * FROM secret",
            "no such table: `secret`. If the table exists, it may be marked private., "
            "executing: `SELECT * FROM secret`",
        ),
        (
            "SELECT person.* FROM person JOIN pk_u_32 ON person.id = pk_u_32.data",
            "Unexpected type: (expected) I32 != U32 (inferred), "
            "executing: `SELECT person.* FROM person JOIN pk_u_32 ON person.id = pk_u_32.data`",
        ),
        (
            "SELECT * FROM person LIMIT 1",
            "Unsupported: SELECT * FROM person LIMIT 1, executing: `SELECT * FROM person LIMIT 1`",
        ),
    ],
)
def test_subscription_errors_have_upstream_texts(sql: str, message: str) -> None:
    _, mgr = fresh()
    with pytest.raises(SubscriptionFailure) as e:
        mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32", sql])
    assert e.value.message == message
    assert mgr.query_sets("c") == []


def test_unindexed_join_is_refused() -> None:
    _, mgr = fresh()
    sql = "SELECT pk_u_32.* FROM pk_u_32 JOIN btree_u_32 ON pk_u_32.data = btree_u_32.data"
    with pytest.raises(SubscriptionFailure) as e:
        mgr.subscribe("c", ALICE, 1, [sql])
    assert e.value.message == f"Subscriptions require indexes on join columns, executing: `{sql}`"


def test_private_tables_are_for_the_owner_only() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: tx.insert("secret", Secret("x")))
    rows = mgr.subscribe("o", OWNER, 1, ["SELECT * FROM secret"], is_owner=True)
    assert initial(rows) == [("secret", [Secret("x")])]
    with pytest.raises(SubscriptionFailure, match="no such table: `secret`"):
        mgr.one_off_query(ALICE, "SELECT * FROM secret")


def test_duplicate_query_set_id() -> None:
    _, mgr = fresh()
    mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32"])
    with pytest.raises(DuplicateQuerySet):
        mgr.subscribe("c", ALICE, 1, ["SELECT * FROM unique_u_32"])
    mgr.subscribe("d", ALICE, 1, ["SELECT * FROM unique_u_32"])  # per client


def test_one_off_query_errors_have_no_sql_suffix() -> None:
    _, mgr = fresh()
    with pytest.raises(SubscriptionFailure) as e:
        mgr.one_off_query(ALICE, "SELECT * FROM pk_u_32 LIMIT 1")
    assert e.value.message == "Unsupported: SELECT * FROM pk_u_32 LIMIT 1"
    rows = mgr.one_off_query(ALICE, "SELECT * FROM pk_u_32")
    assert [t.table for t in rows.tables] == ["pk_u_32"]  # one entry, even when empty


def test_select_star_from_star_subscribes_to_every_readable_table() -> None:
    ds, mgr = fresh()
    run(ds, lambda tx: (tx.insert("pk_u_32", PkU32(1, 1)), tx.insert("secret", Secret("s"))))
    assert [t for t, _ in initial(mgr.subscribe("c", ALICE, 1, ["select * from *"]))] == ["pk_u_32"]
    owner = mgr.subscribe("o", OWNER, 1, ["SELECT * FROM *"], is_owner=True)
    assert sorted(t for t, _ in initial(owner)) == ["pk_u_32", "secret"]


# ---- /sql --------------------------------------------------------------------------------------


def _sql(ds: Datastore, sql: str, owner: bool = True) -> dict[str, Any]:
    [result], _ = execute_sql(mod, ds, sql, caller=OWNER if owner else ALICE, is_owner=owner)
    out = result.to_json()
    assert isinstance(out.pop("total_duration_micros"), int)
    return out


def test_sql_select_shapes() -> None:
    ds, _ = fresh()
    run(ds, lambda tx: [tx.insert("person", p) for p in PEOPLE])
    out = _sql(ds, "SELECT name AS who, age FROM person WHERE age > 17 LIMIT 2", owner=False)
    assert out == {
        "schema": {
            "elements": [
                {"name": {"some": "who"}, "algebraic_type": {"String": []}},
                {"name": {"some": "age"}, "algebraic_type": {"U8": []}},
            ]
        },
        "rows": [["bob", 18], ["cy", 40]],
        "stats": {"rows_inserted": 0, "rows_deleted": 0, "rows_updated": 0},
    }
    out = _sql(ds, "SELECT COUNT(*) AS n FROM person WHERE owner = :sender", owner=False)
    assert out["rows"] == [[2]]
    assert out["schema"]["elements"] == [{"name": {"some": "n"}, "algebraic_type": {"U64": []}}]
    out = _sql(ds, "SELECT * FROM person WHERE id = 1")
    assert [e["name"]["some"] for e in out["schema"]["elements"]] == [
        "id", "name", "age", "score", "owner"
    ]  # fmt: skip
    assert out["rows"] == [[1, "ann", 17, 1.5, ["0xa11ce"]]]


def test_sql_join_projection() -> None:
    ds, _ = fresh()
    run(
        ds,
        lambda tx: (tx.insert("pk_u_32", PkU32(1, 10)), tx.insert("unique_u_32", UniqueU32(1, 20))),
    )
    out = _sql(ds, "SELECT p.data AS a, u.data AS b FROM pk_u_32 p JOIN unique_u_32 u ON p.n = u.n")
    assert out["rows"] == [[10, 20]]
    out = _sql(ds, "SELECT u.* FROM pk_u_32 p JOIN unique_u_32 u ON p.n = u.n")
    assert out["rows"] == [[1, 20]]


def test_sql_dml_as_owner_commits_one_transaction() -> None:
    ds, mgr = fresh()
    mgr.subscribe("c", ALICE, 1, ["SELECT * FROM pk_u_32"])
    results, tx = execute_sql(
        mod, ds, "INSERT INTO pk_u_32 (n, data) VALUES (1, 5), (2, 6)", caller=OWNER, is_owner=True
    )
    assert results[0].to_json()["stats"]["rows_inserted"] == 2
    assert results[0].schema == {"elements": []} and results[0].rows == []
    assert tx is not None
    assert changes(mgr.on_commit(tx)["c"]) == [(1, "pk_u_32", [PkU32(1, 5), PkU32(2, 6)], [])]
    results, tx = execute_sql(
        mod, ds, "UPDATE pk_u_32 SET data = 7 WHERE n = 2", caller=OWNER, is_owner=True
    )
    assert results[0].rows_updated == 1
    assert tx is not None
    assert changes(mgr.on_commit(tx)["c"]) == [(1, "pk_u_32", [PkU32(2, 7)], [PkU32(2, 6)])]
    results, tx = execute_sql(mod, ds, "DELETE FROM pk_u_32", caller=OWNER, is_owner=True)
    assert results[0].rows_deleted == 2
    assert ds.store("pk_u_32").count() == 0


def test_sql_dml_failure_rolls_back() -> None:
    ds, _ = fresh()
    run(ds, lambda tx: tx.insert("pk_u_32", PkU32(1, 1)))
    with pytest.raises(SqlExecutionError, match="Unique constraint violation"):
        execute_sql(
            mod,
            ds,
            "INSERT INTO pk_u_32 (n, data) VALUES (2, 2), (1, 3)",
            caller=OWNER,
            is_owner=True,
        )
    assert ds.active is None and ds.store("pk_u_32").count() == 1


def test_sql_dml_is_refused_for_non_owners() -> None:
    ds, _ = fresh()
    with pytest.raises(SqlExecutionError) as e:
        execute_sql(mod, ds, "DELETE FROM pk_u_32", caller=ALICE, is_owner=False)
    assert e.value.message == (
        f"Caller {ALICE.to_hex()} is not authorized to run SQL DML statements"
    )
    with pytest.raises(SqlExecutionError, match="no such table: `secret`"):
        execute_sql(mod, ds, "SELECT * FROM secret", caller=ALICE, is_owner=False)


def test_sql_set_and_show() -> None:
    ds, _ = fresh()
    assert _sql(ds, "SHOW row_limit")["rows"] == []
    _sql(ds, "SET row_limit = 5")
    # The value is upstream's StVarValue sum: U64 is variant 8.
    assert _sql(ds, "SHOW row_limit")["rows"] == [[[8, 5]]]


# ---- the core invariant ------------------------------------------------------------------------

INVARIANT_QUERIES = [
    "SELECT * FROM pk_u_32 WHERE n < 3",
    "SELECT * FROM pk_u_32",
    "SELECT * FROM btree_u_32 WHERE data = 1 OR n = 2",
    JOIN_US,
    "SELECT pk_u_32.* FROM pk_u_32 JOIN btree_u_32 ON pk_u_32.n = btree_u_32.n WHERE btree_u_32.data > 0",
    "SELECT p.* FROM pk_u_32 p JOIN unique_u_32 u ON p.n = u.n WHERE u.data > 0 AND u.data < 3",
    "SELECT * FROM users",
    "SELECT person.* FROM person JOIN users ON person.owner = users.identity",
    "SELECT * FROM my_person",
    "SELECT * FROM adults WHERE score > 0",
]

small = st.integers(0, 4)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("pk"), small, small),
        st.tuples(st.just("pk_del"), small, small),
        st.tuples(st.just("uniq"), small, small),
        st.tuples(st.just("uniq_del"), small, small),
        st.tuples(st.just("bt"), small, small),
        st.tuples(st.just("bt_del"), small, small),
        st.tuples(st.just("user"), st.booleans(), small),
        st.tuples(st.just("person"), small, small),
    ),
    max_size=5,
)


def _apply(tx: Transaction, op: tuple[str, Any, int]) -> None:
    kind, a, b = op
    ds_rows = {
        "pk": ("pk_u_32", PkU32),
        "uniq": ("unique_u_32", UniqueU32),
        "bt": ("btree_u_32", BTreeU32),
    }
    if kind in ds_rows:
        table, cls = ds_rows[kind]
        if kind != "bt":  # keep the unique column unique: replace the row
            tx.delete_where(table, "n", (a,), None)
        tx.insert(table, cls(a, b))
    elif kind.endswith("_del"):
        table, _ = ds_rows[kind[:-4]]
        tx.delete_where(table, "n", (a,), None)
    elif kind == "user":
        who = ALICE if a else BOB
        tx.delete_where("users", "identity", (who,), None)
        if b % 2:
            tx.insert("users", Users(who, str(b)))
    else:
        tx.delete_where("person", "id", (a,), None)
        tx.insert("person", Person(a, "p", 10 * b, float(b - 2), ALICE if b % 2 else BOB))


def _multiset(rows: m.QueryRows) -> Counter[tuple[str, bytes]]:
    return Counter((t.table, r) for t in rows.tables for r in t.rows.rows())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=6))
def test_deltas_applied_to_initial_rows_equal_a_fresh_evaluation(
    transactions: list[list[tuple[str, Any, int]]],
) -> None:
    ds, mgr = fresh()
    subscribers: list[tuple[Hashable, Identity, bool]] = [
        ("alice", ALICE, False),
        ("bob", BOB, False),
        ("owner", OWNER, True),
    ]
    state: dict[tuple[Hashable, int], Counter[tuple[str, bytes]]] = {}
    for client, who, owner in subscribers:
        for qsid, sql in enumerate(INVARIANT_QUERIES):
            state[(client, qsid)] = _multiset(
                mgr.subscribe(client, who, qsid, [sql], is_owner=owner)
            )
    for ops_of_tx in transactions:
        updates = commit(ds, mgr, lambda tx, o=ops_of_tx: [_apply(tx, op) for op in o])
        assert updates.failures == {}
        for client, sets in updates.items():
            for qs in sets:
                counts = state[(client, qs.query_set_id)]
                for tu in qs.tables:
                    for rows in tu.rows:
                        assert isinstance(rows, m.PersistentTableRows)
                        counts.update((tu.table_name, r) for r in rows.inserts.rows())
                        counts.subtract((tu.table_name, r) for r in rows.deletes.rows())
                assert all(n >= 0 for n in counts.values())
        check = SubscriptionManager(mod, ds)
        for client, who, owner in subscribers:
            for qsid, sql in enumerate(INVARIANT_QUERIES):
                fresh_rows = _multiset(check.subscribe(client, who, qsid, [sql], is_owner=owner))
                assert +state[(client, qsid)] == fresh_rows, (client, sql)
