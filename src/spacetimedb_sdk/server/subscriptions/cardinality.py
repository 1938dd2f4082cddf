"""Cardinality estimates and the ``row_limit`` check, as upstream's ``crates/core/src/estimation.rs``.

Upstream refuses a query of a caller who may not exceed the row limit (anyone but the owner) when
the *estimated number of rows it scans* is above ``st_var``'s ``row_limit``, with the error
``Estimated cardinality (N rows) exceeds limit (M rows)``.  The estimate is computed over the
physical plan the query would run; this module rebuilds the shape of that plan from a
:class:`~..sql.eval.Fragment` with upstream's rewrite rules (``crates/physical-plan/src/rules.rs``)
and applies upstream's formulas:

* a table is a *scan* (its row count, or ``n`` under a pushed ``LIMIT n``), or an *index scan*
  when the conjunction of its ``col = constant`` terms covers all columns of one of its indexes
  (at most 3; the widest wins): ``rows / distinct keys of that index``;
* remaining terms on a table are a *filter*: it scans its input and then its input's rows again;
* a join of the plan so far (left) with the next table (right): if the right side is a plain scan
  (maybe filtered) with an index on the join column, an *index join* (``unique`` when the column
  is unique): left scanned + left rows × (1, or rows per key of that index); otherwise a *hash
  join*: both sides scanned + left rows × (1 when the right column is unique, else right rows).
  The first join swaps its sides when the left is a bare scan and the right is not.

Every fragment of a query (row-level security splits a query into several) adds its estimate.

Example::

    estimate = estimate_scanned(catalog, fragment)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from ...sats.values import Identity
from ..datastore import TableStore
from ..sql.ast import CmpOp
from ..sql.eval import Fragment
from ..sql.plan import ColumnRef, Compare, Const, Expr, SenderParam
from .catalog import _Catalog

MAX_EXACT_INDEX_COLS = 3
"""Upstream builds index scans from at most this many equality terms."""


class RowLimitExceeded(Exception):
    """The estimate is above the limit; ``str()`` is upstream's text."""

    def __init__(self, estimate: int, limit: int) -> None:
        self.estimate = estimate
        self.limit = limit
        super().__init__(f"Estimated cardinality ({estimate} rows) exceeds limit ({limit} rows)")


@dataclass(frozen=True)
class _Node:
    """A plan node: the rows it scans and the rows it yields."""

    scanned: int
    rows: int
    bare_scan: bool = False  # a table scan with no filter and no index probe
    plain_table: int | None = None  # the table of a (maybe filtered) full scan


def check_row_limit(
    catalog: _Catalog,
    fragments: Sequence[Fragment],
    *,
    is_owner: bool,
    limit: int | None = None,
    default: int | None = None,
    sender: Identity | None = None,
) -> None:
    """Raise :class:`RowLimitExceeded` when a non-owner's query is estimated over ``row_limit``.

    ``limit`` is a ``/sql`` ``LIMIT`` (pushed into a bare scan, as upstream); ``default`` the
    limit when ``st_var`` has no ``row_limit`` (the local server's
    :attr:`~..limits.ServerLimits.sql_row_limit`, for ad-hoc queries); ``sender`` the caller,
    whose rows of per-caller views are counted.
    """
    if is_owner:
        return
    row_limit = catalog.system.row_limit()
    if row_limit is None:
        row_limit = default
    if row_limit is None:
        return
    estimate = 0
    for fragment in fragments:
        estimate += estimate_scanned(catalog, fragment, limit=limit, sender=sender)
    if estimate > row_limit:
        raise RowLimitExceeded(estimate, row_limit)


def estimate_scanned(
    catalog: _Catalog,
    fragment: Fragment,
    *,
    limit: int | None = None,
    sender: Identity | None = None,
) -> int:
    """Upstream's ``estimate_rows_scanned`` for the plan of ``fragment`` (as ``sender``)."""
    stats = _Stats(catalog, fragment, sender)
    local, residual = _split_filters(fragment)
    node = stats.leaf(0, local.get(0, []))
    if limit is not None and node.bare_scan and len(fragment.tables) == 1:
        return min(limit, node.rows) if node.rows else limit
    for j in range(1, len(fragment.tables)):
        right = stats.leaf(j, local.get(j, []))
        node = stats.join(node, right, fragment, j, first=j == 1)
    if residual:
        node = _Node(node.scanned + node.rows, node.rows)
    return node.scanned


def _split_filters(fragment: Fragment) -> tuple[dict[int, list[Expr]], list[Expr]]:
    """Filters on one table (pushed to its leaf, as upstream) and the others."""
    local: dict[int, list[Expr]] = {}
    residual: list[Expr] = []
    for f in fragment.filters:
        tables = _tables(f)
        if len(tables) == 1:
            local.setdefault(next(iter(tables)), []).append(f)
        else:
            residual.append(f)
    return local, residual


