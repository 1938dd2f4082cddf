"""Property tests: a cache that keeps rows undecoded behaves exactly like one that decodes.

Two caches get the same random message sequences: one decodes every row as it arrives
(``TableCache(name, decode)``, the eager model), the other keeps rows as bytes until someone
looks (``TableCache(..., codec=...)``, issue 14) and takes the one-table fast path
(``apply_table_tx``) for transactions of one table and one query set.  Messages include
malformed rows (a ``Bool`` byte of 2, invalid UTF-8, a truncated row, a trailing byte) in
inserts, deletes and event rows.  Observed from outside, the two must not differ:

- the same messages fail, with the same error, and leave the cache untouched;
- the same callbacks fire, in the same order, with the same rows and contexts, and the same
  change records reach sinks and ``PendingChanges`` iteration;
- the same contents: rows in the same order, the same counts per query set, the same index
  answers (``find``, ``filter``), whenever the test looks (looking decodes lazy rows, so
  the test looks at random moments, leaving rows undecoded in between).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from cache_test_rows import persistent, query_rows, query_set, tx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.client.cache import ClientCache, PendingChanges, TableCache
from spacetimedb_sdk.client.indexes import IndexDef, Range
from spacetimedb_sdk.errors import SpacetimeDBError
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.fast import TableTx
from spacetimedb_sdk.sats import AlgebraicType as T
from spacetimedb_sdk.sats import bsatn

ROW = T.product({"n": T.U32, "data": T.I32, "flag": T.BOOL, "name": T.STRING})
CODEC = bsatn.codec_for(ROW)
N_AT = bsatn.codec_for(T.U32).reader_at(0)
DATA_AT = bsatn.codec_for(T.I32).reader_at(4)
NAME_AT = bsatn.codec_for(T.STRING).reader_at(9)
SETS = range(3)
TABLES = ("keyed", "plain", "events")


def row(n: int, data: int, flag: bool = False, name: str | None = None) -> bytes:
    return CODEC.encode({"n": n, "data": data, "flag": flag, "name": name or f"é{n}{data}"})


POOLS = {
    "keyed": [row(n, (n * 5) % 4, n % 2 == 0) for n in range(5)],  # the key decides the row
    "plain": [row(n, d, flag=d == 1) for n in range(3) for d in range(3)],
    "events": [row(n, -n) for n in range(3)],
}


def malformed(data: bytes, how: str) -> bytes:
    if how == "bool":
        return data[:8] + b"\x02" + data[9:]
    if how == "utf8":
        return data[:9] + struct.pack("<I", 2) + b"\xc3\x28"
    if how == "cut":
        return data[:-1]
    return data + b"\x00"  # a trailing byte


def indexes(table: str) -> list[IndexDef]:
    if table == "keyed":
        return [
            IndexDef("n", ("n",), True, extract_bytes=N_AT),
            IndexDef("data", ("data",), extract_bytes=DATA_AT),
        ]
    if table == "plain":
        return [
            IndexDef("n_data", ("n", "data"), extract_bytes=lambda b: (N_AT(b), DATA_AT(b))),
            IndexDef("name", ("name",), True, extract_bytes=NAME_AT),
        ]
    return []


def make_cache(lazy: bool) -> tuple[ClientCache, dict[str, TableCache[Any]]]:
    tables = {
        name: TableCache(
            name,
            CODEC.decode,
            primary_key="n" if name == "keyed" else None,
            is_event=name == "events",
            indexes=indexes(name),
            codec=CODEC if lazy else None,
        )
        for name in TABLES
    }
    if lazy:
        assert all(t._codec is not None for t in tables.values())
    return ClientCache(tables.values()), tables


# ---- messages ---------------------------------------------------------------------------

bad = st.none() | st.sampled_from(["bool", "utf8", "cut", "extra"])
# (query set, table, +1 insert / -1 delete, row, how it is malformed or None)
op = st.tuples(
    st.sampled_from(SETS),
    st.sampled_from(TABLES),
    st.sampled_from([1, -1]),
    st.integers(0, 8),
    st.one_of(st.none(), st.none(), st.none(), bad),
)
message = st.one_of(
    st.tuples(st.just("tx"), st.lists(op, max_size=7)),
    st.tuples(st.just("tx"), st.lists(op, min_size=1, max_size=2)),  # often one table
    st.tuples(st.just("sub"), st.lists(op, max_size=6)),
    st.tuples(st.just("replace"), st.lists(op, max_size=6)),
    st.tuples(st.just("drop"), st.sampled_from(SETS)),
    st.tuples(st.just("unsub"), st.sampled_from(SETS)),
)


def pick(table: str, i: int, how: str | None) -> bytes:
    pool = POOLS[table]
    data = pool[i % len(pool)]
    return data if how is None else malformed(data, how)


def transaction(ops: list[tuple[Any, ...]]) -> m.TransactionUpdate:
    sets: dict[int, dict[str, list[m.PersistentTableRows | m.EventTableRows]]] = {}
    for s, t, sign, i, how in ops:
        data = [pick(t, i, how)]
        entry: m.PersistentTableRows | m.EventTableRows
        if t == "events" and sign > 0:
            entry = m.EventTableRows(m.BsatnRowList.from_rows(data))
        else:
            entry = persistent(data) if sign > 0 else persistent([], data)
        sets.setdefault(s, {}).setdefault(t, []).append(entry)
    return tx(*(query_set(s, *tables.items()) for s, tables in sets.items()))


def as_table_tx(msg: m.TransactionUpdate) -> TableTx | None:
    """What the fast decoder makes of ``msg``, if it is a one-table, one-entry update."""
    if len(msg.query_sets) != 1 or len(msg.query_sets[0].tables) != 1:
        return None
    qs = msg.query_sets[0]
    (tu,) = qs.tables
    if len(tu.rows) != 1:
        return None
    (entry,) = tu.rows
    if isinstance(entry, m.EventTableRows):
        return TableTx(qs.query_set_id, tu.table_name, [], [], entry.events.rows())
    return TableTx(qs.query_set_id, tu.table_name, entry.inserts.rows(), entry.deletes.rows(), None)


def apply(cache: ClientCache, msg: tuple[Any, ...], fast: bool) -> PendingChanges:
    kind, arg = msg
    if kind == "drop":
        return cache.drop_query_set(arg)
    if kind == "unsub":
        held = query_rows(*((t.name, list(t._held(arg))) for t in cache if not t.is_event))
        return cache.apply_unsubscribe_applied(m.UnsubscribeApplied(0, arg, held))
    if kind in ("sub", "replace"):
        set_id = arg[0][0] if arg else 0
        rows = query_rows(*((t, [pick(t, i, how)]) for _, t, _, i, how in arg))
        if kind == "replace":
            return cache.replace_query_set(set_id, rows)
        return cache.apply_query_rows(set_id, rows, +1)
    update = transaction(arg)
    table_tx = as_table_tx(update) if fast else None
    if table_tx is not None:
        return cache.apply_table_tx(table_tx)
    return cache.apply_transaction(update)


# ---- observing ---------------------------------------------------------------------------


def observe(cache: ClientCache, tables: dict[str, TableCache[Any]]) -> list[Any]:
    """Everything a user can read from the cache (decoding what is undecoded)."""
    seen: list[Any] = [sorted(cache.query_set_ids())]
    for name, t in tables.items():
        rows = list(t)
        seen.append((name, len(t), rows, [CODEC.encode(r) for r in rows]))
        for data in POOLS[name]:
            seen.append([t.multiplicity(data), *(t.multiplicity(data, s) for s in SETS)])
        if name == "keyed":
            seen += [t.index("n").find(n) for n in range(-1, 6)]
            idx = t.btree_index("data")
            seen += [list(idx.filter(v)) for v in range(-1, 5)]
            seen.append(list(idx.filter(Range(ge=1, lt=3))))
        if name == "plain":
            seen.append([t.index("name").find(f"é{n}{d}") for n in range(3) for d in range(3)])
            idx = t.btree_index("n_data")
            seen += [list(idx.filter((n, Range(gt=0)))) for n in range(3)]
    return seen


Listeners = tuple[frozenset[tuple[str, str]], bool]
listeners = st.tuples(
    st.frozensets(
        st.sampled_from(
            [
                (t, k)
                for t in TABLES
                for k in ("insert", "delete", "update")
                if k != "update" or t == "keyed"
            ]
        ),
        max_size=3,
    ),
    st.booleans(),  # a global change sink
)


def listen(
    cache: ClientCache, tables: dict[str, TableCache[Any]], which: Listeners, log: list[Any]
) -> None:
    for table, kind in sorted(which[0]):

        def record(ctx: Any, *rows: Any, table: str = table, kind: str = kind) -> None:
            log.append((ctx, kind, table, rows, [CODEC.encode(r) for r in rows]))

        getattr(tables[table], f"on_{kind}")(record)
    if which[1]:
        cache.add_change_sink(lambda change: log.append(("sink", change)))


def attempt(
    cache: ClientCache, msg: tuple[Any, ...], fast: bool
) -> tuple[PendingChanges | None, str | None]:
    try:
        return apply(cache, msg, fast), None
    except SpacetimeDBError as e:
        return None, f"{type(e).__name__}: {e}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(message, st.booleans(), st.booleans(), st.booleans()), max_size=14),
    listeners,
    st.booleans() | st.just(True),
)
def test_lazy_rows_are_indistinguishable_from_eager_decoding(
    steps: list[tuple[tuple[Any, ...], bool, bool, bool]], which: Listeners, lazy_rows: bool
) -> None:
    """``lazy_rows=False``: both caches decode eagerly; only the fast path differs."""
    eager, eager_tables = make_cache(lazy=False)
    lazy, lazy_tables = make_cache(lazy=lazy_rows)
    eager_log: list[Any] = []
    lazy_log: list[Any] = []
    listen(eager, eager_tables, which, eager_log)
    listen(lazy, lazy_tables, which, lazy_log)
    for msg, fast, look, records in steps:
        got_eager, err_eager = attempt(eager, msg, fast=False)
        got_lazy, err_lazy = attempt(lazy, msg, fast=fast)
        assert err_lazy == err_eager
        if got_eager is None or got_lazy is None:
            assert observe(lazy, lazy_tables) == observe(eager, eager_tables)  # untouched
            continue
        assert len(got_lazy) == len(got_eager)
        ctx = object()
        got_eager.fire(lambda ctx=ctx: ctx)
        got_lazy.fire(lambda ctx=ctx: ctx)
        assert lazy_log == eager_log
        if records:
            assert list(got_lazy) == list(got_eager)
        if look:
            assert observe(lazy, lazy_tables) == observe(eager, eager_tables)
    assert observe(lazy, lazy_tables) == observe(eager, eager_tables)


def test_rows_stay_undecoded_until_looked_at() -> None:
    cache, tables = make_cache(lazy=True)
    keyed = tables["keyed"]
    decoded: list[bytes] = []
    keyed._decode = lambda b: decoded.append(b) or CODEC.decode(b)  # type: ignore[method-assign]
    cache.apply_query_rows(1, query_rows(("keyed", POOLS["keyed"])), +1).fire(lambda: None)
    assert decoded == [] and keyed._n_lazy == len(POOLS["keyed"])
    assert keyed.index("n").find(3) == CODEC.decode(POOLS["keyed"][3])
    assert decoded == [POOLS["keyed"][3]]  # find decoded one row, once
    keyed.index("n").find(3)
    assert decoded == [POOLS["keyed"][3]]
    rows = list(keyed)
    assert rows == [CODEC.decode(r) for r in POOLS["keyed"]] and keyed._n_lazy == 0
    assert rows[3] is keyed.index("n").find(3)  # decoded once, kept


def test_a_malformed_row_fails_its_message_on_arrival_not_when_read() -> None:
    cache, tables = make_cache(lazy=True)
    good, broken = POOLS["plain"][0], malformed(POOLS["plain"][1], "utf8")
    rows = query_rows(("plain", [good, broken]))
    with pytest.raises(SpacetimeDBError, match=r"table 'plain' does not decode: invalid UTF-8"):
        cache.apply_query_rows(1, rows, +1)
    assert len(tables["plain"]) == 0 and cache.query_set_ids() == set()
    # The same in a one-table transaction, by the fast path.
    with pytest.raises(SpacetimeDBError, match=r"invalid Bool byte"):
        cache.apply_table_tx(TableTx(1, "plain", [malformed(good, "bool")], [], None))
    assert len(tables["plain"]) == 0


def test_a_deleted_malformed_row_is_not_an_error_as_with_eager_decoding() -> None:
    for lazy in (False, True):
        cache, tables = make_cache(lazy=lazy)
        cache.apply_transaction(tx(query_set(1, ("plain", [persistent([], [b"\xff"])])))).fire(
            lambda: None
        )
        assert len(tables["plain"]) == 0
