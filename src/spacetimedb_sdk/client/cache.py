"""The client cache: a reference-counted replica of the subscribed rows (sans-I/O).

:class:`ClientCache` holds one :class:`TableCache` per table.  The connection core hands it
each server message's rows; the cache applies the whole message to every table and returns a
:class:`PendingChanges`; the core then calls :meth:`PendingChanges.fire` with the event
context, so row callbacks only ever see a cache in which the whole message is applied.

Semantics (protocol.md §7.1):

- Rows are keyed by their BSATN bytes, so counting, deduplicating and deleting never decode.
  A row is decoded once, when it enters the cache (count 0 → >0), before anything is changed:
  a row that fails to decode aborts the message with the cache untouched.
- Per message and table, every insert counts +1 and every delete −1 over all query sets and
  all per-query entries.  0 → >0 is an :class:`~.changes.Insert`, >0 → 0 a
  :class:`~.changes.Delete`, anything else only changes the count.  In a table with a primary
  key, a deleted and an inserted row with the same key become one :class:`~.changes.Update`.
- Event tables store nothing: each event row is an ``Insert`` and ``count()`` stays 0.
- A delete of a row the query set does not hold is ignored (logged at debug level).

Per-query-set bookkeeping: besides the total count per row, each table keeps, per query set,
the multiset ``row bytes → count`` of the rows that set contributed.  This lets the cache drop
a query set without the server listing its rows (``SubscriptionError`` without a request id,
``UnsubscribeApplied`` without rows) and, after a reconnection, replace a set's rows by the new
``SubscribeApplied`` so that only real differences fire callbacks
(:meth:`ClientCache.replace_query_set`).  The cost is one extra dict slot (~100 bytes) per
(query set, row) pair; the row bytes object is shared with the main row map when the row
arrives with that set, while a row that a second set brings later keeps its own copy there.

Callback order within one message: tables in the order they first appear in the message;
within a table, event rows (in message order), then all inserts, then all deletes, then all
updates (the Rust SDK's order; the TypeScript SDK interleaves inserts and updates, then
deletes); within each group, in the order the rows first appear in the message.

Example::

    >>> from spacetimedb_sdk.protocol import messages as m
    >>> users = TableCache("user", lambda b: {"id": b[0]}, primary_key="id")
    >>> cache = ClientCache([users])
    >>> rows = m.QueryRows([m.SingleTableRows("user", m.BsatnRowList.from_rows([b"\\x01"]))])
    >>> changes = cache.apply_query_rows(1, rows, +1)
    >>> list(changes)
    [Insert(table='user', row={'id': 1})]
    >>> seen = []
    >>> _ = users.on_insert(lambda ctx, row: seen.append((ctx, row)))
    >>> _ = changes.fire(lambda: "ctx")
    >>> seen
    [('ctx', {'id': 1})]
"""

from __future__ import annotations

import gc
import inspect
import itertools
import logging

try:  # the C loop behind Counter.update, usable on a plain dict
    from collections import _count_elements as _count_into  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python implementations

    def _count_into(counts: dict[bytes, int], rows: Iterable[bytes]) -> None:
        get = counts.get
        for r in rows:
            counts[r] = get(r, 0) + 1


from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar

from ..errors import BsatnDecodeError, ProtocolError
from ..protocol import messages as m
from .changes import Change, Delete, Insert, Update
from .indexes import BTreeIndex, Index, IndexDef, Range, UniqueIndex, column_getter, hash_key

logger = logging.getLogger(__name__)

RowT = TypeVar("RowT")
P = ParamSpec("P")
R = TypeVar("R")

ChangeSink = Callable[[Change[Any]], object]
"""Receives each change record after its row callbacks ran (the ``changes()`` iterator hook)."""

ErrorHandler = Callable[[Exception, Change[Any]], object]
"""Called with an exception raised by a row callback or sink and the change being delivered."""

_callback_ids = itertools.count(1)

_INSERT, _DELETE, _UPDATE = "insert", "delete", "update"


class CallbackHandle(Generic[P, R]):
    """What ``on_insert``/``on_delete``/``on_update`` return: pass it to ``remove_on_*``.

    It still calls the wrapped function, so ``@table.on_insert`` keeps the decorated name
    usable.

    Example::

        >>> t = TableCache("t", bytes)
        >>> @t.on_insert
        ... def greet(ctx, row):
        ...     return f"hi {row!r}"
        >>> greet(None, b"x")
        "hi b'x'"
        >>> t.remove_on_insert(greet)
        True
    """

    __slots__ = ("_table", "callback", "id", "kind")

    def __init__(self, table: TableCache[Any], kind: str, callback: Callable[P, R]) -> None:
        self._table = table
        self.kind = kind
        self.callback = callback
        self.id = next(_callback_ids)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.callback(*args, **kwargs)

    def remove(self) -> bool:
        """Unregister this callback; False if it was not registered any more."""
        return self._table._remove_callback(self.kind, self)

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", repr(self.callback))
        return f"<CallbackHandle on_{self.kind} {self._table.name}: {name}>"


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


