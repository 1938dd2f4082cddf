"""Client cache semantics: reference counts, updates, events, query sets, callbacks.

Ports the cases of the TypeScript SDK's ``table_cache.test.ts`` and the Rust SDK scenarios
``row_deduplication`` and ``overlapping_subscriptions`` (upstream-tests.md §1.2, §1.6).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from cache_test_rows import (
    Recorder,
    decode_pk_row,
    decode_player,
    events,
    fire,
    new_cache,
    persistent,
    pk_row,
    pk_table,
    player_row,
    query_rows,
    query_set,
    rows_of,
    tx,
)

from spacetimedb_sdk.client.cache import ClientCache, PendingChanges, TableCache
from spacetimedb_sdk.client.changes import Delete, Insert, Update
from spacetimedb_sdk.errors import BsatnDecodeError, ProtocolError
from spacetimedb_sdk.protocol import messages as m

P1 = player_row(1, "Player 1", 1, 2)
P1_RENAMED = player_row(1, "Player One", 1, 2)
P2 = player_row(2, "Player 2", 3, 4)


def player_table(indexed: bool) -> TableCache[dict[str, Any]]:
    if indexed:
        return TableCache("player", decode_player, primary_key="id", btree=["name"])
    return TableCache("player", decode_player)


def player_tx(inserts: list[bytes] = [], deletes: list[bytes] = []) -> m.TransactionUpdate:  # noqa: B006
    return tx(query_set(1, ("player", [persistent(inserts, deletes)])))


# ---- table_cache.test.ts, for a table with and without a primary key/index --------------------


@pytest.fixture(params=[False, True], ids=["unindexed", "indexed"])
def players(request: pytest.FixtureRequest) -> tuple[ClientCache, TableCache[Any], Recorder]:
    t = player_table(request.param)
    return new_cache(t), t, Recorder(t)


def test_empty_on_creation(players: tuple[ClientCache, TableCache[Any], Recorder]) -> None:
    _, t, _ = players
    assert t.count() == 0 and len(t) == 0 and list(t) == []


def test_insert_one(players: tuple[ClientCache, TableCache[Any], Recorder]) -> None:
    cache, t, rec = players
    fire(cache.apply_transaction(player_tx([P1])))
    assert t.count() == 1
    assert list(t.iter()) == [decode_player(P1)]
    assert rec.take() == [("insert", "player", decode_player(P1))]


def test_same_row_twice_in_one_batch_fires_once(
    players: tuple[ClientCache, TableCache[Any], Recorder],
) -> None:
    cache, t, rec = players
    fire(cache.apply_transaction(player_tx([P1, P1])))
    assert t.count() == 1
    assert t.multiplicity(P1) == 2
    assert rec.take() == [("insert", "player", decode_player(P1))]


def test_duplicate_insert_in_later_batch_is_a_noop(
    players: tuple[ClientCache, TableCache[Any], Recorder],
) -> None:
    cache, t, rec = players
    fire(cache.apply_transaction(player_tx([P1])))
    rec.take()
    changes = fire(cache.apply_transaction(player_tx([P1])))
    assert not changes
    assert rec.take() == []
    assert t.count() == 1 and t.multiplicity(P1) == 2


def test_insert_once_and_delete(players: tuple[ClientCache, TableCache[Any], Recorder]) -> None:
    cache, t, rec = players
    fire(cache.apply_transaction(player_tx([P1])))
    rec.take()
    fire(cache.apply_transaction(player_tx(deletes=[P1])))
    assert t.count() == 0
    assert rec.take() == [("delete", "player", decode_player(P1))]


def test_row_inserted_twice_needs_two_deletes(
    players: tuple[ClientCache, TableCache[Any], Recorder],
) -> None:
    cache, t, rec = players
    fire(cache.apply_transaction(player_tx([P1, P1])))
    rec.take()
    fire(cache.apply_transaction(player_tx(deletes=[P1])))
    assert rec.take() == []
    assert t.count() == 1 and list(t) == [decode_player(P1)]
    fire(cache.apply_transaction(player_tx(deletes=[P1])))
    assert rec.take() == [("delete", "player", decode_player(P1))]
    assert t.count() == 0


def test_delete_and_insert_of_same_primary_key_is_an_update(
    players: tuple[ClientCache, TableCache[Any], Recorder],
) -> None:
    cache, t, rec = players
    fire(cache.apply_transaction(player_tx([P1, P2])))
    rec.take()
    fire(cache.apply_transaction(player_tx([P1_RENAMED], [P1])))
    old, new = decode_player(P1), decode_player(P1_RENAMED)
    if t.has_primary_key:
        assert rec.take() == [("update", "player", old, new)]
        assert t.unique_index("id").find(1) == new
    else:
        assert rec.take() == [("insert", "player", new), ("delete", "player", old)]
    assert rows_of(t) == sorted([new, decode_player(P2)], key=repr)


# ---- Rust SDK scenarios ------------------------------------------------------------------------


def test_row_deduplication() -> None:
    """Two overlapping queries (n < 100, n < 200) in one set: each change fires exactly once."""
    t = pk_table()
    cache = new_cache(t)
    rec = Recorder(t)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", []), ("pk_u32", [])), +1))

    def both_queries(inserts: list[bytes] = [], deletes: list[bytes] = []) -> m.TransactionUpdate:  # noqa: B006
        entry = persistent(inserts, deletes)
        return tx(query_set(1, ("pk_u32", [entry, entry])))

    fire(cache.apply_transaction(both_queries([pk_row(24, 0xBEEF)])))
    fire(cache.apply_transaction(both_queries([pk_row(42, 0xBEEF)])))
    assert rec.take() == [
        ("insert", "pk_u32", {"n": 24, "data": 0xBEEF}),
        ("insert", "pk_u32", {"n": 42, "data": 0xBEEF}),
    ]
    assert t.multiplicity(pk_row(24, 0xBEEF)) == 2
    fire(cache.apply_transaction(both_queries(deletes=[pk_row(24, 0xBEEF)])))
    assert rec.take() == [("delete", "pk_u32", {"n": 24, "data": 0xBEEF})]
    fire(cache.apply_transaction(both_queries([pk_row(42, 0xFEEB)], [pk_row(42, 0xBEEF)])))
    assert rec.take() == [
        ("update", "pk_u32", {"n": 42, "data": 0xBEEF}, {"n": 42, "data": 0xFEEB})
    ]
    assert list(t) == [{"n": 42, "data": 0xFEEB}]
    assert t.multiplicity(pk_row(42, 0xFEEB)) == 2


def test_overlapping_subscriptions() -> None:
    """One row held by two query sets (multiplicity 2); an update fires one on_update."""
    t = pk_table()
    cache = new_cache(t)
    rec = Recorder(t)
    old, new = pk_row(1, 10), pk_row(1, 11)
    fire(cache.apply_subscribe_applied(m.SubscribeApplied(1, 1, query_rows(("pk_u32", [old])))))
    fire(cache.apply_subscribe_applied(m.SubscribeApplied(2, 2, query_rows(("pk_u32", [old])))))
    assert rec.take() == [("insert", "pk_u32", decode_pk_row(old))]
    assert t.multiplicity(old) == 2
    update = persistent([new], [old])
    fire(
        cache.apply_transaction(
            tx(query_set(1, ("pk_u32", [update])), query_set(2, ("pk_u32", [update])))
        )
    )
    assert rec.take() == [("update", "pk_u32", decode_pk_row(old), decode_pk_row(new))]
    assert t.count() == 1
    assert t.multiplicity(new) == 2
    assert t.multiplicity(new, 1) == 1 and t.multiplicity(new, 2) == 1


def test_callbacks_see_the_whole_message_applied() -> None:
    """A callback on table A (first in the message) already sees table B's new rows."""
    a = TableCache("a", decode_pk_row, primary_key="n")
    b = TableCache("b", decode_pk_row, primary_key="n")
    cache = new_cache(a, b)
    seen: list[Any] = []
    a.on_insert(lambda ctx, row: seen.append((b.count(), b.unique_index("n").find(row["n"]))))
    msg = tx(
        query_set(1, ("a", [persistent([pk_row(7, 1)])])),
        query_set(2, ("b", [persistent([pk_row(7, 2)])])),
    )
    changes = cache.apply_transaction(msg)
    assert [c.table for c in changes] == ["a", "b"]
    fire(changes)
    assert seen == [(1, {"n": 7, "data": 2})]


