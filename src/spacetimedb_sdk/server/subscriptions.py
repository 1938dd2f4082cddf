"""The local server's subscription engine, one-off queries and ``/sql`` execution.

:class:`SubscriptionManager` keeps every client's query sets (protocol.md §4.6)
and, after each commit, computes what each of them must be told:

* queries are compiled with the subscription grammar, then expanded by
  row-level security (each table's RLS filters, with ``:sender`` = the
  subscriber, unless the subscriber owns the database) into *fragments*
  whose results form a bag union, as upstream;
* identical queries are shared across clients: a query is keyed by its SQL
  text, the owner flag and, only when it depends on the caller (``:sender``,
  RLS filters using it, per-caller views), the caller's identity.  A commit
  evaluates each affected query once, encodes each row once, and hands the
  same row lists to every subscriber;
* single-table queries are found from the changed rows, through a hash of
  their ``column = constant`` terms when they have one, so a commit costs
  O(changed rows × matching queries); joins (and views) go through
  :meth:`~.sql.eval.CompiledFragment.delta` (incremental, bag semantics);
* views are re-evaluated after every non-empty commit, once per view and
  caller (anonymous views once), and diffed against their previous rows;
* event-table rows reach matching subscribers as ``EventTableRows``.

Messages follow upstream's shapes: ``SubscribeApplied``/``UnsubscribeApplied``
rows carry one ``SingleTableRows`` per (query, fragment) whose tables are all
non-empty; an update carries, per query set (ascending id), one
``TableUpdate`` per table (by name) holding one rows entry per contributing
query fragment.  Errors carry upstream's texts (``<error>, executing:
`<sql>```).

:func:`execute_sql` runs one HTTP ``/sql`` statement.

Example::

    manager = SubscriptionManager(module, datastore)
    rows = manager.subscribe(conn, identity, 1, ["SELECT * FROM user"])
    result = module.call_reducer(datastore, "set_name", ["Ann"], sender=identity)
    updates = manager.on_commit(result.tx)       # {conn: [QuerySetUpdate(...)]}
    for client, failed in updates.failures.items(): ...   # send these first
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import weakref
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpacetimeDBError
from ..protocol import messages as m
from ..sats import bsatn
from ..sats.sats_json import to_json_untyped
from ..sats.types import AlgebraicType, ProductTypeElement
from ..sats.values import Identity
from .datastore import Datastore, TxResult
from .describe import canonical_type
from .module import Module
from .sql import (
    ColumnsProjection,
    CountProjection,
    DeletePlan,
    InsertPlan,
    SelectPlan,
    SetVarPlan,
    ShowVarPlan,
    SqlError,
    StarProjection,
    UpdatePlan,
    compile_sql,
    compile_subscription,
)
from .sql.eval import CompiledFragment, Fragment, RowSource, TableInfo, expand_rls
from .sqlschema import ModuleSqlSchema, ModuleSqlTable

log = logging.getLogger(__name__)

_ALL_TABLES = re.compile(r"\s*SELECT\s+\*\s+FROM\s+\*\s*\Z", re.IGNORECASE)
_EVAL_FAILED = "Internal error evaluating queries"


# ---- errors ------------------------------------------------------------------------------------


class SubscriptionFailure(SpacetimeDBError):
    """A subscription or one-off query was refused; ``message`` is what the client is told.

    Example::

        >>> SubscriptionFailure("no such table: `x`").message
        'no such table: `x`'
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class DuplicateQuerySet(SpacetimeDBError):
    """The client subscribed with a query-set id that is still active (fatal: close 1011).

    Example::

        >>> str(DuplicateQuerySet(3))
        'Subscription with id QuerySetId { id: 3 } already exists for this client'
    """

    def __init__(self, query_set_id: int) -> None:
        self.query_set_id = query_set_id
        super().__init__(
            f"Subscription with id QuerySetId {{ id: {query_set_id} }} already exists "
            "for this client"
        )


