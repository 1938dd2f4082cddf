"""Evaluating checked query plans over row sources: filters, joins and deltas.

The unit of evaluation is a :class:`Fragment`: a conjunctive query "rows of
table ``ret`` from the inner join of ``tables`` on the equality ``joins``,
where every filter holds".  A subscription plan is one fragment; row-level
security turns it into several (one per combination of RLS rules, see
:func:`expand_rls`), whose results are a bag union, as upstream.

A :class:`CompiledFragment` turns the expressions into closures once (with
``:sender`` bound), then evaluates over :class:`RowSource` objects, one per
FROM table: a table's current rows (probed through its indexes when it has a
usable one, otherwise through a hash map built on first use) or an explicit
list (a transaction's inserts or deletes, a view's rows).

Values are compared through the datastore's *key functions* (hashable and
totally ordered images of values, see :class:`~..datastore.KeyCompiler`), so
equality and order follow SATS: floats by their IEEE total order, Identity by
its integer, strings by code point (the same order as UTF-8 bytes).

Incremental maintenance (:meth:`CompiledFragment.delta`) uses the identity
``J(T1'…Tn') - J(T1…Tn)`` with ``Ti = Ti' - dTi(+) + dTi(-)`` expanded over
every choice of ``Ti'``, ``dTi(+)`` or ``dTi(-)`` per table except all ``Ti'``,
each term signed by its number of ``dTi(+)``.  Only terms over the changed
tables are evaluated, starting from the (small) delta and probing the rest, so
a commit costs O(changed rows × matches) instead of a re-evaluation; results
keep bag semantics (a row joined twice counts twice).

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T, Typespace
    >>> from spacetimedb_sdk.server.datastore import KeyCompiler
    >>> from .check import StaticSchema, StaticTable, compile_subscription
    >>> plan = compile_subscription("SELECT * FROM t WHERE a > 1",
    ...                             StaticSchema([StaticTable("t", [("a", T.U8)])]))
    >>> keys = KeyCompiler(Typespace(()), {})
    >>> info = TableInfo("t", ("a",), (keys.key(T.U8, "a"),), keys.key(T.product({"a": T.U8}), "t"))
    >>> frag = CompiledFragment(Fragment.from_select(plan.select), [info], keys)
    >>> from collections import namedtuple
    >>> Row = namedtuple("Row", "a")
    >>> [r.a for r in frag.rows([RowSource(info, [Row(1), Row(2), Row(3)])])]
    [2, 3]
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...sats.types import ArrayType
from ...sats.values import Identity
from ..datastore import IndexSchema, KeyCompiler, TableStore
from .ast import CmpOp, LogicOp
from .errors import SqlPlanError
from .plan import ColumnRef, Compare, Const, Expr, Logic, SelectPlan, SenderParam

KeyFn = Callable[[Any], Hashable]
_Closure = Callable[[Any], Any]

_OPS: dict[CmpOp, Callable[[Any, Any], bool]] = {
    CmpOp.EQ: operator.eq,
    CmpOp.NE: operator.ne,
    CmpOp.LT: operator.lt,
    CmpOp.GT: operator.gt,
    CmpOp.LE: operator.le,
    CmpOp.GE: operator.ge,
}


# ---- tables and row sources ----------------------------------------------------------------


class TooManyRows(Exception):
    """A join produced more rows than its caller allows (:meth:`CompiledFragment.tuples`).

    Example::

        >>> TooManyRows(10).limit
        10
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"more than {limit} rows")


@dataclass(frozen=True)
class TableInfo:
    """How to read one table's rows: column attributes and key functions.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> TableInfo("t", ("a",), (hash,), hash).attrs
        ('a',)
    """

    name: str
    attrs: tuple[str, ...]
    col_keys: tuple[KeyFn, ...]
    row_key: KeyFn
    is_event: bool = False
    is_view: bool = False


def _probe_index(store: TableStore, col: int) -> IndexSchema | None:
    """An index of ``store`` that can look rows up by column ``col`` alone."""
    for ix in store.schema.indexes:
        if ix.columns[0] != col:
            continue
        if len(ix.columns) == 1 or not (ix.unique or ix.algorithm == "hash"):
            return ix
    return None


