"""The datastore syscalls of the TypeScript host, driven directly with BSATN (no Node needed).

The definition comes from upstream's ``sdk-test-ts`` module definition (a fixture described by
the official module library), so the table and index ids are those a TypeScript module gets.
Property tests compare index range scans, on btree and unique indexes, with a model: a plain
sorted filter of the inserted values.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.sats import bsatn
from spacetimedb_sdk.sats.types import AlgebraicType as T
from spacetimedb_sdk.sats.values import ScheduleAt, TimeDuration
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server.datastore import Datastore
from spacetimedb_sdk.server.tsmodule.definition import TsDefinition, build_definition
from spacetimedb_sdk.server.tsmodule.process import K_REPLY
from spacetimedb_sdk.server.tsmodule.syscalls import (
    BSATN_DECODE_ERROR,
    INDEX_NOT_UNIQUE,
    NO_SUCH_INDEX,
    NO_SUCH_ROW,
    NO_SUCH_TABLE,
    NOT_IN_TRANSACTION,
    S_DELETE_RANGE,
    S_INSERT,
    S_SCAN_POINT,
    S_SCAN_RANGE,
    S_TABLE_SCAN,
    S_UPDATE,
    TRANSACTION_IS_READ_ONLY,
    UNIQUE_ALREADY_EXISTS,
    WRONG_INDEX_ALGO,
    CallEnv,
    Syscalls,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "moduledefs" / "sdk-test-ts.v10.bsatn"
DEFINITION: TsDefinition = build_definition(
    ModuleSchema.from_bsatn(FIXTURE.read_bytes()), "sdk-test-ts"
)

I32_PAIR = bsatn.codec_for(T.product({"n": T.I32, "data": T.I32}))
U32_PAIR = bsatn.codec_for(T.product({"n": T.U32, "data": T.I32}))
SCHEDULED = bsatn.codec_for(
    T.product({"scheduled_id": T.U64, "scheduled_at": T.schedule_at(), "text": T.STRING})
)


def table_id(name: str) -> int:
    return DEFINITION.table_ids.index(name)


def index_id(table: str) -> int:
    return next(i for i, (t, _) in enumerate(DEFINITION.index_ids) if t == table)


class Store:
    """A datastore of the definition's tables and its syscalls, inside one open transaction."""

    def __init__(self) -> None:
        built = DEFINITION
        self.datastore = Datastore(built.tables, built.typespace, built.classes)
        self.sys = Syscalls(DEFINITION, self.datastore)
        self.env = CallEnv(self.datastore.begin())

    def call(self, op: int, body: bytes, env: CallEnv | None = None) -> tuple[int, bytes]:
        """(status, payload) of the reply: status 0 ok, 1 errno (payload: code), 2 trap."""
        reply = self.sys.handle(env or self.env, bytes([op]) + body)
        length, kind, status = struct.unpack_from("<IBB", reply)
        assert (length, kind) == (len(reply) - 4, K_REPLY)
        return status, reply[6:]

    def ok(self, op: int, body: bytes) -> bytes:
        status, payload = self.call(op, body)
        assert status == 0, (status, payload)
        return payload

    def errno(self, op: int, body: bytes, env: CallEnv | None = None) -> int:
        status, payload = self.call(op, body, env)
        assert status == 1, (status, payload)
        (code,) = struct.unpack_from("<H", payload)
        return code


def rows_of(payload: bytes, codec: bsatn.Codec) -> list[dict[str, int]]:
    (count,) = struct.unpack_from("<I", payload)
    lengths = struct.unpack_from(f"<{count}I", payload, 4)
    data, rows, offset = payload[4 + 4 * count :], [], 0
    for n in lengths:
        rows.append(codec.decode(data[offset : offset + n]))
        offset += n
    assert offset == len(data)
    return rows


def bound(kind: str, value: int | None, encode: Callable[[int], bytes]) -> bytes:
    tag = {"included": 0, "excluded": 1, "unbounded": 2}[kind]
    return bytes([tag]) + (b"" if kind == "unbounded" else encode(value))  # type: ignore[arg-type]


def range_body(index: int, lo: bytes, hi: bytes) -> bytes:
    return struct.pack("<IHIII", index, 0, 0, len(lo), len(hi)) + lo + hi


def in_range(v: int, lo: tuple[str, int], hi: tuple[str, int]) -> bool:
    (lk, lv), (hk, hv) = lo, hi
    above = lk == "unbounded" or (v > lv if lk == "excluded" else v >= lv)
    below = hk == "unbounded" or (v < hv if hk == "excluded" else v <= hv)
    return above and below


kinds = st.sampled_from(["included", "excluded", "unbounded"])


