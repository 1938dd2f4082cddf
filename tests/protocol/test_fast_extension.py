"""The one-table transaction decoder in C against its Python reference (issue 14).

``protocol.fast.decode_table_tx`` is the C ``table_tx`` when the extension is loaded and
``_table_tx_py`` otherwise.  On the same bytes both must say the same: ``None`` (another
shape, or malformed) or the same query set, table, rows and end offset. Drawn from well-formed
one-table updates (every row-list kind), their mutants at any offset, and random bytes behind
the message's tag.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from test_protocol_fast import one_table_updates

from differential import EXT, PROPS, require_extension
from spacetimedb_sdk.protocol.fast import TableTx, _table_tx_py, decode_table_tx
from spacetimedb_sdk.protocol.server_messages import encode_server_message
from strategies import mutants

require_extension()


def fields(got: tuple[TableTx, int] | None) -> Any:
    if got is None:
        return None
    tx, end = got
    assert type(tx) is TableTx
    return (tx.query_set_id, tx.table, tx.inserts, tx.deletes, tx.events, end)


def assert_same(data: bytes, at: int) -> None:
    c, py = fields(decode_table_tx(data, at)), fields(_table_tx_py(data, at))
    assert c == py, f"at {at} of {data.hex()}"
    if c is not None:
        assert all(type(row) is bytes for rows in c[2:5] if rows is not None for row in rows)


def test_the_extension_decodes_the_fast_path() -> None:
    assert EXT is not None and decode_table_tx is not _table_tx_py


@PROPS
@given(one_table_updates, st.binary(max_size=3), st.binary(max_size=3))
def test_well_formed_updates(msg: Any, before: bytes, after: bytes) -> None:
    body = encode_server_message(msg)
    data = before + body + after
    assert_same(data, len(before))
    assert fields(decode_table_tx(data, len(before)))[-1] == len(before) + len(body)


@PROPS
@given(st.data())
def test_mutated_updates_at_any_offset(data: st.DataObject) -> None:
    good = encode_server_message(data.draw(one_table_updates))
    bad = data.draw(mutants(good))
    assert_same(bad, data.draw(st.integers(0, len(bad) + 1)))


@PROPS
@given(st.binary(max_size=120), st.integers(0, 3))
def test_random_bytes_behind_the_tag(tail: bytes, at: int) -> None:
    data = b"\x00" * at + b"\x04" + tail
    assert_same(data, at)


def test_huge_counts_and_lengths_are_refused_without_allocating() -> None:
    head = b"\x04" + (1).to_bytes(4, "little") * 3 + (1).to_bytes(4, "little") + b"t"
    entry = (1).to_bytes(4, "little") + b"\x00"
    for rows in (
        b"\x01" + (0xFFFFFFFF).to_bytes(4, "little"),  # 4G offsets
        b"\x01" + (1).to_bytes(4, "little") + bytes(8) + (0xFFFFFFFF).to_bytes(4, "little"),
        b"\x00" + (1).to_bytes(2, "little") + (0xFFFFFFFF).to_bytes(4, "little"),
    ):
        assert_same(head + entry + rows, 0)
        assert decode_table_tx(head + entry + rows, 0) is None
