"""Fan-out: the per-client result of a commit, and row encoding shared by every subscriber.

:class:`_Encoder` encodes each row object once per commit; :func:`_query_set_update` builds one
query set's update (a ``TableUpdate`` per table, a rows entry per fragment); the same update
object goes to every query set with the same id and changed queries, and the host sends equal
message objects to many clients, which the WebSocket writer encodes once.  :class:`CommitUpdates`
is what a commit hands the host.  Another wire protocol (v1) would need its own encoder here.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from ...protocol import messages as m
from .catalog import _Catalog
from .queries import _Query


class CommitUpdates(dict[Hashable, list[m.QuerySetUpdate]]):
    """What :meth:`SubscriptionManager.on_commit` returns: client → its query-set updates.

    ``failures`` maps clients to ``(query_set_id, error)`` pairs of sets whose
    evaluation failed during this commit; those sets are already dropped and
    the host sends ``SubscriptionError{request_id: None, …}`` for each *before*
    the updates (a client may appear in ``failures`` only).

    Example::

        >>> CommitUpdates().failures
        {}
    """

    def __init__(self) -> None:
        super().__init__()
        self.failures: dict[Hashable, list[tuple[int, str]]] = {}


class _Encoder:
    """Encodes each row object once per commit (rows are alive for the whole commit)."""

    def __init__(self, catalog: _Catalog) -> None:
        self.catalog = catalog
        self._cache: dict[int, bytes] = {}

    def encode(self, table: str, rows: Iterable[Any]) -> m.BsatnRowList:
        codec = self.catalog.codec(table)
        cache = self._cache
        out: list[bytes] = []
        for row in rows:
            data = cache.get(id(row))
            if data is None:
                data = cache[id(row)] = codec.encode(row)
            out.append(data)
        return m.BsatnRowList.from_rows(out)

    def update(
        self, table: str, is_event: bool, inserts: list[Any], deletes: list[Any]
    ) -> m.PersistentTableRows | m.EventTableRows | None:
        if is_event:
            return m.EventTableRows(self.encode(table, inserts)) if inserts else None
        if not inserts and not deletes:
            return None
        return m.PersistentTableRows(self.encode(table, inserts), self.encode(table, deletes))


def _query_set_update(
    query_set_id: int,
    queries: list[_Query],
    rows_of: dict[_Query, list[m.PersistentTableRows | m.EventTableRows]],
) -> m.QuerySetUpdate:
    """One set's update: a ``TableUpdate`` per table (by name), a rows entry per fragment."""
    if len(queries) == 1:
        query = queries[0]
        return m.QuerySetUpdate(query_set_id, [m.TableUpdate(query.table, rows_of[query])])
    tables: dict[str, list[m.PersistentTableRows | m.EventTableRows]] = {}
    for query in queries:
        tables.setdefault(query.table, []).extend(rows_of[query])
    return m.QuerySetUpdate(
        query_set_id, [m.TableUpdate(name, tables[name]) for name in sorted(tables)]
    )
