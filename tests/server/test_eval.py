"""The plan evaluator: joins, RLS expansion and incremental deltas over plain row lists."""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.sats import AlgebraicType
from spacetimedb_sdk.sats.types import Typespace
from spacetimedb_sdk.server.datastore import KeyCompiler
from spacetimedb_sdk.server.sql import (
    ColumnRef,
    Compare,
    Const,
    SelectPlan,
    SqlPlanError,
    StaticSchema,
    StaticTable,
    compile_sql,
)
from spacetimedb_sdk.server.sql.ast import CmpOp
from spacetimedb_sdk.server.sql.eval import (
    CompiledFragment,
    Fragment,
    RowSource,
    TableInfo,
    expand_rls,
)

U32 = AlgebraicType.U32
KEYS = KeyCompiler(Typespace(()), {})


class R(NamedTuple):
    a: int
    b: int


def info(name: str) -> TableInfo:
    same = KEYS.key(U32, name)
    return TableInfo(name, ("a", "b"), (same, same), tuple)


def col(table: int, column: int) -> ColumnRef:
    return ColumnRef(table, column, "ab"[column], U32)


# r JOIN s ON r.b = s.a JOIN t ON s.b = t.a WHERE t.b > 1, returning `ret`
def chain(ret: int) -> Fragment:
    return Fragment(
        ("r", "s", "t"),
        ((col(0, 1), col(1, 0)), (col(1, 1), col(2, 0))),
        (Compare(CmpOp.GT, col(2, 1), Const(1, U32)),),
        ret,
    )


INFOS = [info("r"), info("s"), info("t")]


def test_three_table_join_returns_each_match() -> None:
    frag = CompiledFragment(chain(0), INFOS, KEYS)
    r = [R(1, 10), R(2, 20)]
    s = [R(10, 5), R(10, 6), R(20, 7)]
    t = [R(5, 2), R(6, 3), R(7, 0)]
    rows = frag.rows([RowSource(INFOS[0], r), RowSource(INFOS[1], s), RowSource(INFOS[2], t)])
    assert rows == [R(1, 10), R(1, 10)]  # bag semantics: two paths from R(1, 10)


def test_cross_join_without_condition() -> None:
    frag = CompiledFragment(Fragment(("r", "s")), INFOS[:2], KEYS)
    tuples = frag.tuples([RowSource(INFOS[0], [R(1, 1), R(2, 2)]), RowSource(INFOS[1], [R(3, 3)])])
    assert sorted(tuple(t) for t in tuples) == [(R(1, 1), R(3, 3)), (R(2, 2), R(3, 3))]


def test_expand_rls_splices_rule_tables_and_renumbers() -> None:
    rule_s = Fragment(("s", "t"), ((col(0, 0), col(1, 0)),), (), 0)  # s filtered by a join on t
    expanded = expand_rls(Fragment(("r", "s"), ((col(0, 1), col(1, 0)),)), {"s": [rule_s]})
    assert expanded == [
        Fragment(("r", "s", "t"), ((col(0, 1), col(1, 0)), (col(1, 0), col(2, 0))), (), 0)
    ]
    two = expand_rls(Fragment(("s",)), {"s": [Fragment(("s",)), Fragment(("s",))]})
    assert len(two) == 2


def test_rls_cycles_are_refused() -> None:
    rules = {
        "r": [Fragment(("r", "s"), ((col(0, 0), col(1, 0)),))],
        "s": [Fragment(("s", "r"), ((col(0, 0), col(1, 0)),))],
    }
    with pytest.raises(SqlPlanError, match="cyclic dependency"):
        expand_rls(Fragment(("r",)), rules)


def test_compiled_single_table_fragment_exposes_equality_terms() -> None:
    schema = StaticSchema([StaticTable("r", [("a", U32), ("b", U32)])])
    plan = compile_sql("SELECT * FROM r WHERE b = 3 AND a > 1", schema)
    assert isinstance(plan, SelectPlan)
    frag = CompiledFragment(Fragment.from_select(plan), [INFOS[0]], KEYS)
    assert frag.eq_terms == ((1, 3),)
    assert frag.predicate is not None and frag.predicate(R(2, 3)) and not frag.predicate(R(1, 3))


pairs = st.frozensets(
    st.tuples(st.integers(0, 3), st.integers(0, 3)).map(lambda p: R(*p)), max_size=6
)


@settings(max_examples=200, deadline=None)
@given(st.tuples(pairs, pairs, pairs), st.tuples(pairs, pairs, pairs), st.integers(0, 2))
def test_delta_equals_the_difference_of_two_evaluations(
    old: tuple[frozenset[R], ...], new: tuple[frozenset[R], ...], ret: int
) -> None:
    frag = CompiledFragment(chain(ret), INFOS, KEYS)

    def evaluate(state: tuple[frozenset[R], ...]) -> Counter[Any]:
        return Counter(
            frag.rows([RowSource(i, sorted(rows)) for i, rows in zip(INFOS, state, strict=True)])
        )

    inserts, deletes = frag.delta(
        [RowSource(i, sorted(rows)) for i, rows in zip(INFOS, new, strict=True)],
        [RowSource(i, sorted(n - o)) for i, n, o in zip(INFOS, new, old, strict=True)],
        [RowSource(i, sorted(o - n)) for i, n, o in zip(INFOS, new, old, strict=True)],
    )
    before = evaluate(old)
    assert not (Counter(deletes) - before), "deleted rows that were not there"
    assert before - Counter(deletes) + Counter(inserts) == evaluate(new)
    assert not (Counter(inserts) & Counter(deletes)), "a row both inserted and deleted"
