"""How the normalizer builds each entity of a module schema from its raw definition.

The steps that the v9 and v10 assemblies in :mod:`.model` share: row types and
columns, indexes and their generated names, sequences, schedules (the ``u64``
primary key is the schedule id), views (the row type behind ``Vec<T>``,
``Option<T>`` or a query view's ``{__query__: T}``, the declared or inherited
primary key) and named types.  The naming rules themselves are listed in
:mod:`.model`.

Separate from :mod:`.model` so that the whole-module assembly reads on its own and
these steps need only the entity dataclasses (:mod:`.entities`), never ``ModuleSchema``.

Example::

    >>> _view_row_ref(AlgebraicType.array(AlgebraicType.ref(3)))
    (3, False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import SchemaError
from ..sats.types import AlgebraicType, ArrayType, ProductType, RefType, SumType, Typespace
from ..sats.values import SumValue
from .entities import (
    ColumnSchema,
    FunctionKind,
    IndexAlgorithm,
    IndexSchema,
    ProcedureSchema,
    ReducerSchema,
    ScheduleSchema,
    ScopedName,
    SequenceSchema,
    TableSchema,
    TypeDefSchema,
    ViewSchema,
)
from .names import CaseConversionPolicy
from .raw import product_from_value, type_from_value

_QUERY_VIEW_TAG = "__query__"


# ---- rows, columns, indexes, sequences, schedules -------------------------------------------


def _row_type(ts: Typespace, ref: int, owner: str) -> ProductType:
    if not 0 <= ref < len(ts):
        raise SchemaError(f"{owner}: product_type_ref {ref} is outside the typespace of {len(ts)}")
    ty = ts.types[ref]
    if not isinstance(ty, ProductType):
        raise SchemaError(f"{owner}: product_type_ref {ref} is not a product type: {ty!r:.120}")
    return ty


def _column_name(row: ProductType, col: int) -> str:
    name = row.elements[col].name if col < len(row.elements) else None
    return name if name is not None else f"col_{col}"


def _cols_name(row: ProductType, cols: Sequence[int]) -> str:
    return "_".join(_column_name(row, c) for c in cols)


def _columns(
    row: ProductType, accessor_row: ProductType, defaults: dict[int, bytes]
) -> tuple[ColumnSchema, ...]:
    return tuple(
        ColumnSchema(
            col_id=i,
            name=_column_name(row, i),
            accessor_name=_column_name(accessor_row, i),
            algebraic_type=e.algebraic_type,
            default_value=defaults.get(i),
        )
        for i, e in enumerate(row.elements)
    )


def _index_cols(raw: dict[str, Any]) -> tuple[IndexAlgorithm, tuple[int, ...]]:
    algo: SumValue = raw["algorithm"]
    return IndexAlgorithm(algo.tag), ((algo.value,) if algo.tag == "Direct" else tuple(algo.value))


def _index(raw: dict[str, Any], name: str) -> IndexSchema:
    algorithm, cols = _index_cols(raw)
    return IndexSchema(
        name=name,
        accessor_name=raw["accessor_name"],
        source_name=raw.get("source_name", raw.get("name")),
        algorithm=algorithm,
        columns=cols,
    )


def _generated_index_name(table: str, row: ProductType, raw: dict[str, Any]) -> str:
    algorithm, cols = _index_cols(raw)
    return f"{table}_{_cols_name(row, cols)}_idx_{algorithm.value.lower()}"


def _check_columns(t: TableSchema) -> TableSchema:
    """Every column id the table refers to exists (else a clear error, not an IndexError)."""
    used = [
        ("primary_key", t.primary_key),
        *((f"index {i.name!r}", i.columns) for i in t.indexes),
        *((f"constraint {c.name!r}", c.columns) for c in t.constraints),
        *((f"sequence {q.name!r}", (q.column,)) for q in t.sequences),
    ]
    for what, cols in used:
        bad = [c for c in cols if not 0 <= c < len(t.columns)]
        if bad:
            raise SchemaError(
                f"table {t.name!r}: {what} refers to column {bad[0]}, "
                f"but the row has {len(t.columns)} columns"
            )
    return t


def _sequence(raw: dict[str, Any], name: str) -> SequenceSchema:
    return SequenceSchema(
        name=name,
        column=raw["column"],
        start=raw["start"],
        min_value=raw["min_value"],
        max_value=raw["max_value"],
        increment=raw["increment"],
    )


def _view_row_ref(return_type: AlgebraicType) -> tuple[int, bool] | None:
    """``(product_type_ref, is_query_view)`` of a view's return type, as the host extracts it."""
    if (
        isinstance(return_type, ProductType)
        and len(return_type.elements) == 1
        and return_type.elements[0].name == _QUERY_VIEW_TAG
        and isinstance(return_type.elements[0].algebraic_type, RefType)
    ):
        return return_type.elements[0].algebraic_type.index, True
    inner: AlgebraicType | None = None
    if isinstance(return_type, SumType) and return_type.is_option():
        inner = return_type.variants[0].algebraic_type
    elif isinstance(return_type, ArrayType):
        inner = return_type.elem
    if isinstance(inner, RefType):
        return inner.index, False
    return None