class RowSource:
    """The rows one FROM table contributes to an evaluation.

    Either a table's current contents (``store``; lookups use its indexes) or
    an explicit list of rows.  Lookups without an index build a hash map of the
    column on first use, kept for the life of the source.

    Example::

        >>> from collections import namedtuple
        >>> R = namedtuple("R", "a")
        >>> src = RowSource(TableInfo("t", ("a",), (lambda v: v,), tuple), [R(1), R(2), R(1)])
        >>> len(src.lookup(0, 1))
        2
    """

    __slots__ = ("_maps", "_rows", "_store", "info")

    def __init__(
        self, info: TableInfo, rows: Sequence[Any] | None = None, store: TableStore | None = None
    ) -> None:
        self.info = info
        self._rows = rows
        self._store = store
        self._maps: dict[int, dict[Hashable, list[Any]]] = {}

    @property
    def rows(self) -> Sequence[Any]:
        """All rows (a snapshot list for a table)."""
        if self._rows is None:
            assert self._store is not None
            self._rows = list(self._store.rows.values())
        return self._rows

    def __len__(self) -> int:
        if self._rows is None and self._store is not None:
            return self._store.count()
        return len(self.rows)

    def lookup(self, col: int, value: Any) -> Sequence[Any]:
        """Rows whose column ``col`` equals ``value`` (SATS equality)."""
        if self._store is not None:
            ix = _probe_index(self._store, col)
            if ix is not None:
                return self._store.scan(ix, (value,), None)
        by_key = self._maps.get(col)
        if by_key is None:
            by_key = self._maps[col] = {}
            attr, key = self.info.attrs[col], self.info.col_keys[col]
            for row in self.rows:
                by_key.setdefault(key(getattr(row, attr)), []).append(row)
        return by_key.get(self.info.col_keys[col](value), ())


# ---- fragments -----------------------------------------------------------------------------


def _conjuncts(expr: Expr | None) -> tuple[Expr, ...]:
    if expr is None:
        return ()
    if isinstance(expr, Logic) and expr.op is LogicOp.AND:
        return expr.operands
    return (expr,)


def _tables_of(expr: Expr) -> frozenset[int]:
    if isinstance(expr, ColumnRef):
        return frozenset((expr.table,))
    if isinstance(expr, Compare):
        return _tables_of(expr.left) | _tables_of(expr.right)
    if isinstance(expr, Logic):
        return frozenset().union(*(_tables_of(o) for o in expr.operands))
    return frozenset()


def _uses_sender(expr: Expr) -> bool:
    if isinstance(expr, SenderParam):
        return True
    if isinstance(expr, Compare):
        return _uses_sender(expr.left) or _uses_sender(expr.right)
    if isinstance(expr, Logic):
        return any(_uses_sender(o) for o in expr.operands)
    return False


def _remap_ref(ref: ColumnRef, table_map: Callable[[int], int]) -> ColumnRef:
    return dataclasses.replace(ref, table=table_map(ref.table))


def _remap(expr: Expr, table_map: Callable[[int], int]) -> Expr:
    if isinstance(expr, ColumnRef):
        return _remap_ref(expr, table_map)
    if isinstance(expr, Compare):
        return Compare(expr.op, _remap(expr.left, table_map), _remap(expr.right, table_map))
    if isinstance(expr, Logic):
        return Logic(expr.op, tuple(_remap(o, table_map) for o in expr.operands))
    return expr