class UnknownQuerySet(SpacetimeDBError):
    """Unsubscribe from a query set that is not active (answered with a SubscriptionError).

    Example::

        >>> UnknownQuerySet(4).message
        'Subscription not found: QuerySetId { id: 4 }'
    """

    def __init__(self, query_set_id: int) -> None:
        self.query_set_id = query_set_id
        self.message = f"Subscription not found: QuerySetId {{ id: {query_set_id} }}"
        super().__init__(self.message)


class SqlExecutionError(SpacetimeDBError):
    """A ``/sql`` statement failed; the host answers 400 with ``message``.

    Example::

        >>> SqlExecutionError("no such table: `x`").message
        'no such table: `x`'
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


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


# ---- the catalog: tables, views, codecs and RLS of one module + datastore ----------------------


_SourceId = tuple[str, Identity | None]
"""A FROM source: a table ``(name, None)``, or a view and the caller it is evaluated for."""


class _Catalog:
    """Per-datastore caches: SQL schema, table infos, codecs, RLS fragments, variables."""

    def __init__(self, module: Module, datastore: Datastore) -> None:
        self.module = module
        self.datastore = datastore
        self.schema = ModuleSqlSchema(module)
        self.keys = datastore.keys
        self._infos: dict[str, TableInfo] = {}
        self._codecs: dict[str, bsatn.Codec] = {}
        self._generic: dict[str, bsatn.Codec] = {}
        self._rls: dict[str, list[Fragment]] | None = None
        self.variables: dict[str, int] = {}

    def table(self, name: str) -> ModuleSqlTable:
        table = self.schema.table(name)
        assert table is not None, name  # plans only name tables the schema resolved
        return table

    def info(self, name: str) -> TableInfo:
        info = self._infos.get(name)
        if info is None:
            info = self._infos[name] = self._make_info(self.table(name))
        return info

    def _make_info(self, table: ModuleSqlTable) -> TableInfo:
        if table.view is None:
            store = self.datastore.store(table.name)
            return TableInfo(
                table.name, table.attrs, tuple(store.col_key), store.row_key, table.is_event
            )
        col_keys = tuple(
            self.keys.key(ty, f"{table.name}.{attr}")
            for attr, ty in zip(table.attrs, table.raw_types, strict=True)
        )
        row_key = self.keys.key(table.row_type, table.name)
        return TableInfo(table.name, table.attrs, col_keys, row_key, is_view=True)

    def codec(self, name: str) -> bsatn.Codec:
        """The BSATN codec of a table's or view's row objects."""
        codec = self._codecs.get(name)
        if codec is None:
            ts, classes = self.module.typespace, self.module.classes
            codec = bsatn.codec_for(self.table(name).row_type, ts, classes=classes)
            self._codecs[name] = codec
        return codec

    def generic_row(self, name: str, row: Any) -> dict[str, Any]:
        """A row object as the generic ``dict`` value (for SATS-JSON)."""
        codec = self._generic.get(name)
        if codec is None:
            codec = bsatn.codec_for(self.table(name).row_type, self.module.typespace)
            self._generic[name] = codec
        value: dict[str, Any] = codec.decode(self.codec(name).encode(row))
        return value

    def rls_rules(self) -> dict[str, list[Fragment]]:
        """The module's RLS filters as fragments, by the table they filter."""
        if self._rls is None:
            rules: dict[str, list[Fragment]] = {}
            for sql in self.module.row_level_security:
                try:
                    plan = compile_subscription(sql, self.schema, caller_is_owner=True)
                except SqlError as e:
                    raise SubscriptionFailure(e.with_sql(sql)) from None
                frag = Fragment.from_select(plan.select, plan.return_index)
                rules.setdefault(plan.return_table.name, []).append(frag)
            self._rls = rules
        return self._rls

    def fragments(self, select: SelectPlan, ret: int, is_owner: bool) -> list[Fragment]:
        """The fragments a SELECT evaluates as: RLS-expanded unless the caller owns the db."""
        frag = Fragment.from_select(select, ret)
        return [frag] if is_owner else expand_rls(frag, self.rls_rules())

    def is_per_caller(self, name: str) -> bool:
        view = self.table(name).view
        return view is not None and not view.is_anonymous

    def source_id(self, name: str, sender: Identity | None) -> _SourceId:
        return (name, sender if self.is_per_caller(name) else None)

    def call_view(self, sid: _SourceId) -> list[Any]:
        view = self.table(sid[0]).view
        assert view is not None
        return self.module.call_view(self.datastore, view, sender=sid[1])

    def current_source(self, sid: _SourceId, view_rows: Sequence[Any] | None = None) -> RowSource:
        """The current rows of a source (a view's rows computed now unless given)."""
        info = self.info(sid[0])
        if not info.is_view:
            return RowSource(info, store=self.datastore.store(sid[0]))
        return RowSource(info, self.call_view(sid) if view_rows is None else view_rows)


