"""Upstream's ``test-client`` helpers for the ``sdk-test`` module, in Python.

``sdks/rust/tests/test-client/src``: ``SUBSCRIBE_ALL`` and ``assert_all_tables_empty`` (in
``test_handlers.rs``), and the three per-table helpers the per-type scenarios are made of:

- :func:`insert_one` (``simple_test_table.rs``): call ``insert_<table>(value)`` and expect one
  ``on_insert`` with that value, caused by this client's call of that reducer;
- :func:`insert_then_delete_one` (``unique_test_table.rs``): insert ``(key, value)``, then
  ``delete_<table>(key)``, expecting ``on_delete`` (and no update);
- :func:`insert_update_delete_one` (``pk_test_table.rs``): insert ``(key, 0xbeef)``, update it to
  ``0xbabe`` (one ``on_update(old, new)``, not a delete and an insert), then delete it.

Tables and reducers are named by their accessors in the generated bindings (``one_u8``,
``insert_one_u8``), which are the Rust module's; events name reducers canonically
(``insert_one_u_8``).  The fixed values (``every_primitive_struct`` & co.) are upstream's.
"""

from __future__ import annotations

import uuid
from types import ModuleType
from typing import Any

from harness import Checks, is_reducer_event

from spacetimedb_sdk import ConnectionId, Identity, TimeDuration, Timestamp
from spacetimedb_sdk.client.events import ReducerEvent
from spacetimedb_sdk.schema.names import to_snake_case

#: ``SUBSCRIBE_ALL``: a query per table the scenarios use, as upstream writes them.
SUBSCRIBE_ALL = [
    f"SELECT * FROM {name};"
    for name in [
        *(f"one_{t}" for t in ("u_8", "u_16", "u_32", "u_64", "u_128", "u_256")),
        *(f"one_{t}" for t in ("i_8", "i_16", "i_32", "i_64", "i_128", "i_256")),
        "one_bool", "one_f_32", "one_f_64", "one_string", "one_identity", "one_connection_id",
        "one_timestamp", "one_uuid", "one_simple_enum", "one_enum_with_payload",
        "one_unit_struct", "one_byte_struct", "one_every_primitive_struct",
        "one_every_vec_struct",
        *(f"vec_{t}" for t in ("u_8", "u_16", "u_32", "u_64", "u_128", "u_256")),
        *(f"vec_{t}" for t in ("i_8", "i_16", "i_32", "i_64", "i_128", "i_256")),
        "vec_bool", "vec_f_32", "vec_f_64", "vec_string", "vec_identity", "vec_connection_id",
        "vec_timestamp", "vec_uuid", "vec_simple_enum", "vec_enum_with_payload",
        "vec_unit_struct", "vec_byte_struct", "vec_every_primitive_struct",
        "vec_every_vec_struct",
        "option_i_32", "option_string", "option_identity", "option_uuid", "option_simple_enum",
        "option_every_primitive_struct", "option_vec_option_i_32",
        *(f"unique_{t}" for t in ("u_8", "u_16", "u_32", "u_64", "u_128", "u_256")),
        *(f"unique_{t}" for t in ("i_8", "i_16", "i_32", "i_64", "i_128", "i_256")),
        "unique_bool", "unique_string", "unique_identity", "unique_connection_id", "unique_uuid",
        *(f"pk_{t}" for t in ("u_8", "u_16", "u_32", "u_64", "u_128", "u_256")),
        *(f"pk_{t}" for t in ("i_8", "i_16", "i_32", "i_64", "i_128", "i_256")),
        "pk_bool", "pk_string", "pk_identity", "pk_connection_id", "pk_uuid",
        "large_table", "table_holds_table",
    ]
]  # fmt: skip

_INTS = ("u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256")
_VALUES = (*_INTS, "bool", "f32", "f64", "string", "identity", "connection_id")

#: The tables ``assert_all_tables_empty`` checks, by accessor.
ALL_TABLES = [
    *(f"one_{t}" for t in _VALUES),
    "one_timestamp", "one_uuid", "one_simple_enum", "one_enum_with_payload", "one_unit_struct",
    "one_byte_struct", "one_every_primitive_struct", "one_every_vec_struct",
    *(f"vec_{t}" for t in _VALUES),
    "vec_timestamp", "vec_uuid", "vec_simple_enum", "vec_enum_with_payload", "vec_unit_struct",
    "vec_byte_struct", "vec_every_primitive_struct", "vec_every_vec_struct",
    "option_i32", "option_string", "option_identity", "option_uuid", "option_simple_enum",
    "option_every_primitive_struct", "option_vec_option_i32",
    *(f"unique_{t}" for t in (*_INTS, "bool", "string", "identity", "connection_id", "uuid")),
    *(f"pk_{t}" for t in (*_INTS, "bool", "string", "identity", "connection_id", "uuid")),
    "large_table", "table_holds_table",
]  # fmt: skip

