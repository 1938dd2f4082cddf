"""``/sql``: running one HTTP SQL statement (SELECT, SET/SHOW, INSERT/UPDATE/DELETE).

It shares the subscription engine's catalog (schema, codecs, RLS) but not its state: a
statement is evaluated once, and DML runs as one committed transaction whose changes the host
broadcasts like any other commit.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import SpacetimeDBError
from ...sats.sats_json import to_json_untyped
from ...sats.types import AlgebraicType, ProductTypeElement
from ...sats.values import Identity, SumValue
from ..datastore import Datastore, TxResult, UniqueConstraintViolation
from ..describe import canonical_type, canonical_typespace
from ..limits import ServerLimits
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
from ..sql.eval import CompiledFragment, Fragment, RowSource, TooManyRows
from ..system_tables import STVAR_VALUE_TYPE
from .cardinality import RowLimitExceeded, check_row_limit
from .catalog import _Catalog, _catalog
from .errors import SqlExecutionError, SubscriptionFailure

#: No limits but ``st_var``'s ``row_limit`` (a direct caller that passes none).
_NO_LIMITS = ServerLimits(
    incoming_queue_length=None,
    outgoing_queue_length=None,
    outgoing_queue_bytes=None,
    sql_row_limit=None,
    sql_max_rows=None,
    sql_max_result_bytes=None,
)


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


def _schema_json(
    module: Module, columns: Sequence[tuple[str, AlgebraicType, bool]]
) -> dict[str, Any]:
    """The result's ``ProductType``: column types self-contained, as upstream's table schemas
    carry them (every typespace ``Ref`` inlined, the module's types with canonical field and
    variant names; a system table's types, flagged ``True``, as they are)."""
    snake = module.case_conversion == "snake_case"
    typespace = canonical_typespace(module)
    return {
        "elements": [
            ProductTypeElement(
                name, ty if system else typespace.inline(canonical_type(ty, snake))
            ).to_json()
            for name, ty, system in columns
        ]
    }


def execute_sql(
    module: Module,
    datastore: Datastore,
    sql: str,
    *,
    caller: Identity,
    is_owner: bool,
    limits: ServerLimits | None = None,
) -> tuple[list[SqlStatementResult], TxResult | None]:
    """Run one ``/sql`` statement; DML runs as one committed transaction.

    Returns the response entries and, for DML, the commit's :class:`TxResult`
    (to broadcast).  Raises :class:`SqlExecutionError` with the error text
    (HTTP 400).  A SELECT stays within ``limits`` (:class:`~..limits.ServerLimits`:
    the estimate's default row limit, the rows and JSON bytes of its result); without
    them, only ``st_var``'s ``row_limit`` applies.

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
        result = _select(catalog, plan, caller, is_owner, limits or _NO_LIMITS)
    elif isinstance(plan, ShowVarPlan):
        # Upstream rewrites SHOW into `SELECT value FROM st_var WHERE name = '<var>'`.
        value = catalog.system.variables.get(plan.name)
        rows = [] if value is None else [[to_json_untyped(STVAR_VALUE_TYPE, value)]]
        result = SqlStatementResult(_schema_json(module, [("value", STVAR_VALUE_TYPE, True)]), rows)
    elif isinstance(plan, SetVarPlan):
        # ... and SET into `INSERT INTO st_var (name, value) VALUES ('<var>', U64(<n>))`.
        inserted = _insert_var(catalog, plan.name, SumValue("U64", plan.value))
        result = SqlStatementResult({"elements": []}, [], rows_inserted=inserted)
    elif catalog.table(plan.table.name).system is not None:
        result = _system_dml(catalog, plan, caller)
    else:
        result, tx = _dml(catalog, plan, caller)
    result.total_duration_micros = int((time.perf_counter() - started) * 1_000_000)
    return [result], tx


def _select(
    catalog: _Catalog, plan: SelectPlan, caller: Identity, is_owner: bool, limits: ServerLimits
) -> SqlStatementResult:
    tuples = _select_tuples(catalog, plan, caller, is_owner, limits)
    proj = plan.projection
    tables = plan.source.tables
    columns: list[tuple[str, AlgebraicType, bool]]
    rows: list[Any]
    if isinstance(proj, CountProjection):
        columns, rows = [(proj.alias, AlgebraicType.U64, False)], [[len(tuples)]]
    elif isinstance(proj, StarProjection):
        table = catalog.table(tables[proj.table].name)
        system = table.system is not None
        columns = [
            (name, ty, system) for (name, _), ty in zip(table.columns, table.raw_types, strict=True)
        ]
        typespace = catalog.typespace_of(table.name)
        rows = _bounded(
            (
                to_json_untyped(
                    table.row_type, catalog.generic_row(table.name, t[proj.table]), typespace
                )
                for t in tuples[: plan.limit]
            ),
            limits.sql_max_result_bytes,
        )
    else:
        columns = []
        for name, ref in proj.columns:
            table = catalog.table(tables[ref.table].name)
            columns.append((name, table.raw_types[ref.column], table.system is not None))
        rows = _bounded(
            (_project(catalog, plan, proj, t) for t in tuples[: plan.limit]),
            limits.sql_max_result_bytes,
        )
    return SqlStatementResult(_schema_json(catalog.module, columns), rows[: plan.limit])


def _bounded(rows: Iterator[Any], max_bytes: int | None) -> list[Any]:
    """The JSON rows, stopping with an error once their JSON passes ``max_bytes``."""
    if max_bytes is None:
        return list(rows)
    out: list[Any] = []
    size = 0
    for row in rows:
        size += len(json.dumps(row)) + 1
        if size > max_bytes:
            raise SqlExecutionError(
                f"SQL result exceeds the server's limit of {max_bytes} bytes of JSON "
                "(sql_max_result_bytes): select fewer rows or columns",
                over_limit=True,
            )
        out.append(row)
    return out


def _select_tuples(
    catalog: _Catalog, plan: SelectPlan, caller: Identity, is_owner: bool, limits: ServerLimits
) -> list[list[Any]]:
    """The joined rows of every RLS fragment (a bag union)."""
    tuples: list[list[Any]] = []
    max_rows = limits.sql_max_rows
    try:
        fragments = catalog.fragments(plan, 0, is_owner)
        # Upstream pushes a LIMIT into a bare `SELECT *` scan only.
        limit = plan.limit if isinstance(plan.projection, StarProjection) else None
        check_row_limit(
            catalog,
            fragments,
            is_owner=is_owner,
            limit=limit,
            default=limits.sql_row_limit,
            sender=caller,
        )
        for frag in fragments:
            infos = [catalog.info(n) for n in frag.tables]
            compiled = CompiledFragment(frag, infos, catalog.keys, caller)
            sources = [catalog.current_source(catalog.source_id(n, caller)) for n in frag.tables]
            left = None if max_rows is None else max_rows - len(tuples)
            tuples += compiled.tuples(sources, max_rows=left)
    except SubscriptionFailure as e:
        raise SqlExecutionError(e.message) from None
    except RowLimitExceeded as e:
        raise SqlExecutionError(str(e), over_limit=True) from None
    except TooManyRows:
        raise SqlExecutionError(
            f"SQL query stopped: it produces more than {max_rows} rows, the server's limit "
            "(sql_max_rows); narrow it with a WHERE clause",
            over_limit=True,
        ) from None
    except SqlError as e:
        raise SqlExecutionError(str(e)) from None
    return tuples


def _project(
    catalog: _Catalog, plan: SelectPlan, proj: ColumnsProjection, joined: list[Any]
) -> list[Any]:
    generic: dict[int, dict[str, Any]] = {}
    out: list[Any] = []
    for _, ref in proj.columns:
        table = catalog.table(plan.source.tables[ref.table].name)
        if ref.table not in generic:
            generic[ref.table] = catalog.generic_row(table.name, joined[ref.table])
        value = generic[ref.table][table.attrs[ref.column]]
        typespace = catalog.typespace_of(table.name)
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


# ---- st_var: the one writable system table ---------------------------------------------------


def _insert_var(catalog: _Catalog, name: str, value: SumValue) -> int:
    """Insert an ``st_var`` row; its ``name`` is the primary key (so a second SET fails)."""
    variables = catalog.system.variables
    old = variables.get(name)
    if old == value:
        return 0  # the same row again: a set, nothing changes
    if old is not None:
        satn = json.dumps(name, ensure_ascii=False)
        raise SqlExecutionError(
            str(UniqueConstraintViolation("st_var_name_idx_btree", "st_var", ["name"], satn))
        )
    variables[name] = value
    return 1


def _system_dml(
    catalog: _Catalog, plan: InsertPlan | UpdatePlan | DeletePlan, caller: Identity
) -> SqlStatementResult:
    """DML on a system table: ``st_var`` only (the others describe the module)."""
    name = plan.table.name
    if name != "st_var":
        raise SqlExecutionError(
            f"`{name}` is a system table describing the module; "
            "the local server only lets SQL write `st_var`"
        )
    result = SqlStatementResult({"elements": []}, [])
    if isinstance(plan, InsertPlan):
        for var, value in plan.rows:
            result.rows_inserted += _insert_var(catalog, var, value)
        return result
    info = catalog.info(name)
    frag = CompiledFragment(
        Fragment((name,), (), () if plan.filter is None else (plan.filter,)),
        [info],
        catalog.keys,
        caller,
    )
    matching = frag.rows([RowSource(info, catalog.call_view((name, None)))])
    variables = catalog.system.variables
    for row in matching:
        variables.pop(row.name, None)
    if isinstance(plan, DeletePlan):
        result.rows_deleted = len(matching)
        return result
    changes = {info.attrs[pos]: value for pos, value in plan.assignments}
    for row in matching:
        new = dataclasses.replace(row, **changes)
        _insert_var(catalog, new.name, new.value)
    result.rows_updated = len(matching)
    return result
