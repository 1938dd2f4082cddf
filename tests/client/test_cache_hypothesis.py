"""Property tests: the cache against reference models.

1. Raw operations: random (query set, table, insert/delete row) operations, grouped into
   messages, against a ``Counter`` per query set.  The visible rows are the rows whose total
   count is > 0, callbacks match the 0 ↔ >0 transitions, indexes agree with a scan.
2. A simulated server: a small ``pk_u32`` database, overlapping query sets made of filter
   queries, random transactions (insert/delete/update by primary key), subscribe, unsubscribe
   and errors.  Callbacks must equal the difference of the visible rows, with updates paired by
   primary key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from cache_test_rows import decode_pk_row, persistent, pk_row, query_rows, query_set, tx
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.client.cache import ClientCache, TableCache
from spacetimedb_sdk.client.changes import Delete, Insert, Update
from spacetimedb_sdk.client.indexes import Range
from spacetimedb_sdk.protocol import messages as m

PLAIN_ROWS = [pk_row(n, d) for n in range(3) for d in range(3)]
KEYED_ROWS = [pk_row(n, (n * 5) % 4) for n in range(6)]  # the key decides the row
POOLS = {"plain": PLAIN_ROWS, "keyed": KEYED_ROWS}
SETS = range(3)


def encode(row: dict[str, Any]) -> bytes:
    return pk_row(row["n"], row["data"])


def make_cache() -> tuple[ClientCache, dict[str, TableCache[dict[str, Any]]]]:
    plain = TableCache("plain", decode_pk_row, btree=["data", ("n", "data")])
    keyed = TableCache("keyed", decode_pk_row, primary_key="n", btree=["data"])
    return ClientCache([plain, keyed]), {"plain": plain, "keyed": keyed}


def change_key(c: Any) -> tuple[Any, ...]:
    if isinstance(c, Update):
        return ("update", c.table, encode(c.old), encode(c.new))
    return ("insert" if isinstance(c, Insert) else "delete", c.table, encode(c.row))


def check_indexes(table: TableCache[dict[str, Any]], lo: int, hi: int) -> None:
    rows = list(table)
    by_data = table.btree_index("data")
    for v in range(-1, 5):
        assert sorted(map(encode, by_data.filter(v))) == sorted(
            encode(r) for r in rows if r["data"] == v
        )
    got = sorted(map(encode, by_data.filter(Range(ge=lo, lt=hi))))
    assert got == sorted(encode(r) for r in rows if lo <= r["data"] < hi)
    assert len(by_data) == len(rows)
    if table.has_primary_key:
        for n in range(-1, 7):
            found = table.unique_index("n").find(n)
            expect = [r for r in rows if r["n"] == n]
            assert (found is None and not expect) or [found] == expect
    else:
        for n in range(3):
            in_range = sorted(encode(r) for r in rows if r["n"] == n and r["data"] > 0)
            assert (
                sorted(map(encode, table.btree_index("n_data").filter((n, Range(gt=0)))))
                == in_range
            )


# ---- 1. raw operations against Counters ----------------------------------------------------

op = st.tuples(
    st.sampled_from(SETS),
    st.sampled_from(["plain", "keyed"]),
    st.sampled_from([1, -1]),
    st.integers(0, 8),
)
message = st.one_of(
    st.tuples(st.just("tx"), st.lists(op, max_size=8)),
    st.tuples(st.just("sub"), st.lists(op, max_size=6)),
    st.tuples(st.just("drop"), st.sampled_from(SETS)),
)


def pick(table: str, i: int) -> bytes:
    pool = POOLS[table]
    return pool[i % len(pool)]


def record(table: TableCache[dict[str, Any]], fired: list[tuple[Any, ...]]) -> None:
    name = table.name
    table.on_insert(lambda ctx, row: fired.append(("insert", name, encode(row))))
    table.on_delete(lambda ctx, row: fired.append(("delete", name, encode(row))))


def visible(counts: dict[int, dict[str, Counter[bytes]]], table: str) -> Counter[bytes]:
    total: Counter[bytes] = Counter()
    for per_table in counts.values():
        total.update(per_table[table])
    return +total


def apply_raw(cache: ClientCache, msg: tuple[Any, ...]) -> Any:
    kind, arg = msg
    if kind == "drop":
        return cache.drop_query_set(arg)
    if kind == "sub":
        # a SubscribeApplied carries only inserts; use the set of the first op
        set_id = arg[0][0] if arg else 0
        return cache.apply_query_rows(
            set_id, query_rows(*((t, [pick(t, i)]) for _, t, _, i in arg)), +1
        )
    sets = [
        query_set(s, (t, [persistent([pick(t, i)]) if sign > 0 else persistent([], [pick(t, i)])]))
        for s, t, sign, i in arg
    ]
    return cache.apply_transaction(tx(*sets))


def model_raw(counts: dict[int, dict[str, Counter[bytes]]], msg: tuple[Any, ...]) -> None:
    kind, arg = msg
    if kind == "drop":
        counts[arg] = {t: Counter() for t in POOLS}
        return
    net: Counter[tuple[int, str, bytes]] = Counter()
    for s, t, sign, i in arg:
        if kind == "sub":
            s, sign = (arg[0][0], 1)
        net[(s, t, pick(t, i))] += sign
    for (s, t, row), dv in net.items():
        counts[s][t][row] = max(0, counts[s][t][row] + dv)


@settings(max_examples=150, deadline=None)
@given(st.lists(message, max_size=12), st.integers(0, 3), st.integers(0, 4))
def test_raw_operations_match_counter_model(msgs: list[tuple[Any, ...]], lo: int, hi: int) -> None:
    cache, tables = make_cache()
    counts: dict[int, dict[str, Counter[bytes]]] = {s: {t: Counter() for t in POOLS} for s in SETS}
    fired: list[tuple[Any, ...]] = []
    for table in tables.values():
        record(table, fired)
    for msg in msgs:
        before = {t: visible(counts, t) for t in POOLS}
        changes = apply_raw(cache, msg)
        model_raw(counts, msg)
        fired.clear()
        changes.fire(lambda: None)
        expected: list[tuple[Any, ...]] = []
        for t in POOLS:
            after = visible(counts, t)
            expected += [("insert", t, r) for r in after if r not in before[t]]
            expected += [("delete", t, r) for r in before[t] if r not in after]
            table = tables[t]
            assert sorted(map(encode, table)) == sorted(after)
            for r in POOLS[t]:
                assert table.multiplicity(r) == after[r]
                for s in SETS:
                    assert table.multiplicity(r, s) == counts[s][t][r]
            check_indexes(table, lo, hi)
        assert sorted(fired) == sorted(expected)
        assert sorted(map(change_key, changes)) == sorted(expected)
    assert cache.query_set_ids() == {s for s in SETS if any(+counts[s][t] for t in POOLS)}


# ---- 2. a simulated server -----------------------------------------------------------------

QUERIES: list[Callable[[int, int], bool]] = [
    lambda n, d: n < 3,
    lambda n, d: n >= 2,
    lambda n, d: d % 2 == 0,
    lambda n, d: True,
]

mutation = st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 3)))
server_op = st.one_of(
    st.tuples(st.just("sub"), st.sampled_from(SETS), st.sets(st.integers(0, 3), min_size=1)),
    st.tuples(st.just("unsub"), st.sampled_from(SETS), st.booleans()),
    st.tuples(st.just("error"), st.sampled_from(SETS), st.none()),
    st.tuples(st.just("tx"), st.none(), st.lists(mutation, min_size=1, max_size=4)),
)


class Server:
    def __init__(self) -> None:
        self.db: dict[int, int] = {}
        self.sets: dict[int, list[int]] = {}

    def matching(self, q: int, db: dict[int, int]) -> list[bytes]:
        return [pk_row(n, d) for n, d in sorted(db.items()) if QUERIES[q](n, d)]

    def visible(self) -> set[bytes]:
        return {r for qs in self.sets.values() for q in qs for r in self.matching(q, self.db)}

    def step(self, cache: ClientCache, o: tuple[Any, ...]) -> Any:
        kind, set_id, arg = o
        if kind == "sub":
            if set_id in self.sets:
                return None
            self.sets[set_id] = sorted(arg)
            rows = query_rows(*(("pk_u32", self.matching(q, self.db)) for q in self.sets[set_id]))
            return cache.apply_subscribe_applied(m.SubscribeApplied(0, set_id, rows))
        if kind in ("unsub", "error"):
            if set_id not in self.sets:
                return None
            qs = self.sets.pop(set_id)
            if kind == "error":
                return cache.drop_query_set(set_id)
            rows = query_rows(*(("pk_u32", self.matching(q, self.db)) for q in qs))
            if arg:
                return cache.apply_unsubscribe_applied(m.UnsubscribeApplied(0, set_id, rows))
            return cache.apply_query_rows(set_id, rows, -1)
        old = dict(self.db)
        for n, d in arg:
            if d is None:
                self.db.pop(n, None)
            else:
                self.db[n] = d
        updates = []
        for sid, qs in self.sets.items():
            entries = []
            for q in qs:
                before, after = set(self.matching(q, old)), set(self.matching(q, self.db))
                entries.append(persistent(sorted(after - before), sorted(before - after)))
            updates.append(query_set(sid, ("pk_u32", entries)))
        return cache.apply_transaction(tx(*updates))


@settings(max_examples=150, deadline=None)
@given(st.lists(server_op, max_size=15))
def test_simulated_server_callbacks_are_the_visible_difference(ops: list[tuple[Any, ...]]) -> None:
    table = TableCache("pk_u32", decode_pk_row, primary_key="n", btree=["data"])
    cache = ClientCache([table])
    server = Server()
    fired: list[tuple[Any, ...]] = []
    table.on_insert(lambda ctx, r: fired.append(("insert", "pk_u32", encode(r))))
    table.on_delete(lambda ctx, r: fired.append(("delete", "pk_u32", encode(r))))
    table.on_update(lambda ctx, a, b: fired.append(("update", "pk_u32", encode(a), encode(b))))
    for o in ops:
        before = server.visible()
        changes = server.step(cache, o)
        if changes is None:
            continue
        fired.clear()
        changes.fire(lambda: None)
        after = server.visible()
        added = {decode_pk_row(r)["n"]: r for r in after - before}
        removed = {decode_pk_row(r)["n"]: r for r in before - after}
        expected: list[tuple[Any, ...]] = [
            ("update", "pk_u32", removed[n], added[n]) for n in added.keys() & removed.keys()
        ]
        expected += [("insert", "pk_u32", added[n]) for n in added.keys() - removed.keys()]
        expected += [("delete", "pk_u32", removed[n]) for n in removed.keys() - added.keys()]
        assert sorted(fired) == sorted(expected)
        assert sorted(map(encode, table)) == sorted(after)
        check_indexes(table, 1, 3)
    assert cache.query_set_ids() <= set(server.sets)


def test_change_records_round_trip_through_sinks() -> None:
    """The ``changes()`` hook sees exactly the records ``PendingChanges`` iterates."""
    cache, _ = make_cache()
    got: list[Any] = []
    cache.add_change_sink(got.append)
    changes = cache.apply_query_rows(
        0, query_rows(("keyed", KEYED_ROWS[:2]), ("plain", PLAIN_ROWS[:1])), +1
    )
    changes.fire(lambda: None)
    assert got == list(changes) and all(isinstance(c, Insert) for c in got)
    cache.drop_query_set(0).fire(lambda: None)
    assert [type(c) for c in got[3:]] == [Delete, Delete, Delete]