class _Group:
    """The changes of one message to one table, in firing order, as plain rows."""

    __slots__ = ("deletes", "events", "inserts", "table", "updates")

    def __init__(self, table: TableCache[Any]) -> None:
        self.table = table
        self.events: list[Any] = []
        self.inserts: list[Any] = []
        self.deletes: list[Any] = []
        self.updates: list[tuple[Any, Any]] = []

    def __len__(self) -> int:
        return len(self.events) + len(self.inserts) + len(self.deletes) + len(self.updates)

    def records(self) -> Iterator[Change[Any]]:
        name = self.table.name
        for row in self.events:
            yield Insert(name, row)
        for row in self.inserts:
            yield Insert(name, row)
        for row in self.deletes:
            yield Delete(name, row)
        for old, new in self.updates:
            yield Update(name, old, new)


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
            raise BsatnDecodeError(e.reason, path=path, offset=e.offset) from e
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


def _add_counts(counts: dict[bytes, int], more: Mapping[bytes, int]) -> None:
    get = counts.get
    for data, n in more.items():
        counts[data] = get(data, 0) + n


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


class PendingChanges:
    """The changes one message made, in firing order; :meth:`fire` runs the callbacks.

    Iterating yields the :class:`~.changes.Insert` / :class:`~.changes.Delete` /
    :class:`~.changes.Update` records (made on demand: firing callbacks alone builds none).

    Example::

        >>> t = TableCache("t", bytes)
        >>> c = ClientCache([t]).apply_query_rows(
        ...     1, m.QueryRows([m.SingleTableRows("t", m.BsatnRowList.from_rows([b"a"]))]), +1)
        >>> len(c), [type(x).__name__ for x in c]
        (1, ['Insert'])
    """

    __slots__ = ("_groups", "_sinks")

    def __init__(
        self, groups: list[_Group] | None = None, sinks: Mapping[int, ChangeSink] | None = None
    ) -> None:
        self._groups = [g for g in groups or () if len(g)]
        self._sinks = sinks if sinks is not None else {}

    def __iter__(self) -> Iterator[Change[Any]]:
        for g in self._groups:
            yield from g.records()

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def __repr__(self) -> str:
        return f"PendingChanges({list(self)!r})"

    def for_table(self, name: str) -> list[Change[Any]]:
        """The changes to the table called ``name``."""
        return [c for g in self._groups if g.table.name == name for c in g.records()]

    def fire(
        self, ctx_factory: Callable[[], Any], *, on_error: ErrorHandler | None = None
    ) -> list[Awaitable[Any]]:
        """Call the registered row callbacks, then the change sinks, change by change.

        ``ctx_factory()`` makes the event context passed as the callbacks' first argument; it
        is called at most once, and only if some callback runs.  An exception in a callback or
        sink goes to ``on_error(exc, change)`` (default: logged) and does not stop the others.
        Awaitables returned by ``async def`` callbacks are returned for the caller to schedule.
        """
        firing = _Firing(ctx_factory, on_error)
        global_sinks = tuple(self._sinks.values())
        for g in self._groups:
            firing.deliver(g, global_sinks)
        return firing.awaitables


class _Firing:
    """The state of one :meth:`PendingChanges.fire` call."""

    def __init__(self, ctx_factory: Callable[[], Any], on_error: ErrorHandler | None) -> None:
        self.ctx_factory = ctx_factory
        self.on_error = on_error
        self.awaitables: list[Awaitable[Any]] = []
        self._ctx: Any = None
        self._have_ctx = False

    def ctx(self) -> Any:
        if not self._have_ctx:
            self._ctx = self.ctx_factory()
            self._have_ctx = True
        return self._ctx

    def deliver(self, g: _Group, global_sinks: tuple[ChangeSink, ...]) -> None:
        t = g.table
        sinks = (*t._sinks.values(), *global_sinks)
        # Rows of a kind nobody listens to are skipped without building anything.
        if sinks or t._registered(_INSERT):
            for row in (*g.events, *g.inserts):
                self._one(t, _INSERT, Insert, (row,), sinks)
        if sinks or t._registered(_DELETE):
            for row in g.deletes:
                self._one(t, _DELETE, Delete, (row,), sinks)
        if sinks or t._registered(_UPDATE):
            for old, new in g.updates:
                self._one(t, _UPDATE, Update, (old, new), sinks)

    def _one(
        self,
        table: TableCache[Any],
        kind: str,
        record: type[Insert[Any]] | type[Delete[Any]] | type[Update[Any]],
        rows: tuple[Any, ...],
        sinks: tuple[ChangeSink, ...],
    ) -> None:
        # The change record is only built when a sink or an error needs it.
        # Looked up per row: a callback removed by an earlier callback is not called again.
        for handle in table._registered(kind):
            try:
                result = handle.callback(self.ctx(), *rows)
            except Exception as exc:
                self._failed(exc, record(table.name, *rows))
                continue
            if inspect.isawaitable(result):
                self.awaitables.append(result)
        if sinks:
            change = record(table.name, *rows)
            for sink in sinks:
                try:
                    sink(change)
                except Exception as exc:
                    self._failed(exc, change)

    def _failed(self, exc: Exception, change: Change[Any]) -> None:
        if self.on_error is None:
            logger.error("row callback failed for %r", change, exc_info=exc)
            return
        try:
            self.on_error(exc, change)
        except Exception:
            logger.exception("on_error handler failed for %r", change)


