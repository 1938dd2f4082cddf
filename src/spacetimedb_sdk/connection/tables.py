"""``conn.db``: one handle per cached table, with its indexes, row callbacks and change stream.

A :class:`TableHandle` is a thin view over one
:class:`~spacetimedb_sdk.client.cache.TableCache` (which does the work, without
I/O); it adds what needs the connection: a consistent snapshot under the
connection's lock, and :class:`ChangeStream` iterators that end when the
connection closes.

Example::

    for table in conn.db:
        print(table.table_name, table.count())
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any, Protocol

from ..client.bindings import TableBinding
from ..client.cache import TableCache
from ..client.changes import Change
from ..client.events import EventContext


class TableOwner(Protocol):
    """What a table handle uses of its connection."""

    _streams: list[ChangeStream]

    @property
    def lock(self) -> threading.RLock: ...


class TableHandle:
    """``conn.db.<table>``: the cached rows of one table, its indexes and row callbacks.

    Example::

        @conn.db.user.on_update
        def renamed(ctx, old, new):
            print(old.name, "->", new.name)

        conn.db.user.identity.find(conn.identity)
        conn.db.message.count()
    """

    __slots__ = ("_binding", "_cache", "_conn")

    def __init__(self, conn: TableOwner, binding: TableBinding, cache: TableCache[Any]) -> None:
        self._conn = conn
        self._binding = binding
        self._cache = cache

    @property
    def table_name(self) -> str:
        """The table's canonical (wire and SQL) name.

        Example::

            conn.db.user.table_name   # 'user'
        """
        return self._binding.name

    def count(self) -> int:
        """Rows in the cache (0 for event tables, which store nothing).

        Example::

            print(conn.db.message.count(), "messages")
        """
        return self._cache.count()

    def __len__(self) -> int:
        return self._cache.count()

    def len(self) -> int:
        """The same as :meth:`count` (and ``len(conn.db.t)``), as the other SDKs name it.

        Example::

            assert conn.db.user.len() == len(conn.db.user)
        """
        return self._cache.count()

    def iter(self) -> Iterator[Any]:
        """The rows, from a snapshot (taken under the connection's lock, so a thread-mode
        connection applying a message on its own thread cannot change it midway).

        Example::

            online = [u for u in conn.db.user.iter() if u.online]
        """
        with self._conn.lock:
            return self._cache.iter()

    def __iter__(self) -> Iterator[Any]:
        return self.iter()

    def index(self, name: str) -> Any:
        """An index by name (``find`` for unique indexes, ``filter`` for btree indexes).

        Example::

            me = conn.db.user.index("identity").find(conn.identity)
        """
        return self._cache.index(name)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._cache.index(name)
        except (KeyError, AttributeError, ValueError):
            pass
        known = sorted(self._cache.indexes)
        raise AttributeError(
            f"table {self._binding.name!r} has no attribute or index {name!r}; indexes: {known}"
        )

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._cache.indexes})

    def on_insert(self, callback: Callable[[EventContext, Any], object]) -> Any:
        """Call ``callback(ctx, row)`` for each row entering the cache (and each event row).

        Returns a handle for :meth:`remove_on_insert`; usable as a decorator.

        Example::

            conn.db.message.on_insert(lambda ctx, message: print(message.text))
        """
        return self._cache.on_insert(callback)

    def on_delete(self, callback: Callable[[EventContext, Any], object]) -> Any:
        """Call ``callback(ctx, row)`` for each row leaving the cache.

        Example::

            conn.db.message.on_delete(lambda ctx, message: print("gone:", message.text))
        """
        return self._cache.on_delete(callback)

    def on_update(self, callback: Callable[[EventContext, Any, Any], object]) -> Any:
        """Call ``callback(ctx, old, new)`` when a row's primary key stays and its value changes.

        Only tables with a primary key have updates; others raise ``TypeError``.

        Example::

            conn.db.user.on_update(lambda ctx, old, new: print(old.name, "->", new.name))
        """
        if not self._binding.primary_key:
            raise TypeError(
                f"table {self._binding.name!r} has no primary key, so it has no updates"
            )
        return self._cache.on_update(callback)

    def remove_on_insert(self, handle: Callable[..., Any]) -> bool:
        """Remove a callback added by :meth:`on_insert` (pass what it returned); ``False`` if unknown.

        Example::

            handle = conn.db.message.on_insert(show)
            conn.db.message.remove_on_insert(handle)
        """
        return self._cache.remove_on_insert(handle)

    def remove_on_delete(self, handle: Callable[..., Any]) -> bool:
        """Remove a callback added by :meth:`on_delete`; ``False`` if it was not registered.

        Example::

            conn.db.message.remove_on_delete(conn.db.message.on_delete(print))
        """
        return self._cache.remove_on_delete(handle)

    def remove_on_update(self, handle: Callable[..., Any]) -> bool:
        """Remove a callback added by :meth:`on_update`; ``False`` if it was not registered.

        Example::

            conn.db.user.remove_on_update(conn.db.user.on_update(print))
        """
        return self._cache.remove_on_update(handle)

    def changes(self) -> ChangeStream:
        """``async for change in conn.db.t.changes()``: :class:`Insert`/:class:`Delete`/:class:`Update` records.

        Example::

            async for change in conn.db.message.changes():
                print(change)
        """
        return ChangeStream(self._conn, self._cache)

    def to_pandas(self) -> Any:
        """The cached rows as a ``pandas.DataFrame`` (needs pandas installed).

        Example::

            df = conn.db.message.to_pandas()
            print(df.groupby("sender").size())
        """
        try:
            import pandas as pd  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        rows = [
            asdict(r) if is_dataclass(r) and not isinstance(r, type) else r
            for r in self._cache.iter()
        ]
        return pd.DataFrame(rows, columns=list(self._binding.row_type.names()))

    def __repr__(self) -> str:
        return f"<table {self._binding.name} rows={self._cache.count()}>"


class ChangeStream:
    """An async iterator of one table's changes, from now on, until ``aclose()``.

    Example::

        async for change in conn.db.message.changes():
            if isinstance(change, Insert):
                print(change.row.text)
    """

    def __init__(self, conn: TableOwner, cache: TableCache[Any]) -> None:
        self._conn = conn
        self._queue: asyncio.Queue[Change[Any] | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._stop = cache.add_change_sink(self._put)
        self._closed = False
        conn._streams.append(self)

    def _put(self, change: Change[Any] | None) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._queue.put_nowait(change)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, change)

    def __aiter__(self) -> ChangeStream:
        return self

    async def __anext__(self) -> Change[Any]:
        if self._closed:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self._closed = True
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Stop the stream: the iteration ends after the changes already queued.

        Example::

            stream = conn.db.message.changes()
            await stream.aclose()
        """
        self._end()

    def _end(self) -> None:
        if not self._closed:
            self._stop()
            self._put(None)