#: The column of each one_/vec_ table, by the value type in its name.
FIELD = {
    **dict.fromkeys(_INTS, "n"),
    "bool": "b", "f32": "f", "f64": "f", "string": "s", "identity": "i", "connection_id": "a",
    "uuid": "u", "timestamp": "t", "simple_enum": "e", "enum_with_payload": "e",
    "unit_struct": "s", "byte_struct": "s", "every_primitive_struct": "s",
    "every_vec_struct": "s", "vec_option_i32": "v",
}  # fmt: skip


def assert_all_tables_empty(ctx: Any) -> None:
    """Each test runs on a fresh database: every table is empty until a reducer inserts."""
    for name in ALL_TABLES:
        count = getattr(ctx.db, name).count()
        assert count == 0, f"expected table {name} to be empty, but found {count} rows resident"


def canonical(reducer: str) -> str:
    """The canonical (wire) name of a reducer accessor, as events carry it."""
    return to_snake_case(reducer)


def table_field(table: str) -> str:
    """The column of a one_/vec_ table (``one_u8`` -> ``n``)."""
    return FIELD[table.split("_", 1)[1]]


def _reducer_committed(checks: Checks, reducer: str) -> Any:
    """``T::insert``'s callback: the call committed and its event names ``reducer``."""

    def callback(ctx: Any) -> None:
        if not is_reducer_event(ctx, canonical(reducer)):
            checks.unexpected(f"{reducer}: expected a committed call, got {ctx.event!r}")

    return callback


def on_insert_one(
    ctx: Any, checks: Checks, table: str, value: Any, reducer: str, *, name: str | None = None
) -> None:
    """Expect one ``on_insert`` on ``table`` whose column holds ``value``, caused by ``reducer``."""
    check = checks.add(name or f"insert-{table}")
    field = table_field(table)

    def on_insert(ev: Any, row: Any) -> None:
        if check.done:
            return
        with check:
            found = getattr(row, field)
            assert found == value, f"unexpected row value: expected {value!r} but found {row!r}"
            assert isinstance(ev.event, ReducerEvent), f"expected a reducer event, got {ev.event!r}"
            assert ev.event.reducer.name == canonical(reducer), ev.event.reducer

    getattr(ctx.db, table).on_insert(on_insert)


def insert_one(ctx: Any, checks: Checks, table: str, value: Any) -> None:
    """``insert_one``: ``insert_<table>(value)`` and its one ``on_insert``."""
    reducer = f"insert_{table}"
    on_insert_one(ctx, checks, table, value, reducer)
    getattr(ctx.reducers, reducer).then(_reducer_committed(checks, reducer), value)


def insert_then_delete_one(ctx: Any, checks: Checks, table: str, key: Any, value: int) -> None:
    """``insert_then_delete_one`` on a ``unique_*`` table."""
    inserted = checks.add(f"insert-{table}")
    deleted = checks.add(f"delete-{table}")
    suffix = table.removeprefix("unique_")
    field = FIELD[suffix]
    handle = getattr(ctx.db, table)

    def on_delete(ev: Any, row: Any) -> None:
        if deleted.done:
            return
        with deleted:
            assert (getattr(row, field), row.data) == (key, value), row
            assert is_reducer_event(ev, canonical(f"delete_{table}")), ev.event

    def on_insert(ev: Any, row: Any) -> None:
        if inserted.done:
            return
        with inserted:
            assert (getattr(row, field), row.data) == (key, value), row
            assert is_reducer_event(ev, canonical(f"insert_{table}")), ev.event
        handle.on_delete(on_delete)
        getattr(ev.reducers, f"delete_{table}").then(
            _reducer_committed(checks, f"delete_{table}"), key
        )

    handle.on_insert(on_insert)  # (no on_update: tables without a primary key have no updates)
    getattr(ctx.reducers, f"insert_{table}").then(
        _reducer_committed(checks, f"insert_{table}"), key, value
    )