@dataclass(frozen=True)
class Fragment:
    """A conjunctive query: rows of ``tables[ret]`` from the join of ``tables``.

    ``joins`` are column equalities, ``filters`` a conjunction (the top-level
    ``AND`` of the WHERE clause split into parts).

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> from .check import StaticSchema, StaticTable, compile_subscription
        >>> s = StaticSchema([StaticTable("t", [("a", T.U8)])])
        >>> Fragment.from_select(compile_subscription("SELECT * FROM t WHERE a = 1 AND a < 3", s).select).tables
        ('t',)
    """

    tables: tuple[str, ...]
    joins: tuple[tuple[ColumnRef, ColumnRef], ...] = ()
    filters: tuple[Expr, ...] = ()
    ret: int = 0

    @staticmethod
    def from_select(select: SelectPlan, ret: int = 0) -> Fragment:
        """The fragment of a checked SELECT returning FROM table ``ret``."""
        source = select.source
        joins = tuple((j.left, j.right) for j in source.joins if j is not None)
        return Fragment(tuple(t.name for t in source.tables), joins, _conjuncts(select.filter), ret)

    @property
    def uses_sender(self) -> bool:
        """Does a filter mention ``:sender``?"""
        return any(_uses_sender(f) for f in self.filters)

    def splice(self, at: int, inner: Fragment) -> Fragment:
        """Replace table ``at`` by ``inner`` (whose return table becomes table ``at``)."""
        base = len(self.tables)

        def table_map(j: int) -> int:
            if j == inner.ret:
                return at
            return base + (j if j < inner.ret else j - 1)

        extra = tuple(t for j, t in enumerate(inner.tables) if j != inner.ret)
        joins = tuple((_remap_ref(a, table_map), _remap_ref(b, table_map)) for a, b in inner.joins)
        filters = tuple(_remap(f, table_map) for f in inner.filters)
        return Fragment(
            self.tables + extra,
            self.joins + joins,
            self.filters + filters,
            self.ret,
        )


def expand_rls(
    fragment: Fragment,
    rules: Mapping[str, Sequence[Fragment]],
    *,
    _resolving: frozenset[str] = frozenset(),
    _skip: int | None = None,
) -> list[Fragment]:
    """Apply row-level security: every table with rules is replaced by each of them.

    A table with rules ``r1 … rk`` yields ``k`` fragments (their results are a
    bag union); tables inside a rule are expanded too, except the rule's own
    return table.  A cycle of rules raises :class:`~.errors.SqlPlanError`.

    Example::

        >>> len(expand_rls(Fragment(("t",)), {"t": [Fragment(("t",)), Fragment(("t",))]}))
        2
    """
    result = [fragment]
    for i, name in enumerate(fragment.tables):
        if i == _skip or name not in rules or not rules[name]:
            continue
        if name in _resolving:
            raise SqlPlanError(
                f"Discovered cyclic dependency when resolving RLS rules for table `{name}`"
            )
        inner: list[Fragment] = []
        for rule in rules[name]:
            inner += expand_rls(rule, rules, _resolving=_resolving | {name}, _skip=rule.ret)
        result = [f.splice(i, r) for f in result for r in inner]
    return result


# ---- compiling expressions -----------------------------------------------------------------


def sender_value(param: SenderParam, sender: Identity | None) -> Any:
    """The value ``:sender`` takes for a comparison typed ``param.type``.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> sender_value(SenderParam(T.array(T.U8)), Identity(1))[-1]
        1
    """
    if sender is None:
        raise ValueError(":sender is used but there is no caller identity")
    ty = param.type
    if isinstance(ty, ArrayType) and ty.is_bytes():
        return sender.to_be_bytes()
    return sender


class _ExprCompiler:
    """Expressions → closures over one row (``single``) or a list of rows by table."""

    def __init__(
        self,
        infos: Sequence[TableInfo],
        keys: KeyCompiler,
        sender: Identity | None,
        single: bool,
    ) -> None:
        self.infos = infos
        self.keys = keys
        self.sender = sender
        self.single = single

    def constant(self, expr: Expr) -> tuple[bool, Any]:
        """``(True, key)`` for a constant expression, else ``(False, None)``."""
        if isinstance(expr, Const):
            return True, self.keys.key(expr.type, "literal")(expr.value)
        if isinstance(expr, SenderParam):
            return True, self.keys.key(expr.type, ":sender")(sender_value(expr, self.sender))
        return False, None

    def compile(self, expr: Expr) -> _Closure:
        is_const, k = self.constant(expr)
        if is_const:
            return lambda _: k
        if isinstance(expr, ColumnRef):
            return self._column(expr)
        if isinstance(expr, Compare):
            return self._compare(expr)
        assert isinstance(expr, Logic)
        return self._logic(expr)

    def _column(self, ref: ColumnRef) -> _Closure:
        info = self.infos[ref.table]
        attr, key = info.attrs[ref.column], info.col_keys[ref.column]
        if self.single:
            return lambda row: key(getattr(row, attr))
        t = ref.table
        return lambda rows: key(getattr(rows[t], attr))

    def _compare(self, cmp: Compare) -> _Closure:
        op = _OPS[cmp.op]
        left = self.compile(cmp.left)
        is_const, k = self.constant(cmp.right)
        if is_const:
            if cmp.op is CmpOp.EQ:
                return lambda x: left(x) == k
            return lambda x: op(left(x), k)
        right = self.compile(cmp.right)
        return lambda x: op(left(x), right(x))

    def _logic(self, logic: Logic) -> _Closure:
        parts = tuple(self.compile(o) for o in logic.operands)
        if logic.op is LogicOp.AND:
            return lambda x: all(p(x) for p in parts)
        return lambda x: any(p(x) for p in parts)