@pytest.mark.parametrize(
    ("table", "codec", "values"),
    [
        ("btree_u_32", U32_PAIR, st.lists(st.integers(0, 40), max_size=25)),
        ("unique_i_32", I32_PAIR, st.lists(st.integers(-20, 20), max_size=25, unique=True)),
    ],
    ids=["btree", "unique"],
)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_range_scans_match_a_sorted_filter(
    table: str, codec: bsatn.Codec, values: st.SearchStrategy[list[int]], data: st.DataObject
) -> None:
    store = Store()
    inserted = data.draw(values)
    for i, v in enumerate(inserted):
        assert (
            store.ok(
                S_INSERT, struct.pack("<I", table_id(table)) + codec.encode({"n": v, "data": i})
            )
            == b""
        )
    column = T.U32 if codec is U32_PAIR else T.I32
    key = bsatn.codec_for(column).encode
    lo = (data.draw(kinds), data.draw(st.integers(-25, 45)))
    hi = (data.draw(kinds), data.draw(st.integers(-25, 45)))
    if column == T.U32:
        lo, hi = (lo[0], max(lo[1], 0)), (hi[0], max(hi[1], 0))
    body = range_body(index_id(table), bound(*lo, key), bound(*hi, key))
    got = [(r["n"], r["data"]) for r in rows_of(store.ok(S_SCAN_RANGE, body), codec)]
    expected = sorted((v, i) for i, v in enumerate(inserted) if in_range(v, lo, hi))
    if table == "btree_u_32":  # rows with equal keys come in insertion order
        assert [n for n, _ in got] == [n for n, _ in expected]
        assert sorted(got) == expected
    else:
        assert got == expected
    deleted = store.ok(S_DELETE_RANGE, body)
    assert struct.unpack("<I", deleted)[0] == len(expected)
    remaining = rows_of(store.ok(S_TABLE_SCAN, struct.pack("<I", table_id(table))), codec)
    assert sorted(r["n"] for r in remaining) == sorted(
        v for v in inserted if not in_range(v, lo, hi)
    )


def test_insert_writes_back_generated_values_and_errors_map_to_errnos() -> None:
    store = Store()
    scheduled = table_id("scheduled_table")
    every_second = ScheduleAt.Interval(TimeDuration(1_000_000))
    row = {"scheduled_id": 0, "scheduled_at": every_second, "text": "hi"}
    body = struct.pack("<I", scheduled) + SCHEDULED.encode(row)
    # The generated id comes back as the product of the generated columns: one u64.
    assert store.ok(S_INSERT, body) == struct.pack("<Q", 1)
    assert store.ok(S_INSERT, body) == struct.pack("<Q", 2)
    row["scheduled_id"] = 10  # not the trigger value: kept, nothing generated
    assert store.ok(S_INSERT, struct.pack("<I", scheduled) + SCHEDULED.encode(row)) == b""

    pk = table_id("pk_u_32")
    pk_index = index_id("pk_u_32")
    assert store.ok(S_INSERT, struct.pack("<I", pk) + U32_PAIR.encode({"n": 1, "data": 1})) == b""
    duplicate = struct.pack("<I", pk) + U32_PAIR.encode({"n": 1, "data": 2})
    assert store.errno(S_INSERT, duplicate) == UNIQUE_ALREADY_EXISTS
    update = struct.pack("<II", pk, pk_index)
    assert store.ok(S_UPDATE, update + U32_PAIR.encode({"n": 1, "data": 5})) == b""
    missing = update + U32_PAIR.encode({"n": 9, "data": 5})
    assert store.errno(S_UPDATE, missing) == NO_SUCH_ROW
    btree = struct.pack("<II", table_id("btree_u_32"), index_id("btree_u_32"))
    assert store.errno(S_UPDATE, btree + U32_PAIR.encode({"n": 1, "data": 1})) == INDEX_NOT_UNIQUE
    assert store.errno(S_INSERT, struct.pack("<I", 9999) + b"") == NO_SUCH_TABLE
    assert store.errno(S_SCAN_POINT, struct.pack("<I", 9999)) == NO_SUCH_INDEX
    assert store.errno(S_INSERT, struct.pack("<I", pk) + b"\x01") == BSATN_DECODE_ERROR
    # A point must be the whole key, nothing more.
    point = struct.pack("<I", pk_index) + struct.pack("<I", 1)
    assert rows_of(store.ok(S_SCAN_POINT, point), U32_PAIR) == [{"n": 1, "data": 5}]
    assert store.errno(S_SCAN_POINT, point + b"\x00") == BSATN_DECODE_ERROR
    # Outside a transaction (a procedure between transactions), in a view (read-only).
    assert store.errno(S_INSERT, duplicate, CallEnv(None)) == NOT_IN_TRANSACTION
    assert store.errno(S_INSERT, duplicate, CallEnv(None, read_only=True)) == (
        TRANSACTION_IS_READ_ONLY
    )


def test_ranges_on_a_hash_index_are_refused() -> None:
    # sdk-test-ts has no hash index: make one of a btree index's entry.
    store = Store()
    index = store.sys.indexes[index_id("btree_u_32")]
    index.schema = dataclasses.replace(index.schema, algorithm="hash")
    body = range_body(index_id("btree_u_32"), b"\x02", b"\x02")
    assert store.errno(S_SCAN_RANGE, body) == WRONG_INDEX_ALGO
