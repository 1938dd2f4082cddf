"""Client-side indexes over a table cache: unique (hash) and btree (sorted) indexes.

- :class:`UniqueIndex` answers ``find(value)`` with one dict lookup (O(1)); a table's
  primary key is a unique index.
- :class:`BTreeIndex` answers ``filter(value)``, ``filter(Range(...))`` and multi-column
  prefix queries ``filter((a, b))`` / ``filter((a, Range(lt=b)))`` with two binary searches
  over a sorted list (O(log n + k)).

The sorted list is a plain Python list kept ordered with :mod:`bisect`.  One row costs one
``insort`` (a binary search plus a ``memmove`` of the tail: ~10 µs at 100k rows); a large batch
(a ``SubscribeApplied``) is appended and re-sorted at once, which Timsort turns into a single
merge of two sorted runs (~0.1 s for 100k rows).  That covers both shapes of traffic without a
dependency on ``sortedcontainers``.

Ordering of index keys (SATS order, with two documented choices):

- integers, strings, ``bytes``, :class:`~spacetimedb_sdk.Identity`,
  :class:`~spacetimedb_sdk.ConnectionId`, :class:`~spacetimedb_sdk.Timestamp`,
  :class:`~spacetimedb_sdk.TimeDuration` and ``uuid.UUID`` are their own keys (compared by
  value, no wrapping, so sorting stays cheap);
- floats compare numerically, NaN after every number (:data:`NAN_KEY`);
- ``None`` (an empty option) sorts **before** every present value (:data:`NONE_KEY`; Python's
  and Rust's ``Option`` order; the server's SATS order puts ``some`` first because its tag is
  0 — this only matters for ranges over optional columns);
- sums (enums, ``SumValue``, ``Ok``/``Err``, ``ScheduleAt``) order by variant index, then
  payload.  With :func:`order_key_for_type` the index is exact; the type-less fallback
  :func:`generic_order_key` orders a ``SumValue`` by its tag *name* (it has no variant list)
  and an ``enum.Enum`` by definition order;
- products order field by field, arrays lexicographically.

A column holds values of one SATS type, so keys of one index are always comparable; a query
value of another type (``filter("5")`` on an integer column) raises :class:`TypeError`.

Example (indexes live in a :class:`~spacetimedb_sdk.client.cache.TableCache`)::

    >>> from spacetimedb_sdk.client.cache import ClientCache, TableCache
    >>> from spacetimedb_sdk.protocol import messages as m
    >>> people = TableCache("person", lambda b: {"id": b[0], "age": b[1]},
    ...                     primary_key="id", btree=["age"])
    >>> rows = m.BsatnRowList.from_rows([bytes([1, 30]), bytes([2, 20]), bytes([3, 40])])
    >>> _ = ClientCache([people]).apply_query_rows(1, m.QueryRows([m.SingleTableRows("person", rows)]), +1)
    >>> [r["age"] for r in people.age.filter(Range(ge=25))]
    [30, 40]
    >>> people.id.find(2)
    {'id': 2, 'age': 20}
"""

from __future__ import annotations

import bisect
import dataclasses
import enum
import math
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

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
    ConnectionId,
    Err,
    Identity,
    Ok,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

RowT = TypeVar("RowT")

OrderKey = Callable[[Any], Any]
"""Maps a column value to a value that sorts in SATS order (see the module docstring)."""


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


class Range:
    """Bounds on the last queried column of a btree index, for ``filter(Range(...))``.

    Give at most one lower bound (``ge`` inclusive or ``gt`` exclusive) and at most one
    upper bound (``le`` inclusive or ``lt`` exclusive); a missing side is unbounded.
    ``None`` is a valid bound (an empty option, which sorts first).

    Example::

        >>> Range(ge=10, lt=20)
        Range(ge=10, lt=20)
        >>> 15 in Range(ge=10, lt=20), 20 in Range(ge=10, lt=20)
        (True, False)
    """

    __slots__ = ("ge", "gt", "le", "lt")

    def __init__(
        self, *, ge: Any = _UNSET, gt: Any = _UNSET, le: Any = _UNSET, lt: Any = _UNSET
    ) -> None:
        if ge is not _UNSET and gt is not _UNSET:
            raise ValueError("Range takes at most one lower bound: ge= or gt=, not both")
        if le is not _UNSET and lt is not _UNSET:
            raise ValueError("Range takes at most one upper bound: le= or lt=, not both")
        self.ge = ge
        self.gt = gt
        self.le = le
        self.lt = lt

    def _bounds(self) -> Iterator[tuple[str, Any]]:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(self, name)
            if value is not _UNSET:
                yield name, value

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={v!r}" for n, v in self._bounds())
        return f"Range({inner})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return list(self._bounds()) == list(other._bounds())

    def __hash__(self) -> int:
        return hash(tuple(self._bounds()))

    def __contains__(self, value: Any) -> bool:
        return self.contains(value)

    def contains(self, value: Any, key: OrderKey | None = None) -> bool:
        """Whether ``value`` lies inside the bounds, comparing with ``key`` (default: generic order)."""
        k = key or generic_order_key
        v = k(value)
        if self.ge is not _UNSET and not v >= k(self.ge):
            return False
        if self.gt is not _UNSET and not v > k(self.gt):
            return False
        if self.le is not _UNSET and not v <= k(self.le):
            return False
        return not (self.lt is not _UNSET and not v < k(self.lt))


