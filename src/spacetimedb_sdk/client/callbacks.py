"""Row callbacks of the client cache: their handles, and firing one message's changes.

:class:`CallbackHandle` is what ``on_insert``/``on_delete``/``on_update`` return.
:class:`PendingChanges` holds the changes one applied message made, grouped per table
in firing order; :meth:`PendingChanges.fire` runs the registered callbacks and change
sinks.  The order and the error handling are described in :mod:`.cache`.

Separate from the row storage (:mod:`.table_cache`) because firing is a phase of its
own: the cache is already fully updated when it starts, and it only reads what a table
registered.  A table is seen here through the small :class:`_CallbackTable` protocol,
so that this module does not import the table cache, which builds on it.

Example::

    >>> fire(PendingChanges(), lambda: None)
    []
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from itertools import repeat
from operator import is_
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from .._log import get_logger
from .changes import Change, Delete, Insert, Update

__all__ = ["LAZY", "CallbackHandle", "ChangeSink", "ErrorHandler", "PendingChanges", "fire"]

# The whole client cache logs under one name, the one users configure (it predates the split
# of the cache into modules).
# Through get_logger: its filter redacts tokens (logging.getLogger would bypass it).
logger = get_logger("spacetimedb_sdk.client.cache")

P = ParamSpec("P")
R = TypeVar("R")

ChangeSink = Callable[[Change[Any]], object]
"""Receives each change record after its row callbacks ran (the ``changes()`` iterator hook)."""

ErrorHandler = Callable[[Exception, Change[Any]], object]
"""Called with an exception raised by a row callback or sink and the change being delivered."""

_callback_ids = itertools.count(1)

_INSERT, _DELETE, _UPDATE = "insert", "delete", "update"


class _Lazy:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<row not decoded yet>"


LAZY: Any = _Lazy()
"""Stands for a row the cache holds as bytes only, until someone looks at it."""

_NONE: Any = ()
_NO_CTX: Any = object()  # a _Firing's context before its factory ran


class _CallbackTable(Protocol):
    """What handles and firing use of a :class:`~.table_cache.TableCache`."""

    name: str
    _sinks: dict[int, ChangeSink]

    def _registered(self, kind: str) -> tuple[CallbackHandle[Any, Any], ...]: ...

    def _remove_callback(self, kind: str, handle: Callable[..., Any]) -> bool: ...

    def _materialize(self, data: bytes) -> Any: ...

    def _decode_row(self, data: bytes) -> Any: ...


class CallbackHandle(Generic[P, R]):
    """What ``on_insert``/``on_delete``/``on_update`` return: pass it to ``remove_on_*``.

    It still calls the wrapped function, so ``@table.on_insert`` keeps the decorated name
    usable.

    Example::

        >>> from spacetimedb_sdk.client.cache import TableCache
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

    def __init__(self, table: _CallbackTable, kind: str, callback: Callable[P, R]) -> None:
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


class _Group:
    """The changes of one message to one table, in firing order.

    Each list holds the rows, or :data:`LAZY` for a row nobody had looked at when the
    message was applied; the parallel ``*_data`` lists hold the rows' bytes, from which
    such a row is decoded the first time it is needed (once: the list then keeps it).
    """

    __slots__ = (
        "delete_data",
        "deletes",
        "event_data",
        "events",
        "insert_data",
        "inserts",
        "table",
        "update_data",
        "updates",
    )

    def __init__(self, table: _CallbackTable) -> None:
        # Empty tuples until the table sets a list: most groups have one kind of change.
        self.table = table
        self.events: list[Any] = _NONE
        self.event_data: list[bytes] = _NONE
        self.inserts: list[Any] = _NONE
        self.insert_data: list[bytes] = _NONE
        self.deletes: list[Any] = _NONE
        self.delete_data: list[bytes] = _NONE
        self.updates: list[tuple[Any, Any]] = _NONE
        self.update_data: list[tuple[bytes, bytes]] = _NONE

    def __len__(self) -> int:
        return len(self.events) + len(self.inserts) + len(self.deletes) + len(self.updates)

    def rows(self, kind: str) -> list[Any]:
        """The rows of ``kind`` (events and inserts for ``_INSERT``), decoded."""
        t = self.table
        if kind == _INSERT:
            # Inserted rows are in the cache: decoding one there keeps it there too.
            inserts = _resolved(self.inserts, self.insert_data, t._materialize)
            if not self.events:
                return inserts
            return [*_resolved(self.events, self.event_data, t._decode_row), *inserts]
        return _resolved(self.deletes, self.delete_data, t._decode_row)

    def update_rows(self) -> list[tuple[Any, Any]]:
        """The ``(old, new)`` pairs, decoded."""
        ups = self.updates
        if any(old is LAZY or new is LAZY for old, new in ups):
            t = self.table
            for i, ((old, new), (old_data, new_data)) in enumerate(
                zip(ups, self.update_data, strict=True)
            ):
                if old is LAZY:
                    old = t._decode_row(old_data)
                if new is LAZY:
                    new = t._materialize(new_data)
                ups[i] = (old, new)
        return ups

    def records(self) -> Iterator[Change[Any]]:
        name = self.table.name
        for row in self.rows(_INSERT):
            yield Insert(name, row)
        for row in self.rows(_DELETE):
            yield Delete(name, row)
        for old, new in self.update_rows():
            yield Update(name, old, new)