_CATALOGS: weakref.WeakKeyDictionary[Datastore, _Catalog] = weakref.WeakKeyDictionary()


def _catalog(module: Module, datastore: Datastore) -> _Catalog:
    catalog = _CATALOGS.get(datastore)
    if catalog is None or catalog.module is not module:
        catalog = _CATALOGS[datastore] = _Catalog(module, datastore)
    return catalog


# ---- queries and views -------------------------------------------------------------------------


_SubKey = tuple[Hashable, int]


class _Query:
    """One compiled query shared by every query set subscribing to it."""

    def __init__(
        self,
        key: Hashable,
        sql: str,
        table: str,
        fragments: list[CompiledFragment],
        sources: list[tuple[_SourceId, ...]],
        is_event: bool,
    ) -> None:
        self.key = key
        self.sql = sql
        self.table = table
        self.fragments = fragments
        self.sources = sources
        self.is_event = is_event
        self.subscribers: dict[_SubKey, None] = {}

    def is_simple(self, fi: int) -> bool:
        """Single-table over a stored table: its delta is a filter of the commit's rows."""
        return self.fragments[fi].n == 1 and not self.fragments[fi].infos[0].is_view


@dataclass
class _ViewState:
    """The last rows of a view for one caller, counted by row key."""

    sid: _SourceId
    rows: list[Any] = field(default_factory=list)
    counts: dict[Hashable, list[Any]] = field(default_factory=dict)
    refs: int = 0

    def replace(self, rows: list[Any], info: TableInfo) -> tuple[list[Any], list[Any]]:
        """Take the new rows; returns ``(added, removed)`` with multiplicity."""
        counts: dict[Hashable, list[Any]] = {}
        for row in rows:
            k = info.row_key(row)
            entry = counts.get(k)
            if entry is None:
                counts[k] = [row, 1]
            else:
                entry[1] += 1
        added: list[Any] = []
        removed: list[Any] = []
        for k, (row, n) in counts.items():
            old = self.counts.get(k)
            extra = n - (old[1] if old else 0)
            if extra > 0:
                added += [row] * extra
        for k, (row, n) in self.counts.items():
            new = counts.get(k)
            gone = n - (new[1] if new else 0)
            if gone > 0:
                removed += [row] * gone
        self.rows, self.counts = rows, counts
        return added, removed


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


_QF = tuple[_Query, int]