# ---- sentinels ---------------------------------------------------------------------------
#
# Order keys are the values themselves wherever Python already orders them (ints, strings,
# bytes, Identity, ...), so sorting 100k keys compares ints, not tuples.  Three sentinels fill
# the gaps: an empty option is below every value, a float NaN above every number, and TOP
# (used only in search probes) above everything, so ``(a, TOP)`` follows every ``(a, x)``.


class _Sentinel:
    __slots__ = ("_name", "_rank")

    def __init__(self, name: str, rank: int) -> None:
        self._name = name
        self._rank = rank  # 0: below all values; 1: above all values but TOP; 2: TOP

    def _cmp(self, other: object) -> int:
        if other is self:
            return 0
        if isinstance(other, _Sentinel):
            return -1 if self._rank < other._rank else 1
        return -1 if self._rank == 0 else 1

    def __lt__(self, other: object) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: object) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f"<{self._name}>"

    def __reduce__(self) -> str:
        return self._name.upper()


NONE_KEY: Any = _Sentinel("none_key", 0)
NAN_KEY: Any = _Sentinel("nan_key", 1)
_TOP: Any = _Sentinel("_top", 2)


# ---- order keys -------------------------------------------------------------------------

_PLAIN_TYPES = frozenset(
    {int, bool, str, bytes, Identity, ConnectionId, Timestamp, TimeDuration, uuid.UUID}
)