def test_event_table_fires_inserts_and_stores_nothing() -> None:
    ev = TableCache("damage", decode_pk_row, is_event=True)
    cache = new_cache(ev)
    rec = Recorder(ev)
    row = pk_row(1, 5)
    msg = tx(query_set(1, ("damage", [events([row, row]), persistent([pk_row(2, 6)], [row])])))
    fire(cache.apply_transaction(msg))
    assert rec.take() == [
        ("insert", "damage", {"n": 1, "data": 5}),
        ("insert", "damage", {"n": 1, "data": 5}),
        ("insert", "damage", {"n": 2, "data": 6}),
    ]
    assert ev.count() == 0 and list(ev) == [] and ev.multiplicity(row) == 0
    assert cache.query_set_ids() == set()


def test_event_rows_for_a_stored_table_are_not_stored() -> None:
    t = pk_table()
    cache = new_cache(t)
    changes = cache.apply_transaction(tx(query_set(1, ("pk_u32", [events([pk_row(1, 1)])]))))
    assert list(changes) == [Insert("pk_u32", {"n": 1, "data": 1})]
    assert t.count() == 0


def test_unsubscribe_removes_only_rows_no_other_set_holds() -> None:
    t = pk_table()
    cache = new_cache(t)
    rec = Recorder(t)
    shared, only1, only2 = pk_row(1, 1), pk_row(2, 2), pk_row(3, 3)
    fire(
        cache.apply_subscribe_applied(
            m.SubscribeApplied(1, 1, query_rows(("pk_u32", [shared, only1])))
        )
    )
    fire(
        cache.apply_subscribe_applied(
            m.SubscribeApplied(2, 2, query_rows(("pk_u32", [shared, only2])))
        )
    )
    rec.take()
    msg = m.UnsubscribeApplied(3, 1, query_rows(("pk_u32", [shared, only1])))
    fire(cache.apply_unsubscribe_applied(msg))
    assert rec.take() == [("delete", "pk_u32", decode_pk_row(only1))]
    assert rows_of(t) == [decode_pk_row(shared), decode_pk_row(only2)]
    assert t.multiplicity(shared) == 1
    assert cache.query_set_ids() == {2}
    # Without SendDroppedRows the cache knows the set's rows itself.
    fire(cache.apply_unsubscribe_applied(m.UnsubscribeApplied(4, 2, None)))
    assert sorted(r[2]["n"] for r in rec.take()) == [1, 3]
    assert t.count() == 0 and cache.query_set_ids() == set()