def _all_of(parts: Sequence[_Closure]) -> Callable[[Any], bool] | None:
    if not parts:
        return None
    if len(parts) == 1:
        one = parts[0]
        return lambda x: bool(one(x))
    if len(parts) == 2:
        a, b = parts
        return lambda x: bool(a(x)) and bool(b(x))
    return lambda x: all(p(x) for p in parts)


# ---- compiled fragments --------------------------------------------------------------------


@dataclass
class _Step:
    table: int
    probe: tuple[int, int, str] | None  # (column of `table`, bound table, its attribute)
    check: Callable[[Any], bool] | None


class CompiledFragment:
    """A :class:`Fragment` ready to run: closures compiled, ``:sender`` bound.

    ``infos[i]`` describes ``fragment.tables[i]``.  For a single-table fragment,
    :attr:`predicate` filters one row (``None``: every row matches) and
    :attr:`eq_terms` lists its ``column = constant`` conjuncts as
    ``(column, key)`` (for indexing many queries by the values they select).

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T, Typespace
        >>> keys = KeyCompiler(Typespace(()), {})
        >>> info = TableInfo("t", ("a",), (keys.key(T.U8, "a"),), keys.key(T.product({"a": T.U8}), "t"))
        >>> CompiledFragment(Fragment(("t",)), [info], keys).predicate is None
        True
    """

    def __init__(
        self,
        fragment: Fragment,
        infos: Sequence[TableInfo],
        keys: KeyCompiler,
        sender: Identity | None = None,
    ) -> None:
        self.fragment = fragment
        self.infos = tuple(infos)
        self.n = len(fragment.tables)
        self.ret = fragment.ret
        self._keys = keys
        self._sender = sender
        self._plans: dict[int, list[_Step]] = {}
        self.predicate: Callable[[Any], bool] | None = None
        self.eq_terms: tuple[tuple[int, Hashable], ...] = ()
        if self.n == 1:
            single = _ExprCompiler(self.infos, keys, sender, single=True)
            self.predicate = _all_of([single.compile(f) for f in fragment.filters])
            self.eq_terms = tuple(self._eq_terms(single))
        multi = _ExprCompiler(self.infos, keys, sender, single=False)
        self._filters = [(_tables_of(f), multi.compile(f)) for f in fragment.filters]
        self._joins = [(a, b, multi.compile(Compare(CmpOp.EQ, a, b))) for a, b in fragment.joins]

    def _eq_terms(self, single: _ExprCompiler) -> list[tuple[int, Hashable]]:
        out: list[tuple[int, Hashable]] = []
        for f in self.fragment.filters:
            if isinstance(f, Compare) and f.op is CmpOp.EQ:
                for col, other in ((f.left, f.right), (f.right, f.left)):
                    is_const, k = single.constant(other)
                    if isinstance(col, ColumnRef) and is_const:
                        out.append((col.column, k))
                        break
        return out

    # -- join planning

    def _plan(self, start: int) -> list[_Step]:
        plan = self._plans.get(start)
        if plan is not None:
            return plan
        bound = {start}
        order: list[tuple[int, tuple[int, int, str] | None, int | None]] = [(start, None, None)]
        while len(bound) < self.n:
            pick: tuple[int, tuple[int, int, str] | None, int | None] | None = None
            for j, (a, b, _) in enumerate(self._joins):
                for mine, other in ((a, b), (b, a)):
                    if mine.table not in bound and other.table in bound:
                        attr = self.infos[other.table].attrs[other.column]
                        pick = (mine.table, (mine.column, other.table, attr), j)
                        break
                if pick is not None:
                    break
            if pick is None:  # a cross join: nothing links the next table
                nxt = next(i for i in range(self.n) if i not in bound)
                pick = (nxt, None, None)
            bound.add(pick[0])
            order.append(pick)
        plan = []
        bound_so_far: set[int] = set()
        placed_filters: set[int] = set()
        placed_joins: set[int] = set()
        for table, probe, join_used in order:
            bound_so_far.add(table)
            if join_used is not None:
                placed_joins.add(join_used)
            checks: list[_Closure] = []
            for j, (a, b, fn) in enumerate(self._joins):
                if j not in placed_joins and {a.table, b.table} <= bound_so_far:
                    placed_joins.add(j)
                    checks.append(fn)
            for i, (deps, fn) in enumerate(self._filters):
                if i not in placed_filters and deps <= bound_so_far:
                    placed_filters.add(i)
                    checks.append(fn)
            plan.append(_Step(table, probe, _all_of(checks)))
        self._plans[start] = plan
        return plan

    # -- evaluation

    def tuples(
        self, sources: Sequence[RowSource], *, max_rows: int | None = None
    ) -> list[list[Any]]:
        """Every joined row (a list of rows indexed like ``fragment.tables``) that matches.

        Raises :class:`TooManyRows` as soon as a step of the join holds more than
        ``max_rows`` rows, so a runaway join stops early instead of filling memory.
        """
        if any(len(s) == 0 for s in sources):
            return []
        start = min(range(self.n), key=lambda i: len(sources[i]))
        steps = self._plan(start)
        n = self.n
        partials: list[list[Any]] = []
        check = steps[0].check
        for row in sources[start].rows:
            p: list[Any] = [None] * n
            p[start] = row
            if check is None or check(p):
                partials.append(p)
        if max_rows is not None and len(partials) > max_rows:
            raise TooManyRows(max_rows)
        for step in steps[1:]:
            if not partials:
                break
            src, t, check = sources[step.table], step.table, step.check
            nxt: list[list[Any]] = []
            for p in partials:
                if step.probe is not None:
                    col, other, attr = step.probe
                    candidates = src.lookup(col, getattr(p[other], attr))
                else:
                    candidates = src.rows
                for row in candidates:
                    q = p.copy()
                    q[t] = row
                    if check is None or check(q):
                        nxt.append(q)
                if max_rows is not None and len(nxt) > max_rows:
                    raise TooManyRows(max_rows)
            partials = nxt
        return partials

    def rows(self, sources: Sequence[RowSource]) -> list[Any]:
        """The returned rows, with multiplicity (bag semantics for joins)."""
        if self.n == 1:
            pred = self.predicate
            rows = sources[0].rows
            return list(rows) if pred is None else [r for r in rows if pred(r)]
        ret = self.ret
        return [t[ret] for t in self.tuples(sources)]

    def delta(
        self,
        current: Sequence[RowSource],
        inserted: Sequence[RowSource],
        deleted: Sequence[RowSource],
    ) -> tuple[list[Any], list[Any]]:
        """Rows entering and leaving the result when each table went from
        ``current - inserted + deleted`` to ``current``; each row appears as
        often as its multiplicity changed."""
        if self.n == 1:
            return self.rows(inserted), self.rows(deleted)
        row_key = self.infos[self.ret].row_key
        counts: dict[Hashable, list[Any]] = {}
        for choice in itertools.product((0, 1, 2), repeat=self.n):
            if not any(choice):
                continue
            sources: list[RowSource] = []
            sign = -1
            for i, c in enumerate(choice):
                src = (current, inserted, deleted)[c][i]
                if c and len(src) == 0:
                    break
                if c == 1:
                    sign = -sign
                sources.append(src)
            else:
                for t in self.tuples(sources):
                    row = t[self.ret]
                    k = row_key(row)
                    entry = counts.get(k)
                    if entry is None:
                        counts[k] = [row, sign]
                    else:
                        entry[1] += sign
        inserts: list[Any] = []
        deletes: list[Any] = []
        for row, count in counts.values():
            if count > 0:
                inserts += [row] * count
            elif count < 0:
                deletes += [row] * -count
        return inserts, deletes


__all__ = [
    "CompiledFragment",
    "Fragment",
    "RowSource",
    "TableInfo",
    "TooManyRows",
    "expand_rls",
    "sender_value",
]
