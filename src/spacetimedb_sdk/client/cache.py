"""The client cache: a reference-counted replica of the subscribed rows (sans-I/O).

:class:`ClientCache` holds one :class:`TableCache` per table.  The connection core hands it
each server message's rows; the cache applies the whole message to every table and returns a
:class:`PendingChanges`; the core then calls :meth:`PendingChanges.fire` with the event
context, so row callbacks only ever see a cache in which the whole message is applied.

This module holds :class:`ClientCache` and the collection of one message's rows per table
and query set.  One table's rows, indexes and plan/commit steps are in :mod:`.table_cache`;
callback handles, :class:`PendingChanges` and firing in :mod:`.callbacks`.  Every name the
cache ever exported is still importable from here.

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
import logging

try:  # the C loop behind Counter.update, usable on a plain dict
    from collections import _count_elements as _count_into  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python implementations

    def _count_into(counts: dict[bytes, int], rows: Iterable[bytes]) -> None:
        get = counts.get
        for r in rows:
            counts[r] = get(r, 0) + 1


from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .._log import get_logger
from ..errors import ProtocolError
from ..protocol import messages as m
from .callbacks import (
    CallbackHandle,
    ChangeSink,
    ErrorHandler,
    PendingChanges,
    _callback_ids,
    fire,
)
from .changes import Delete, Insert, Update
from .indexes import IndexDef, Range
from .table_cache import RowT, TableCache, _TableDelta

# Through get_logger: its filter redacts tokens (logging.getLogger would bypass it).
logger = get_logger("spacetimedb_sdk.client.cache")


def _add_counts(counts: dict[bytes, int], more: Mapping[bytes, int]) -> None:
    get = counts.get
    for data, n in more.items():
        counts[data] = get(data, 0) + n


class ClientCache:
    """All table caches of one connection; applies server messages atomically.

    Every ``apply_*`` method applies one message to every table before returning the
    :class:`PendingChanges` to fire.  It raises :class:`~spacetimedb_sdk.ProtocolError` for a
    table it does not know and :class:`~spacetimedb_sdk.errors.RowDecodeError` (a
    ``ProtocolError`` and a ``BsatnDecodeError``) for a row it cannot decode, in both cases
    before changing anything.

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
        if not len(rows):  # (rows of zero bytes, a unit struct's, still count)
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