def test_apply_query_rows_with_minus_sign_respects_counts() -> None:
    t = pk_table()
    cache = new_cache(t)
    row = pk_row(5, 5)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [row])), +1))
    fire(cache.apply_query_rows(2, query_rows(("pk_u32", [row])), +1))
    assert not cache.apply_query_rows(1, query_rows(("pk_u32", [row])), -1)
    assert list(cache.apply_query_rows(2, query_rows(("pk_u32", [row])), -1)) == [
        Delete("pk_u32", decode_pk_row(row))
    ]
    with pytest.raises(ValueError, match="sign"):
        cache.apply_query_rows(1, query_rows(), 0)


def test_drop_query_set_without_server_rows() -> None:
    """SubscriptionError without request id: the set's rows go, rows other sets hold stay."""
    a, b = pk_table("a"), pk_table("b")
    cache = new_cache(a, b)
    rec = Recorder(a, b)
    fire(
        cache.apply_query_rows(
            1, query_rows(("a", [pk_row(1, 1), pk_row(2, 2)]), ("b", [pk_row(9, 9)])), +1
        )
    )
    fire(cache.apply_query_rows(2, query_rows(("a", [pk_row(2, 2)])), +1))
    fire(cache.apply_transaction(tx(query_set(1, ("a", [persistent([pk_row(3, 3)])])))))
    rec.take()
    fire(cache.drop_query_set(1))
    assert rec.take() == [
        ("delete", "a", {"n": 1, "data": 1}),
        ("delete", "a", {"n": 3, "data": 3}),
        ("delete", "b", {"n": 9, "data": 9}),
    ]
    assert list(a) == [{"n": 2, "data": 2}] and b.count() == 0
    assert not cache.drop_query_set(1)
    assert cache.query_set_ids() == {2}


