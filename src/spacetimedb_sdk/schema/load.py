"""Normalize a decoded ``RawModuleDef`` into a :class:`ModuleSchema`.

This mirrors what the host's validation derives from a definition
(``crates/schema/src/def/validate/v9.rs`` and ``v10.rs``), minus the checks:

* v10 canonical names: an ``ExplicitNames`` entry wins, otherwise the
  ``CaseConversionPolicy`` (default ``SnakeCase``) converts tables, columns,
  reducers, procedures and views to snake_case, named types to PascalCase and enum
  variants to camelCase (the whole typespace is converted, except inside the special
  types, options, results and ``ScheduleAt``);
* generated names use canonical table and column names: indexes
  ``{table}_{cols}_idx_{btree|hash|direct}`` (unless an explicit index name maps the
  index's source name), unique constraints always ``{table}_{cols}_key`` in v10,
  sequences ``{table}_{col}_seq`` unless named, schedules ``{table}_sched``;
* lifecycle reducers and scheduled functions become ``Private``;
* a query view with no declared primary key takes the primary key of the table
  with the same row type, if exactly one such key exists.

v9 schemas already carry canonical names and are taken as they are.

Example::

    >>> schema = normalize(RawModuleDef.from_json(text))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import SchemaError
from ..sats.types import (
    AlgebraicType,
    ArrayType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
    Typespace,
)
from ..sats.values import SumValue
from .model import (
    ColumnSchema,
    ConstraintSchema,
    FunctionKind,
    IndexAlgorithm,
    IndexSchema,
    Lifecycle,
    ModuleSchema,
    ProcedureSchema,
    ReducerSchema,
    ScheduleSchema,
    ScopedName,
    SequenceSchema,
    TableAccess,
    TableSchema,
    TableType,
    TypeDefSchema,
    ViewSchema,
    Visibility,
)
from .names import CaseConversionPolicy
from .raw import RawModuleDef, product_from_value, type_from_value, typespace_from_value

__all__ = ["canonicalize_type", "canonicalize_typespace", "normalize"]

_QUERY_VIEW_TAG = "__query__"


def normalize(raw: RawModuleDef) -> ModuleSchema:
    """Build the :class:`ModuleSchema` of a decoded definition.

    Example::

        >>> normalize(RawModuleDef(10, {"sections": []})).case_conversion_policy
        <CaseConversionPolicy.SNAKE_CASE: 'SnakeCase'>
    """
    if raw.version == 9:
        return _V9(raw).build()
    return _V10(raw).build()


# ---- typespace case conversion --------------------------------------------------------------


def canonicalize_typespace(ts: Typespace, policy: CaseConversionPolicy) -> Typespace:
    """Apply the host's case conversion to every field and variant name of ``ts``.

    Example::

        >>> ts = Typespace((AlgebraicType.product({"playerId": AlgebraicType.U32}),))
        >>> canonicalize_typespace(ts, CaseConversionPolicy.SNAKE_CASE).types[0].names()
        ['player_id']
    """
    if policy is CaseConversionPolicy.NONE:
        return ts
    return Typespace(tuple(canonicalize_type(t, policy) for t in ts.types))


def _is_special(ty: AlgebraicType) -> bool:
    if isinstance(ty, ProductType):
        return ty.special_kind() is not None
    if isinstance(ty, SumType):
        return ty.is_option() or ty.is_result() or ty.is_schedule_at()
    return False


def canonicalize_type(ty: AlgebraicType, policy: CaseConversionPolicy) -> AlgebraicType:
    """Apply the host's case conversion to the field and variant names inside one type.

    Like the host, a special type (Identity, Option, Result, ScheduleAt, ...) is left whole,
    including whatever it contains.

    Example::

        >>> t = AlgebraicType.product({"playerId": AlgebraicType.U32})
        >>> canonicalize_type(t, CaseConversionPolicy.SNAKE_CASE).names()
        ['player_id']
    """
    if _is_special(ty):
        return ty
    if isinstance(ty, ProductType):
        return ProductType(
            tuple(
                ProductTypeElement(
                    policy.convert(e.name) if e.name is not None else None,
                    canonicalize_type(e.algebraic_type, policy),
                )
                for e in ty.elements
            )
        )
    if isinstance(ty, SumType):
        return SumType(
            tuple(
                SumTypeVariant(
                    policy.convert_variant(v.name) if v.name is not None else None,
                    canonicalize_type(v.algebraic_type, policy),
                )
                for v in ty.variants
            )
        )
    if isinstance(ty, ArrayType):
        return ArrayType(canonicalize_type(ty.elem, policy))
    return ty


# ---- shared helpers -----------------------------------------------------------------------


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


# ---- v9 -------------------------------------------------------------------------------------


class _V9(_Base):
    def __init__(self, raw: RawModuleDef) -> None:
        self.value: dict[str, Any] = raw.value
        self.raw = raw
        self.policy = CaseConversionPolicy.NONE
        self.typespace = typespace_from_value(self.value["typespace"])
        self.accessor_typespace = self.typespace

    def build(self) -> ModuleSchema:
        misc: list[SumValue] = self.value["misc_exports"]
        defaults: dict[str, dict[int, bytes]] = {}
        for m in misc:
            if m.tag == "ColumnDefaultValue":
                defaults.setdefault(m.value["table"], {})[m.value["col_id"]] = m.value["value"]
        reducers = tuple(self._reducer(r) for r in self.value["reducers"])
        procedures = tuple(
            ProcedureSchema(
                name=m.value["name"],
                accessor_name=m.value["name"],
                params=product_from_value(m.value["params"]),
                return_type=type_from_value(m.value["return_type"]),
                visibility=Visibility.CLIENT_CALLABLE,
            )
            for m in misc
            if m.tag == "Procedure"
        )
        kind_of = _kind_lookup(reducers, procedures)
        tables = tuple(
            self._table(t, defaults.get(t["name"], {}), kind_of) for t in self.value["tables"]
        )
        views = tuple(
            self._view(m.value, m.value["name"], m.value["name"], None)
            for m in misc
            if m.tag == "View"
        )
        return ModuleSchema(
            version=9,
            typespace=self.typespace,
            tables=tables,
            reducers=reducers,
            procedures=procedures,
            views=views,
            types=self._type_defs(self.value["types"], "name"),
            row_level_security=tuple(r["sql"] for r in self.value["row_level_security"]),
            case_conversion_policy=self.policy,
            raw=self.raw,
        )

    def _reducer(self, raw: dict[str, Any]) -> ReducerSchema:
        lifecycle: SumValue | None = raw["lifecycle"]
        return ReducerSchema(
            name=raw["name"],
            accessor_name=raw["name"],
            params=product_from_value(raw["params"]),
            lifecycle=None if lifecycle is None else Lifecycle(lifecycle.tag),
            visibility=Visibility.CLIENT_CALLABLE,
            ok_return_type=AlgebraicType.unit(),
            err_return_type=AlgebraicType.STRING,
        )

    def _table(
        self,
        raw: dict[str, Any],
        defaults: dict[int, bytes],
        kind_of: Callable[[str], FunctionKind],
    ) -> TableSchema:
        name: str = raw["name"]
        row = _row_type(self.typespace, raw["product_type_ref"], f"table {name!r}")
        table = _check_columns(
            TableSchema(
                name=name,
                accessor_name=name,
                product_type_ref=raw["product_type_ref"],
                row_type=row,
                columns=_columns(row, row, defaults),
                primary_key=tuple(raw["primary_key"]),
                indexes=tuple(
                    _index(i, i["name"] or _generated_index_name(name, row, i))
                    for i in raw["indexes"]
                ),
                constraints=tuple(
                    ConstraintSchema(
                        c["name"] or f"{name}_{_cols_name(row, c['data'].value['columns'])}_key",
                        tuple(c["data"].value["columns"]),
                    )
                    for c in raw["constraints"]
                ),
                sequences=tuple(
                    _sequence(s, s["name"] or f"{name}_{_column_name(row, s['column'])}_seq")
                    for s in raw["sequences"]
                ),
                schedule=None,
                table_type=TableType(raw["table_type"].tag),
                access=TableAccess(raw["table_access"].tag),
                is_event=False,
            )
        )
        sched = raw["schedule"]
        if sched is None:
            return table
        return dataclasses.replace(
            table,
            schedule=_schedule(
                table,
                sched["name"] or f"{name}_sched",
                sched["reducer_name"],
                sched["scheduled_at_column"],
                kind_of,
            ),
        )


# ---- v10 ------------------------------------------------------------------------------------


class _V10(_Base):
    def __init__(self, raw: RawModuleDef) -> None:
        self.raw = raw
        self.sections: dict[str, Any] = {}
        for s in raw.value["sections"]:
            # The host reads the first section of each kind and ignores repeats.
            self.sections.setdefault(s.tag, s.value)
        policy = self.sections.get("CaseConversionPolicy")
        self.policy = (
            CaseConversionPolicy.SNAKE_CASE if policy is None else CaseConversionPolicy(policy.tag)
        )
        self.explicit: dict[str, dict[str, str]] = {"Table": {}, "Function": {}, "Index": {}}
        for entry in (self.sections.get("ExplicitNames") or {"entries": []})["entries"]:
            self.explicit[entry.tag][entry.value["source_name"]] = entry.value["canonical_name"]
        self.accessor_typespace = typespace_from_value(
            self.sections.get("Typespace", {"types": []})
        )
        self.typespace = canonicalize_typespace(self.accessor_typespace, self.policy)

    def _table_name(self, source: str) -> str:
        return self.explicit["Table"].get(source) or self.policy.convert(source)

    def _function_name(self, source: str) -> str:
        return self.explicit["Function"].get(source) or self.policy.convert(source)

    def build(self) -> ModuleSchema:
        reducers = [self._reducer(r) for r in self.sections.get("Reducers", [])]
        procedures = [self._procedure(p) for p in self.sections.get("Procedures", [])]
        tables = [self._table(t) for t in self.sections.get("Tables", [])]
        private: set[str] = set()
        self._attach_lifecycles(reducers, private)
        self._attach_schedules(tables, _kind_lookup(reducers, procedures), private)
        reducers = [
            dataclasses.replace(r, visibility=Visibility.PRIVATE) if r.name in private else r
            for r in reducers
        ]
        procedures = [
            dataclasses.replace(p, visibility=Visibility.PRIVATE) if p.name in private else p
            for p in procedures
        ]
        # Keyed by the view's source name; only single-column keys exist today.
        view_pks: dict[str, str] = {}
        for pk in self.sections.get("ViewPrimaryKeys", []):
            if pk["columns"]:
                view_pks.setdefault(pk["view_source_name"], pk["columns"][0])
        views = [
            self._view(
                v,
                self._function_name(v["source_name"]),
                v["source_name"],
                view_pks.get(v["source_name"]),
            )
            for v in self.sections.get("Views", [])
        ]
        views = [_inherit_query_view_pk(v, tables) for v in views]
        return ModuleSchema(
            version=10,
            typespace=self.typespace,
            tables=tuple(tables),
            reducers=tuple(reducers),
            procedures=tuple(procedures),
            views=tuple(views),
            types=self._type_defs(self.sections.get("Types", []), "source_name"),
            row_level_security=tuple(r["sql"] for r in self.sections.get("RowLevelSecurity", [])),
            case_conversion_policy=self.policy,
            submodules=tuple(
                (m["namespace"], _V10(RawModuleDef(10, m["module"])).build())
                for m in self.sections.get("Submodules", [])
            ),
            raw=self.raw,
        )

    def _reducer(self, raw: dict[str, Any]) -> ReducerSchema:
        return ReducerSchema(
            name=self._function_name(raw["source_name"]),
            accessor_name=raw["source_name"],
            params=product_from_value(raw["params"]),
            lifecycle=None,
            visibility=Visibility(raw["visibility"].tag),
            ok_return_type=type_from_value(raw["ok_return_type"]),
            err_return_type=type_from_value(raw["err_return_type"]),
        )

    def _procedure(self, raw: dict[str, Any]) -> ProcedureSchema:
        return ProcedureSchema(
            name=self._function_name(raw["source_name"]),
            accessor_name=raw["source_name"],
            params=product_from_value(raw["params"]),
            return_type=type_from_value(raw["return_type"]),
            visibility=Visibility(raw["visibility"].tag),
        )

    def _table(self, raw: dict[str, Any]) -> TableSchema:
        source: str = raw["source_name"]
        name = self._table_name(source)
        ref: int = raw["product_type_ref"]
        row = _row_type(self.typespace, ref, f"table {source!r}")
        accessor_row = _row_type(self.accessor_typespace, ref, f"table {source!r}")
        defaults = {d["col_id"]: d["value"] for d in raw["default_values"]}
        explicit_index = self.explicit["Index"]
        return _check_columns(
            TableSchema(
                name=name,
                accessor_name=source,
                product_type_ref=ref,
                row_type=row,
                columns=_columns(row, accessor_row, defaults),
                primary_key=tuple(raw["primary_key"]),
                indexes=tuple(
                    _index(
                        i,
                        explicit_index.get(i["source_name"] or "")
                        or _generated_index_name(name, row, i),
                    )
                    for i in raw["indexes"]
                ),
                # v10 ignores any constraint name the module gives and always generates one.
                constraints=tuple(
                    ConstraintSchema(
                        f"{name}_{_cols_name(row, c['data'].value['columns'])}_key",
                        tuple(c["data"].value["columns"]),
                    )
                    for c in raw["constraints"]
                ),
                sequences=tuple(
                    _sequence(s, s["source_name"] or f"{name}_{_column_name(row, s['column'])}_seq")
                    for s in raw["sequences"]
                ),
                schedule=None,
                table_type=TableType(raw["table_type"].tag),
                access=TableAccess(raw["table_access"].tag),
                is_event=raw["is_event"],
            )
        )

    def _attach_lifecycles(self, reducers: list[ReducerSchema], private: set[str]) -> None:
        for lc in self.sections.get("LifeCycleReducers", []):
            fname = self._function_name(lc["function_name"])
            for i, r in enumerate(reducers):
                if r.name == fname:
                    reducers[i] = dataclasses.replace(
                        r, lifecycle=Lifecycle(lc["lifecycle_spec"].tag)
                    )
                    private.add(fname)
                    break
            else:
                raise SchemaError(
                    f"lifecycle {lc['lifecycle_spec'].tag} names reducer {fname!r}, "
                    "which the module does not define"
                )

    def _attach_schedules(
        self,
        tables: list[TableSchema],
        kind_of: Callable[[str], FunctionKind],
        private: set[str],
    ) -> None:
        for sched in self.sections.get("Schedules", []):
            tname = self._table_name(sched["table_name"])
            fname = self._function_name(sched["function_name"])
            for i, t in enumerate(tables):
                if t.name == tname:
                    schedule = _schedule(
                        t, f"{tname}_sched", fname, sched["schedule_at_col"], kind_of
                    )
                    tables[i] = dataclasses.replace(t, schedule=schedule)
                    private.add(fname)
                    break
            else:
                raise SchemaError(f"schedule for table {sched['table_name']!r}: no such table")


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