class Tables:
    """``conn.db``: one :class:`TableHandle` per table or view, by Python name."""

    def __init__(self, handles: Mapping[str, TableHandle]) -> None:
        self._handles = dict(handles)

    def __getattr__(self, name: str) -> TableHandle:
        try:
            return self._handles[name]
        except KeyError:
            # The canonical wire name (``pk_u_32``) works too, beside the Python name (``pk_u32``).
            for handle in self._handles.values():
                if handle._binding.name == name:
                    return handle
            raise AttributeError(
                f"no table named {name!r}; tables: {sorted(self._handles)}"
            ) from None

    def __iter__(self) -> Iterator[TableHandle]:
        return iter(self._handles.values())

    def __dir__(self) -> list[str]:
        return sorted(self._handles)

    def __repr__(self) -> str:
        return tables_repr("conn.db", self._handles)


def tables_repr(label: str, handles: Mapping[str, TableHandle]) -> str:
    """``<conn.db: message (3 rows), user (2 rows)>``: what ``repr(conn.db)`` shows.

    Example::

        >>> tables_repr("conn.db", {})
        '<conn.db: no tables>'
    """
    inner = ", ".join(f"{name} ({h.count()} rows)" for name, h in sorted(handles.items()))
    return f"<{label}: {inner or 'no tables'}>"


__all__ = ["ChangeStream", "TableHandle", "TableOwner", "Tables", "tables_repr"]