def _tables(expr: Expr) -> set[int]:
    if isinstance(expr, ColumnRef):
        return {expr.table}
    if isinstance(expr, Compare):
        return _tables(expr.left) | _tables(expr.right)
    if isinstance(expr, (Const, SenderParam)):
        return set()
    return set().union(*(_tables(p) for p in expr.operands))


def _equality_column(expr: Expr) -> int | None:
    """The column of a ``col = constant`` term (either way round), else ``None``."""
    if not isinstance(expr, Compare) or expr.op is not CmpOp.EQ:
        return None
    left, right = expr.left, expr.right
    if isinstance(left, ColumnRef) and isinstance(right, (Const, SenderParam)):
        return left.column
    if isinstance(right, ColumnRef) and isinstance(left, (Const, SenderParam)):
        return right.column
    return None


class _Stats:
    """Row counts and index statistics of the fragment's tables."""

    def __init__(self, catalog: _Catalog, fragment: Fragment, sender: Identity | None) -> None:
        self.catalog = catalog
        self.fragment = fragment
        self.sender = sender

    def _store(self, j: int) -> TableStore | None:
        table = self.catalog.table(self.fragment.tables[j])
        if table.schema is None:
            return None
        return self.catalog.datastore.store(table.name)

    def row_count(self, j: int) -> int:
        store = self._store(j)
        if store is not None:
            return int(store.count())
        # A view or system table: upstream materializes it; count its current rows.
        # A per-caller view has the caller's rows.
        sid = self.catalog.source_id(self.fragment.tables[j], self.sender)
        return len(self.catalog.call_view(sid))

    def _indexes(self, j: int) -> list[tuple[tuple[int, ...], bool, str]]:
        store = self._store(j)
        if store is None:
            return []
        return [(ix.columns, ix.unique, ix.name) for ix in store.schema.indexes]

    def _unique_column(self, j: int, col: int) -> bool:
        store = self._store(j)
        return store is not None and (col,) in store.schema.unique_constraints

    def per_key(self, j: int, index_name: str) -> int:
        """Upstream's ``index_row_est``: rows / distinct keys of the index (0 when empty)."""
        store = self._store(j)
        assert store is not None
        rows = int(store.count())
        ndv = _distinct_keys(store, index_name)
        return rows // ndv if ndv else 0

    def leaf(self, j: int, filters: list[Expr]) -> _Node:
        rows = self.row_count(j)
        eq_cols = {c for c in map(_equality_column, filters) if c is not None}
        best: tuple[tuple[int, ...], str] | None = None
        for cols, _, name in self._indexes(j):
            usable = 0 < len(cols) <= MAX_EXACT_INDEX_COLS and set(cols) <= eq_cols
            if usable and (best is None or len(cols) > len(best[0])):
                best = (cols, name)
        if best is not None:
            probe = self.per_key(j, best[1])
            node = _Node(probe, probe)
            consumed = sum(1 for f in filters if _equality_column(f) in best[0])
            residual = len(filters) - consumed
        else:
            node = _Node(rows, rows, bare_scan=not filters, plain_table=j)
            residual = len(filters)
        if residual:
            return _Node(node.scanned + node.rows, node.rows, plain_table=node.plain_table)
        return node

    def join(self, left: _Node, right: _Node, fragment: Fragment, j: int, *, first: bool) -> _Node:
        cols = _join_columns(fragment, j)
        if cols is None:  # a cross join: upstream's nested-loop join
            rows = left.rows * right.rows
            return _Node(left.scanned + right.scanned + rows, rows)
        right_table, right_col = j, cols[1]
        if first and left.bare_scan and not right.bare_scan:
            # ReorderHashJoin: selections go to the left.
            left, right = right, left
            right_table, right_col = 0, cols[0]
        index = None
        if right.plain_table is not None:
            index = next(
                (name for c, _, name in self._indexes(right_table) if c == (right_col,)), None
            )
        unique = self._unique_column(right_table, right_col)
        if index is not None:
            per = 1 if unique else self.per_key(right_table, index)
            node = _Node(left.scanned + left.rows * per, left.rows * per)
            if right.bare_scan:
                return node
            return _Node(node.scanned + node.rows, node.rows)  # the right side's filter remains
        out = left.rows if unique else left.rows * right.rows
        return _Node(left.scanned + right.scanned + out, out)


def _join_columns(fragment: Fragment, j: int) -> tuple[int, int] | None:
    """``(column of an earlier table, column of table j)`` of the join bringing in table j."""
    for a, b in fragment.joins:
        if b.table == j and a.table < j:
            return a.column, b.column
        if a.table == j and b.table < j:
            return b.column, a.column
    return None


def _distinct_keys(store: TableStore, index_name: str) -> int:
    """How many distinct keys an index of ``store`` holds."""
    if index_name in store.unique:
        return len(store.unique[index_name])
    if index_name in store.hash:
        return len(store.hash[index_name].buckets)
    entries = store.btree[index_name].entries
    return sum(1 for _ in itertools.groupby(entries, key=lambda e: e[:-1]))
