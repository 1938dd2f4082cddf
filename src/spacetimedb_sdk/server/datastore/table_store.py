"""The rows and indexes of one table: :class:`TableStore`, and :class:`Range` for index scans.

Tables hold the module's row objects (frozen dataclasses) keyed by a *row key*: a hashable,
totally ordered image of the row computed once per type by the shared
:class:`~spacetimedb_sdk.sats.ordering.KeyCompiler` (the client cache's btree indexes use the same
one, so both sides order values alike).  Two rows are the same row iff their keys are equal,
which is SpacetimeDB's set semantics (floats compare by bits, like BSATN).  Indexes are dicts for
unique indexes and hash indexes, and sorted lists searched with :mod:`bisect` for btree indexes,
so point lookups, prefix and range scans follow SATS ordering.

This is storage only, without transaction logic (see :mod:`.transaction`): the data directory
(:mod:`..durability`) rebuilds these stores from a snapshot (:meth:`TableStore.load`) and replays
its commit log into them (:meth:`~.datastore.Datastore.replay`).
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ...sats.ordering import KEY_MAX, KeyCompiler, KeyFn
from ...sats.types import RefType
from .errors import DatastoreError
from .satn import satn
from .schema import IndexSchema, TableSchema

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

    def load(self, rows: Sequence[Any]) -> None:
        """Add rows known to be valid and distinct (a snapshot's) without per-row index upkeep.

        Into an empty table, each btree index is sorted once instead of kept sorted row by row
        (n log n rather than quadratic); into a non-empty one, rows are added one by one.
        """
        if self.rows:
            for row in rows:
                self._add(self.row_key(row), row)
            return
        keyed = [(self.row_key(row), row) for row in rows]
        self.rows = dict(keyed)
        self._order = {rk: i for i, (rk, _) in enumerate(keyed, 1)}
        self._counter = len(keyed)
        for ix in self.schema.indexes:
            pairs = [(self.index_key(ix, row), rk) for rk, row in keyed]
            if ix.unique:
                self.unique[ix.name] = dict(pairs)
            elif ix.algorithm == "hash":
                bucket = self.hash[ix.name]
                for ck, rk in pairs:
                    bucket.add(ck, rk)
            else:
                self.btree[ix.name].entries = sorted((*ck, rk) for ck, rk in pairs)

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


class Tables(Protocol):
    """The tables of one database by canonical name or accessor, as transactions and handles see them.

    :class:`~.datastore.Datastore` is the implementation.  Transactions and the module-facing
    handles sit below it in the import order and see it through this protocol only.
    """

    stores: dict[str, TableStore]

    def store(self, table: str) -> TableStore:
        """A table by canonical name or accessor (``KeyError`` if there is none)."""
        ...
