"""Transactions: the undo log, and the net changeset a commit returns (:class:`TxResult`).

Transactions use an **undo log**: a write applies to the tables at once and records how to
reverse itself.  Reducers run one at a time (upstream serializes mutable transactions too), so
in-place writes need no isolation, a reducer reads its own writes for free, and a rollback costs
O(writes) instead of copying tables.  The net changeset (rows inserted and deleted by the
transaction, an insert cancelled by a later delete of the same row and vice versa) is kept
alongside and returned by :meth:`Transaction.commit` as a :class:`TxResult`, which is what
subscriptions, the scheduler (and a future commit log) consume.  Sequences are *not* rolled back
(see :mod:`.constraints`).  Event tables hold their rows only until the end of the transaction:
inserts appear in the changeset and are then dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ...errors import BsatnEncodeError
from ..budget import current_budget
from .constraints import check_unique, fill_sequences
from .errors import DatastoreError, NoSuchRow
from .handles import DbView
from .table_store import Range, Tables, TableStore

_R = TypeVar("_R")


class TransactionOwner(Tables, Protocol):
    """The datastore as its transaction sees it: the tables, and the slot of the open transaction."""

    _active: Transaction | None


@dataclass
class TxResult:
    """The net effect of a committed transaction, per canonical table name.

    ``inserts``/``deletes`` list rows in the order the transaction first touched
    them; only tables with changes appear.  A row updated through its primary key
    shows up as a delete of the old row plus an insert of the new one.  Event-table
    rows appear in ``inserts`` only.

    Example::

        result = module.call_reducer(datastore, "add_task", ["buy milk"], sender=alice)
        result.tx.inserts["task"]   # [Task(id=1, owner=..., text='buy milk', done=False)]
    """

    inserts: dict[str, list[Any]] = field(default_factory=dict)
    deletes: dict[str, list[Any]] = field(default_factory=dict)

    def is_empty(self) -> bool:
        """Whether the transaction changed nothing.

        Example::

            assert datastore.begin().commit().is_empty()
        """
        return not self.inserts and not self.deletes

    def tables(self) -> list[str]:
        """Names of the tables with changes, inserts' tables first.

        Example::

            result.tx.tables()   # ['task']
        """
        return list(dict.fromkeys([*self.inserts, *self.deletes]))


@dataclass
class _Changes:
    inserted: dict[Hashable, Any] = field(default_factory=dict)
    deleted: dict[Hashable, Any] = field(default_factory=dict)


class Transaction:
    """One mutable transaction over a :class:`Datastore` (undo log + net changeset).

    Use :meth:`Datastore.begin`, then table writes through :attr:`db` (or the
    methods below), then :meth:`commit` or :meth:`rollback`.

    Example::

        tx = datastore.begin()
        tx.db.task.insert(Task(id=0, owner=alice, text="buy milk", done=False))
        changes = tx.commit()
    """

    def __init__(self, datastore: TransactionOwner) -> None:
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

    # -- writes (module code calls these: each runs shielded from the call budget's interrupt,
    # so a reducer stopped for overrunning its budget never leaves a half-updated index behind)

    def _shielded(self, fn: Callable[..., _R], *args: Any) -> _R:
        budget = current_budget()
        if budget is None:
            return fn(*args)
        call = budget.shield()
        try:
            return fn(*args)
        finally:
            budget.unshield(call)

    def insert(self, table: str, row: Any) -> Any:
        """Insert ``row`` into ``table`` (canonical name or accessor); returns the stored row.

        Auto-increment columns holding ``0`` get their next sequence value.  Inserting
        a row identical to a present one is a no-op (set semantics).

        Example::

            stored = tx.insert("task", Task(id=0, owner=alice, text="buy milk", done=False))
            stored.id   # 1: the sequence's value replaced the 0
        """
        return self._shielded(self._insert, table, row)

    def delete(self, table: str, row: Any) -> bool:
        """Delete the row equal to ``row``; ``False`` if there was none.

        Example::

            assert tx.delete("task", stored)
        """
        return self._shielded(self._delete, table, row)

    def delete_where(self, table: str, index: str, prefix: Sequence[Any], rng: Range | None) -> int:
        """Delete the rows an index scan finds; returns how many were deleted.

        Example::

            tx.delete_where("task", "owner", [alice], None)   # every task of alice
        """
        return self._shielded(self._delete_where, table, index, prefix, rng)

    def update(self, table: str, index: str, row: Any) -> Any:
        """Replace the row with the same value in unique ``index`` by ``row``.

        Raises :class:`NoSuchRow` if there is none; other unique indexes are checked
        before anything changes.  The changeset gets a delete of the old row and an
        insert of the new one (nothing if they are equal).

        Example::

            tx.update("task", "id", dataclasses.replace(stored, done=True))
        """
        return self._shielded(self._update, table, index, row)

    def clear(self, table: str) -> int:
        """Delete every row of ``table``; returns how many there were.

        Example::

            tx.clear("task")
        """
        return self._shielded(self._clear, table)

    def _insert(self, table: str, row: Any) -> Any:
        self._check_open()
        store = self._ds.store(table)
        if not isinstance(row, store.schema.row_class):
            raise BsatnEncodeError(
                f"expected a {store.schema.row_class.__qualname__} row, got {type(row).__name__}",
                path=store.schema.name,
            )
        row = fill_sequences(store, row)
        rk = store.row_key(row)
        if rk in store.rows:
            return store.rows[rk]
        check_unique(store, row, None)
        self._record_insert(store, rk, row)
        return row

    def _delete(self, table: str, row: Any) -> bool:
        self._check_open()
        store = self._ds.store(table)
        rk = store.row_key(row)
        if rk not in store.rows:
            return False
        self._record_delete(store, rk)
        return True

    def _delete_where(
        self, table: str, index: str, prefix: Sequence[Any], rng: Range | None
    ) -> int:
        self._check_open()
        store = self._ds.store(table)
        rows = store.scan(store.index(index), prefix, rng)
        for r in rows:
            self._record_delete(store, store.row_key(r))
        return len(rows)

    def _update(self, table: str, index: str, row: Any) -> Any:
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
        row = fill_sequences(store, row, skip=ix.columns)
        new_rk = store.row_key(row)
        if new_rk == old_rk:
            return store.rows[old_rk]
        check_unique(store, row, old_rk)
        self._record_delete(store, old_rk)
        self._record_insert(store, new_rk, row)
        return row

    def _clear(self, table: str) -> int:
        self._check_open()
        store = self._ds.store(table)
        keys = list(store.rows)
        for rk in keys:
            self._record_delete(store, rk)
        return len(keys)

    # -- end

    def commit(self) -> TxResult:
        """Make the writes permanent and return the net changeset.

        Example::

            tx = datastore.begin()
            tx.db.task.insert(Task(id=0, owner=alice, text="buy milk", done=False))
            tx.commit().inserts["task"]   # [Task(id=1, ...)]
        """
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
        """Undo every write of this transaction (sequences keep their advance).

        Example::

            tx = datastore.begin()
            tx.clear("task")
            tx.rollback()   # the tasks are back
        """
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