class SubscriptionManager:
    """Every client's query sets over one module's datastore (see the module docstring).

    ``client`` values are opaque hashable handles chosen by the host (one per
    connection).  Not thread-safe: call it from the thread that commits.

    Example::

        manager = SubscriptionManager(module, datastore)
        applied = manager.subscribe(conn, sender, 1, ["SELECT * FROM message"])
    """

    def __init__(self, module: Module, datastore: Datastore) -> None:
        self.module = module
        self.datastore = datastore
        self._catalog = _catalog(module, datastore)
        self._sets: dict[_SubKey, list[_Query]] = {}
        self._client_sets: dict[Hashable, dict[int, None]] = {}
        self._queries: dict[Hashable, _Query] = {}
        self._plans: dict[tuple[str, bool], tuple[list[Fragment], str, bool, bool]] = {}
        self._eq: dict[str, dict[int, dict[Hashable, dict[_QF, Any]]]] = {}
        self._scan: dict[str, dict[_QF, Any]] = {}
        self._complex: dict[str, dict[_QF, None]] = {}
        self._views: dict[_SourceId, _ViewState] = {}

    # -- compiling

    def _plan(
        self, sql: str, is_owner: bool, with_sql: bool
    ) -> tuple[list[Fragment], str, bool, bool]:
        """``(fragments, return table, is event table, depends on the caller)``."""
        cached = self._plans.get((sql, is_owner))
        if cached is not None:
            return cached
        catalog = self._catalog
        try:
            plan = compile_subscription(sql, catalog.schema, caller_is_owner=is_owner)
            frags = catalog.fragments(plan.select, plan.return_index, is_owner)
        except SqlError as e:
            raise SubscriptionFailure(e.with_sql(sql) if with_sql else str(e)) from None
        per_caller = any(f.uses_sender for f in frags) or any(
            catalog.is_per_caller(name) for f in frags for name in f.tables
        )
        table = plan.return_table
        result = (frags, table.name, table.is_event, per_caller)
        if len(self._plans) > 4096:
            self._plans.clear()
        self._plans[(sql, is_owner)] = result
        return result

    def _query(self, sql: str, sender: Identity, is_owner: bool) -> _Query:
        frags, table, is_event, per_caller = self._plan(sql, is_owner, with_sql=True)
        key = (sql, is_owner, sender if per_caller else None)
        query = self._queries.get(key)
        if query is None:
            query = self._build_query(key, sql, frags, table, is_event, sender)
        return query

    def _build_query(
        self,
        key: Hashable,
        sql: str,
        frags: list[Fragment],
        table: str,
        is_event: bool,
        sender: Identity,
    ) -> _Query:
        catalog = self._catalog
        compiled = [
            CompiledFragment(f, [catalog.info(n) for n in f.tables], catalog.keys, sender)
            for f in frags
        ]
        sources = [tuple(catalog.source_id(n, sender) for n in f.tables) for f in frags]
        return _Query(key, sql, table, compiled, sources, is_event)

    # -- registration

    def _register(self, query: _Query) -> None:
        self._queries[query.key] = query
        for fi, frag in enumerate(query.fragments):
            qf = (query, fi)
            if query.is_simple(fi):
                table = frag.fragment.tables[0]
                if frag.eq_terms:
                    col, k = frag.eq_terms[0]
                    by_col = self._eq.setdefault(table, {}).setdefault(col, {})
                    by_col.setdefault(k, {})[qf] = frag.predicate
                else:
                    self._scan.setdefault(table, {})[qf] = frag.predicate
            else:
                for name in frag.fragment.tables:
                    self._complex.setdefault(name, {})[qf] = None

    def _unregister(self, query: _Query) -> None:
        del self._queries[query.key]
        for fi, frag in enumerate(query.fragments):
            qf = (query, fi)
            if query.is_simple(fi):
                table = frag.fragment.tables[0]
                if frag.eq_terms:
                    col, k = frag.eq_terms[0]
                    by_col = self._eq[table][col]
                    del by_col[k][qf]
                    if not by_col[k]:
                        del by_col[k]
                else:
                    del self._scan[table][qf]
            else:
                for name in frag.fragment.tables:
                    self._complex[name].pop(qf, None)
        for sid in self._view_sources(query):
            state = self._views[sid]
            state.refs -= 1
            if state.refs == 0:
                del self._views[sid]

    def _view_sources(self, query: _Query) -> set[_SourceId]:
        return {
            sid
            for frag, sids in zip(query.fragments, query.sources, strict=True)
            for info, sid in zip(frag.infos, sids, strict=True)
            if info.is_view
        }

    def _acquire_views(self, query: _Query) -> list[_SourceId]:
        """Materialize the views ``query`` reads (new states get refcount 0 until registered)."""
        created: list[_SourceId] = []
        for sid in self._view_sources(query):
            if sid not in self._views:
                state = _ViewState(sid)
                state.replace(self._catalog.call_view(sid), self._catalog.info(sid[0]))
                self._views[sid] = state
                created.append(sid)
        return created

    # -- evaluation

    def _current_rows(self, query: _Query, skip_empty: bool) -> list[list[Any]]:
        """Each fragment's current rows (``skip_empty``: fragments over an empty source omitted)."""
        out: list[list[Any]] = []
        for frag, sids in zip(query.fragments, query.sources, strict=True):
            sources = [
                self._catalog.current_source(
                    sid, self._views[sid].rows if sid in self._views else None
                )
                for sid in sids
            ]
            if skip_empty and any(len(s) == 0 for s in sources):
                continue
            out.append(frag.rows(sources))
        return out

    def _query_rows(self, queries: Iterable[_Query]) -> m.QueryRows:
        encoder = _Encoder(self._catalog)
        tables: list[m.SingleTableRows] = []
        for query in queries:
            for rows in self._current_rows(query, skip_empty=True):
                tables.append(m.SingleTableRows(query.table, encoder.encode(query.table, rows)))
        return m.QueryRows(tables)

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

    def _expand_all_tables(self, queries: list[str], is_owner: bool) -> list[str]:
        """Trimmed query texts, deduplicated; ``SELECT * FROM *`` becomes every readable table."""
        texts: dict[str, None] = {}
        for sql in queries:
            if _ALL_TABLES.match(sql):
                for t in self._catalog.schema.tables():
                    if not t.is_view and not t.is_event and (t.is_public or is_owner):
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

    def _remove_set(self, sub: _SubKey) -> None:
        queries = self._sets.pop(sub, None)
        if queries is None:
            return
        client_sets = self._client_sets.get(sub[0])
        if client_sets is not None:
            client_sets.pop(sub[1], None)
            if not client_sets:
                del self._client_sets[sub[0]]
        for query in queries:
            query.subscribers.pop(sub, None)
            if not query.subscribers:
                self._unregister(query)

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

    def one_off_query(self, sender: Identity, sql: str, *, is_owner: bool = False) -> m.QueryRows:
        """Evaluate a WebSocket one-off query (subscription grammar) now.

        Returns one ``SingleTableRows`` with every fragment's rows; raises
        :class:`SubscriptionFailure` with the error text.
        """
        sql = sql.strip()
        frags, table, _, _ = self._plan(sql, is_owner, with_sql=False)
        catalog = self._catalog
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

    # -- commits

    def on_commit(self, tx: TxResult) -> CommitUpdates:
        """The updates a committed transaction causes, per client (see :class:`CommitUpdates`)."""
        result = CommitUpdates()
        if tx.is_empty() or not self._sets:
            return result
        encoder = _Encoder(self._catalog)
        failed: dict[_Query, str] = {}
        changed_views, failed_views = self._refresh_views()
        found: dict[_Query, dict[int, m.PersistentTableRows | m.EventTableRows]] = {}
        self._simple_updates(tx, encoder, found)
        self._complex_updates(tx, changed_views, failed_views, encoder, found, failed)
        self._assemble(found, failed, result)
        return result

    def _refresh_views(
        self,
    ) -> tuple[dict[_SourceId, tuple[list[Any], list[Any]]], dict[_SourceId, str]]:
        changed: dict[_SourceId, tuple[list[Any], list[Any]]] = {}
        failed: dict[_SourceId, str] = {}
        for sid, state in self._views.items():
            try:
                rows = self._catalog.call_view(sid)
                added, removed = state.replace(rows, self._catalog.info(sid[0]))
            except Exception as e:
                log.exception("view %s failed", sid[0])
                failed[sid] = f"{type(e).__name__}: {e}"
                continue
            if added or removed:
                changed[sid] = (added, removed)
        return changed, failed

    def _simple_updates(
        self,
        tx: TxResult,
        encoder: _Encoder,
        found: dict[_Query, dict[int, m.PersistentTableRows | m.EventTableRows]],
    ) -> None:
        for table in tx.tables():
            by_col = self._eq.get(table)
            scans = self._scan.get(table)
            if not by_col and not scans:
                continue
            hits: dict[_QF, tuple[list[Any], list[Any]]] = {}
            info = self._catalog.info(table)
            for which, rows in ((0, tx.inserts.get(table, ())), (1, tx.deletes.get(table, ()))):
                for row in rows:
                    if scans:
                        for qf, pred in scans.items():
                            if pred is None or pred(row):
                                hits.setdefault(qf, ([], []))[which].append(row)
                    if by_col:
                        for col, by_key in by_col.items():
                            candidates = by_key.get(
                                info.col_keys[col](getattr(row, info.attrs[col]))
                            )
                            if candidates:
                                for qf, pred in candidates.items():
                                    if pred(row):
                                        hits.setdefault(qf, ([], []))[which].append(row)
            for (query, fi), (inserts, deletes) in hits.items():
                update = encoder.update(table, query.is_event, inserts, deletes)
                if update is not None:
                    found.setdefault(query, {})[fi] = update

    def _complex_updates(
        self,
        tx: TxResult,
        changed_views: dict[_SourceId, tuple[list[Any], list[Any]]],
        failed_views: dict[_SourceId, str],
        encoder: _Encoder,
        found: dict[_Query, dict[int, m.PersistentTableRows | m.EventTableRows]],
        failed: dict[_Query, str],
    ) -> None:
        names = (
            set(tx.tables()) | {sid[0] for sid in changed_views} | {sid[0] for sid in failed_views}
        )
        candidates: dict[_QF, None] = {}
        for name in names:
            candidates.update(self._complex.get(name, {}))
        if not candidates:
            return
        sources: dict[tuple[int, _SourceId], RowSource] = {}

        def source(kind: int, sid: _SourceId) -> RowSource:
            src = sources.get((kind, sid))
            if src is None:
                info = self._catalog.info(sid[0])
                if info.is_view:
                    added, removed = changed_views.get(sid, ([], []))
                    rows = (self._views[sid].rows, added, removed)[kind]
                    src = RowSource(info, rows)
                elif kind == 0:
                    src = RowSource(info, store=self.datastore.store(sid[0]))
                else:
                    src = RowSource(info, (tx.inserts, tx.deletes)[kind - 1].get(sid[0], []))
                sources[(kind, sid)] = src
            return src

        for query, fi in candidates:
            if query in failed:
                continue
            sids = query.sources[fi]
            bad = next((failed_views[s] for s in sids if s in failed_views), None)
            if bad is not None:
                failed[query] = f"{bad}, executing: `{query.sql}`"
                continue
            plus = [source(1, s) for s in sids]
            minus = [source(2, s) for s in sids]
            if all(len(p) == 0 for p in plus) and all(len(d) == 0 for d in minus):
                continue
            try:
                inserts, deletes = query.fragments[fi].delta(
                    [source(0, s) for s in sids], plus, minus
                )
                update = encoder.update(query.table, query.is_event, inserts, deletes)
            except Exception as e:
                log.exception("updating query %r failed", query.sql)
                failed[query] = f"{type(e).__name__}: {e}, executing: `{query.sql}`"
                continue
            if update is not None:
                found.setdefault(query, {})[fi] = update

    def _assemble(
        self,
        found: dict[_Query, dict[int, m.PersistentTableRows | m.EventTableRows]],
        failed: dict[_Query, str],
        result: CommitUpdates,
    ) -> None:
        failed_subs: dict[_SubKey, str] = {}
        for query, message in failed.items():
            for sub in query.subscribers:
                failed_subs.setdefault(sub, message)
        rows_of = {
            query: [by_fragment[fi] for fi in sorted(by_fragment)]
            for query, by_fragment in found.items()
        }
        changed: dict[_SubKey, list[_Query]] = {}
        for query in found:
            for sub in query.subscribers:
                if sub not in failed_subs:
                    changed.setdefault(sub, []).append(query)
        # Sets with the same id and the same changed queries get the same (immutable) update.
        shared: dict[tuple[int, tuple[_Query, ...]], m.QuerySetUpdate] = {}
        for (client, query_set_id), queries in changed.items():
            key = (query_set_id, tuple(queries))
            update = shared.get(key)
            if update is None:
                update = shared[key] = _query_set_update(query_set_id, queries, rows_of)
            result.setdefault(client, []).append(update)
        for sets in result.values():
            if len(sets) > 1:
                sets.sort(key=lambda u: u.query_set_id)
        for sub, message in failed_subs.items():
            result.failures.setdefault(sub[0], []).append((sub[1], message))
            self._remove_set(sub)
        for failures in result.failures.values():
            failures.sort()


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


