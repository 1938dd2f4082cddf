"""The subscription engine's API: :class:`SubscriptionManager`.

Subscribing, unsubscribing, forgetting a client and one-off queries are here; the state and
query planning are in :mod:`.registry`, commit evaluation in :mod:`.delta`, which this class
extends, so the host talks to one object.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from ...protocol import messages as m
from ...sats.values import Identity
from ..sql.eval import CompiledFragment
from ..system_tables import SystemState
from .cardinality import RowLimitExceeded, check_row_limit
from .catalog import _SourceId
from .delta import DeltaEvaluation
from .encoding import _Encoder
from .errors import DuplicateQuerySet, SubscriptionFailure, UnknownQuerySet
from .queries import _Query

# The package's name, as the logger was named before the engine was split into files.
log = logging.getLogger(__package__)

_ALL_TABLES = re.compile(r"\s*SELECT\s+\*\s+FROM\s+\*\s*\Z", re.IGNORECASE)
_EVAL_FAILED = "Internal error evaluating queries"


@dataclass(frozen=True)
class PreparedQuery:
    """A compiled query: its text, the table it returns and whether that is an event table.

    Example::

        >>> PreparedQuery("SELECT * FROM t", "t", False).table
        't'
    """

    sql: str
    table: str
    is_event: bool


class SubscriptionManager(DeltaEvaluation):
    """Every client's query sets over one module's datastore (see the package docstring).

    ``client`` values are opaque hashable handles chosen by the host (one per
    connection).  Not thread-safe: call it from the thread that commits.

    Example::

        manager = SubscriptionManager(module, datastore)
        applied = manager.subscribe(conn, sender, 1, ["SELECT * FROM message"])
    """

    # -- the API

    def subscribe(
        self,
        client: Hashable,
        sender: Identity,
        query_set_id: int,
        queries: list[str],
        *,
        is_owner: bool = False,
    ) -> m.QueryRows:
        """Add a query set and return its initial rows (``SubscribeApplied.rows``).

        Raises :class:`SubscriptionFailure` (nothing registered) or
        :class:`DuplicateQuerySet`.
        """
        texts = self._expand_all_tables(queries, is_owner)
        compiled: dict[Hashable, _Query] = {}
        for sql in texts:
            query = self._query(sql, sender, is_owner)
            compiled.setdefault(query.key, query)
        sub = (client, query_set_id)
        if sub in self._sets:
            raise DuplicateQuerySet(query_set_id)
        chosen = list(compiled.values())
        self._check_row_limit(chosen, sender, is_owner)
        created: list[_SourceId] = []
        try:
            for query in chosen:
                created += self._acquire_views(query)
            rows = self._query_rows(chosen)
        except Exception:
            log.exception("evaluating the initial rows of query set %s failed", query_set_id)
            for sid in created:
                self._views.pop(sid, None)
            raise SubscriptionFailure(_EVAL_FAILED) from None
        for query in chosen:
            if query.key not in self._queries:
                self._register(query)
                for sid in self._view_sources(query):
                    self._views[sid].refs += 1
            query.subscribers[sub] = None
        self._sets[sub] = chosen
        self._client_sets.setdefault(client, {})[query_set_id] = None
        return rows

    def prepare(
        self, sender: Identity, queries: list[str], *, is_owner: bool = False
    ) -> list[PreparedQuery]:
        """Compile queries without subscribing (``SELECT * FROM *`` expanded, duplicates
        dropped) and check the row limit over all of them together.

        Raises :class:`SubscriptionFailure` with upstream's text.  The v1 protocol, which
        subscribes query by query, validates a request whole with this first.
        """
        compiled: dict[Hashable, _Query] = {}
        for sql in self._expand_all_tables(queries, is_owner):
            query = self._query(sql, sender, is_owner)
            compiled.setdefault(query.key, query)
        chosen = list(compiled.values())
        self._check_row_limit(chosen, sender, is_owner)
        return [PreparedQuery(q.sql, q.table, q.is_event) for q in chosen]

    def rows_of(self, client: Hashable, query_set_id: int) -> m.QueryRows:
        """The current rows of an active query set (as ``SubscribeApplied`` carries them).

        Raises :class:`UnknownQuerySet` when the set is not active.
        """
        queries = self._sets.get((client, query_set_id))
        if queries is None:
            raise UnknownQuerySet(query_set_id)
        return self._query_rows(queries)

    def _check_row_limit(self, queries: list[_Query], sender: Identity, is_owner: bool) -> None:
        """Refuse a non-owner's new queries estimated to scan more than ``row_limit`` rows."""
        fragments = [cf.fragment for query in queries for cf in query.fragments]
        try:
            check_row_limit(self._catalog, fragments, is_owner=is_owner, sender=sender)
        except RowLimitExceeded as e:
            raise SubscriptionFailure(str(e)) from None

    @property
    def system(self) -> SystemState:
        """What the ``st_*`` system tables read: ``st_var``'s variables, the connected clients."""
        return self._catalog.system

    def _expand_all_tables(self, queries: list[str], is_owner: bool) -> list[str]:
        """Trimmed query texts, deduplicated; ``SELECT * FROM *`` becomes every readable table."""
        texts: dict[str, None] = {}
        for sql in queries:
            if _ALL_TABLES.match(sql):
                for t in self._catalog.schema.tables():
                    if t.is_view or t.is_event or t.system is not None:
                        continue
                    if t.is_public or is_owner:
                        texts[f"SELECT * FROM {t.name}"] = None
            else:
                texts[sql.strip()] = None
        return list(texts)

    def unsubscribe(self, client: Hashable, query_set_id: int) -> m.QueryRows:
        """Remove a query set; returns its current rows (``UnsubscribeApplied.rows``).

        Raises :class:`UnknownQuerySet` when the set is not active.
        """
        queries = self._sets.get((client, query_set_id))
        if queries is None:
            raise UnknownQuerySet(query_set_id)
        try:
            rows = self._query_rows(queries)
        finally:
            self._remove_set((client, query_set_id))
        return rows

    def drop_client(self, client: Hashable) -> None:
        """Forget every query set of a disconnected client."""
        for query_set_id in list(self._client_sets.get(client, ())):
            self._remove_set((client, query_set_id))

    def query_sets(self, client: Hashable) -> list[int]:
        """The active query-set ids of ``client`` (ascending).

        Example::

            manager.query_sets(conn)    # [1, 2]
        """
        return sorted(self._client_sets.get(client, ()))

    def active_sets(self) -> list[tuple[Hashable, int, list[str]]]:
        """Every active query set as ``(client, query_set_id, query texts)``, in the order
        they were subscribed (what a new module's engine re-subscribes after a hot swap).

        Example::

            manager.active_sets()    # [(conn, 1, ['SELECT * FROM message'])]
        """
        return [
            (client, qs, [q.sql for q in queries]) for (client, qs), queries in self._sets.items()
        ]

    def one_off_query(
        self, sender: Identity, sql: str, *, is_owner: bool = False, row_limit: int | None = None
    ) -> m.QueryRows:
        """Evaluate a WebSocket one-off query (subscription grammar) now.

        Returns one ``SingleTableRows`` with every fragment's rows; raises
        :class:`SubscriptionFailure` with the error text.  ``row_limit`` is the estimate's
        limit for a non-owner when ``st_var`` sets none.
        """
        sql = sql.strip()
        frags, table, _, _ = self._plan(sql, is_owner, with_sql=False)
        catalog = self._catalog
        try:
            check_row_limit(catalog, frags, is_owner=is_owner, default=row_limit, sender=sender)
        except RowLimitExceeded as e:
            raise SubscriptionFailure(str(e), over_limit=True) from None
        rows: list[Any] = []
        try:
            for frag in frags:
                compiled = CompiledFragment(
                    frag, [catalog.info(n) for n in frag.tables], catalog.keys, sender
                )
                sources = [
                    catalog.current_source(catalog.source_id(n, sender)) for n in frag.tables
                ]
                rows += compiled.rows(sources)
        except Exception as e:
            log.exception("one-off query %r failed", sql)
            raise SubscriptionFailure(str(e)) from None
        encoded = _Encoder(catalog).encode(table, rows)
        return m.QueryRows([m.SingleTableRows(table, encoded)])
