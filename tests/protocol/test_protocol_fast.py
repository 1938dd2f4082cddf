"""The fast decoder of one-table transactions agrees with the generic decoder (issue 14).

``decode_server_frame_fast`` (what the client core reads frames with) turns a
``TransactionUpdate`` of one query set, one table and one row-list entry into a ``TableTx``
and leaves every other message to the generic decoder.  These properties check that it
decodes such messages to the same query set, table and rows, that it never accepts bytes the
generic decoder rejects (errors are the generic decoder's, word for word), and that every
other message comes out identical.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol_hypothesis import (
    PROTOCOLS,
    SERVER_FRAMES,
    row_lists,
    server_messages,
    text,
    u32,
)

from spacetimedb_sdk.errors import ProtocolError
from spacetimedb_sdk.protocol import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    Compression,
    decode_server_frame,
    encode_server_frame,
)
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.fast import TableTx, decode_table_tx
from spacetimedb_sdk.protocol.framing import decode_server_frame_fast

one_table_updates = st.builds(
    lambda qs, name, entry: m.TransactionUpdate(
        [m.QuerySetUpdate(qs, [m.TableUpdate(name, [entry])])]
    ),
    u32,
    text,
    st.one_of(
        st.builds(m.PersistentTableRows, row_lists(), row_lists()),
        st.builds(m.EventTableRows, row_lists()),
    ),
)
messages = st.one_of(one_table_updates, one_table_updates, server_messages)


def same(fast: Any, generic: Any) -> bool:
    """Whether a fast-decoded item stands for the generically decoded message."""
    if not isinstance(fast, TableTx):
        return bool(fast == generic)
    (qs,) = generic.query_sets
    (tu,) = qs.tables
    (entry,) = tu.rows
    if (fast.query_set_id, fast.table) != (qs.query_set_id, tu.table_name):
        return False
    if isinstance(entry, m.EventTableRows):
        return fast.events == entry.events.rows() and not fast.inserts and not fast.deletes
    return (
        fast.events is None
        and fast.inserts == entry.inserts.rows()
        and fast.deletes == entry.deletes.rows()
    )


def outcome(decode: Any, frame: bytes, protocol: str) -> tuple[list[Any] | None, str | None]:
    try:
        return decode(frame, protocol), None
    except ProtocolError as e:
        return None, str(e)


def agree(frame: bytes, protocol: str) -> None:
    fast, fast_error = outcome(decode_server_frame_fast, frame, protocol)
    generic, generic_error = outcome(decode_server_frame, frame, protocol)
    assert fast_error == generic_error
    if fast is not None and generic is not None:
        assert len(fast) == len(generic)
        assert all(same(f, g) for f, g in zip(fast, generic, strict=True))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=4), st.sampled_from(list(Compression)[::2]))
def test_fast_frames_decode_to_what_the_generic_decoder_reads(
    msgs: list[Any], compression: Compression
) -> None:
    agree(encode_server_frame(msgs, SUBPROTOCOL_V3, compression), SUBPROTOCOL_V3)
    for msg in msgs:
        agree(encode_server_frame([msg], SUBPROTOCOL_V2, compression), SUBPROTOCOL_V2)
    frame = encode_server_frame(msgs, SUBPROTOCOL_V3)
    fast = decode_server_frame_fast(frame, SUBPROTOCOL_V3)
    shaped = [
        isinstance(x, m.TransactionUpdate)
        and len(x.query_sets) == 1
        and len(x.query_sets[0].tables) == 1
        and len(x.query_sets[0].tables[0].rows) == 1
        for x in msgs
    ]
    assert [isinstance(x, TableTx) for x in fast] == shaped  # the fast path is taken


@st.composite
def mutated_updates(draw: st.DrawFn) -> bytes:
    frame = bytearray(encode_server_frame([draw(one_table_updates)], SUBPROTOCOL_V3))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(1, len(frame) - 1))
        frame[i] = draw(st.sampled_from([0, 1, 2, 4, 0xFF, draw(st.integers(0, 255))]))
    if draw(st.booleans()):
        frame = frame[: draw(st.integers(1, len(frame)))]
    return bytes(frame)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_updates(), st.sampled_from(SERVER_FRAMES)), PROTOCOLS)
def test_malformed_frames_fail_with_the_generic_error(frame: bytes, protocol: str) -> None:
    agree(frame, protocol)


@given(st.binary(max_size=80), st.integers(0, 4))
def test_the_fast_decoder_returns_none_rather_than_raising(data: bytes, at: int) -> None:
    body = b"\x04" + data
    got = decode_table_tx(body, 0 if at == 0 else min(at, len(body) - 1))
    assert got is None or isinstance(got[0], TableTx)
