"""One table of the client cache: its rows, indexes and callbacks, and how a message changes them.

:class:`TableCache` keeps each distinct row once, keyed by its BSATN bytes, with its
decoded value, its total count and, per query set, the count that set contributed.
Applying a message to a table is two steps: :meth:`TableCache._plan` works out the
effect of the message's rows (decoding new rows; nothing changes, so a failure leaves
the cache untouched) and :meth:`TableCache._commit` applies the plan, updates the
indexes and pairs deletes with inserts into updates.  :mod:`.cache` runs these steps
for every table of a message; :mod:`.callbacks` fires what they return.

The full semantics are described in :mod:`.cache`.

Example::

    >>> t = TableCache("person", lambda b: {"id": b[0]}, primary_key="id")
    >>> t.count(), t.has_primary_key
    (0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

from .._log import get_logger
from ..errors import BsatnDecodeError, ProtocolError, RowDecodeError
from .callbacks import (
    _DELETE,
    _INSERT,
    _UPDATE,
    CallbackHandle,
    ChangeSink,
    _callback_ids,
    _Group,
)
from .indexes import BTreeIndex, Index, IndexDef, UniqueIndex, column_getter, hash_key

__all__ = ["TableCache"]

# The whole client cache logs under one name, the one users configure (it predates the split
# of the cache into modules).
# Through get_logger: its filter redacts tokens (logging.getLogger would bypass it).
logger = get_logger("spacetimedb_sdk.client.cache")

RowT = TypeVar("RowT")
P = ParamSpec("P")
R = TypeVar("R")


class _Entry:
    """One distinct row: its bytes, decoded value, total count and a per-table sequence number."""

    __slots__ = ("count", "data", "row", "seq")

    def __init__(self, data: bytes, row: Any, count: int, seq: int) -> None:
        self.data = data
        self.row = row
        self.count = count
        self.seq = seq


@dataclass(slots=True)
class _TableDelta:
    """The rows one message brings to one table, before anything is applied.

    Per query set, ``(plus, minus)``: how many times each row is inserted and deleted.
    Rows are counted into plain dicts by the C loop behind ``Counter.update`` (which matters
    for large ``SubscribeApplied``s) without the cost of building ``Counter`` objects (which
    matters for the many one-row transactions).
    """

    table: TableCache[Any]
    by_set: dict[int, tuple[dict[bytes, int], dict[bytes, int]]] = field(default_factory=dict)
    events: list[bytes] = field(default_factory=list)

    def counters(self, set_id: int) -> tuple[dict[bytes, int], dict[bytes, int]]:
        pair = self.by_set.get(set_id)
        if pair is None:
            pair = self.by_set[set_id] = ({}, {})
        return pair


@dataclass(slots=True)
class _TablePlan:
    """What applying a message will do to one table, computed without changing it."""

    table: TableCache[Any]
    set_counts: list[tuple[int, dict[bytes, int], list[bytes]]] = field(default_factory=list)
    inserts: list[_Entry] = field(default_factory=list)
    bumps: list[tuple[_Entry, int]] = field(default_factory=list)
    deletes: list[_Entry] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)


def _primary_key_of(
    primary_key: str | Sequence[str] | Callable[[Any], Any],
) -> Callable[[Any], Any]:
    if callable(primary_key):
        return primary_key
    if isinstance(primary_key, str):
        return column_getter(primary_key)
    getters = [column_getter(c) for c in primary_key]
    return lambda row: tuple(g(row) for g in getters)


class TableCache(Generic[RowT]):
    """The cached rows of one table, its indexes and its row callbacks.

    ``decode`` turns a row's BSATN bytes into the row value (a generic ``dict`` or a generated
    dataclass).  ``primary_key`` is a column name, a tuple of names, or a function row → key;
    with one, deletes and inserts of the same key in one message become updates, and an index
    named after the column (or ``"primary_key"``) offers ``find``.  ``unique`` and ``btree``
    list index columns (a name or a tuple of names; the index is named by joining them with
    ``_``); ``indexes`` takes full :class:`~.indexes.IndexDef` objects (custom names, order keys).

    Indexes are reachable as ``table.index("name")`` and, for names that are not methods, as
    attributes: ``table.identity.find(v)``, ``table.by_age.filter(Range(ge=18))``.

    Example::

        >>> t = TableCache("person", lambda b: {"id": b[0], "age": b[1]},
        ...                primary_key="id", btree=["age"])
        >>> t.count(), t.has_primary_key
        (0, True)
    """

    def __init__(
        self,
        name: str,
        decode: Callable[[bytes], RowT],
        *,
        primary_key: str | Sequence[str] | Callable[[RowT], Any] | None = None,
        is_event: bool = False,
        unique: Iterable[str | Sequence[str]] = (),
        btree: Iterable[str | Sequence[str]] = (),
        indexes: Iterable[IndexDef] = (),
    ) -> None:
        self.name = name
        self.is_event = is_event
        self._decode = decode
        self._entries: dict[bytes, _Entry] = {}
        self._sets: dict[int, dict[bytes, int]] = {}
        self._next_seq = 0
        self._callbacks: dict[str, dict[int, CallbackHandle[Any, Any]]] = {
            _INSERT: {},
            _DELETE: {},
            _UPDATE: {},
        }
        self._snapshots: dict[str, tuple[CallbackHandle[Any, Any], ...]] = {}
        self._sinks: dict[int, ChangeSink] = {}
        self._pk_of: Callable[[Any], Any] | None = None
        self.indexes: dict[str, Index[RowT]] = {}
        self._unique: list[UniqueIndex[RowT]] = []
        self._btree: list[BTreeIndex[RowT]] = []
        defs = [*_defs(unique, True), *_defs(btree, False), *indexes]
        if primary_key is not None:
            self._pk_of = _primary_key_of(primary_key)
            defs = self._with_pk_index(primary_key, defs)
        for d in defs:
            self._add_index(d)

    def _with_pk_index(
        self, primary_key: str | Sequence[str] | Callable[[Any], Any], defs: list[IndexDef]
    ) -> list[IndexDef]:
        if callable(primary_key):
            return [IndexDef("primary_key", (), True, primary_key), *defs]
        cols = (primary_key,) if isinstance(primary_key, str) else tuple(primary_key)
        if any(d.unique and d.columns == cols for d in defs):
            return defs
        return [IndexDef("_".join(cols), cols, True), *defs]

    def _add_index(self, d: IndexDef) -> None:
        if d.name in self.indexes:
            raise ValueError(f"table {self.name!r}: two indexes named {d.name!r}")
        if d.unique:
            u: UniqueIndex[RowT] = UniqueIndex(d.name, d.columns, d.extract)
            self._unique.append(u)
            self.indexes[d.name] = u
        else:
            b: BTreeIndex[RowT] = BTreeIndex(d.name, d.columns, d.order_keys, d.extract)
            self._btree.append(b)
            self.indexes[d.name] = b

    # ---- reading -------------------------------------------------------------------------

    @property
    def has_primary_key(self) -> bool:
        """Whether updates are detected (the table has a primary key)."""
        return self._pk_of is not None

    def count(self) -> int:
        """The number of distinct rows in the cache (0 for an event table)."""
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def iter(self) -> Iterator[RowT]:
        """The rows, from a snapshot: safe to keep iterating while messages are applied."""
        return iter([e.row for e in self._entries.values()])

    def __iter__(self) -> Iterator[RowT]:
        return self.iter()

    def index(self, name: str) -> Index[RowT]:
        """The index called ``name``; :class:`KeyError` lists the existing ones."""
        try:
            return self.indexes[name]
        except KeyError:
            raise KeyError(
                f"table {self.name!r} has no index {name!r}; indexes: {sorted(self.indexes)}"
            ) from None

    def unique_index(self, name: str) -> UniqueIndex[RowT]:
        """The unique (or primary-key) index called ``name``, for ``find``."""
        idx = self.index(name)
        if not isinstance(idx, UniqueIndex):
            raise TypeError(f"index {name!r} of table {self.name!r} is a btree index: use filter()")
        return idx

    def btree_index(self, name: str) -> BTreeIndex[RowT]:
        """The btree index called ``name``, for ``filter``."""
        idx = self.index(name)
        if not isinstance(idx, BTreeIndex):
            raise TypeError(f"index {name!r} of table {self.name!r} is a unique index: use find()")
        return idx

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: index accessors by name (generic path).
        indexes = self.__dict__.get("indexes")
        if indexes is not None and not name.startswith("_") and name in indexes:
            return indexes[name]
        raise AttributeError(
            f"{type(self).__name__} {self.__dict__.get('name')!r} has no attribute or index {name!r}"
        )

    def multiplicity(self, data: bytes, query_set_id: int | None = None) -> int:
        """How many times the row with BSATN ``data`` is held, in total or by one query set."""
        if query_set_id is None:
            e = self._entries.get(data)
            return e.count if e else 0
        return self._sets.get(query_set_id, {}).get(data, 0)

    def __repr__(self) -> str:
        return f"<TableCache {self.name!r} rows={len(self._entries)}>"

    # ---- callbacks -----------------------------------------------------------------------

    def on_insert(self, callback: Callable[[Any, RowT], R]) -> CallbackHandle[[Any, RowT], R]:
        """Call ``callback(ctx, row)`` for each row entering the cache (or each event row)."""
        return self._add_callback(_INSERT, callback)

    def on_delete(self, callback: Callable[[Any, RowT], R]) -> CallbackHandle[[Any, RowT], R]:
        """Call ``callback(ctx, row)`` for each row leaving the cache."""
        return self._add_callback(_DELETE, callback)

    def on_update(
        self, callback: Callable[[Any, RowT, RowT], R]
    ) -> CallbackHandle[[Any, RowT, RowT], R]:
        """Call ``callback(ctx, old, new)`` when a row is replaced by one with the same primary key."""
        if self._pk_of is None:
            raise TypeError(
                f"table {self.name!r} has no primary key, so it has no updates; "
                "use on_insert and on_delete"
            )
        return self._add_callback(_UPDATE, callback)

    def remove_on_insert(self, handle: Callable[..., Any]) -> bool:
        """Unregister an insert callback (its handle, or the function); False if not found."""
        return self._remove_callback(_INSERT, handle)

    def remove_on_delete(self, handle: Callable[..., Any]) -> bool:
        """Unregister a delete callback (its handle, or the function); False if not found."""
        return self._remove_callback(_DELETE, handle)

    def remove_on_update(self, handle: Callable[..., Any]) -> bool:
        """Unregister an update callback (its handle, or the function); False if not found."""
        return self._remove_callback(_UPDATE, handle)

    def add_change_sink(self, sink: ChangeSink) -> Callable[[], None]:
        """Also deliver this table's change records to ``sink``; returns a function that stops it."""
        key = next(_callback_ids)
        self._sinks[key] = sink
        return lambda: self._sinks.pop(key, None) and None

    def _add_callback(self, kind: str, callback: Callable[P, R]) -> CallbackHandle[P, R]:
        if isinstance(callback, CallbackHandle):
            callback = callback.callback  # stacked decorators register the plain function
        if not callable(callback):
            raise TypeError(
                f"on_{kind} on table {self.name!r} needs a callable, got {type(callback).__name__}"
            )
        handle = CallbackHandle(self, kind, callback)
        self._callbacks[kind][handle.id] = handle
        self._snapshots.pop(kind, None)
        return handle

    def _remove_callback(self, kind: str, handle: Callable[..., Any]) -> bool:
        registered = self._callbacks[kind]
        if isinstance(handle, CallbackHandle):
            found = registered.pop(handle.id, None) is not None
        else:
            key = next((k for k, h in registered.items() if h.callback is handle), None)
            found = key is not None and registered.pop(key) is not None
        if found:
            self._snapshots.pop(kind, None)
        return found

    def _registered(self, kind: str) -> tuple[CallbackHandle[Any, Any], ...]:
        # An immutable snapshot: callbacks may (un)register callbacks while being fired.
        snap = self._snapshots.get(kind)
        if snap is None:
            snap = self._snapshots[kind] = tuple(self._callbacks[kind].values())
        return snap

    # ---- applying ------------------------------------------------------------------------

    def _decode_row(self, data: bytes) -> RowT:
        try:
            return self._decode(data)
        except BsatnDecodeError as e:
            path = self.name if e.path == "<root>" else f"{self.name}.{e.path}"
            raise RowDecodeError(self.name, e.reason, path=path, offset=e.offset) from e
        except Exception as e:
            raise ProtocolError(f"cannot decode a row of table {self.name!r}: {e}") from e

    def _plan(self, delta: _TableDelta) -> _TablePlan:
        """Work out the effect of ``delta`` (decoding new rows) without changing anything."""
        plan = _TablePlan(self)
        plan.events = [self._decode_row(d) for d in delta.events]
        totals: dict[bytes, int] = {}
        for set_id, (plus, minus) in delta.by_set.items():
            self._plan_set(set_id, plus, minus, plan, totals)
        entries = self._entries
        seq = self._next_seq
        for data, dv in totals.items():
            if not dv:
                continue
            e = entries.get(data)
            if e is None:
                plan.inserts.append(_Entry(data, self._decode_row(data), dv, seq))
                seq += 1
            elif e.count + dv > 0:
                plan.bumps.append((e, e.count + dv))
            else:
                plan.deletes.append(e)
        return plan

    def _plan_set(
        self,
        set_id: int,
        plus: dict[bytes, int],
        minus: dict[bytes, int],
        plan: _TablePlan,
        totals: dict[bytes, int],
    ) -> None:
        held = self._sets.get(set_id, {})
        new_counts: dict[bytes, int] = {}
        gone: list[bytes] = []
        tget = totals.get
        if not minus:  # only inserts (SubscribeApplied): the common bulk case
            hget = held.get
            for data, dv in plus.items():
                new_counts[data] = hget(data, 0) + dv
                totals[data] = tget(data, 0) + dv
        else:
            for data, dv in _net(plus, minus):
                old = held.get(data, 0)
                new = old + dv
                if new < 0:
                    self._log_missing(set_id, data, -new)
                    new, dv = 0, -old
                    if not dv:
                        continue
                new_counts[data] = new
                if not new:
                    gone.append(data)
                totals[data] = tget(data, 0) + dv
        plan.set_counts.append((set_id, new_counts, gone))

    def _log_missing(self, set_id: int, data: bytes, n: int) -> None:
        logger.debug(
            "table %r, query set %d: %d delete(s) of a row the set does not hold; ignored: %s",
            self.name,
            set_id,
            n,
            data.hex(),
        )

    def _commit(self, plan: _TablePlan) -> _Group:
        """Apply a plan made by :meth:`_plan` and return the changes, in firing order."""
        entries = self._entries
        for e in plan.deletes:
            del entries[e.data]
        for e, count in plan.bumps:
            e.count = count
        for e in plan.inserts:
            entries[e.data] = e
        if plan.inserts:
            self._next_seq = plan.inserts[-1].seq + 1
        self._commit_sets(plan.set_counts)
        self._update_indexes(plan.deletes, plan.inserts)
        group = _Group(self)
        group.events = plan.events
        self._pair_updates(group, plan.deletes, plan.inserts)
        return group

    def _commit_sets(self, set_counts: list[tuple[int, dict[bytes, int], list[bytes]]]) -> None:
        sets = self._sets
        for set_id, new_counts, gone in set_counts:
            held = sets.get(set_id)
            if held is None:
                held = sets[set_id] = new_counts  # a new set: adopt the dict, no copy
            else:
                held.update(new_counts)
            for data in gone:
                del held[data]
            if not held:
                del sets[set_id]

    def _update_indexes(self, deleted: list[_Entry], added: list[_Entry]) -> None:
        # Deletes first, so a delete and insert of one key in a message do not collide.
        for u in self._unique:
            for e in deleted:
                u._remove(e.row)
            for e in added:
                if not u._add(e.row):
                    logger.warning(
                        "table %r: two rows share the key of unique index %r; keeping the newer",
                        self.name,
                        u.name,
                    )
        for b in self._btree:
            if deleted:
                b._remove_many([(e.row, e.seq) for e in deleted])
            if added:
                b._add_many([(e.row, e.seq) for e in added])

    def _pair_updates(self, group: _Group, deleted: list[_Entry], added: list[_Entry]) -> None:
        pk_of = self._pk_of
        if pk_of is None or not deleted or not added:
            group.inserts = [e.row for e in added]
            group.deletes = [e.row for e in deleted]
            return
        by_key: dict[Any, _Entry] = {}
        for e in deleted:
            by_key.setdefault(hash_key(pk_of(e.row)), e)
        paired: set[int] = set()
        for e in added:
            old = by_key.pop(hash_key(pk_of(e.row)), None)
            if old is None:
                group.inserts.append(e.row)
            else:
                paired.add(id(old))
                group.updates.append((old.row, e.row))
        group.deletes = [e.row for e in deleted if id(e) not in paired]


def _net(plus: dict[bytes, int], minus: dict[bytes, int]) -> Iterator[tuple[bytes, int]]:
    """Non-zero ``plus - minus`` per row, inserted rows first, each in message order."""
    for data, n in plus.items():
        dv = n - minus.get(data, 0)
        if dv:
            yield data, dv
    for data, n in minus.items():
        if n and data not in plus:
            yield data, -n


def _defs(specs: Iterable[str | Sequence[str]], unique: bool) -> list[IndexDef]:
    out = []
    for spec in specs:
        cols = (spec,) if isinstance(spec, str) else tuple(spec)
        out.append(IndexDef("_".join(cols), cols, unique))
    return out
