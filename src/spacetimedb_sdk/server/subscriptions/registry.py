"""Planning and registration: compiling SQL into shared queries and indexing them by table.

:class:`QueryRegistry` is the state of the subscription engine: every query set, the compiled
queries they share, the plan cache, the materialized views, and the indexes that find, for a
changed table, the queries a commit may affect (single-table queries through a hash of their
``column = constant`` terms or a scan list; joins and views in a list evaluated by delta).
:mod:`.delta` evaluates commits over this state and :mod:`.manager` is the public API.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from ...protocol import messages as m
from ...sats.values import Identity
from ..datastore import Datastore
from ..module import Module
from ..sql import SqlError, compile_subscription
from ..sql.eval import CompiledFragment, Fragment
from .catalog import _catalog, _SourceId
from .encoding import _Encoder
from .errors import SubscriptionFailure
from .queries import _QF, _Query, _SubKey, _ViewState


class QueryRegistry:
    """The query sets, the shared compiled queries and their per-table indexes (see above)."""

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
