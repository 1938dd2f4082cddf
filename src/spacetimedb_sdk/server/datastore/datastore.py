"""The :class:`Datastore`: the tables of one database, and its one open transaction at a time.

It is the top of the datastore package: it builds a :class:`TableStore` per table and hands out
:class:`Transaction` objects.  The host holds one per database; holding it for the length of a
transaction (rather than a call) is where concurrent module code would be serialized.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ...sats.ordering import KeyCompiler
from ...sats.types import Typespace
from .constraints import check_unique
from .errors import DatastoreError
from .handles import DbView
from .schema import TableSchema
from .table_store import TableStore
from .transaction import Transaction, TxResult


class Datastore:
    """The tables of one database, and the one open transaction at a time.

    Example::

        >>> ds = Datastore(tables, typespace, classes)                 # doctest: +SKIP
        >>> with ds.transaction() as tx:                                # doctest: +SKIP
        ...     tx.db.message.insert(Message(sender=me, sent=now, text="hi"))
    """

    def __init__(
        self,
        tables: Sequence[TableSchema],
        typespace: Typespace,
        classes: Mapping[int, type] | None = None,
    ) -> None:
        self.typespace = typespace
        self.keys = KeyCompiler(typespace, classes or {})
        self.stores: dict[str, TableStore] = {}
        self._by_accessor: dict[str, TableStore] = {}
        for schema in tables:
            store = TableStore(schema, self.keys)
            self.stores[schema.name] = store
            self._by_accessor[schema.accessor] = store
        self._active: Transaction | None = None
        self.last_result: TxResult | None = None

    def store(self, table: str) -> TableStore:
        """A table by canonical name or accessor.

        Example::

            len(datastore.store("task").rows)
        """
        store = self.stores.get(table) or self._by_accessor.get(table)
        if store is None:
            raise KeyError(f"no table named {table!r}")
        return store

    @property
    def active(self) -> Transaction | None:
        """The open transaction, if any.

        Example::

            assert datastore.active is None   # nothing open between reducer calls
        """
        return self._active

    def begin(self) -> Transaction:
        """Open the (single) mutable transaction.

        Example::

            tx = datastore.begin()
            tx.db.task.insert(Task(id=0, owner=alice, text="buy milk", done=False))
            tx.commit()
        """
        if self._active is not None:
            raise DatastoreError("a transaction is already open; commit or roll it back first")
        self._active = Transaction(self)
        return self._active

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run a block in a transaction: commit on success (result in :attr:`last_result`),
        roll back if it raises.

        Example::

            with datastore.transaction() as tx:
                tx.db.task.insert(Task(id=0, owner=alice, text="buy milk", done=False))
            datastore.last_result.inserts["task"]
        """
        tx = self.begin()
        try:
            yield tx
        except BaseException:
            if tx.open:
                tx.rollback()
            raise
        if tx.open:
            self.last_result = tx.commit()

    def replay(self, table: str, deletes: Sequence[Any], inserts: Sequence[Any]) -> None:
        """Apply a committed transaction's rows to ``table`` as they were, outside any transaction.

        For rebuilding a database from its commit log: no constraint checks and no sequences
        (the rows were valid when first committed, and carry their sequence values).  A delete
        of a row that is not there means the log does not match the state: ``DatastoreError``.

        Example::

            datastore.replay("task", deletes=[], inserts=[Task(id=1, owner=alice, text="x", done=False)])
        """
        if self._active is not None:
            raise DatastoreError("cannot replay rows while a transaction is open")
        store = self.store(table)
        for row in deletes:
            rk = store.row_key(row)
            if rk not in store.rows:
                raise DatastoreError(
                    f"the log deletes a row of {table!r} that is not there: {row!r}"
                )
            store._remove(rk)
        for row in inserts:
            store._add(store.row_key(row), row)

    def load(self, table: str, rows: Iterable[Any]) -> None:
        """Put stored rows into ``table`` as they are, outside any transaction (restoring or
        migrating data): sequences fill nothing, unique keys are checked
        (:class:`~.errors.UniqueConstraintViolation`).

        Example::

            datastore.load("user", rows_from_the_old_module)
        """
        if self._active is not None:
            raise DatastoreError("cannot load rows while a transaction is open")
        store = self.store(table)
        for row in rows:
            check_unique(store, row, None)
            store._add(store.row_key(row), row)

    def read_view(self) -> DbView:
        """A read-only ``db`` over the current state (for views and tests).

        Example::

            tasks = list(datastore.read_view().task.owner.filter(alice))
        """
        return DbView(self, None)