def _schedule(
    table: TableSchema,
    name: str,
    function_name: str,
    at_column: int,
    kind_of: Callable[[str], FunctionKind],
) -> ScheduleSchema:
    if not 0 <= at_column < len(table.columns):
        raise SchemaError(f"schedule of table {table.name!r}: no column {at_column}")
    pk = table.primary_key[0] if table.primary_key else None
    id_column = (
        pk if pk is not None and table.columns[pk].algebraic_type == AlgebraicType.U64 else None
    )
    return ScheduleSchema(name, function_name, kind_of(function_name), at_column, id_column)


class _Base:
    """State shared by the v9 and v10 normalizers."""

    policy: CaseConversionPolicy
    typespace: Typespace
    accessor_typespace: Typespace

    def _view(
        self,
        raw: dict[str, Any],
        name: str,
        accessor: str,
        pk_column: str | None,
    ) -> ViewSchema:
        """A view; ``pk_column`` is the accessor name of its declared primary-key column."""
        return_type = type_from_value(raw["return_type"])
        found = _view_row_ref(return_type)
        row: ProductType | None = None
        columns: tuple[ColumnSchema, ...] = ()
        if found is not None:
            row = _row_type(self.typespace, found[0], f"view {name!r}")
            accessor_row = _row_type(self.accessor_typespace, found[0], f"view {name!r}")
            columns = _columns(row, accessor_row, {})
        return ViewSchema(
            name=name,
            accessor_name=accessor,
            index=raw["index"],
            params=product_from_value(raw["params"]),
            return_type=return_type,
            is_public=raw["is_public"],
            is_anonymous=raw["is_anonymous"],
            is_query=found is not None and found[1],
            product_type_ref=None if found is None else found[0],
            row_type=row,
            columns=columns,
            primary_key=_declared_pk(name, columns, pk_column),
        )

    def _type_defs(
        self, raw_types: list[dict[str, Any]], name_key: str
    ) -> tuple[TypeDefSchema, ...]:
        out = []
        for t in raw_types:
            scoped = t[name_key]
            source = ScopedName(tuple(scoped["scope"]), scoped[name_key])
            canonical = ScopedName(
                tuple(self.policy.convert_type(s) for s in source.scope),
                self.policy.convert_type(source.name),
            )
            out.append(TypeDefSchema(canonical, source, t["ty"], t["custom_ordering"]))
        return tuple(out)


def _kind_lookup(
    reducers: Sequence[ReducerSchema], procedures: Sequence[ProcedureSchema]
) -> Callable[[str], FunctionKind]:
    reducer_names = {r.name for r in reducers}
    procedure_names = {p.name for p in procedures}

    def kind_of(name: str) -> FunctionKind:
        if name in reducer_names:
            return FunctionKind.REDUCER
        if name in procedure_names:
            return FunctionKind.PROCEDURE
        return FunctionKind.UNKNOWN

    return kind_of


# ---- views ----------------------------------------------------------------------------------


def _declared_pk(
    view: str, columns: Sequence[ColumnSchema], pk_column: str | None
) -> tuple[int, ...]:
    if pk_column is None:
        return ()
    for c in columns:
        if c.accessor_name == pk_column:
            return (c.col_id,)
    raise SchemaError(f"ViewPrimaryKeys: view {view!r} has no column {pk_column!r}")


def _inherit_query_view_pk(view: ViewSchema, tables: Sequence[TableSchema]) -> ViewSchema:
    """A query view without a declared key takes its table's, if unambiguous."""
    if view.primary_key or not view.is_query or view.product_type_ref is None:
        return view
    keys = {
        t.primary_key
        for t in tables
        if t.product_type_ref == view.product_type_ref and t.primary_key
    }
    return dataclasses.replace(view, primary_key=keys.pop()) if len(keys) == 1 else view
