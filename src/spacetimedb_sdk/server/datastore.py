"""The local server's in-memory, transactional datastore.

Tables hold the module's row objects (frozen dataclasses) keyed by a *row key*: a
hashable, totally ordered image of the row computed once per type by the shared
:class:`~spacetimedb_sdk.sats.ordering.KeyCompiler` (the client cache's btree indexes use
the same one, so both sides order values alike).  Two rows are the same row iff their keys are equal, which is
SpacetimeDB's set semantics (floats compare by bits, like BSATN).  Indexes are dicts
for unique indexes and hash indexes, and sorted lists searched with :mod:`bisect`
for btree indexes, so point lookups, prefix and range scans follow SATS ordering.

Transactions use an **undo log**: a write applies to the tables at once and records
how to reverse itself.  Reducers run one at a time (upstream serializes mutable
transactions too), so in-place writes need no isolation, a reducer reads its own
writes for free, and a rollback costs O(writes) instead of copying tables.  The net
changeset (rows inserted and deleted by the transaction, an insert cancelled by a
later delete of the same row and vice versa) is kept alongside and returned by
:meth:`Transaction.commit` as a :class:`TxResult`.  Sequences are *not* rolled
back, as upstream (a failed transaction leaves a gap).  Event tables hold their rows
only until the end of the transaction: inserts appear in the changeset and are
then dropped.

Errors raised by table operations carry upstream's texts:
:class:`UniqueConstraintViolation` (``crates/table/src/table.rs``),
:class:`NoSuchRow` and :class:`AutoIncOverflow` (``crates/primitives/src/errno.rs``).

Example::

    >>> ds = Datastore([schema_of_user], typespace)           # doctest: +SKIP
    >>> with ds.transaction() as tx:                           # doctest: +SKIP
    ...     tx.db.user.insert(User(identity=alice, name=None, online=True))
    >>> ds.last_result.inserts["user"]                         # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import math
import struct
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import BsatnEncodeError, SpacetimeDBError
from ..sats.ordering import INT_RANGES, KEY_MAX, SPECIAL_VALUES, KeyCompiler, KeyFn
from ..sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)
from ..sats.values import (
    Ok,
    ScheduleAt,
    SumValue,
)

_F32 = struct.Struct("<f")

# ---- errors ------------------------------------------------------------------------------------


class DatastoreError(SpacetimeDBError):
    """A table operation failed (constraint, missing row, misuse of a transaction)."""


class UniqueConstraintViolation(DatastoreError):
    """An insert or update would duplicate a unique column (or primary key) value.

    The message is upstream's: ``Unique constraint violation '<index>' in table
    '<table>': column(s): '["<col>"]' value: <SATN of the value>``.
    """

    def __init__(self, constraint: str, table: str, columns: Sequence[str], value: str) -> None:
        self.constraint_name = constraint
        self.table_name = table
        self.columns = tuple(columns)
        self.value = value
        cols = "[" + ", ".join(_rust_debug_str(c) for c in columns) + "]"
        super().__init__(
            f"Unique constraint violation '{constraint}' in table '{table}': "
            f"column(s): '{cols}' value: {value}"
        )


class NoSuchRow(DatastoreError):
    """``update`` found no row with the given primary key (upstream errno ``NO_SUCH_ROW``)."""

    MESSAGE = "The row was not found, e.g., in an update call"

    def __init__(self, detail: str = "") -> None:
        super().__init__(self.MESSAGE + (f" ({detail})" if detail else ""))


class AutoIncOverflow(DatastoreError):
    """An auto-increment sequence ran past its column type (errno ``AUTO_INC_OVERFLOW``)."""

    MESSAGE = "The auto-increment sequence overflowed"


def _rust_debug_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# ---- schema ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSchema:
    """One column: position, Python attribute (source name), canonical name and type."""

    col_id: int
    attr: str
    name: str
    algebraic_type: AlgebraicType


@dataclass(frozen=True)
class IndexSchema:
    """An index of a table.

    ``name`` is the canonical name (``{table}_{cols}_idx_btree``), ``source_name`` the
    module-side one, ``accessor`` the attribute under ``ctx.db.<table>``.
    """

    accessor: str
    source_name: str
    name: str
    algorithm: str  # "btree" | "hash" | "direct"
    columns: tuple[int, ...]
    unique: bool


@dataclass(frozen=True)
class SequenceSchema:
    """An auto-increment column; values start at ``start`` and grow by ``increment``."""

    col_id: int
    name: str
    start: int = 1
    increment: int = 1


@dataclass(frozen=True)
class ScheduleSchema:
    """A scheduled (timer) table: which function to call, and its id and time columns."""

    name: str
    function_name: str
    function_source_name: str
    at_column: int
    id_column: int


@dataclass(frozen=True)
class TableSchema:
    """Everything the datastore needs to know about one table.

    ``row_type`` is the module-side product (element names = Python attributes);
    ``columns`` carry the canonical names too.
    """

    accessor: str
    name: str
    row_class: type
    row_type: ProductType
    product_type_ref: int
    columns: tuple[ColumnSchema, ...]
    primary_key: int | None = None
    indexes: tuple[IndexSchema, ...] = ()
    unique_constraints: tuple[tuple[int, ...], ...] = ()
    sequences: tuple[SequenceSchema, ...] = ()
    schedule: ScheduleSchema | None = None
    is_event: bool = False
    public: bool = False
    default_values: Mapping[int, Any] = field(default_factory=dict)

    def column_by_attr(self, attr: str) -> ColumnSchema:
        """The column whose Python attribute is ``attr``."""
        for c in self.columns:
            if c.attr == attr:
                return c
        raise KeyError(attr)

    def constraint_name(self, cols: tuple[int, ...]) -> str:
        """The canonical unique-constraint name ``{table}_{cols}_key``."""
        return f"{self.name}_{'_'.join(self.columns[c].name for c in cols)}_key"


# ---- SATN (the server's text form of values, used in error messages) ---------------------------


def _rust_float(x: float, kind: str) -> str:
    """Rust's ``Display`` of a float: shortest round-trip digits, never an exponent."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if kind == "F32":
        digits = next(
            s
            for p in range(1, 10)
            if _F32.unpack(_F32.pack(float(s := f"{x:.{p}g}")))[0] == _F32.unpack(_F32.pack(x))[0]
        )
    else:
        digits = repr(x)
    import decimal

    text = format(decimal.Decimal(digits), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def satn(ty: AlgebraicType, value: Any, typespace: Typespace, classes: Mapping[int, type]) -> str:
    """Format ``value`` like upstream's untyped ``AlgebraicValue::to_satn``.

    Products are ``(0 = a, 1 = b)`` (element indices, not names), sums ``( = payload)``,
    arrays ``[a, b]``, bytes ``0x…``, strings quoted without escaping.

    Example::

        >>> satn(AlgebraicType.identity(), Identity(5), Typespace(()), {})
        '(0 = 5)'
    """
    cls: type | None = None
    if isinstance(ty, RefType):
        cls = classes.get(ty.index)
        ty = typespace.resolve(ty)
    if isinstance(ty, PrimitiveType):
        if ty.kind == "Bool":
            return "true" if value else "false"
        if ty.kind == "String":
            return f'"{value}"'
        if ty.kind in ("F32", "F64"):
            return _rust_float(float(value), ty.kind)
        return str(int(value))
    if isinstance(ty, ArrayType):
        if ty.is_bytes():
            return "0x" + bytes(value).hex()
        return "[" + ", ".join(satn(ty.elem, x, typespace, classes) for x in value) + "]"
    if isinstance(ty, ProductType):
        special = ty.special_kind()
        if special is not None:
            return f"(0 = {SPECIAL_VALUES[special][1](value)})"
        names = ty.names()
        items = []
        for i, (e, n) in enumerate(zip(ty.elements, names, strict=True)):
            v = value[n] if isinstance(value, Mapping) else getattr(value, n)
            items.append(f"{i} = {satn(e.algebraic_type, v, typespace, classes)}")
        return "(" + ", ".join(items) + ")"
    assert isinstance(ty, SumType)
    tag, payload = _sum_parts(ty, value, typespace, cls)
    return f"( = {satn(ty.variants[tag].algebraic_type, payload, typespace, classes)})"


def _sum_parts(ty: SumType, value: Any, typespace: Typespace, cls: type | None) -> tuple[int, Any]:
    if ty.is_option():
        if value is None:
            return 1, {}
        if typespace.resolve(ty.variants[0].algebraic_type).is_option():
            return 0, value.value
        return 0, value
    if ty.is_schedule_at():
        if isinstance(value, ScheduleAt.Interval):
            return 0, value.duration
        return 1, value.time
    if ty.is_result():
        return (0, value.value) if isinstance(value, Ok) else (1, value.error)
    if isinstance(value, enum.Enum):
        return list(type(value)).index(value), {}
    if isinstance(value, SumValue):
        return ty.variant_index(value.tag), {} if value.value is None else value.value
    assert cls is not None
    tag = list(cls.__dict__["__sats_variants__"]).index(type(value))
    if ty.variants[tag].algebraic_type.is_unit():
        return tag, {}
    return tag, value.value


# ---- index bounds ------------------------------------------------------------------------------

# Closes prefix and range scans: ``(*prefix, _TOP)`` follows every entry starting with prefix.
_TOP = KEY_MAX


@dataclass(frozen=True)
class Range:
    """A range of index keys for btree ``filter``/``delete``: ``start`` ≤ key < ``stop``.

    ``None`` leaves that end unbounded; ``start_inclusive``/``stop_inclusive`` choose
    the bound kinds (upstream's ``Bound::Included``/``Excluded``).  A Python ``range``
    with step 1 is accepted as the equivalent half-open range.

    Example::

        >>> Range(5, 10, stop_inclusive=True)
        Range(start=5, stop=10, start_inclusive=True, stop_inclusive=True)
    """

    start: Any = None
    stop: Any = None
    start_inclusive: bool = True
    stop_inclusive: bool = False


# ---- tables ------------------------------------------------------------------------------------


class _BTree:
    """A non-unique ordered index: sorted ``colkeys + (rowkey,)`` tuples."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []

    def add(self, ck: tuple[Any, ...], rk: Hashable) -> None:
        bisect.insort(self.entries, (*ck, rk))

    def remove(self, ck: tuple[Any, ...], rk: Hashable) -> None:
        entry = (*ck, rk)
        i = bisect.bisect_left(self.entries, entry)
        if i < len(self.entries) and self.entries[i] == entry:
            del self.entries[i]

    def scan(self, lo: tuple[Any, ...], hi: tuple[Any, ...]) -> list[Hashable]:
        i = bisect.bisect_left(self.entries, lo)
        j = bisect.bisect_left(self.entries, hi)
        return [e[-1] for e in self.entries[i:j]]


class _Hash:
    """A non-unique hash index: key → ordered set of row keys."""

    __slots__ = ("buckets",)

    def __init__(self) -> None:
        self.buckets: dict[tuple[Any, ...], dict[Hashable, None]] = {}

    def add(self, ck: tuple[Any, ...], rk: Hashable) -> None:
        self.buckets.setdefault(ck, {})[rk] = None

    def remove(self, ck: tuple[Any, ...], rk: Hashable) -> None:
        bucket = self.buckets.get(ck)
        if bucket is not None:
            bucket.pop(rk, None)
            if not bucket:
                del self.buckets[ck]


class TableStore:
    """The rows and indexes of one table (no transaction logic; see :class:`Transaction`).

    Example::

        >>> store.count(), [r.name for r in store.iter_rows()]    # doctest: +SKIP
        (1, ['alice'])
    """

    def __init__(self, schema: TableSchema, keys: KeyCompiler) -> None:
        self.schema = schema
        self._keys = keys
        self.row_key: KeyFn = keys.key(RefType(schema.product_type_ref), schema.name)
        self.rows: dict[Hashable, Any] = {}
        self._order: dict[Hashable, int] = {}
        self._counter = 0
        col_keys = [keys.key(c.algebraic_type, f"{schema.name}.{c.name}") for c in schema.columns]
        self.col_key = col_keys
        self._attrs = [c.attr for c in schema.columns]
        self.unique: dict[str, dict[tuple[Any, ...], Hashable]] = {}
        self.btree: dict[str, _BTree] = {}
        self.hash: dict[str, _Hash] = {}
        for ix in schema.indexes:
            if ix.unique:
                self.unique[ix.name] = {}
            elif ix.algorithm == "hash":
                self.hash[ix.name] = _Hash()
            else:
                self.btree[ix.name] = _BTree()
        self.sequence_next: dict[int, int] = {s.col_id: s.start for s in schema.sequences}

    # -- keys

    def index_key(self, ix: IndexSchema, row: Any) -> tuple[Any, ...]:
        """The key of ``row`` in index ``ix`` (a tuple, one element per column)."""
        return tuple(self.col_key[c](getattr(row, self._attrs[c])) for c in ix.columns)

    def value_key(self, ix: IndexSchema, values: Sequence[Any]) -> tuple[Any, ...]:
        """The key of explicit column values (a prefix of ``ix.columns``)."""
        return tuple(self.col_key[c](v) for c, v in zip(ix.columns, values, strict=False))

    # -- raw mutation (used by transactions)

    def _add(self, rk: Hashable, row: Any, order: int | None = None) -> None:
        self.rows[rk] = row
        if order is None:
            self._counter += 1
            order = self._counter
        self._order[rk] = order
        for ix in self.schema.indexes:
            ck = self.index_key(ix, row)
            if ix.unique:
                self.unique[ix.name][ck] = rk
            elif ix.algorithm == "hash":
                self.hash[ix.name].add(ck, rk)
            else:
                self.btree[ix.name].add(ck, rk)

    def _remove(self, rk: Hashable) -> tuple[Any, int]:
        row = self.rows.pop(rk)
        order = self._order.pop(rk)
        for ix in self.schema.indexes:
            ck = self.index_key(ix, row)
            if ix.unique:
                if self.unique[ix.name].get(ck) == rk:
                    del self.unique[ix.name][ck]
            elif ix.algorithm == "hash":
                self.hash[ix.name].remove(ck, rk)
            else:
                self.btree[ix.name].remove(ck, rk)
        return row, order

    def _restore_order(self) -> None:
        self.rows = dict(sorted(self.rows.items(), key=lambda kv: self._order[kv[0]]))

    def _clear_all(self) -> None:
        self.rows.clear()
        self._order.clear()
        for u in self.unique.values():
            u.clear()
        for b in self.btree.values():
            b.entries.clear()
        for h in self.hash.values():
            h.buckets.clear()

    # -- reads

    def count(self) -> int:
        """The number of rows."""
        return len(self.rows)

    def iter_rows(self) -> Iterator[Any]:
        """The rows, oldest first (a snapshot: safe to modify the table while iterating)."""
        return iter(list(self.rows.values()))

    def index(self, name_or_accessor: str) -> IndexSchema:
        """An index by accessor or canonical name."""
        for ix in self.schema.indexes:
            if name_or_accessor in (ix.name, ix.accessor):
                return ix
        raise KeyError(f"table {self.schema.name!r} has no index {name_or_accessor!r}")

    def find(self, ix: IndexSchema, values: Sequence[Any]) -> Any | None:
        """The row whose unique index ``ix`` has exactly ``values``, if any."""
        rk = self.unique[ix.name].get(self.value_key(ix, values))
        return None if rk is None else self.rows[rk]

    def scan(self, ix: IndexSchema, prefix: Sequence[Any], rng: Range | None) -> list[Any]:
        """Rows of index ``ix`` matching a prefix of column values and an optional range
        on the next column, in index order (unique and hash indexes: points only)."""
        if ix.unique or ix.algorithm == "hash":
            if rng is not None or len(prefix) != len(ix.columns):
                raise DatastoreError(
                    f"index {ix.name!r} supports only point lookups on all its columns"
                )
            ck = self.value_key(ix, prefix)
            if ix.unique:
                rk = self.unique[ix.name].get(ck)
                return [] if rk is None else [self.rows[rk]]
            return [self.rows[rk] for rk in self.hash[ix.name].buckets.get(ck, {})]
        pk = self.value_key(ix, prefix)
        if rng is None:
            lo, hi = pk, (*pk, _TOP)
        else:
            col_key = self.col_key[ix.columns[len(prefix)]]
            if rng.start is None:
                lo = pk
            else:
                s = col_key(rng.start)
                lo = (*pk, s) if rng.start_inclusive else (*pk, s, _TOP)
            if rng.stop is None:
                hi = (*pk, _TOP)
            else:
                e = col_key(rng.stop)
                hi = (*pk, e, _TOP) if rng.stop_inclusive else (*pk, e)
        return [self.rows[rk] for rk in self.btree[ix.name].scan(lo, hi)]

    def satn_of(self, ix: IndexSchema, row: Any) -> str:
        """The SATN of ``row``'s value in ``ix`` (for constraint messages)."""
        cols = [self.schema.columns[c] for c in ix.columns]
        ts, classes = self._keys.typespace, self._keys.classes
        parts = [satn(c.algebraic_type, getattr(row, c.attr), ts, classes) for c in cols]
        if len(parts) == 1:
            return parts[0]
        return "(" + ", ".join(f"{i} = {p}" for i, p in enumerate(parts)) + ")"


# ---- transactions ------------------------------------------------------------------------------


@dataclass
class TxResult:
    """The net effect of a committed transaction, per canonical table name.

    ``inserts``/``deletes`` list rows in the order the transaction first touched
    them; only tables with changes appear.  A row updated through its primary key
    shows up as a delete of the old row plus an insert of the new one.  Event-table
    rows appear in ``inserts`` only.
    """

    inserts: dict[str, list[Any]] = field(default_factory=dict)
    deletes: dict[str, list[Any]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """Whether the transaction changed nothing."""
        return not self.inserts and not self.deletes

    def tables(self) -> list[str]:
        """Names of the tables with changes, inserts' tables first."""
        return list(dict.fromkeys([*self.inserts, *self.deletes]))


@dataclass
class _Changes:
    inserted: dict[Hashable, Any] = field(default_factory=dict)
    deleted: dict[Hashable, Any] = field(default_factory=dict)


class Transaction:
    """One mutable transaction over a :class:`Datastore` (undo log + net changeset).

    Use :meth:`Datastore.begin`, then table writes through :attr:`db` (or the
    methods below), then :meth:`commit` or :meth:`rollback`.
    """

    def __init__(self, datastore: Datastore) -> None:
        self._ds = datastore
        self._undo: list[tuple[TableStore, bool, Hashable, Any, int]] = []
        self._changes: dict[str, _Changes] = {}
        self.open = True
        self.db = DbView(datastore, self)

    def _check_open(self) -> None:
        if not self.open:
            raise DatastoreError("this transaction has already been committed or rolled back")

    def _changes_of(self, store: TableStore) -> _Changes:
        ch = self._changes.get(store.schema.name)
        if ch is None:
            ch = self._changes[store.schema.name] = _Changes()
        return ch

    def _record_insert(self, store: TableStore, rk: Hashable, row: Any) -> None:
        store._add(rk, row)
        self._undo.append((store, True, rk, row, 0))
        ch = self._changes_of(store)
        if rk in ch.deleted:
            del ch.deleted[rk]
        else:
            ch.inserted[rk] = row

    def _record_delete(self, store: TableStore, rk: Hashable) -> Any:
        row, order = store._remove(rk)
        self._undo.append((store, False, rk, row, order))
        ch = self._changes_of(store)
        if rk in ch.inserted:
            del ch.inserted[rk]
        else:
            ch.deleted[rk] = row
        return row

    # -- writes

    def _fill_sequences(self, store: TableStore, row: Any, skip: tuple[int, ...] = ()) -> Any:
        changes: dict[str, int] = {}
        for seq in store.schema.sequences:
            col = store.schema.columns[seq.col_id]
            if seq.col_id in skip or getattr(row, col.attr) != 0:
                continue
            value = store.sequence_next[seq.col_id]
            kind = col.algebraic_type.kind if isinstance(col.algebraic_type, PrimitiveType) else ""
            lo, hi = INT_RANGES.get(kind, (-(1 << 255), (1 << 256) - 1))
            if not lo <= value <= hi:
                raise AutoIncOverflow(AutoIncOverflow.MESSAGE)
            store.sequence_next[seq.col_id] = value + seq.increment
            changes[col.attr] = value
        return dataclasses.replace(row, **changes) if changes else row

    def _check_unique(self, store: TableStore, row: Any, replacing: Hashable | None) -> None:
        for ix in store.schema.indexes:
            if not ix.unique:
                continue
            other = store.unique[ix.name].get(store.index_key(ix, row))
            if other is not None and other != replacing:
                raise UniqueConstraintViolation(
                    ix.name,
                    store.schema.name,
                    [store.schema.columns[c].name for c in ix.columns],
                    store.satn_of(ix, row),
                )

    def insert(self, table: str, row: Any) -> Any:
        """Insert ``row`` into ``table`` (canonical name or accessor); returns the stored row.

        Auto-increment columns holding ``0`` get their next sequence value.  Inserting
        a row identical to a present one is a no-op (set semantics).
        """
        self._check_open()
        store = self._ds.store(table)
        if not isinstance(row, store.schema.row_class):
            raise BsatnEncodeError(
                f"expected a {store.schema.row_class.__qualname__} row, got {type(row).__name__}",
                path=store.schema.name,
            )
        row = self._fill_sequences(store, row)
        rk = store.row_key(row)
        if rk in store.rows:
            return store.rows[rk]
        self._check_unique(store, row, None)
        self._record_insert(store, rk, row)
        return row

    def delete(self, table: str, row: Any) -> bool:
        """Delete the row equal to ``row``; ``False`` if there was none."""
        self._check_open()
        store = self._ds.store(table)
        rk = store.row_key(row)
        if rk not in store.rows:
            return False
        self._record_delete(store, rk)
        return True

    def delete_where(self, table: str, index: str, prefix: Sequence[Any], rng: Range | None) -> int:
        """Delete the rows an index scan finds; returns how many were deleted."""
        self._check_open()
        store = self._ds.store(table)
        rows = store.scan(store.index(index), prefix, rng)
        for r in rows:
            self._record_delete(store, store.row_key(r))
        return len(rows)

    def update(self, table: str, index: str, row: Any) -> Any:
        """Replace the row with the same value in unique ``index`` by ``row``.

        Raises :class:`NoSuchRow` if there is none; other unique indexes are checked
        before anything changes.  The changeset gets a delete of the old row and an
        insert of the new one (nothing if they are equal).
        """
        self._check_open()
        store = self._ds.store(table)
        ix = store.index(index)
        if not ix.unique:
            raise DatastoreError(f"update needs a unique index, {ix.name!r} is not")
        if not isinstance(row, store.schema.row_class):
            raise BsatnEncodeError(
                f"expected a {store.schema.row_class.__qualname__} row, got {type(row).__name__}",
                path=store.schema.name,
            )
        old_rk = store.unique[ix.name].get(store.index_key(ix, row))
        if old_rk is None:
            raise NoSuchRow(f"no row of {store.schema.name!r} has that {ix.accessor!r}")
        row = self._fill_sequences(store, row, skip=ix.columns)
        new_rk = store.row_key(row)
        if new_rk == old_rk:
            return store.rows[old_rk]
        self._check_unique(store, row, old_rk)
        self._record_delete(store, old_rk)
        self._record_insert(store, new_rk, row)
        return row

    def clear(self, table: str) -> int:
        """Delete every row of ``table``; returns how many there were."""
        self._check_open()
        store = self._ds.store(table)
        keys = list(store.rows)
        for rk in keys:
            self._record_delete(store, rk)
        return len(keys)

    # -- end

    def commit(self) -> TxResult:
        """Make the writes permanent and return the net changeset."""
        self._check_open()
        result = TxResult()
        for name, ch in self._changes.items():
            if ch.inserted:
                result.inserts[name] = list(ch.inserted.values())
            if ch.deleted and not self._ds.store(name).schema.is_event:
                result.deletes[name] = list(ch.deleted.values())
        for store in self._ds.stores.values():
            if store.schema.is_event and store.rows:
                store._clear_all()
        self._finish()
        return result

    def rollback(self) -> None:
        """Undo every write of this transaction (sequences keep their advance)."""
        self._check_open()
        touched: set[str] = set()
        for store, was_insert, rk, row, order in reversed(self._undo):
            if was_insert:
                store._remove(rk)
            else:
                store._add(rk, row, order)
                touched.add(store.schema.name)
        for name in touched:
            self._ds.store(name)._restore_order()
        self._finish()

    def _finish(self) -> None:
        self._undo.clear()
        self._changes.clear()
        self.open = False
        self._ds._active = None


class Datastore:
    """The tables of one database, and the one open transaction at a time.

    Example::

        >>> ds = Datastore(tables, typespace, classes)                 # doctest: +SKIP
        >>> with ds.transaction() as tx:                                # doctest: +SKIP
        ...     tx.db.message.insert(Message(sender=me, sent=now, text="hi"))
    """

    def __init__(
        self,
        tables: Sequence[TableSchema],
        typespace: Typespace,
        classes: Mapping[int, type] | None = None,
    ) -> None:
        self.typespace = typespace
        self.keys = KeyCompiler(typespace, classes or {})
        self.stores: dict[str, TableStore] = {}
        self._by_accessor: dict[str, TableStore] = {}
        for schema in tables:
            store = TableStore(schema, self.keys)
            self.stores[schema.name] = store
            self._by_accessor[schema.accessor] = store
        self._active: Transaction | None = None
        self.last_result: TxResult | None = None

    def store(self, table: str) -> TableStore:
        """A table by canonical name or accessor."""
        store = self.stores.get(table) or self._by_accessor.get(table)
        if store is None:
            raise KeyError(f"no table named {table!r}")
        return store

    @property
    def active(self) -> Transaction | None:
        """The open transaction, if any."""
        return self._active

    def begin(self) -> Transaction:
        """Open the (single) mutable transaction."""
        if self._active is not None:
            raise DatastoreError("a transaction is already open; commit or roll it back first")
        self._active = Transaction(self)
        return self._active

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run a block in a transaction: commit on success (result in :attr:`last_result`),
        roll back if it raises."""
        tx = self.begin()
        try:
            yield tx
        except BaseException:
            if tx.open:
                tx.rollback()
            raise
        if tx.open:
            self.last_result = tx.commit()

    def read_view(self) -> DbView:
        """A read-only ``db`` over the current state (for views and tests)."""
        return DbView(self, None)


# ---- the module-facing handles: ctx.db.<table>.<index> ------------------------------------------


class DbView:
    """``ctx.db``: one attribute per table accessor (``ctx.db.user``).

    Example::

        >>> ctx.db.user.identity.find(ctx.sender)                  # doctest: +SKIP
    """

    def __init__(self, datastore: Datastore, tx: Transaction | None) -> None:
        self._ds = datastore
        self._tx = tx
        self._handles: dict[str, TableHandle] = {}

    def __getattr__(self, name: str) -> TableHandle:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> TableHandle:
        handle = self._handles.get(name)
        if handle is None:
            try:
                store = self._ds.store(name)
            except KeyError:
                raise AttributeError(f"the module has no table {name!r}") from None
            handle = self._handles[name] = TableHandle(store, self._tx)
        return handle

    def __dir__(self) -> list[str]:
        return sorted(s.schema.accessor for s in self._ds.stores.values())


class TableHandle:
    """One table inside a reducer: ``insert``, ``delete``, ``count``, ``iter``, indexes.

    Index accessors are attributes named after them (``ctx.db.user.identity``), or
    :meth:`index` when a name collides with a method.
    """

    def __init__(self, store: TableStore, tx: Transaction | None) -> None:
        self._store = store
        self._tx = tx

    def _writer(self) -> Transaction:
        if self._tx is None or not self._tx.open:
            raise DatastoreError(
                f"table {self._store.schema.name!r} is read-only here (no open transaction)"
            )
        return self._tx

    def insert(self, row: Any) -> Any:
        """Insert a row; returns it with auto-increment columns filled."""
        return self._writer().insert(self._store.schema.name, row)

    def delete(self, row: Any) -> bool:
        """Delete the row equal to ``row``; ``True`` if it was present."""
        return self._writer().delete(self._store.schema.name, row)

    def clear(self) -> int:
        """Delete every row; returns how many there were."""
        return self._writer().clear(self._store.schema.name)

    def count(self) -> int:
        """The number of rows."""
        return self._store.count()

    def iter(self) -> Iterator[Any]:
        """The rows, oldest first (a snapshot)."""
        return self._store.iter_rows()

    def __iter__(self) -> Iterator[Any]:
        return self._store.iter_rows()

    def __len__(self) -> int:
        return self._store.count()

    def index(self, accessor: str) -> UniqueIndexHandle | BTreeIndexHandle:
        """The index handle named ``accessor`` (or by its canonical index name)."""
        try:
            ix = self._store.index(accessor)
        except KeyError as e:
            raise AttributeError(str(e.args[0])) from None
        if ix.unique:
            return UniqueIndexHandle(self, ix)
        return BTreeIndexHandle(self, ix)

    def __getattr__(self, name: str) -> Any:
        # ``Any``: which kind of index an accessor is depends on the module's schema.
        if name.startswith("_"):
            raise AttributeError(name)
        return self.index(name)


class UniqueIndexHandle:
    """A unique column's accessor: ``find``, ``delete`` and (primary key) ``update``."""

    def __init__(self, table: TableHandle, ix: IndexSchema) -> None:
        self._t = table
        self._ix = ix

    def _values(self, value: Any) -> tuple[Any, ...]:
        if len(self._ix.columns) == 1:
            return (value,)
        if not isinstance(value, tuple) or len(value) != len(self._ix.columns):
            raise TypeError(f"index {self._ix.accessor!r} needs a tuple of {len(self._ix.columns)}")
        return value

    def find(self, value: Any) -> Any | None:
        """The row with this value, or ``None``."""
        return self._t._store.find(self._ix, self._values(value))

    def delete(self, value: Any) -> bool:
        """Delete the row with this value; ``True`` if there was one."""
        return (
            self._t._writer().delete_where(
                self._t._store.schema.name, self._ix.name, self._values(value), None
            )
            > 0
        )

    def update(self, row: Any) -> Any:
        """Replace the row having ``row``'s key by ``row`` (primary keys only, as upstream)."""
        schema = self._t._store.schema
        if schema.primary_key is None or self._ix.columns != (schema.primary_key,):
            raise DatastoreError(
                f"update is only available on the primary key of {schema.name!r}, "
                f"not on {self._ix.accessor!r}; delete then insert instead"
            )
        return self._t._writer().update(schema.name, self._ix.name, row)


class BTreeIndexHandle:
    """A non-unique index: ``filter`` and ``delete`` by value, prefix tuple or :class:`Range`."""

    def __init__(self, table: TableHandle, ix: IndexSchema) -> None:
        self._t = table
        self._ix = ix

    def _split(self, arg: Any) -> tuple[tuple[Any, ...], Range | None]:
        values: tuple[Any, ...] = arg if isinstance(arg, tuple) else (arg,)
        if len(values) > len(self._ix.columns):
            raise TypeError(
                f"index {self._ix.accessor!r} has {len(self._ix.columns)} columns, got {len(values)} values"
            )
        last = values[-1] if values else None
        if isinstance(last, range):
            if last.step != 1:
                raise ValueError("only ranges with step 1 can scan an index")
            last = Range(last.start, last.stop)
        if isinstance(last, Range):
            return values[:-1], last
        return values, None

    def filter(self, arg: Any) -> Iterator[Any]:
        """Rows whose indexed columns equal ``arg`` (a value, or a tuple prefix whose last
        element may be a :class:`Range`), in index order."""
        prefix, rng = self._split(arg)
        return iter(self._t._store.scan(self._ix, prefix, rng))

    def delete(self, arg: Any) -> int:
        """Delete what :meth:`filter` would return; returns the count."""
        prefix, rng = self._split(arg)
        return self._t._writer().delete_where(
            self._t._store.schema.name, self._ix.name, prefix, rng
        )


__all__ = [
    "AutoIncOverflow",
    "BTreeIndexHandle",
    "ColumnSchema",
    "Datastore",
    "DatastoreError",
    "DbView",
    "IndexSchema",
    "KeyCompiler",
    "NoSuchRow",
    "Range",
    "ScheduleSchema",
    "SequenceSchema",
    "TableHandle",
    "TableSchema",
    "TableStore",
    "Transaction",
    "TxResult",
    "UniqueConstraintViolation",
    "UniqueIndexHandle",
    "satn",
]
