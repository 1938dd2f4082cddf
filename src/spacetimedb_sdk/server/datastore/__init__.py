"""The local server's in-memory, transactional datastore.

A :class:`Datastore` holds the tables of one database; module code reads and writes them
through ``ctx.db`` inside a :class:`Transaction`, whose commit returns the net changes as a
:class:`TxResult`.  The package is layered, each file importing only those above it in this list:

- :mod:`.errors`: the errors of table operations, with upstream's texts;
- :mod:`.schema`: what the datastore knows about a table (:class:`TableSchema` and its parts);
- :mod:`.satn`: the text form of values that error messages quote;
- :mod:`.table_store`: the rows and indexes of one table (:class:`TableStore`, :class:`Range`);
- :mod:`.constraints`: unique indexes and auto-increment sequences;
- :mod:`.handles`: ``ctx.db.<table>.<index>``, the module-facing API (:class:`DbView`);
- :mod:`.transaction`: the undo log and the changeset (:class:`Transaction`, :class:`TxResult`);
- :mod:`.datastore`: the :class:`Datastore` itself.

Example::

    >>> ds = Datastore([schema_of_user], typespace)           # doctest: +SKIP
    >>> with ds.transaction() as tx:                           # doctest: +SKIP
    ...     tx.db.user.insert(User(identity=alice, name=None, online=True))
    >>> ds.last_result.inserts["user"]                         # doctest: +SKIP
"""

from ...sats.ordering import KeyCompiler
from .datastore import Datastore
from .errors import AutoIncOverflow, DatastoreError, NoSuchRow, UniqueConstraintViolation
from .handles import BTreeIndexHandle, DbView, TableHandle, UniqueIndexHandle
from .satn import satn
from .schema import ColumnSchema, IndexSchema, ScheduleSchema, SequenceSchema, TableSchema
from .table_store import Range, TableStore
from .transaction import Transaction, TxResult

__all__ = [
    "AutoIncOverflow",
    "BTreeIndexHandle",
    "ColumnSchema",
    "Datastore",
    "DatastoreError",
    "DbView",
    "IndexSchema",
    "KeyCompiler",
    "NoSuchRow",
    "Range",
    "ScheduleSchema",
    "SequenceSchema",
    "TableHandle",
    "TableSchema",
    "TableStore",
    "Transaction",
    "TxResult",
    "UniqueConstraintViolation",
    "UniqueIndexHandle",
    "satn",
]