def generic_order_key(value: Any) -> Any:
    """An order key for any SDK value without knowing its type (see the module docstring).

    Example::

        >>> sorted([3, None, 1], key=generic_order_key)
        [None, 1, 3]
    """
    t = type(value)
    if t in _PLAIN_TYPES:
        return value
    if value is None:
        return NONE_KEY
    if t is float:
        return value if value == value else NAN_KEY
    if isinstance(value, enum.Enum):
        return _enum_position(value)
    if isinstance(value, SumValue):
        return (value.tag, generic_order_key(value.value))
    if isinstance(value, Some):
        return (generic_order_key(value.value),)
    if isinstance(value, Ok):
        return (0, generic_order_key(value.value))
    if isinstance(value, Err):
        return (1, generic_order_key(value.error))
    if isinstance(value, ScheduleAt.Interval):
        return (0, value.duration)
    if isinstance(value, ScheduleAt.Time):
        return (1, value.time)
    if isinstance(value, (list, tuple)):
        return tuple(generic_order_key(x) for x in value)
    if isinstance(value, dict):
        return tuple(generic_order_key(x) for x in value.values())
    if dataclasses.is_dataclass(value):
        return tuple(generic_order_key(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _enum_position(member: enum.Enum) -> int:
    return list(type(member)).index(member)


def _identity(value: Any) -> Any:
    return value


def _float_key(value: Any) -> Any:
    return value if value == value else NAN_KEY


def order_key_for_type(ty: AlgebraicType, typespace: Typespace | None = None) -> OrderKey:
    """Build an exact order key for values of ``ty`` (compiled once per column).

    Example::

        >>> key = order_key_for_type(AlgebraicType.option(AlgebraicType.U32))
        >>> sorted([5, None, 2], key=key)
        [None, 2, 5]
    """
    return _KeyBuilder(typespace or Typespace()).build(ty)


class _KeyBuilder:
    def __init__(self, typespace: Typespace) -> None:
        self.typespace = typespace
        self.refs: dict[int, OrderKey] = {}

    def build(self, ty: AlgebraicType) -> OrderKey:
        if isinstance(ty, RefType):
            return self._ref(ty.index)
        if isinstance(ty, PrimitiveType):
            return _float_key if ty.kind in ("F32", "F64") else _identity
        if isinstance(ty, ArrayType):
            if ty.is_bytes():
                return _identity
            elem = self.build(ty.elem)
            return lambda v: tuple(elem(x) for x in v)
        if isinstance(ty, ProductType):
            return self._product(ty)
        if isinstance(ty, SumType):
            return self._sum(ty)
        return generic_order_key

    def _ref(self, index: int) -> OrderKey:
        # Recursive types: look the compiled key up at call time.
        if index not in self.refs:
            self.refs[index] = generic_order_key
            self.refs[index] = self.build(self.typespace[index])
        refs = self.refs
        return lambda v: refs[index](v)

    def _product(self, ty: ProductType) -> OrderKey:
        if ty.special_kind() is not None:
            return _identity
        names = ty.names()
        keys = [self.build(e.algebraic_type) for e in ty.elements]

        def product_key(v: Any) -> Any:
            if isinstance(v, dict):
                return tuple(k(v[n]) for k, n in zip(keys, names, strict=True))
            if dataclasses.is_dataclass(v):
                vals = [getattr(v, f.name) for f in dataclasses.fields(v)]
                return tuple(k(x) for k, x in zip(keys, vals, strict=True))
            return generic_order_key(v)

        return product_key

    def _sum(self, ty: SumType) -> OrderKey:
        if ty.is_option():
            return self._option(ty)
        if ty.is_result():
            ok, err = (self.build(v.algebraic_type) for v in ty.variants)
            return lambda v: (0, ok(v.value)) if isinstance(v, Ok) else (1, err(v.error))
        if ty.is_schedule_at():
            return lambda v: (0, v.duration) if isinstance(v, ScheduleAt.Interval) else (1, v.time)
        index_of = {v.name: i for i, v in enumerate(ty.variants)}
        payload = [self.build(v.algebraic_type) for v in ty.variants]

        def sum_key(v: Any) -> Any:
            if isinstance(v, SumValue):
                i = index_of[v.tag]
                return (i, payload[i](v.value) if v.value is not None else NONE_KEY)
            if isinstance(v, enum.Enum):
                i = index_of.get(v.name, _enum_position(v))
                return (i, NONE_KEY)
            return generic_order_key(v)

        return sum_key

    def _option(self, ty: SumType) -> OrderKey:
        inner_ty = ty.variants[0].algebraic_type
        inner = self.build(inner_ty)
        resolved = self.typespace.resolve(inner_ty)
        if isinstance(resolved, SumType) and resolved.is_option():
            # Option<Option<T>>: the outer some wraps its value in Some(...); the 1-tuple keeps
            # some(none) apart from (and above) the outer none.
            return lambda v: (
                NONE_KEY if v is None else (inner(v.value if isinstance(v, Some) else v),)
            )
        return lambda v: NONE_KEY if v is None else inner(v)


# ---- hash keys ---------------------------------------------------------------------------

_HASHABLE_FAST = frozenset(
    {int, str, bytes, bool, Identity, ConnectionId, Timestamp, TimeDuration, uuid.UUID}
)
_NAN_KEY = ("<nan>",)


def hash_key(value: Any) -> Hashable:
    """A hashable stand-in for a column value (dicts and lists become tuples).

    Example::

        >>> hash_key({"x": 1, "y": [2, 3]})
        (('x', 1), ('y', (2, 3)))
    """
    if type(value) in _HASHABLE_FAST or value is None:
        return value  # type: ignore[no-any-return]
    if isinstance(value, dict):
        return tuple((k, hash_key(v)) for k, v in sorted(value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(hash_key(v) for v in value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, float):
        return _NAN_KEY if math.isnan(value) else value
    if isinstance(value, SumValue):
        return (SumValue, value.tag, hash_key(value.value))
    return value  # type: ignore[no-any-return]


# ---- index definitions -------------------------------------------------------------------


def column_getter(column: str) -> Callable[[Any], Any]:
    """Read ``column`` from a generic ``dict`` row or a generated dataclass row.

    Example::

        >>> column_getter("name")({"name": "Bob"})
        'Bob'
    """

    def get(row: Any) -> Any:
        if type(row) is dict:
            return row[column]
        return getattr(row, column)

    return get


@dataclasses.dataclass(frozen=True)
class IndexDef:
    """How to build one index of a table.

    ``columns`` are the indexed columns in order; ``unique`` selects a hash index with
    ``find`` instead of a btree index with ``filter``.  ``extract`` overrides how the key is
    read from a row (it must return the single column value, or a tuple for several columns);
    ``order_keys`` gives one :data:`OrderKey` per column (see :func:`order_key_for_type`),
    defaulting to :func:`generic_order_key`.

    Example::

        >>> IndexDef("by_owner_and_day", ("owner", "day"))
        IndexDef(name='by_owner_and_day', columns=('owner', 'day'), unique=False, extract=None, order_keys=None)
    """

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    extract: Callable[[Any], Any] | None = None
    order_keys: tuple[OrderKey, ...] | None = None

    def __post_init__(self) -> None:
        if not self.columns and self.extract is None:
            raise ValueError(f"index {self.name!r} needs at least one column")
        if self.order_keys is not None and len(self.order_keys) != len(self.columns):
            raise ValueError(
                f"index {self.name!r}: {len(self.order_keys)} order keys for "
                f"{len(self.columns)} columns"
            )

    def key_extractor(self) -> Callable[[Any], Any]:
        """The function row → column value (or tuple of values for several columns)."""
        if self.extract is not None:
            return self.extract
        getters = [column_getter(c) for c in self.columns]
        if len(getters) == 1:
            return getters[0]
        return lambda row: tuple(g(row) for g in getters)


class UniqueIndex(Generic[RowT]):
    """A unique (or primary-key) index: ``find(value)`` is one dict lookup.

    For a multi-column unique index pass a tuple with one value per column.

    Example::

        >>> idx = UniqueIndex("id", ("id",))
        >>> idx._add({"id": 7, "name": "Bob"})  # the table cache does this
        True
        >>> idx.find(7)["name"], idx.find(8)
        ('Bob', None)
    """

    def __init__(
        self, name: str, columns: Sequence[str], extract: Callable[[Any], Any] | None = None
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        self._extract = IndexDef(name, self.columns, True, extract).key_extractor()
        self._rows: dict[Hashable, RowT] = {}

    def find(self, value: Any) -> RowT | None:
        """The row whose indexed column(s) equal ``value``, or ``None``."""
        return self._rows.get(hash_key(value))

    def __len__(self) -> int:
        return len(self._rows)

    def __repr__(self) -> str:
        return f"UniqueIndex({self.name!r}, columns={self.columns!r}, rows={len(self._rows)})"

    def _key_of(self, row: RowT) -> Hashable:
        return hash_key(self._extract(row))

    def _add(self, row: RowT) -> bool:
        """Index ``row``; returns False (and replaces) if another row had the same key."""
        key = self._key_of(row)
        fresh = key not in self._rows
        self._rows[key] = row
        return fresh

    def _remove(self, row: RowT) -> None:
        key = self._key_of(row)
        if self._rows.get(key) is row:
            del self._rows[key]

    def _clear(self) -> None:
        self._rows.clear()


# Element of a btree's sorted list: the key components flattened, then the row's sequence
# number, then the row: ``(k1, ..., kn, seq, row)``.  Sequence numbers are unique per table, so
# comparisons never reach the row, and flat tuples keep comparisons one level deep.
_Item = tuple[Any, ...]

# Batches larger than this (and than 1/8 of the index) are merged by one sort.
_BULK_MIN = 32


class BTreeIndex(Generic[RowT]):
    """A btree index: equality, range and prefix queries over one or more columns.

    ``filter(v)`` matches the first column equal to ``v``; ``filter(Range(...))`` bounds the
    first column; a tuple is a prefix: every element but the last must be equal, the last may
    be a value or a :class:`Range`.  (A tuple is never a column value in the SDK's value
    model, so a tuple always means a prefix.)

    Example::

        >>> idx = BTreeIndex("by_pos", ("x", "y"))
        >>> idx._add_many([({"x": x, "y": y}, 10 * x + y) for x in range(3) for y in range(3)])
        >>> [(r["x"], r["y"]) for r in idx.filter((1, Range(gt=0)))]
        [(1, 1), (1, 2)]
    """

    def __init__(
        self,
        name: str,
        columns: Sequence[str],
        order_keys: Sequence[OrderKey] | None = None,
        extract: Callable[[Any], Any] | None = None,
    ) -> None:
        self.name = name
        self.columns = tuple(columns)
        n = len(self.columns)
        self._order_keys: tuple[OrderKey, ...] = (
            tuple(order_keys) if order_keys is not None else (generic_order_key,) * n
        )
        if len(self._order_keys) != n:
            raise ValueError(f"index {name!r}: {len(self._order_keys)} order keys for {n} columns")
        self._key_of = self._compile_key(IndexDef(name, self.columns, False, extract))
        self._items: list[_Item] = []

    def _compile_key(self, d: IndexDef) -> Callable[[Any], tuple[Any, ...]]:
        keys = self._order_keys
        if d.extract is None and len(keys) == 1:
            get, k = column_getter(self.columns[0]), keys[0]
            return lambda row: (k(get(row)),)
        raw = d.key_extractor()
        if len(keys) == 1:
            k = keys[0]
            return lambda row: (k(raw(row)),)
        return lambda row: tuple(k(v) for k, v in zip(keys, raw(row), strict=True))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"BTreeIndex({self.name!r}, columns={self.columns!r}, rows={len(self._items)})"

    def filter(self, value: Any) -> Iterator[RowT]:
        """The rows matching ``value`` (a value, a :class:`Range`, or a prefix tuple), in key order."""
        try:
            lo, hi = self._span(value)
        except TypeError as e:
            raise TypeError(
                f"index {self.name!r} on {self.columns!r}: cannot compare {value!r} "
                f"with the indexed values ({e})"
            ) from None
        return (item[-1] for item in self._items[lo:hi])

    def _span(self, value: Any) -> tuple[int, int]:
        parts = value if isinstance(value, tuple) else (value,)
        n = len(self.columns)
        if not parts:
            raise ValueError(f"index {self.name!r}: filter() needs at least one value")
        if len(parts) > n:
            raise ValueError(
                f"index {self.name!r} has {n} column(s) {self.columns!r}; "
                f"filter() got {len(parts)} values"
            )
        keys = self._order_keys
        for i, p in enumerate(parts[:-1]):
            if isinstance(p, Range):
                raise ValueError(
                    f"index {self.name!r}: a Range is only allowed as the last value "
                    f"(got one for column {self.columns[i]!r})"
                )
        prefix = tuple(keys[i](p) for i, p in enumerate(parts[:-1]))
        last = parts[-1]
        k = keys[len(parts) - 1]
        items = self._items
        left = bisect.bisect_left
        if not isinstance(last, Range):
            full = (*prefix, k(last))
            return left(items, full), left(items, (*full, _TOP))
        if last.ge is not _UNSET:
            lo = left(items, (*prefix, k(last.ge)))
        elif last.gt is not _UNSET:
            lo = left(items, (*prefix, k(last.gt), _TOP))
        else:
            lo = left(items, prefix)
        if last.le is not _UNSET:
            hi = left(items, (*prefix, k(last.le), _TOP))
        elif last.lt is not _UNSET:
            hi = left(items, (*prefix, k(last.lt)))
        else:
            hi = left(items, (*prefix, _TOP))
        return lo, max(lo, hi)

    def _add_many(self, rows: Iterable[tuple[RowT, int]]) -> None:
        """Index ``(row, seq)`` pairs; ``seq`` must be unique per row of the table."""
        key_of = self._key_of
        new: list[_Item] = [(*key_of(r), seq, r) for r, seq in rows]
        items = self._items
        if len(new) > _BULK_MIN and 8 * len(new) > len(items):
            new.sort()
            items.extend(new)
            items.sort()  # two sorted runs: Timsort merges them in one pass
        else:
            for item in new:
                bisect.insort(items, item)

    def _remove_many(self, rows: Iterable[tuple[RowT, int]]) -> None:
        """Drop ``(row, seq)`` pairs that were added with :meth:`_add_many`."""
        gone = list(rows)
        items = self._items
        if len(gone) > _BULK_MIN and 8 * len(gone) > len(items):
            dead = {seq for _, seq in gone}
            items[:] = [it for it in items if it[-2] not in dead]
            return
        for row, seq in gone:
            i = bisect.bisect_left(items, (*self._key_of(row), seq))
            if i < len(items) and items[i][-2] == seq:
                del items[i]
                continue
            # Keys that do not order consistently (a value type the order key does not know)
            # can hide an item from the binary search; a scan still keeps the index exact.
            for j, it in enumerate(items):
                if it[-2] == seq:
                    del items[j]
                    break

    def _clear(self) -> None:
        self._items.clear()


Index: TypeAlias = UniqueIndex[RowT] | BTreeIndex[RowT]

__all__ = [
    "NAN_KEY",
    "NONE_KEY",
    "BTreeIndex",
    "Index",
    "IndexDef",
    "OrderKey",
    "Range",
    "UniqueIndex",
    "column_getter",
    "generic_order_key",
    "hash_key",
    "order_key_for_type",
]