def test_replace_query_set_fires_only_differences() -> None:
    """After a reconnection the new SubscribeApplied replaces the set: no spurious callbacks."""
    t = pk_table()
    cache = new_cache(t)
    rec = Recorder(t)
    same, gone, changed = pk_row(1, 1), pk_row(2, 2), pk_row(3, 3)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [same, gone, changed])), +1))
    rec.take()
    changed_new, added = pk_row(3, 33), pk_row(4, 4)
    fire(cache.replace_query_set(1, query_rows(("pk_u32", [same, changed_new, added]))))
    assert rec.take() == [
        ("insert", "pk_u32", decode_pk_row(added)),
        ("delete", "pk_u32", decode_pk_row(gone)),
        ("update", "pk_u32", decode_pk_row(changed), decode_pk_row(changed_new)),
    ]
    assert t.multiplicity(same, 1) == 1


def test_delete_of_absent_row_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    t = pk_table()
    cache = new_cache(t)
    rec = Recorder(t)
    held = pk_row(1, 1)
    fire(cache.apply_query_rows(2, query_rows(("pk_u32", [held])), +1))
    rec.take()
    with caplog.at_level(logging.DEBUG, logger="spacetimedb_sdk.client.cache"):
        # absent everywhere, and held by set 2 but deleted through set 1
        changes = cache.apply_transaction(
            tx(query_set(1, ("pk_u32", [persistent([], [pk_row(9, 9), held])])))
        )
    assert not changes and rec.take() == []
    assert t.multiplicity(held) == 1 and t.multiplicity(held, 2) == 1
    assert sum("does not hold" in r.getMessage() for r in caplog.records) == 2


def test_delete_then_insert_of_same_row_in_one_message_is_no_change() -> None:
    """Joins can send [delete r, insert r] together; the net count decides (no callbacks)."""
    t = pk_table()
    cache = new_cache(t)
    row = pk_row(1, 1)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [row])), +1))
    msg = tx(query_set(1, ("pk_u32", [persistent([], [row]), persistent([row], [])])))
    assert not cache.apply_transaction(msg)
    assert t.multiplicity(row) == 1


def test_callback_order_within_a_message() -> None:
    """Tables in message order; per table inserts, deletes, updates (as the Rust SDK)."""
    a, b = pk_table("a"), TableCache("b", decode_pk_row)
    cache = new_cache(a, b)
    fire(
        cache.apply_query_rows(
            1, query_rows(("a", [pk_row(1, 1), pk_row(2, 2)]), ("b", [pk_row(5, 5)])), +1
        )
    )
    msg = tx(
        query_set(
            1,
            ("b", [persistent([pk_row(6, 6)], [pk_row(5, 5)])]),
            ("a", [persistent([pk_row(1, 10), pk_row(3, 3)], [pk_row(2, 2), pk_row(1, 1)])]),
        )
    )
    assert list(cache.apply_transaction(msg)) == [
        Insert("b", {"n": 6, "data": 6}),
        Delete("b", {"n": 5, "data": 5}),
        Insert("a", {"n": 3, "data": 3}),
        Delete("a", {"n": 2, "data": 2}),
        Update("a", {"n": 1, "data": 1}, {"n": 1, "data": 10}),
    ]