# ---- HTTP /sql ---------------------------------------------------------------------------------


@dataclass
class SqlStatementResult:
    """One statement's result as ``/sql`` returns it (see :meth:`to_json`).

    Example::

        >>> SqlStatementResult({"elements": []}, [], 3).to_json()["stats"]
        {'rows_inserted': 0, 'rows_deleted': 0, 'rows_updated': 0}
    """

    schema: dict[str, Any]
    rows: list[Any]
    total_duration_micros: int = 0
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the response array."""
        return {
            "schema": self.schema,
            "rows": self.rows,
            "total_duration_micros": self.total_duration_micros,
            "stats": {
                "rows_inserted": self.rows_inserted,
                "rows_deleted": self.rows_deleted,
                "rows_updated": self.rows_updated,
            },
        }


def _schema_json(module: Module, columns: Sequence[tuple[str, AlgebraicType]]) -> dict[str, Any]:
    snake = module.case_conversion == "snake_case"
    return {
        "elements": [
            ProductTypeElement(name, canonical_type(ty, snake)).to_json() for name, ty in columns
        ]
    }


def execute_sql(
    module: Module,
    datastore: Datastore,
    sql: str,
    *,
    caller: Identity,
    is_owner: bool,
) -> tuple[list[SqlStatementResult], TxResult | None]:
    """Run one ``/sql`` statement; DML runs as one committed transaction.

    Returns the response entries and, for DML, the commit's :class:`TxResult`
    (to broadcast).  Raises :class:`SqlExecutionError` with the error text
    (HTTP 400).

    Example::

        results, tx = execute_sql(module, ds, "SELECT COUNT(*) AS n FROM user",
                                  caller=me, is_owner=False)
        results[0].to_json()["rows"]      # [[3]]
    """
    started = time.perf_counter()
    catalog = _catalog(module, datastore)
    try:
        plan = compile_sql(sql, catalog.schema, caller_is_owner=is_owner, caller=caller)
    except SqlError as e:
        raise SqlExecutionError(str(e)) from None
    tx: TxResult | None = None
    if isinstance(plan, SelectPlan):
        result = _select(catalog, plan, caller, is_owner)
    elif isinstance(plan, ShowVarPlan):
        value = catalog.variables.get(plan.name)
        rows = [] if value is None else [[value]]
        result = SqlStatementResult(_schema_json(module, [("value", AlgebraicType.U64)]), rows)
    elif isinstance(plan, SetVarPlan):
        catalog.variables[plan.name] = plan.value
        result = SqlStatementResult({"elements": []}, [], rows_inserted=1)
    else:
        result, tx = _dml(catalog, plan, caller)
    result.total_duration_micros = int((time.perf_counter() - started) * 1_000_000)
    return [result], tx


def _select(
    catalog: _Catalog, plan: SelectPlan, caller: Identity, is_owner: bool
) -> SqlStatementResult:
    tuples = _select_tuples(catalog, plan, caller, is_owner)
    proj = plan.projection
    tables = plan.source.tables
    columns: list[tuple[str, AlgebraicType]]
    rows: list[Any]
    if isinstance(proj, CountProjection):
        columns, rows = [(proj.alias, AlgebraicType.U64)], [[len(tuples)]]
    elif isinstance(proj, StarProjection):
        table = catalog.table(tables[proj.table].name)
        columns = [(name, ty) for (name, _), ty in zip(table.columns, table.raw_types, strict=True)]
        typespace = catalog.module.typespace
        rows = [
            to_json_untyped(
                table.row_type, catalog.generic_row(table.name, t[proj.table]), typespace
            )
            for t in tuples[: plan.limit]
        ]
    else:
        columns = [
            (name, catalog.table(tables[ref.table].name).raw_types[ref.column])
            for name, ref in proj.columns
        ]
        rows = [_project(catalog, plan, proj, t) for t in tuples[: plan.limit]]
    return SqlStatementResult(_schema_json(catalog.module, columns), rows[: plan.limit])


def _select_tuples(
    catalog: _Catalog, plan: SelectPlan, caller: Identity, is_owner: bool
) -> list[list[Any]]:
    """The joined rows of every RLS fragment (a bag union)."""
    tuples: list[list[Any]] = []
    try:
        for frag in catalog.fragments(plan, 0, is_owner):
            infos = [catalog.info(n) for n in frag.tables]
            compiled = CompiledFragment(frag, infos, catalog.keys, caller)
            sources = [catalog.current_source(catalog.source_id(n, caller)) for n in frag.tables]
            tuples += compiled.tuples(sources)
    except SubscriptionFailure as e:
        raise SqlExecutionError(e.message) from None
    except SqlError as e:
        raise SqlExecutionError(str(e)) from None
    return tuples


def _project(
    catalog: _Catalog, plan: SelectPlan, proj: ColumnsProjection, joined: list[Any]
) -> list[Any]:
    typespace = catalog.module.typespace
    generic: dict[int, dict[str, Any]] = {}
    out: list[Any] = []
    for _, ref in proj.columns:
        table = catalog.table(plan.source.tables[ref.table].name)
        if ref.table not in generic:
            generic[ref.table] = catalog.generic_row(table.name, joined[ref.table])
        value = generic[ref.table][table.attrs[ref.column]]
        out.append(to_json_untyped(table.raw_types[ref.column], value, typespace))
    return out


def _dml(
    catalog: _Catalog, plan: InsertPlan | UpdatePlan | DeletePlan, caller: Identity
) -> tuple[SqlStatementResult, TxResult]:
    table = catalog.table(plan.table.name)
    assert table.schema is not None  # the checker refuses DML on views
    store = catalog.datastore.store(table.name)
    result = SqlStatementResult({"elements": []}, [])
    tx = catalog.datastore.begin()
    try:
        if isinstance(plan, InsertPlan):
            for values in plan.rows:
                before = store.count()
                tx.insert(table.name, table.schema.row_class(*values))
                result.rows_inserted += store.count() - before
        else:
            frag = CompiledFragment(
                Fragment((table.name,), (), () if plan.filter is None else (plan.filter,)),
                [catalog.info(table.name)],
                catalog.keys,
                caller,
            )
            matching = frag.rows([RowSource(catalog.info(table.name), store=store)])
            for row in matching:
                tx.delete(table.name, row)
            if isinstance(plan, DeletePlan):
                result.rows_deleted = len(matching)
            else:
                changes = {table.attrs[pos]: value for pos, value in plan.assignments}
                for row in matching:
                    tx.insert(table.name, dataclasses.replace(row, **changes))
                result.rows_updated = len(matching)
        committed = tx.commit()
    except SpacetimeDBError as e:
        if tx.open:
            tx.rollback()
        raise SqlExecutionError(str(e)) from None
    except BaseException:
        if tx.open:
            tx.rollback()
        raise
    return result, committed


__all__ = [
    "CommitUpdates",
    "DuplicateQuerySet",
    "SqlExecutionError",
    "SqlStatementResult",
    "SubscriptionFailure",
    "SubscriptionManager",
    "UnknownQuerySet",
    "execute_sql",
]