def fire(
    changes: PendingChanges,
    ctx_factory: Callable[[], Any],
    *,
    on_error: ErrorHandler | None = None,
) -> list[Awaitable[Any]]:
    """Same as ``changes.fire(ctx_factory, on_error=on_error)``.

    Example::

        >>> fire(PendingChanges(), lambda: None)
        []
    """
    return changes.fire(ctx_factory, on_error=on_error)


class ClientCache:
    """All table caches of one connection; applies server messages atomically.

    Every ``apply_*`` method applies one message to every table before returning the
    :class:`PendingChanges` to fire.  It raises :class:`~spacetimedb_sdk.ProtocolError` for a
    table it does not know and :class:`~spacetimedb_sdk.BsatnDecodeError` for a row it cannot
    decode, in both cases before changing anything.

    Example::

        >>> cache = ClientCache([TableCache("t", bytes)])
        >>> cache["t"].count(), "t" in cache
        (0, True)
    """

    def __init__(self, tables: Iterable[TableCache[Any]] = ()) -> None:
        self._tables: dict[str, TableCache[Any]] = {}
        self._sinks: dict[int, ChangeSink] = {}
        for t in tables:
            self.add_table(t)

    # ---- tables --------------------------------------------------------------------------

    def add_table(self, table: TableCache[RowT]) -> TableCache[RowT]:
        """Register ``table`` under its name (which must be new)."""
        if table.name in self._tables:
            raise ValueError(f"the cache already has a table named {table.name!r}")
        self._tables[table.name] = table
        return table

    def table(self, name: str) -> TableCache[Any]:
        """The table called ``name`` (its canonical wire name)."""
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(
                f"no table {name!r} in the client cache; tables: {sorted(self._tables)}"
            ) from None

    __getitem__ = table

    def __contains__(self, name: object) -> bool:
        return name in self._tables

    def __iter__(self) -> Iterator[TableCache[Any]]:
        return iter(list(self._tables.values()))

    @property
    def tables(self) -> Mapping[str, TableCache[Any]]:
        """The tables by name (read-only view)."""
        return _ReadOnly(self._tables)

    def query_set_ids(self) -> set[int]:
        """The query sets holding at least one row."""
        return {s for t in self._tables.values() for s in t._sets}

    def add_change_sink(self, sink: ChangeSink) -> Callable[[], None]:
        """Deliver every table's change records to ``sink``; returns a function that stops it."""
        key = next(_callback_ids)
        self._sinks[key] = sink
        return lambda: self._sinks.pop(key, None) and None

    # ---- applying messages ---------------------------------------------------------------

    def apply_query_rows(self, query_set_id: int, rows: m.QueryRows, sign: int) -> PendingChanges:
        """Add (``sign=+1``, ``SubscribeApplied``) or remove (``-1``, ``UnsubscribeApplied``)
        the rows of one query set."""
        if sign not in (1, -1):
            raise ValueError(f"sign must be +1 or -1, got {sign!r}")
        deltas = _Deltas(self)
        for single in rows.tables:
            deltas.add_rows(query_set_id, single.table, single.rows, sign, event=False)
        return self._apply(deltas)

    def apply_subscribe_applied(self, msg: m.SubscribeApplied) -> PendingChanges:
        """Apply a ``SubscribeApplied``: the set's initial rows enter the cache."""
        return self.apply_query_rows(msg.query_set_id, msg.rows, +1)

    def apply_unsubscribe_applied(self, msg: m.UnsubscribeApplied) -> PendingChanges:
        """Apply an ``UnsubscribeApplied``: every row of the set leaves (respecting counts).

        The set's rows are known locally, so this works with and without the server's
        ``SendDroppedRows`` list; a list that disagrees with the local one is logged at debug.
        """
        if msg.rows is not None and logger.isEnabledFor(logging.DEBUG):
            self._check_dropped_rows(msg.query_set_id, msg.rows)
        return self.drop_query_set(msg.query_set_id)

    def apply_transaction(
        self, query_sets: m.TransactionUpdate | Iterable[m.QuerySetUpdate]
    ) -> PendingChanges:
        """Apply a ``TransactionUpdate`` (or a ``ReducerOk.transaction_update``), or its
        ``query_sets``: all query sets and tables together."""
        if isinstance(query_sets, m.TransactionUpdate):
            query_sets = query_sets.query_sets
        deltas = _Deltas(self)
        for qs in query_sets:
            for tu in qs.tables:
                for entry in tu.rows:
                    if isinstance(entry, m.EventTableRows):
                        deltas.add_rows(qs.query_set_id, tu.table_name, entry.events, 1, event=True)
                        continue
                    deltas.add_rows(qs.query_set_id, tu.table_name, entry.inserts, 1, event=False)
                    deltas.add_rows(qs.query_set_id, tu.table_name, entry.deletes, -1, event=False)
        return self._apply(deltas)

    def drop_query_set(self, query_set_id: int) -> PendingChanges:
        """Remove every row the query set holds, without the server listing them
        (``SubscriptionError`` without a request id)."""
        deltas = _Deltas(self)
        for t in self._tables.values():
            held = t._sets.get(query_set_id)
            if held:
                _add_counts(deltas.table(t.name).counters(query_set_id)[1], held)
        return self._apply(deltas)

    def replace_query_set(self, query_set_id: int, rows: m.QueryRows) -> PendingChanges:
        """Make the set hold exactly ``rows`` (a fresh ``SubscribeApplied`` after reconnecting).

        Rows present before and after fire nothing; only real differences fire callbacks.
        """
        deltas = _Deltas(self)
        for single in rows.tables:
            deltas.add_rows(query_set_id, single.table, single.rows, 1, event=False)
        for t in self._tables.values():
            held = t._sets.get(query_set_id)
            if held:
                _add_counts(deltas.table(t.name).counters(query_set_id)[1], held)
        return self._apply(deltas)

    def _apply(self, deltas: _Deltas) -> PendingChanges:
        # Applying allocates many objects and frees none, so the cyclic collector would run
        # often and find nothing (it took ~45% of a 100k-row apply); no user code runs here.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            plans = [d.table._plan(d) for d in deltas.by_table.values()]  # may raise: no change
            return PendingChanges([p.table._commit(p) for p in plans], self._sinks)
        finally:
            if gc_was_on:
                gc.enable()

    def _check_dropped_rows(self, query_set_id: int, rows: m.QueryRows) -> None:
        sent: dict[tuple[str, bytes], int] = {}
        for single in rows.tables:
            for data in single.rows.rows():
                sent[(single.table, data)] = sent.get((single.table, data), 0) + 1
        held = {
            (t.name, d): n
            for t in self._tables.values()
            if not t.is_event
            for d, n in t._sets.get(query_set_id, {}).items()
        }
        if {k: v for k, v in sent.items() if k[0] in self._tables} != held:
            logger.debug(
                "UnsubscribeApplied for query set %d lists %d row(s), the cache holds %d; "
                "dropping what the cache holds",
                query_set_id,
                sum(sent.values()),
                sum(held.values()),
            )