def test_undecodable_row_leaves_the_cache_untouched() -> None:
    good = TableCache("good", decode_pk_row)
    players = TableCache("player", decode_player)
    cache = new_cache(good, players)
    bad = player_row(1, "x") + b"\x00"
    msg = tx(query_set(1, ("good", [persistent([pk_row(1, 1)])]), ("player", [persistent([bad])])))
    with pytest.raises(ProtocolError, match="table 'player'"):
        cache.apply_transaction(msg)
    assert good.count() == 0 and cache.query_set_ids() == set()

    def strict(b: bytes) -> Any:
        raise BsatnDecodeError("bad tag 7", path="name", offset=3)

    cache.add_table(TableCache("strict", strict))
    with pytest.raises(BsatnDecodeError) as info:
        cache.apply_query_rows(1, query_rows(("strict", [b"\x07"])), +1)
    assert info.value.path == "strict.name" and info.value.offset == 3


def test_unknown_table_is_a_protocol_error_before_any_change() -> None:
    t = pk_table()
    cache = new_cache(t)
    with pytest.raises(ProtocolError, match="'nope'"):
        cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1)]), ("nope", [b"x"])), +1)
    assert t.count() == 0


# ---- callbacks ---------------------------------------------------------------------------------


def test_on_update_requires_a_primary_key() -> None:
    with pytest.raises(TypeError, match="no primary key"):
        TableCache("t", bytes).on_update(lambda ctx, old, new: None)


def test_callbacks_as_decorators_and_removal() -> None:
    t = pk_table()
    cache = new_cache(t)
    calls: list[str] = []

    @t.on_insert
    def first(ctx: Any, row: Any) -> None:
        calls.append(f"first {row['n']}")

    handle = t.on_insert(lambda ctx, row: calls.append(f"second {row['n']}"))
    first(None, {"n": 0})  # the handle still calls the function
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1)])), +1))
    assert calls == ["first 0", "first 1", "second 1"]
    assert t.remove_on_insert(handle) and not t.remove_on_insert(handle)
    assert t.remove_on_insert(first.callback)  # by the plain function too
    assert not t.remove_on_delete(first)
    calls.clear()
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(2, 2)])), +1))
    assert calls == []
    d = t.on_delete(lambda ctx, row: None)
    assert d.remove() and not d.remove()


def test_callbacks_get_the_context_made_once_and_only_when_needed() -> None:
    t = pk_table()
    cache = new_cache(t)
    made: list[int] = []

    def factory() -> str:
        made.append(1)
        return "the-ctx"

    cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1)])), +1).fire(factory)
    assert made == []  # no callbacks, no context
    rec = Recorder(t)
    cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(2, 2), pk_row(3, 3)])), +1).fire(
        factory
    )
    assert made == [1] and rec.contexts == ["the-ctx", "the-ctx"]


def test_a_failing_callback_does_not_stop_the_others() -> None:
    t = pk_table()
    cache = new_cache(t)
    seen: list[Any] = []
    errors: list[tuple[Exception, Any]] = []
    t.on_insert(lambda ctx, row: 1 / 0)
    t.on_insert(lambda ctx, row: seen.append(row["n"]))
    changes = cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1), pk_row(2, 2)])), +1)
    changes.fire(lambda: None, on_error=lambda exc, change: errors.append((exc, change)))
    assert seen == [1, 2]
    assert [type(e).__name__ for e, _ in errors] == ["ZeroDivisionError"] * 2
    assert errors[0][1] == Insert("pk_u32", {"n": 1, "data": 1})


def test_failing_callback_is_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    t = pk_table()
    cache = new_cache(t)
    t.on_insert(lambda ctx, row: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="spacetimedb_sdk"):
        fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1)])), +1))
    assert any("row callback failed" in r.getMessage() for r in caplog.records)


def test_async_callbacks_are_returned_to_be_scheduled() -> None:
    t = pk_table()
    cache = new_cache(t)
    done: list[Any] = []

    async def on_insert(ctx: Any, row: Any) -> None:
        done.append(row["n"])

    t.on_insert(on_insert)
    pending = cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1)])), +1).fire(
        lambda: None
    )
    assert len(pending) == 1 and done == []

    async def run() -> None:
        await asyncio.wait_for(asyncio.gather(*pending), timeout=5)

    asyncio.run(run())
    assert done == [1]


