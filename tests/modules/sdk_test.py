"""A Python port of upstream's ``modules/sdk-test`` (the module every official SDK is tested on).

Same schema as ``modules/sdk-test/src/lib.rs`` at SpacetimeDB commit fb72824: the same table
accessors and canonical names, columns, constraints, indexes, reducers (names, parameter names and
types), named types, visibility, schedule and row-level-security filters.  Upstream declares most
tables with its ``define_tables!`` macro; :func:`define_tables` below plays that part, declaring a
row class and its reducers from one line per table, so the tables read like upstream's lists.

Reducer bodies do what upstream's do.  An ``anyhow::Result`` error becomes a :class:`SenderError`
(the caller's ``Err`` outcome); a Rust panic (``insert`` on a duplicate key, ``unwrap``) is an
exception the host reports as an internal error.  ``insert_primitives_as_strings`` writes each
field the way Rust's ``to_string()`` prints it (:func:`rust_display`).

``tests/upstream/test_schema_equality.py`` checks the served schema against the definition the
official TypeScript twin (``modules/sdk-test-ts``) produces.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import inspect
import math
import struct
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from spacetimedb_sdk import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp
from spacetimedb_sdk.sats import (
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    I128,
    I256,
    U8,
    U16,
    U32,
    U64,
    U128,
    U256,
    Err,
    Ok,
)
from spacetimedb_sdk.server import Module, ReducerContext, SenderError, column, index, sum_type

module = Module("sdk-test")

# ---- named types -----------------------------------------------------------------------------


class SimpleEnum(enum.Enum):
    Zero = 0
    One = 1
    Two = 2


@sum_type
class EnumWithPayload:
    U8: U8
    U16: U16
    U32: U32
    U64: U64
    U128: U128
    U256: U256
    I8: I8
    I16: I16
    I32: I32
    I64: I64
    I128: I128
    I256: I256
    Bool: bool
    F32: F32
    F64: F64
    Str: str
    Identity: Identity
    ConnectionId: ConnectionId
    Timestamp: Timestamp
    Uuid: uuid.UUID
    Bytes: bytes
    Ints: list[I32]
    Strings: list[str]
    SimpleEnums: list[SimpleEnum]


@dataclasses.dataclass(frozen=True)
class UnitStruct:
    pass


@dataclasses.dataclass(frozen=True)
class ByteStruct:
    b: U8


@dataclasses.dataclass(frozen=True)
class EveryPrimitiveStruct:
    a: U8
    b: U16
    c: U32
    d: U64
    e: U128
    f: U256
    g: I8
    h: I16
    i: I32
    j: I64
    k: I128
    l: I256  # noqa: E741 (upstream's field name)
    m: bool
    n: F32
    o: F64
    p: str
    q: Identity
    r: ConnectionId
    s: Timestamp
    t: TimeDuration
    u: uuid.UUID


@dataclasses.dataclass(frozen=True)
class EveryVecStruct:
    a: bytes
    b: list[U16]
    c: list[U32]
    d: list[U64]
    e: list[U128]
    f: list[U256]
    g: list[I8]
    h: list[I16]
    i: list[I32]
    j: list[I64]
    k: list[I128]
    l: list[I256]  # noqa: E741 (upstream's field name)
    m: list[bool]
    n: list[F32]
    o: list[F64]
    p: list[str]
    q: list[Identity]
    r: list[ConnectionId]
    s: list[Timestamp]
    t: list[TimeDuration]
    u: list[uuid.UUID]


# Declared before the tables, as upstream's types are (the typespace order is not compared).
for _named in (SimpleEnum, EnumWithPayload, UnitStruct, ByteStruct, EveryPrimitiveStruct):
    module.add_type(_named)
module.add_type(EveryVecStruct)

# ---- define_tables!: a row class and its reducers per line -----------------------------------


def paste_snake(name: str) -> str:
    """``paste``'s ``[<$name:snake>]``: the accessor upstream's macro gives ``OneU8`` (``one_u8``)."""
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and name[i - 1] != "_":
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _reducer(name: str, params: list[tuple[str, Any]], body: Callable[..., None]) -> None:
    """Declare reducer ``name(ctx, *params)`` running ``body(ctx, **args)``."""

    def fn(ctx: ReducerContext, **args: Any) -> None:
        body(ctx, **args)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = __name__
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    fn.__signature__ = inspect.Signature(
        [ctx_param]
        + [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p, _ in params]
    )
    fn.__annotations__ = {"ctx": ReducerContext, **dict(params), "return": None}
    module.reducer(fn)


_ROWS: dict[str, type] = {}


def define_tables(
    name: str,
    ops: dict[str, str],
    fields: list[tuple[str, Any]],
    *,
    unique: str | None = None,
    primary_key: str | None = None,
) -> type:
    """One ``define_tables!`` entry: a public table ``name`` and the reducers ``ops`` names.

    ``ops`` maps an operation (``insert`` or ``insert_or_panic``, ``delete`` or ``delete_all`` by
    the whole row, ``update`` by the primary key, ``update_non_pk`` by the unique column,
    ``delete_by`` the key) to its reducer's name.
    """
    namespace: dict[str, Any] = {"__annotations__": dict(fields), "__module__": __name__}
    key = unique or primary_key
    if key is not None:
        namespace[key] = column(unique=unique is not None, primary_key=primary_key is not None)
    accessor = paste_snake(name)
    row = module.table(public=True, accessor=accessor)(type(name, (), namespace))
    _ROWS[name] = row

    def table(ctx: ReducerContext) -> Any:
        return getattr(ctx.db, accessor)

    for op, reducer in ops.items():
        if op in ("insert", "insert_or_panic"):
            _reducer(reducer, fields, lambda ctx, **a: table(ctx).insert(row(**a)))
        elif op in ("delete", "delete_all"):
            _reducer(reducer, fields, lambda ctx, **a: table(ctx).delete(row(**a)))
        elif op == "update":
            assert key is not None
            _reducer(
                reducer, fields, lambda ctx, _k=key, **a: getattr(table(ctx), _k).update(row(**a))
            )
        elif op == "update_non_pk":
            assert key is not None

            def update_non_pk(ctx: ReducerContext, _k: str = key, **a: Any) -> None:
                getattr(table(ctx), _k).delete(a[_k])
                table(ctx).insert(row(**a))

            _reducer(reducer, fields, update_non_pk)
        elif op == "delete_by":
            assert key is not None
            key_type = dict(fields)[key]
            _reducer(
                reducer,
                [(key, key_type)],
                lambda ctx, _k=key, **a: getattr(table(ctx), _k).delete(a[_k]),
            )
        else:
            raise ValueError(f"unknown define_tables op {op!r}")
    return row


# (type name in table names, Python annotation, column name in one_/vec_ tables)
_SINGLE_VALUES: list[tuple[str, Any, str]] = [
    ("U8", U8, "n"),
    ("U16", U16, "n"),
    ("U32", U32, "n"),
    ("U64", U64, "n"),
    ("U128", U128, "n"),
    ("U256", U256, "n"),
    ("I8", I8, "n"),
    ("I16", I16, "n"),
    ("I32", I32, "n"),
    ("I64", I64, "n"),
    ("I128", I128, "n"),
    ("I256", I256, "n"),
    ("Bool", bool, "b"),
    ("F32", F32, "f"),
    ("F64", F64, "f"),
    ("String", str, "s"),
    ("Identity", Identity, "i"),
    ("ConnectionId", ConnectionId, "a"),
    ("Uuid", uuid.UUID, "u"),
    ("Timestamp", Timestamp, "t"),
    ("SimpleEnum", SimpleEnum, "e"),
    ("EnumWithPayload", EnumWithPayload, "e"),
    ("UnitStruct", UnitStruct, "s"),
    ("ByteStruct", ByteStruct, "s"),
    ("EveryPrimitiveStruct", EveryPrimitiveStruct, "s"),
    ("EveryVecStruct", EveryVecStruct, "s"),
]

# Tables holding a single value; tables holding a Vec of it.
for _prefix, _wrap in (("One", lambda t: t), ("Vec", lambda t: bytes if t is U8 else list[t])):
    for _ty_name, _ty, _field in _SINGLE_VALUES:
        _snake = paste_snake(_prefix + _ty_name)
        _ops = {"insert": f"insert_{_snake}"}
        if _ty_name != "ConnectionId":  # upstream declares no delete_all for these two
            _ops["delete_all"] = f"delete_all_{_snake}"
        define_tables(_prefix + _ty_name, _ops, [(_field, _wrap(_ty))])

# Tables holding an Option of various types.
for _name, _field, _ty in [
    ("OptionI32", "n", I32 | None),
    ("OptionString", "s", str | None),
    ("OptionIdentity", "i", Identity | None),
    ("OptionUuid", "u", uuid.UUID | None),
    ("OptionSimpleEnum", "e", SimpleEnum | None),
    ("OptionEveryPrimitiveStruct", "s", EveryPrimitiveStruct | None),
    ("OptionVecOptionI32", "v", list[I32 | None] | None),
]:
    _snake = paste_snake(_name)
    define_tables(
        _name, {"insert": f"insert_{_snake}", "delete_all": f"delete_all_{_snake}"}, [(_field, _ty)]
    )

# Tables holding a Result of various types.
for _name, _ty in [
    ("ResultI32String", Ok[I32] | Err[str]),
    ("ResultStringI32", Ok[str] | Err[I32]),
    ("ResultIdentityString", Ok[Identity] | Err[str]),
    ("ResultSimpleEnumI32", Ok[SimpleEnum] | Err[I32]),
    ("ResultEveryPrimitiveStructString", Ok[EveryPrimitiveStruct] | Err[str]),
    ("ResultVecI32String", Ok[list[I32]] | Err[str]),
]:
    define_tables(_name, {"insert": f"insert_{paste_snake(_name)}"}, [("r", _ty)])

_KEYS: list[tuple[str, Any, str]] = [
    (n, t, f)
    for n, t, f in _SINGLE_VALUES
    if n not in ("F32", "F64", "Timestamp", "SimpleEnum", "EnumWithPayload") and "Struct" not in n
]

# Tables mapping a unique, but non-pk, key to a boring i32 payload.
for _ty_name, _ty, _field in _KEYS:
    _snake = paste_snake(_ty_name)
    define_tables(
        "Unique" + _ty_name,
        {
            "insert_or_panic": f"insert_unique_{_snake}",
            "delete_all": f"delete_all_unique_{_snake}",
            "update_non_pk": f"update_unique_{_snake}",
            "delete_by": f"delete_unique_{_snake}",
        },
        [(_field, _ty), ("data", I32)],
        unique=_field,
    )

# Tables mapping a primary key to a boring i32 payload.
for _ty_name, _ty, _field in [*_KEYS[:3], ("U32Two", U32, "n"), *_KEYS[3:]]:
    _snake = paste_snake(_ty_name)
    define_tables(
        "Pk" + _ty_name,
        {
            "insert_or_panic": f"insert_pk_{_snake}",
            "delete_all": f"delete_all_pk_{_snake}",
            "update": f"update_pk_{_snake}",
            "delete_by": f"delete_pk_{_snake}",
        },
        [(_field, _ty), ("data", I32)],
        primary_key=_field,
    )
PkSimpleEnum = define_tables(
    "PkSimpleEnum",
    {"insert_or_panic": "insert_pk_simple_enum"},
    [("a", SimpleEnum), ("data", I32)],
    primary_key="a",
)

PkU32 = _ROWS["PkU32"]
PkU32Two = _ROWS["PkU32Two"]
UniqueU32 = _ROWS["UniqueU32"]
OneIdentity, VecIdentity = _ROWS["OneIdentity"], _ROWS["VecIdentity"]
UniqueIdentity, PkIdentity = _ROWS["UniqueIdentity"], _ROWS["PkIdentity"]
OneConnectionId, VecConnectionId = _ROWS["OneConnectionId"], _ROWS["VecConnectionId"]
UniqueConnectionId, PkConnectionId = _ROWS["UniqueConnectionId"], _ROWS["PkConnectionId"]
OneTimestamp, OneUuid, PkUuid = _ROWS["OneTimestamp"], _ROWS["OneUuid"], _ROWS["PkUuid"]
VecString = _ROWS["VecString"]


@module.table(public=True, accessor="btree_u32")
class BTreeU32:
    n: U32 = column(index="btree")
    data: I32


@module.reducer
def update_pk_simple_enum(ctx: ReducerContext, a: SimpleEnum, data: I32) -> None:
    row = ctx.db.pk_simple_enum.a.find(a)
    if row is None:
        raise SenderError("row not found")
    ctx.db.pk_simple_enum.a.update(dataclasses.replace(row, data=data))


@module.reducer
def insert_into_btree_u32(ctx: ReducerContext, rows: list[BTreeU32]) -> None:
    for row in rows:
        ctx.db.btree_u32.insert(row)


@module.reducer
def delete_from_btree_u32(ctx: ReducerContext, rows: list[BTreeU32]) -> None:
    for row in rows:
        ctx.db.btree_u32.delete(row)


@module.reducer
def insert_into_pk_btree_u32(
    ctx: ReducerContext, pk_u32: list[PkU32], bt_u32: list[BTreeU32]
) -> None:
    for row in pk_u32:
        ctx.db.pk_u32.insert(row)
    for bt in bt_u32:
        ctx.db.btree_u32.insert(bt)


@module.reducer
def insert_unique_u32_update_pk_u32(ctx: ReducerContext, n: U32, d_unique: I32, d_pk: I32) -> None:
    """For the test that left-semijoins ``unique_u_32`` to ``pk_u_32`` (row deduplication)."""
    ctx.db.unique_u32.insert(UniqueU32(n=n, data=d_unique))
    ctx.db.pk_u32.n.update(PkU32(n=n, data=d_pk))


@module.reducer
def delete_pk_u32_insert_pk_u32_two(ctx: ReducerContext, n: U32, data: I32) -> None:
    """For the test with two semijoins, ``unique_u_32`` to ``pk_u_32`` and to ``pk_u_32_two``."""
    ctx.db.pk_u32_two.insert(PkU32Two(n=n, data=data))
    ctx.db.pk_u32.delete(PkU32(n=n, data=data))


def _caller_connection_id(ctx: ReducerContext) -> ConnectionId:
    if ctx.connection_id is None:
        raise SenderError("No connection id in reducer context")
    return ctx.connection_id


@module.reducer
def insert_caller_one_identity(ctx: ReducerContext) -> None:
    ctx.db.one_identity.insert(OneIdentity(i=ctx.sender))


@module.reducer
def insert_caller_vec_identity(ctx: ReducerContext) -> None:
    ctx.db.vec_identity.insert(VecIdentity(i=[ctx.sender]))


@module.reducer
def insert_caller_unique_identity(ctx: ReducerContext, data: I32) -> None:
    ctx.db.unique_identity.insert(UniqueIdentity(i=ctx.sender, data=data))


@module.reducer
def insert_caller_pk_identity(ctx: ReducerContext, data: I32) -> None:
    ctx.db.pk_identity.insert(PkIdentity(i=ctx.sender, data=data))


@module.reducer
def insert_caller_one_connection_id(ctx: ReducerContext) -> None:
    ctx.db.one_connection_id.insert(OneConnectionId(a=_caller_connection_id(ctx)))


@module.reducer
def insert_caller_vec_connection_id(ctx: ReducerContext) -> None:
    ctx.db.vec_connection_id.insert(VecConnectionId(a=[_caller_connection_id(ctx)]))


@module.reducer
def insert_caller_unique_connection_id(ctx: ReducerContext, data: I32) -> None:
    ctx.db.unique_connection_id.insert(UniqueConnectionId(a=_caller_connection_id(ctx), data=data))


@module.reducer
def insert_caller_pk_connection_id(ctx: ReducerContext, data: I32) -> None:
    ctx.db.pk_connection_id.insert(PkConnectionId(a=_caller_connection_id(ctx), data=data))


@module.reducer
def insert_call_timestamp(ctx: ReducerContext) -> None:
    ctx.db.one_timestamp.insert(OneTimestamp(t=ctx.timestamp))


@module.reducer
def insert_call_uuid_v4(ctx: ReducerContext) -> None:
    ctx.db.one_uuid.insert(OneUuid(u=ctx.new_uuid_v4()))


@module.reducer
def insert_call_uuid_v7(ctx: ReducerContext) -> None:
    ctx.db.one_uuid.insert(OneUuid(u=ctx.new_uuid_v7()))


@module.reducer
def insert_primitives_as_strings(ctx: ReducerContext, s: EveryPrimitiveStruct) -> None:
    fields = [getattr(s, f.name) for f in dataclasses.fields(EveryPrimitiveStruct)]
    kinds = ["int"] * 12 + ["bool", "f32", "f64"] + ["plain"] * 6
    ctx.db.vec_string.insert(
        VecString(s=[rust_display(v, k) for v, k in zip(fields, kinds, strict=True)])
    )


# Some weird-looking tables.
LargeTable = define_tables(
    "LargeTable",
    {"insert": "insert_large_table", "delete": "delete_large_table"},
    [
        ("a", U8),
        ("b", U16),
        ("c", U32),
        ("d", U64),
        ("e", U128),
        ("f", U256),
        ("g", I8),
        ("h", I16),
        ("i", I32),
        ("j", I64),
        ("k", I128),
        ("l", I256),
        ("m", bool),
        ("n", F32),
        ("o", F64),
        ("p", str),
        ("q", SimpleEnum),
        ("r", EnumWithPayload),
        ("s", UnitStruct),
        ("t", ByteStruct),
        ("u", EveryPrimitiveStruct),
        ("v", EveryVecStruct),
    ],
)

# A table which holds instances of other table structs (tables as types).
TableHoldsTable = define_tables(
    "TableHoldsTable",
    {"insert": "insert_table_holds_table"},
    [("a", _ROWS["OneU8"]), ("b", _ROWS["VecU8"])],
)


@module.reducer
def no_op_succeeds(ctx: ReducerContext) -> None:
    pass


module.client_visibility_filter("SELECT * FROM one_u_8")


@module.table(public=True, accessor="scheduled_table", scheduled="send_scheduled_message")
class ScheduledTable:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt
    text: str


@module.reducer
def send_scheduled_message(ctx: ReducerContext, arg: ScheduledTable) -> None:
    pass


@module.table(accessor="indexed_table")
class IndexedTable:
    player_id: U32 = column(index="btree")


@module.table(
    accessor="indexed_table_2",
    indexes=[index("player_id_snazz_index", btree=["player_id", "player_snazz"])],
)
class IndexedTable2:
    player_id: U32
    player_snazz: F32


module.client_visibility_filter("SELECT * FROM users WHERE identity = :sender")


@module.table(public=True, accessor="users")
class Users:
    identity: Identity = column(primary_key=True)
    name: str


@module.reducer
def insert_user(ctx: ReducerContext, name: str, identity: Identity) -> None:
    ctx.db.users.insert(Users(identity=identity, name=name))


@module.table(public=True, accessor="indexed_simple_enum")
class IndexedSimpleEnum:
    n: SimpleEnum = column(index="btree")


@module.reducer
def insert_into_indexed_simple_enum(ctx: ReducerContext, n: SimpleEnum) -> None:
    ctx.db.indexed_simple_enum.insert(IndexedSimpleEnum(n=n))


@module.reducer
def update_indexed_simple_enum(ctx: ReducerContext, a: SimpleEnum, b: SimpleEnum) -> None:
    if next(iter(ctx.db.indexed_simple_enum.n.filter(a)), None) is not None:
        ctx.db.indexed_simple_enum.n.delete(a)
        ctx.db.indexed_simple_enum.insert(IndexedSimpleEnum(n=b))


@module.reducer
def sorted_uuids_insert(ctx: ReducerContext) -> None:
    for _ in range(1000):
        ctx.db.pk_uuid.insert(PkUuid(u=ctx.new_uuid_v7(), data=0))
    # Verify the UUIDs are sorted, in the table's own iteration order (as upstream checks).
    last: uuid.UUID | None = None
    for row in ctx.db.pk_uuid:
        if last is not None and last.int >= row.u.int:
            raise SenderError("UUIDs are not sorted correctly")
        last = row.u


# ---- Rust's Display, for insert_primitives_as_strings ----------------------------------------


def rust_display(value: Any, kind: str) -> str:
    """``value.to_string()`` as the Rust module prints it.

    Integers in decimal; ``bool`` as ``true``/``false``; floats as Rust's ``Display`` (the
    shortest decimal that reads back to the same ``f32``/``f64``, never in exponent form, with no
    ``.0`` for whole numbers); ``Identity``/``ConnectionId`` as hex, ``Timestamp`` as chrono's
    RFC 3339 (``+00:00``, fraction of 0, 3, 6 or 9 digits), ``TimeDuration`` as ``±secs.micros``
    and a ``Uuid`` hyphenated.
    """
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("f32", "f64"):
        return _rust_float(float(value), f32=kind == "f32")
    if isinstance(value, Identity | ConnectionId):
        return value.to_hex()
    if isinstance(value, Timestamp):
        return _rfc3339(value)
    if isinstance(value, TimeDuration):
        sign = "-" if value.micros < 0 else "+"
        secs, micros = divmod(abs(value.micros), 1_000_000)
        return f"{sign}{secs}.{micros:06d}"
    return str(value)


def _rust_float(x: float, *, f32: bool) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = repr(x)
    if f32:
        bits = struct.pack("<f", x)
        for digits in range(1, 10):
            candidate = f"{x:.{digits}g}"
            if struct.pack("<f", float(candidate)) == bits:
                text = candidate
                break
    plain = format(Decimal(text), "f")
    if "." in plain:
        plain = plain.rstrip("0").rstrip(".")
    return "-0" if plain == "0" and math.copysign(1.0, x) < 0 else plain


def _rfc3339(ts: Timestamp) -> str:
    secs, micros = divmod(ts.micros, 1_000_000)
    dt = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=secs)
    frac = ""
    if micros:
        frac = f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + "+00:00"