def insert_update_delete_one(
    ctx: Any, checks: Checks, table: str, key: Any, initial: int, updated: int
) -> None:
    """``insert_update_delete_one`` on a ``pk_*`` table."""
    inserted = checks.add(f"insert-{table}")
    was_updated = checks.add(f"update-{table}")
    deleted = checks.add(f"delete-{table}")
    field = FIELD[table.removeprefix("pk_")]
    handle = getattr(ctx.db, table)

    def on_delete(ev: Any, row: Any) -> None:
        if deleted.done:
            return
        with deleted:
            assert (getattr(row, field), row.data) == (key, updated), row
            assert is_reducer_event(ev, canonical(f"delete_{table}")), ev.event

    def on_update(ev: Any, old: Any, new: Any) -> None:
        if was_updated.done:
            return
        with was_updated:
            assert (getattr(old, field), old.data) == (key, initial), old
            assert (getattr(new, field), new.data) == (key, updated), new
            assert is_reducer_event(ev, canonical(f"update_{table}")), ev.event
        handle.on_delete(on_delete)
        getattr(ev.reducers, f"delete_{table}").then(
            _reducer_committed(checks, f"delete_{table}"), key
        )

    def on_insert(ev: Any, row: Any) -> None:
        if inserted.done:
            return
        with inserted:
            assert (getattr(row, field), row.data) == (key, initial), row
            assert is_reducer_event(ev, canonical(f"insert_{table}")), ev.event
        handle.on_update(on_update)
        getattr(ev.reducers, f"update_{table}").then(
            _reducer_committed(checks, f"update_{table}"), key, updated
        )

    handle.on_insert(on_insert)
    getattr(ctx.reducers, f"insert_{table}").then(
        _reducer_committed(checks, f"insert_{table}"), key, initial
    )


# ---- upstream's fixed values ----------------------------------------------------------------

#: ``fixed_test_timestamp()``
FIXED_TIMESTAMP = Timestamp(1_706_000_000_000_000)

_U128 = 0x0102_0304_0506_0708_090A_0B0C_0D0E_0F10
_U128_HIGH_WORD = _U128
_U128_LOW_WORD = 0x1112_1314_1516_1718_191A_1B1C_1D1E_1F20
#: ``u256::from_words(hi, lo)``
_U256 = (_U128_HIGH_WORD << 128) | _U128_LOW_WORD


def every_primitive_struct(b: ModuleType) -> Any:
    """Every byte non-zero and asymmetric, so that endianness bugs show."""
    return b.EveryPrimitiveStruct(
        a=0x01,
        b=0x0102,
        c=0x0102_0304,
        d=0x0102_0304_0506_0708,
        e=_U128,
        f=_U256,
        g=-0x01,
        h=-0x0102,
        i=-0x0102_0304,
        j=-0x0102_0304_0506_0708,
        k=-_U128,
        l=-_U256,
        m=False,
        n=1.0,
        o=-1.0,
        p="string",
        q=Identity.ZERO,
        r=ConnectionId.ZERO,
        s=Timestamp(9876543210),
        t=TimeDuration(-67_419_000_000_003),
        u=uuid.UUID(int=_U128),
    )


def every_vec_struct(b: ModuleType) -> Any:
    return b.EveryVecStruct(
        a=b"",
        b=[1],
        c=[2, 2],
        d=[3, 3, 3],
        e=[4, 4, 4, 4],
        f=[5] * 5,
        g=[-1],
        h=[-2, -2],
        i=[-3, -3, -3],
        j=[-4] * 4,
        k=[-5] * 5,
        l=[-6] * 6,
        m=[False, True, True, False],
        n=[0.0, -1.0, 1.0, -2.0, 2.0],
        o=[0.0, -0.5, 0.5, -1.5, 1.5],
        p=["vec", "of", "strings"],
        q=[Identity.ZERO],
        r=[ConnectionId.ZERO],
        s=[Timestamp(9876543210)],
        t=[TimeDuration(-67_419_000_000_003)],
        u=[uuid.UUID(int=0)],
    )


def large_table(b: ModuleType) -> Any:
    return b.LargeTable(
        a=0,
        b=1,
        c=2,
        d=3,
        e=4,
        f=5,
        g=0,
        h=-1,
        i=-2,
        j=-3,
        k=-4,
        l=-5,
        m=False,
        n=0.0,
        o=1.0,
        p="string",
        q=b.SimpleEnum.zero,
        r=b.EnumWithPayload.bool(False),
        s=b.UnitStruct(),
        t=b.ByteStruct(b=0b10101010),
        u=every_primitive_struct(b),
        v=every_vec_struct(b),
    )


def primitives_as_strings() -> list[str]:
    """``every_primitive_struct()``'s fields as Rust's ``to_string()`` prints them."""
    return [
        "1",
        "258",
        "16909060",
        "72623859790382856",
        str(_U128),
        str(_U256),
        "-1",
        "-258",
        "-16909060",
        "-72623859790382856",
        str(-_U128),
        str(-_U256),
        "false",
        "1",  # 1.0f32
        "-1",  # -1.0f64
        "string",
        "0" * 64,  # Identity::ZERO, hex
        "0" * 32,  # ConnectionId::ZERO, hex
        "1970-01-01T02:44:36.543210+00:00",  # chrono's to_rfc3339 of 9876543210 µs
        "-67419000.000003",  # TimeDuration: sign, seconds, six-digit micros
        "01020304-0506-0708-090a-0b0c0d0e0f10",
    ]