def test_callbacks_may_unregister_themselves_while_firing() -> None:
    t = pk_table()
    cache = new_cache(t)
    seen: list[int] = []

    def once(ctx: Any, row: Any) -> None:
        seen.append(row["n"])
        t.remove_on_insert(handle)

    handle = t.on_insert(once)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1), pk_row(2, 2)])), +1))
    assert seen == [1]


def test_change_sinks_receive_records_after_callbacks() -> None:
    a, b = pk_table("a"), pk_table("b")
    cache = new_cache(a, b)
    order: list[Any] = []
    a.on_insert(lambda ctx, row: order.append("callback"))
    stop_a = a.add_change_sink(lambda change: order.append(("a-sink", change)))
    stop_all = cache.add_change_sink(lambda change: order.append(("all", change.table)))
    fire(cache.apply_query_rows(1, query_rows(("a", [pk_row(1, 1)]), ("b", [pk_row(2, 2)])), +1))
    assert order == [
        "callback",
        ("a-sink", Insert("a", {"n": 1, "data": 1})),
        ("all", "a"),
        ("all", "b"),
    ]
    stop_a()
    stop_all()
    order.clear()
    fire(cache.apply_query_rows(1, query_rows(("a", [pk_row(3, 3)])), +1))
    assert order == ["callback"]


def test_iteration_is_a_snapshot() -> None:
    t = pk_table()
    cache = new_cache(t)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(i, i) for i in range(3)])), +1))
    it = iter(t)
    next(it)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(9, 9)])), +1))
    assert len(list(it)) == 2 and t.count() == 4


def test_pending_changes_helpers() -> None:
    t = pk_table()
    cache = new_cache(t)
    changes = cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1)])), +1)
    assert changes.for_table("pk_u32") == [Insert("pk_u32", {"n": 1, "data": 1})]
    assert changes.for_table("other") == []
    assert "Insert" in repr(changes)
    assert not PendingChanges() and len(PendingChanges()) == 0


def test_cache_table_registry() -> None:
    t = pk_table()
    cache = ClientCache([t])
    assert cache["pk_u32"] is t and cache.table("pk_u32") is t and "pk_u32" in cache
    assert list(cache) == [t] and dict(cache.tables) == {"pk_u32": t}
    with pytest.raises(ValueError, match="already"):
        cache.add_table(pk_table())
    with pytest.raises(KeyError, match="no table 'x'"):
        cache.table("x")


def test_unsubscribe_rows_that_disagree_with_the_cache_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = pk_table()
    cache = new_cache(t)
    fire(cache.apply_query_rows(1, query_rows(("pk_u32", [pk_row(1, 1), pk_row(2, 2)])), +1))
    msg = m.UnsubscribeApplied(2, 1, query_rows(("pk_u32", [pk_row(1, 1)])))
    with caplog.at_level(logging.DEBUG, logger="spacetimedb_sdk.client.cache"):
        changes = cache.apply_unsubscribe_applied(msg)
    assert sorted(c.row["n"] for c in changes if isinstance(c, Delete)) == [1, 2]
    assert any("lists 1 row(s), the cache holds 2" in r.getMessage() for r in caplog.records)


def test_rows_of_zero_bytes_are_counted() -> None:
    # A row holding only a unit struct encodes to no bytes (upstream's one_unit_struct); the
    # server lists such rows by offset, and each one is a row.
    t = TableCache("one_unit_struct", lambda data: {"s": {}})
    cache, rec = new_cache(t), Recorder(t)
    empty_rows = m.BsatnRowList(m.RowOffsets((0, 0)), b"")
    update = m.PersistentTableRows(empty_rows, m.BsatnRowList.empty())
    fire(cache.apply_transaction(tx(query_set(1, ("one_unit_struct", [update])))))
    assert t.count() == 1 and t.multiplicity(b"") == 2
    assert rec.take() == [("insert", "one_unit_struct", {"s": {}})]
