"""A TypeScript module's reads and writes, served by the local server's datastore.

The host-test module (``tests/modules_ts/host-test``) runs in Node; these tests call its reducers
and check what the datastore holds and what the module saw: sequences and their write-back,
index scans in ``AlgebraicValue`` order, deletes, big rows through several iterator buffers,
host errors as the library's error classes with upstream's texts, and rollback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ts_support import host_module, logged, needs_node, results

from spacetimedb_sdk.server.local import LocalServer

pytestmark = needs_node()


@pytest.fixture
def srv() -> Iterator[LocalServer]:
    with LocalServer(host_module(), reducer_timeout=3.0) as server:
        yield server


def test_sequences_fill_zero_write_back_and_leave_gaps_after_rollback(srv: LocalServer) -> None:
    db = srv.db
    seen = []
    for n in range(3):
        assert db.call_reducer("insert_counter", n).ok
        seen.append(int(results(db)["insert_counter"]))
    # The module got the generated id back in the row insert returned (write-back).
    assert seen == [1, 2, 3]
    failed = db.call_reducer("insert_counter_then_fail", 7)
    assert (failed.status, failed.message) == ("err", "changed my mind")
    assert db.call_reducer("insert_counter", 9).ok
    assert results(db)["insert_counter"] == "5"  # 4 was used by the rolled-back insert
    assert sorted(r.id for r in db.rows("counter")) == [1, 2, 3, 5]
    # A value other than 0 is kept, and not written back as generated.
    assert db.call_reducer("insert_counter_with_id", 100, 1).ok
    assert results(db)["insert_counter_with_id"] == "100"


def test_a_u8_sequence_overflows_as_a_trap(srv: LocalServer) -> None:
    db = srv.db
    for i in range(255):
        assert db.call_reducer("insert_small", f"row {i}").ok
    assert results(db)["insert_small"] == 255
    overflow = db.call_reducer("insert_small", "one too many")
    assert overflow.status == "internal_error"
    assert "The auto-increment sequence overflowed" in str(overflow.error)
    assert len(db.rows("small")) == 255


PAIRS = [(1, "a", 10), (1, "b", 20), (1, "c", 30), (1, "d", 40), (0, "z", 5), (-1, "q", 25)]


def test_index_scans_follow_algebraic_value_order(srv: LocalServer) -> None:
    db = srv.db
    for a, b, c in [*PAIRS, (2, "b", 15)]:
        assert db.call_reducer("insert_pair", a, b, c).ok
    assert db.call_reducer("scan_pairs").ok
    got = results(db)
    assert got["prefix a=1"] == ["1/a/10", "1/b/20", "1/c/30", "1/d/40"]
    # Signed integers order by value, not by their little-endian bytes.
    assert got["prefix a in [-1, 1)"] == ["-1/q/25", "0/z/5"]
    assert got["a=1, b in [b, d)"] == ["1/b/20", "1/c/30"]
    assert got["a=1, b=c"] == ["1/c/30"]
    assert got["c >= 20"] == ["1/b/20", "-1/q/25", "1/c/30", "1/d/40"]
    assert got["c < 20"] == ["0/z/5", "1/a/10", "2/b/15"]
    assert got["h = c"] == ["1/c/30"]
    assert got["count"] == "7"
    assert got["iter map toArray"] == [1, 1, 1, 1, 0, -1, 2]  # Node 20 gets iterator helpers
    assert got["range on hash"] == "SpacetimeHostError: The Index does not support range scans"


def test_strings_order_by_utf8_bytes_not_utf16_units(srv: LocalServer) -> None:
    db = srv.db
    # U+FF5A sorts after U+1D49C's surrogates in UTF-16 (JavaScript's order), before it in
    # UTF-8 (SpacetimeDB's).
    for b in ["\U0001d49c", "\uff5a", "é", "a"]:
        assert db.call_reducer("insert_pair", 5, b, 0).ok
    assert db.call_reducer("scan_a", 5).ok
    assert results(db)["scan_a"] == ["a", "é", "\uff5a", "\U0001d49c"]


def test_deletes_by_range_by_row_and_clear(srv: LocalServer) -> None:
    db = srv.db
    for a, b, c in PAIRS:
        assert db.call_reducer("insert_pair", a, b, c).ok
    assert db.call_reducer("delete_pairs", 1).ok  # a = 1 and b >= "b"
    assert results(db)["deleted"] == 3
    assert sorted((r.a, r.b) for r in db.rows("pair")) == [(-1, "q"), (0, "z"), (1, "a")]
    assert db.call_reducer("delete_pair_row", 0, "z", 5).ok
    assert results(db)["deleted row"] is True
    assert db.call_reducer("delete_pair_row", 0, "z", 5).ok
    assert results(db)["deleted row"] is False
    assert db.call_reducer("clear_pairs").ok
    assert results(db)["cleared"] == "2"
    assert db.rows("pair") == []


def test_big_rows_travel_through_several_iterator_buffers(srv: LocalServer) -> None:
    # 40 rows of 30 kB: a few fill the library's 64 KiB buffer; 100 kB rows need it to grow.
    assert srv.db.call_reducer("insert_big", 0, 40, 30_000).ok
    assert results(srv.db)["big"] == {"rows": 40, "chars": 1_200_000}
    assert srv.db.call_reducer("insert_big", 40, 3, 100_000).ok
    assert results(srv.db)["big"] == {"rows": 43, "chars": 1_500_000}


def test_host_errors_are_the_library_classes_with_upstream_texts(srv: LocalServer) -> None:
    assert srv.db.call_reducer("catch_host_errors").ok
    assert results(srv.db)["errors"] == {
        "duplicate": "UniqueAlreadyExists: Value with given unique identifier already exists",
        "isUniqueAlreadyExists": "true",
        "missing": "NoSuchRow: The row was not found, e.g., in an update call",
        "table": "NoSuchTable: No such table",
        "badArgument": "TypeError: Expected number for `u32`, got string",
        "outOfBounds": "RangeError: length argument was out of bounds for `ArrayBuffer`",
        "badRow": "BsatnDecodeError: Couldn't decode the BSATN to the expected type",
        "mathRandom": (
            "TypeError: Math.random is not available in SpacetimeDB modules. "
            "Use ctx.random instead."
        ),
        "startTxInReducer": (
            "WouldBlockTransaction: Attempted async or blocking op while holding open a transaction"
        ),
    }


def test_thrown_values_fail_the_call_and_roll_back(srv: LocalServer) -> None:
    db = srv.db
    for reducer, text in [
        ("throw_string", "Uncaught a plain string"),
        ("throw_object", "Uncaught #<Object>"),
    ]:
        result = db.call_reducer(reducer)
        assert (result.status, result.message) == (
            "internal_error",
            "The instance encountered a fatal error.",
        )
        assert str(result.error) == text
    failed = db.call_reducer("throw_error")
    assert failed.status == "internal_error"
    # V8's text, then the module's own frames, mapped back to its TypeScript source.
    first, frame = str(failed.error).splitlines()[:2]
    assert first == "Uncaught Error: boom"
    assert "host-test/src/index.ts:" in frame
    assert db.rows("player") == []  # the insert before the throw was rolled back
    errors = [message for level, _, message in logged(db) if level == "Error"]
    assert any(m.startswith("reducer throw_error failed: Uncaught Error: boom") for m in errors)
