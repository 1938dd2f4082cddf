"""``/sql``: running one HTTP SQL statement (SELECT, SET/SHOW, INSERT/UPDATE/DELETE).

It shares the subscription engine's catalog (schema, codecs, RLS) but not its state: a
statement is evaluated once, and DML runs as one committed transaction whose changes the host
broadcasts like any other commit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import SpacetimeDBError
from ...sats.sats_json import to_json_untyped
from ...sats.types import AlgebraicType, ProductTypeElement
from ...sats.values import Identity
from ..datastore import Datastore, TxResult
from ..describe import canonical_type, canonical_typespace
from ..module import Module
from ..sql import (
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
)
from ..sql.eval import CompiledFragment, Fragment, RowSource
from .catalog import _Catalog, _catalog
from .errors import SqlExecutionError, SubscriptionFailure


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
    # Column types are fully resolved, as upstream's table schemas are (`ColumnSchema` resolves
    # refs), so clients decode rows without the module's typespace.
    snake = module.case_conversion == "snake_case"
    typespace = canonical_typespace(module)
    return {
        "elements": [
            ProductTypeElement(name, typespace.resolve_refs(canonical_type(ty, snake))).to_json()
            for name, ty in columns
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
