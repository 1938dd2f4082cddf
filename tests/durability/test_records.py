"""The bytes of the data directory: change sets, framed records, torn tails, corruption.

Property tests: a change set survives encoding; a log cut anywhere reads back as a prefix of
its records with the cut reported as a torn tail; a flipped bit anywhere but in the last record
is an error naming the file; snapshots fail their checksum when damaged.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.server.durability.errors import CorruptDataError
from spacetimedb_sdk.server.durability.records import (
    SEGMENT_HEADER_SIZE,
    Changes,
    TableChanges,
    decode_changes,
    decode_snapshot,
    encode_changes,
    encode_snapshot,
    frame_record,
    read_segment_header,
    scan_records,
    segment_header,
)

names = st.text(max_size=12)
clients = st.tuples(st.integers(0, 2**256 - 1), st.integers(0, 2**128 - 1))
tables = st.builds(
    TableChanges,
    names,
    st.binary(max_size=40),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=40),
    st.integers(0, 2**32 - 1),
)
changes = st.builds(
    Changes,
    st.integers(-(2**63), 2**63 - 1),
    st.lists(tables, max_size=3),
    st.lists(st.tuples(names, names, st.integers(-(2**128), 2**128)), max_size=3),
    st.lists(st.tuples(names, st.binary(max_size=20)), max_size=2),
    st.lists(names, max_size=2),
    st.lists(clients, max_size=2),
    st.lists(clients, max_size=2),
)


@given(changes)
def test_a_change_set_survives_encoding(c: Changes) -> None:
    assert decode_changes(encode_changes(c)) == c


def test_an_unknown_section_is_an_error_saying_where() -> None:
    body = encode_changes(Changes(timestamp=1)) + b"\x09"
    with pytest.raises(ValueError, match="unknown section tag 9 at byte 8"):
        decode_changes(body)


def _log(bodies: list[bytes], first: int = 0) -> bytes:
    return b"".join(frame_record(first + i, b) for i, b in enumerate(bodies))


@given(st.lists(st.binary(max_size=30), min_size=1, max_size=5), st.integers(0, 10_000))
def test_a_log_cut_anywhere_reads_back_a_prefix_and_reports_the_tear(
    bodies: list[bytes], cut: int
) -> None:
    data = _log(bodies, first=7)
    cut %= len(data) + 1
    scan = scan_records(data[:cut], 0, 7, "seg")
    assert scan.records == [(7 + i, b) for i, b in enumerate(bodies[: len(scan.records)])]
    whole = len(_log(bodies[: len(scan.records)], first=7))
    assert scan.end == whole
    assert (scan.torn is None) == (cut == whole)


@given(st.lists(st.binary(max_size=30), min_size=1, max_size=4), st.integers(1, 64))
def test_zeros_after_the_records_are_a_torn_tail(bodies: list[bytes], zeros: int) -> None:
    data = _log(bodies) + bytes(zeros)
    scan = scan_records(data, 0, 0, "seg")
    assert len(scan.records) == len(bodies) and scan.torn is not None


@settings(max_examples=300)
@given(st.lists(st.binary(min_size=1, max_size=30), min_size=2, max_size=5), st.data())
def test_a_flipped_bit_before_the_last_record_is_an_error_naming_the_file(
    bodies: list[bytes], data: st.DataObject
) -> None:
    log = bytearray(_log(bodies))
    last_start = len(_log(bodies[:-1]))
    pos = data.draw(st.integers(0, last_start - 1), label="byte")
    log[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(CorruptDataError) as caught:
        scan_records(bytes(log), 0, 0, "clog/00000000000000000000.stlog")
    assert caught.value.path == "clog/00000000000000000000.stlog"


@given(st.lists(st.binary(min_size=1, max_size=30), min_size=1, max_size=4), st.data())
def test_a_flipped_bit_in_the_last_record_body_is_cut_as_a_torn_tail(
    bodies: list[bytes], data: st.DataObject
) -> None:
    log = bytearray(_log(bodies))
    last_start = len(_log(bodies[:-1]))
    pos = data.draw(st.integers(last_start + 16, len(log) - 1), label="byte")
    log[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    scan = scan_records(bytes(log), 0, 0, "seg")
    assert scan.records == list(enumerate(bodies[:-1])) and scan.end == last_start
    assert scan.torn is not None and "checksum" in scan.torn


def test_an_offset_out_of_sequence_is_an_error() -> None:
    data = frame_record(0, b"a") + frame_record(2, b"b")
    with pytest.raises(CorruptDataError, match="transaction offset 2, expected 1"):
        scan_records(data, 0, 0, "seg")


def test_data_after_zeros_is_an_error_not_a_tail() -> None:
    data = frame_record(0, b"a") + bytes(20) + frame_record(1, b"b")
    with pytest.raises(CorruptDataError, match="zeros at byte"):
        scan_records(data, 0, 0, "seg")


def test_segment_headers() -> None:
    header = segment_header(42, b"12345678")
    assert len(header) == SEGMENT_HEADER_SIZE
    assert read_segment_header(header + b"rest", "seg") == (42, b"12345678")
    assert read_segment_header(header[:10], "seg") is None  # torn
    assert read_segment_header(bytes(SEGMENT_HEADER_SIZE), "seg") is None  # zeros
    with pytest.raises(CorruptDataError, match="bad magic"):
        read_segment_header(b"X" + header[1:], "seg")
    damaged = bytearray(header)
    damaged[12] ^= 1
    with pytest.raises(CorruptDataError, match="fails its checksum"):
        read_segment_header(bytes(damaged), "seg")


@given(st.integers(0, 2**63), st.binary(max_size=50), st.binary(max_size=200), st.data())
def test_snapshots_round_trip_and_fail_their_checksum_when_damaged(
    offset: int, schema: bytes, state: bytes, data: st.DataObject
) -> None:
    blob = encode_snapshot(offset, schema, state)
    assert decode_snapshot(blob, "snap") == (offset, schema, state)
    damaged = bytearray(blob)
    pos = data.draw(st.integers(0, len(blob) - 1), label="byte")
    damaged[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(CorruptDataError):
        decode_snapshot(bytes(damaged), "snap")
    with pytest.raises(CorruptDataError, match=r"truncated|header says"):
        decode_snapshot(blob[: data.draw(st.integers(0, len(blob) - 1), label="cut")], "snap")
