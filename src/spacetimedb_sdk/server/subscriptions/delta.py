"""Delta evaluation: what a committed transaction changes in every registered query.

After a commit, views are re-evaluated and diffed, single-table queries are matched against the
changed rows (O(changed rows × matching queries)), joins and view queries go through
:meth:`~..sql.eval.CompiledFragment.delta` (incremental, bag semantics), and the results are
assembled per client (:mod:`.encoding`).  A query whose evaluation fails drops its query sets;
the host reports them as ``SubscriptionError`` before the updates.
"""

from __future__ import annotations

import logging
from typing import Any

from ...protocol import messages as m
from ..datastore import TxResult
from ..sql.eval import RowSource
from .catalog import _SourceId
from .encoding import CommitUpdates, _Encoder, _query_set_update
from .queries import _QF, _Query, _SubKey
from .registry import QueryRegistry

# The package's name, as the logger was named before the engine was split into files.
log = logging.getLogger(__package__)


class DeltaEvaluation(QueryRegistry):
    """:meth:`on_commit`: the updates a commit causes, over the registry's queries."""

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
