"""What module code uses: ``ctx.db.<table>.<index>`` (:class:`DbView` and the table and index handles).

This is the Python module API over the datastore.  It turns attribute access into calls on a
:class:`TableStore` (reads) and on the open transaction (writes); a module in another language
would make the same calls through host syscalls instead of these handles.  The handles see the
transaction through :class:`TransactionWrites`, so this file sits below :mod:`.transaction`
(which creates a :class:`DbView` for every transaction).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .errors import DatastoreError
from .schema import IndexSchema
from .table_store import Range, Tables, TableStore


class TransactionWrites(Protocol):
    """The writes of an open transaction, as the handles call them (see :class:`.Transaction`)."""

    open: bool

    def insert(self, table: str, row: Any) -> Any:
        """Insert ``row``; returns the stored row."""
        ...

    def delete(self, table: str, row: Any) -> bool:
        """Delete the row equal to ``row``."""
        ...

    def delete_where(self, table: str, index: str, prefix: Sequence[Any], rng: Range | None) -> int:
        """Delete the rows an index scan finds."""
        ...

    def update(self, table: str, index: str, row: Any) -> Any:
        """Replace the row with the same value in unique ``index``."""
        ...

    def clear(self, table: str) -> int:
        """Delete every row of ``table``."""
        ...


class DbView:
    """``ctx.db``: one attribute per table accessor (``ctx.db.user``).

    Example::

        >>> ctx.db.user.identity.find(ctx.sender)                  # doctest: +SKIP
    """

    def __init__(self, datastore: Tables, tx: TransactionWrites | None) -> None:
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

    def __init__(self, store: TableStore, tx: TransactionWrites | None) -> None:
        self._store = store
        self._tx = tx

    def _writer(self) -> TransactionWrites:
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