class _Deltas:
    """Collects one message's rows per table and query set (the first, read-only phase)."""

    def __init__(self, cache: ClientCache) -> None:
        self.cache = cache
        self.by_table: dict[str, _TableDelta] = {}

    def table(self, name: str) -> _TableDelta:
        d = self.by_table.get(name)
        if d is None:
            t = self.cache._tables.get(name)
            if t is None:
                raise ProtocolError(
                    f"the server sent rows for table {name!r}, which the client cache does not "
                    f"know (tables: {sorted(self.cache._tables)}); are the bindings out of date?"
                )
            d = self.by_table[name] = _TableDelta(t)
        return d

    def add_rows(
        self, set_id: int, name: str, rows: m.BsatnRowList, sign: int, *, event: bool
    ) -> None:
        d = self.table(name)  # checks the table even for an empty list
        if not rows.rows_data:
            return
        if event or d.table.is_event:
            if sign > 0:
                d.events.extend(rows.rows())
            return
        plus, minus = d.counters(set_id)
        _count_into(plus if sign > 0 else minus, rows.rows())


class _ReadOnly(Mapping[str, TableCache[Any]]):
    def __init__(self, d: dict[str, TableCache[Any]]) -> None:
        self._d = d

    def __getitem__(self, key: str) -> TableCache[Any]:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


__all__ = [
    "CallbackHandle",
    "ChangeSink",
    "ClientCache",
    "Delete",
    "ErrorHandler",
    "IndexDef",
    "Insert",
    "PendingChanges",
    "Range",
    "TableCache",
    "Update",
    "fire",
]
