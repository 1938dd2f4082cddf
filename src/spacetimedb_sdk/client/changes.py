"""Row change records: what one server message did to one table, row by row.

The cache returns these (wrapped in :class:`~spacetimedb_sdk.client.cache.PendingChanges`)
after applying a message; the same objects are handed to row callbacks' change sinks and
yielded by ``async for change in conn.db.<table>.changes()``.  They are frozen, so a
consumer can keep them after the cache has moved on.

``table`` is the table's canonical (wire) name.

Example::

    >>> from spacetimedb_sdk.client.changes import Insert, Update
    >>> Insert("user", {"name": "Alice"})
    Insert(table='user', row={'name': 'Alice'})
    >>> match Update("user", {"n": 1}, {"n": 2}):
    ...     case Update(old=old, new=new):
    ...         print(old["n"], "->", new["n"])
    1 -> 2
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

RowT = TypeVar("RowT")


@dataclass(frozen=True, slots=True)
class Insert(Generic[RowT]):
    """A row entered the cache (its count went from 0 to more than 0), or an event row arrived.

    Example::

        >>> Insert("message", {"text": "hi"}).row["text"]
        'hi'
    """

    table: str
    row: RowT


@dataclass(frozen=True, slots=True)
class Delete(Generic[RowT]):
    """A row left the cache (its count went from more than 0 to 0).

    Example::

        >>> Delete("message", {"text": "hi"}).table
        'message'
    """

    table: str
    row: RowT


@dataclass(frozen=True, slots=True)
class Update(Generic[RowT]):
    """In a table with a primary key, one message deleted ``old`` and inserted ``new`` with the same key.

    Example::

        >>> Update("user", {"id": 1, "name": "A"}, {"id": 1, "name": "B"}).new["name"]
        'B'
    """

    table: str
    old: RowT
    new: RowT


Change: TypeAlias = Insert[RowT] | Delete[RowT] | Update[RowT]

__all__ = ["Change", "Delete", "Insert", "Update"]