def _resolved(rows: list[Any], data: list[bytes], decode: Callable[[bytes], Any]) -> list[Any]:
    """``rows`` with every ``LAZY`` replaced, in place, by its decoded row."""
    if len(rows) == 1:  # the commonest case, without the scan's iterators
        if rows[0] is LAZY:
            rows[0] = decode(data[0])
        return rows
    if rows and any(map(is_, rows, repeat(LAZY))):  # by identity: rows' __eq__ is theirs
        for i, row in enumerate(rows):
            if row is LAZY:
                rows[i] = decode(data[i])
    return rows


class PendingChanges:
    """The changes one message made, in firing order; :meth:`fire` runs the callbacks.

    Iterating yields the :class:`~.changes.Insert` / :class:`~.changes.Delete` /
    :class:`~.changes.Update` records (made on demand: firing callbacks alone builds none).

    Example::

        >>> from spacetimedb_sdk.client.cache import ClientCache, TableCache
        >>> from spacetimedb_sdk.protocol import messages as m
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

    @classmethod
    def _of(cls, group: _Group, sinks: Mapping[int, ChangeSink]) -> PendingChanges:
        """The changes of a message that touched one table (the fast path's)."""
        changes = cls.__new__(cls)
        changes._groups = [group] if (group.inserts or group.deletes or group.updates) else []
        changes._sinks = sinks
        return changes

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
        global_sinks = tuple(self._sinks.values()) if self._sinks else ()
        for g in self._groups:
            firing.deliver(g, global_sinks)
        return firing.awaitables


class _Firing:
    """The state of one :meth:`PendingChanges.fire` call."""

    __slots__ = ("_ctx", "_factory", "awaitables", "on_error")

    def __init__(self, ctx_factory: Callable[[], Any], on_error: ErrorHandler | None) -> None:
        self._factory = ctx_factory
        self.on_error = on_error
        self.awaitables: list[Awaitable[Any]] = []
        self._ctx: Any = _NO_CTX  # made by the first callback that runs

    def deliver(self, g: _Group, global_sinks: tuple[ChangeSink, ...]) -> None:
        t = g.table
        sinks = (*t._sinks.values(), *global_sinks) if t._sinks else global_sinks
        # Rows of a kind nobody listens to are skipped without building (or decoding) anything.
        if (g.events or g.inserts) and (sinks or t._registered(_INSERT)):
            for row in g.rows(_INSERT):
                self._one(t, _INSERT, Insert, (row,), sinks)
        if g.deletes and (sinks or t._registered(_DELETE)):
            for row in g.rows(_DELETE):
                self._one(t, _DELETE, Delete, (row,), sinks)
        if g.updates and (sinks or t._registered(_UPDATE)):
            for old, new in g.update_rows():
                self._one(t, _UPDATE, Update, (old, new), sinks)

    def _one(
        self,
        table: _CallbackTable,
        kind: str,
        record: type[Insert[Any]] | type[Delete[Any]] | type[Update[Any]],
        rows: tuple[Any, ...],
        sinks: tuple[ChangeSink, ...],
    ) -> None:
        # The change record is only built when a sink or an error needs it.
        # Looked up per row: a callback removed by an earlier callback is not called again.
        for handle in table._registered(kind):
            try:
                ctx = self._ctx
                if ctx is _NO_CTX:
                    ctx = self._ctx = self._factory()
                result = handle.callback(ctx, *rows)
            except Exception as exc:
                self._failed(exc, record(table.name, *rows))
                continue
            if result is not None and inspect.isawaitable(result):
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
