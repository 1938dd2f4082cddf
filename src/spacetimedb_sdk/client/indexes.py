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

Ordering of index keys is SATS order, the server's and upstream's ``AlgebraicValue`` order,
compiled once per column by the shared :class:`~spacetimedb_sdk.sats.ordering.KeyCompiler`
(see :mod:`spacetimedb_sdk.sats.ordering` for the full rules): integers, strings and ``bytes``
by value, identities and timestamps by their integer, floats by IEEE-754 total order (NaN after
every number), sums by variant index then payload, products field by field, arrays
lexicographically, and ``None`` (an empty option, tag 1) **after** every present value, as the
server and the Rust SDK's btree indexes put it.  The type-less fallback
:func:`generic_order_key` agrees with that, except that it orders a ``SumValue`` by its tag
*name* (it has no variant list).

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
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

from ..errors import BsatnEncodeError
from ..sats.ordering import KEY_MAX, NONE_KEY, SPECIAL_VALUES, KeyCompiler, float_key
from ..sats.types import AlgebraicType, Typespace
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
    ``None`` is a valid bound (an empty option, which sorts after every value).

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
        """Whether ``value`` lies inside the bounds, comparing with ``key`` (default: generic order).

        Example::

            >>> Range(gt=1, le=3).contains(3), Range(gt=1, le=3).contains(1)
            (True, False)
        """
        k = key or generic_order_key
        v = k(value)
        if self.ge is not _UNSET and not v >= k(self.ge):
            return False
        if self.gt is not _UNSET and not v > k(self.gt):
            return False
        if self.le is not _UNSET and not v <= k(self.le):
            return False
        return not (self.lt is not _UNSET and not v < k(self.lt))


# ---- order keys -------------------------------------------------------------------------

_PLAIN_TYPES = frozenset({int, bool, str, bytes})
_SPECIAL_INT: dict[type, Callable[[Any], int]] = dict(SPECIAL_VALUES.values())
_TOP: Any = KEY_MAX


def generic_order_key(value: Any) -> Any:
    """An order key for any SDK value without knowing its type (see the module docstring).

    It agrees with :func:`order_key_for_type` for the column's type, except that a
    ``SumValue`` orders by tag name.

    Example::

        >>> sorted([3, None, 1], key=generic_order_key)
        [1, 3, None]
    """
    t = type(value)
    if t in _PLAIN_TYPES:
        return value
    if value is None:
        return NONE_KEY
    special = _SPECIAL_INT.get(t)
    if special is not None:
        return special(value)
    if t is float:
        return float_key(value)
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
        return (0, value.duration.micros)
    if isinstance(value, ScheduleAt.Time):
        return (1, value.time.micros)
    if isinstance(value, (list, tuple)):
        return tuple(generic_order_key(x) for x in value)
    if isinstance(value, dict):
        return tuple(generic_order_key(x) for x in value.values())
    fields = getattr(t, "__sats_fields__", None)
    if fields is not None:
        return tuple(generic_order_key(getattr(value, f)) for f in fields)
    if dataclasses.is_dataclass(value):
        return tuple(generic_order_key(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _enum_position(member: enum.Enum) -> int:
    return list(type(member)).index(member)


def order_key_for_type(
    ty: AlgebraicType,
    typespace: Typespace | None = None,
    classes: Mapping[int, type] | None = None,
) -> OrderKey:
    """Build an exact order key for values of ``ty`` (compiled once per column).

    ``classes`` is the bindings' typespace index → row class map (the ``bsatn`` contract),
    so keys read generated and runtime row classes as the decoder built them.  The keys are
    the shared :class:`~spacetimedb_sdk.sats.ordering.KeyCompiler`'s, without validation
    (rows come from our decoder).

    Example::

        >>> key = order_key_for_type(AlgebraicType.option(AlgebraicType.U32))
        >>> sorted([5, None, 2], key=key)
        [2, 5, None]
    """
    return KeyCompiler(typespace, classes, validate=False).key(ty, "<key>")


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
        except (TypeError, AttributeError, BsatnEncodeError) as e:
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
