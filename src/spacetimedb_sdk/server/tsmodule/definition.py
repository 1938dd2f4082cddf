"""A TypeScript module's description, as the local server's datastore and host need it.

The module describes itself with a BSATN ``RawModuleDef`` (its ``__describe_module__`` hook).
The schema layer normalizes that (:class:`~...schema.ModuleSchema`: canonical names, generated
index and sequence names, lifecycles, schedules, view keys); :func:`build_definition` turns the
result into what a Python module's builder produces (:class:`~..datastore.TableSchema` per table,
:class:`~..module.ReducerDef` and friends, the typespace with source names and row classes), so
that the datastore, the subscription engine, SQL, the scheduler and the schema routes serve a
TypeScript module exactly as they serve a Python one.

It also numbers what the module's code addresses by number: tables and indexes (the ids the
``table_id_from_name`` and ``index_id_from_name`` syscalls return), reducers and procedures (ids
are positions in the description, the module's own first, then each submodule's, depth first, as
the library's dispatcher counts them) and views (per kind, by their ``index``).

Submodules (a module mounting another under a namespace) are flattened: their types are appended
to the typespace, their tables, indexes and functions get the ``namespace.`` prefix in every name.

Example::

    definition = build_definition(ModuleSchema.from_bsatn(described), "src/index.ts")
    definition.tables[0].name, definition.reducers[0].name
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ...errors import SchemaError
from ...sats import bsatn
from ...sats.types import (
    AlgebraicType,
    ArrayType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
    Typespace,
)
from ...schema import CaseConversionPolicy, IndexAlgorithm, ModuleSchema
from ...schema import TableSchema as RawTable
from ...schema.raw import typespace_from_value
from ..datastore import ColumnSchema, IndexSchema, ScheduleSchema, SequenceSchema, TableSchema
from ..module import ProcedureDef, ReducerDef, ViewDef
from ..types_from_py import to_pascal_case
from .rows import row_class


def _not_python(*_: Any) -> Any:
    raise TypeError("a TypeScript module's functions run in its Node process, not in Python")


@dataclass
class TsDefinition:
    """Everything :func:`build_definition` derives (see the module docstring)."""

    typespace: Typespace
    classes: dict[int, type]
    named_types: list[tuple[str, int]]
    tables: list[TableSchema]
    reducers: list[ReducerDef]
    procedures: list[ProcedureDef]
    views: list[ViewDef]
    row_level_security: list[str]
    case_conversion: Literal["snake_case"] | None
    #: table id -> canonical table name; index id -> (canonical table name, index)
    table_ids: list[str] = field(default_factory=list)
    index_ids: list[tuple[str, IndexSchema]] = field(default_factory=list)
    #: what ``table_id_from_name``/``index_id_from_name`` accept (source and canonical names)
    table_names: dict[str, int] = field(default_factory=dict)
    index_names: dict[str, int] = field(default_factory=dict)
    #: the table or view (canonical name) of each source name, and the canonical name of each
    #: source column name by table or view, for the SQL a query view returns
    source_tables: dict[str, str] = field(default_factory=dict)
    source_columns: dict[str, dict[str, str]] = field(default_factory=dict)


def shift_refs(ty: AlgebraicType, delta: int) -> AlgebraicType:
    """``ty`` with every typespace ref moved by ``delta`` (a submodule's types, appended)."""
    if delta == 0:
        return ty
    if isinstance(ty, RefType):
        return RefType(ty.index + delta)
    if isinstance(ty, ArrayType):
        return ArrayType(shift_refs(ty.elem, delta))
    if isinstance(ty, ProductType):
        return ProductType(
            tuple(
                ProductTypeElement(e.name, shift_refs(e.algebraic_type, delta)) for e in ty.elements
            )
        )
    if isinstance(ty, SumType):
        return SumType(
            tuple(SumTypeVariant(v.name, shift_refs(v.algebraic_type, delta)) for v in ty.variants)
        )
    return ty


@dataclass
class _Part:
    """One module of the tree (the root or a submodule), flattened."""

    schema: ModuleSchema
    source_types: Typespace
    prefix: str
    delta: int


def _parts(schema: ModuleSchema) -> list[_Part]:
    parts: list[_Part] = []
    offset = 0

    def visit(s: ModuleSchema, prefix: str) -> None:
        nonlocal offset
        raw = s.raw.value if s.raw is not None else {"sections": []}
        sections = {sec.tag: sec.value for sec in reversed(raw["sections"])}
        source = typespace_from_value(sections.get("Typespace", {"types": []}))
        parts.append(_Part(s, source, prefix, offset))
        offset += len(source)
        for namespace, sub in s.submodules:
            visit(sub, f"{prefix}{namespace}.")

    visit(schema, "")
    return parts


def build_definition(schema: ModuleSchema, where: str) -> TsDefinition:
    """The :class:`TsDefinition` of a described module; ``where`` names it in errors.

    Raises :class:`SchemaError` for a description the local server cannot host.
    """
    parts = _parts(schema)
    types: list[AlgebraicType] = []
    for part in parts:
        types.extend(shift_refs(t, part.delta) for t in part.source_types.types)
    typespace = Typespace(tuple(types))
    named: list[tuple[str, int]] = []
    names_of: dict[int, str] = {}
    for part in parts:
        for td in part.schema.types:
            ref = td.ty + part.delta
            name = td.source_name.name
            names_of.setdefault(ref, name)
            if part.prefix == "" or all(n != name for n, _ in named):
                named.append((name, ref))
    classes: dict[int, type] = {}

    def cls_for(ref: int, fallback: str) -> type:
        found = classes.get(ref)
        if found is None:
            row = typespace[ref]
            if not isinstance(row, ProductType):
                raise SchemaError(f"{where}: typespace entry {ref} is not a row (product) type")
            found = classes[ref] = row_class(names_of.get(ref) or to_pascal_case(fallback), row)
        return found

    policy = schema.case_conversion_policy
    definition = TsDefinition(
        typespace=typespace,
        classes=classes,
        named_types=named,
        tables=[],
        reducers=[],
        procedures=[],
        views=[],
        row_level_security=[],
        case_conversion="snake_case" if policy is CaseConversionPolicy.SNAKE_CASE else None,
    )
    for part in parts:
        _add_part(definition, part, where, cls_for)
    _check_names(definition, where)
    _number(definition)
    return definition


def _check_names(d: TsDefinition, where: str) -> None:
    """Canonical names are unique across tables, views and functions (as upstream validates)."""
    seen: dict[str, str] = {}
    for kind, name in [
        *(("table", t.name) for t in d.tables),
        *(("view", v.name) for v in d.views),
        *(("reducer", r.name) for r in d.reducers),
        *(("procedure", p.name) for p in d.procedures),
    ]:
        if name in seen:
            raise SchemaError(
                f"{where}: {kind} {name!r} has the same canonical name as a {seen[name]}"
            )
        seen[name] = kind
    for t in d.tables:
        if t.name.startswith("st_"):
            raise SchemaError(f"{where}: table {t.name!r}: names starting with 'st_' are reserved")


def _add_part(
    d: TsDefinition, part: _Part, where: str, cls_for: Callable[[int, str], type]
) -> None:
    s, prefix, delta = part.schema, part.prefix, part.delta
    policy = s.case_conversion_policy
    sources = {r.name: r.accessor_name for r in s.reducers}
    sources.update({p.name: p.accessor_name for p in s.procedures})
    for t in s.tables:
        d.tables.append(_table(d, t, prefix, delta, where, cls_for, sources))
    for r in s.reducers:
        lifecycle = r.lifecycle.value if r.lifecycle is not None and prefix == "" else None
        d.reducers.append(
            ReducerDef(
                source_name=prefix + r.accessor_name,
                name=prefix + r.name,
                explicit_name=r.name != policy.convert(r.accessor_name),
                fn=_not_python,
                params=_shifted_product(r.params, delta),
                lifecycle=lifecycle,
                client_callable=r.is_client_callable,
            )
        )
    for p in s.procedures:
        d.procedures.append(
            ProcedureDef(
                source_name=prefix + p.accessor_name,
                name=prefix + p.name,
                explicit_name=p.name != policy.convert(p.accessor_name),
                fn=_not_python,
                params=_shifted_product(p.params, delta),
                return_type=shift_refs(p.return_type, delta),
                client_callable=p.visibility.value == "ClientCallable",
            )
        )
    counts = {True: sum(v.is_anonymous for v in d.views), False: 0}
    counts[False] = len(d.views) - counts[True]
    for v in s.views:
        if v.product_type_ref is None:
            raise SchemaError(
                f"{where}: view {v.accessor_name!r} must return rows of an object type "
                "(an array or option of a row, or a query)"
            )
        ref = v.product_type_ref + delta
        cls_for(ref, v.accessor_name)
        d.views.append(
            ViewDef(
                source_name=prefix + v.accessor_name,
                name=prefix + v.name,
                explicit_name=v.name != policy.convert(v.accessor_name),
                fn=_not_python,
                is_public=v.is_public,
                is_anonymous=v.is_anonymous,
                index=counts[v.is_anonymous] + v.index,
                params=_shifted_product(v.params, delta),
                return_type=shift_refs(v.return_type, delta),
                product_type_ref=ref,
                is_query=v.is_query,
                primary_key=v.primary_key[0] if v.primary_key else None,
            )
        )
        d.source_tables.setdefault(prefix + v.accessor_name, prefix + v.name)
        d.source_columns[prefix + v.name] = {c.accessor_name: c.name for c in v.columns}
    d.row_level_security.extend(s.row_level_security)


def _shifted_product(ty: ProductType, delta: int) -> ProductType:
    shifted = shift_refs(ty, delta)
    assert isinstance(shifted, ProductType)
    return shifted


def _table(
    d: TsDefinition,
    t: RawTable,
    prefix: str,
    delta: int,
    where: str,
    cls_for: Callable[[int, str], type],
    function_sources: dict[str, str],
) -> TableSchema:
    what = f"{where}: table {t.accessor_name!r}"
    ref = t.product_type_ref + delta
    cls = cls_for(ref, t.accessor_name)
    row = d.typespace[ref]
    assert isinstance(row, ProductType)
    attrs: tuple[str, ...] = cls.__sats_fields__  # type: ignore[attr-defined]
    columns = tuple(
        ColumnSchema(c.col_id, attrs[c.col_id], c.name, row.elements[c.col_id].algebraic_type)
        for c in t.columns
    )
    if len(t.primary_key) > 1:
        raise SchemaError(f"{what}: a primary key of more than one column is not supported")
    uniques = tuple(tuple(c.columns) for c in t.constraints)
    indexes = []
    for ix in t.indexes:
        unique = any(set(u) == set(ix.columns) for u in uniques)
        algorithm = {
            IndexAlgorithm.BTREE: "btree",
            IndexAlgorithm.HASH: "hash",
            IndexAlgorithm.DIRECT: "direct",
        }[ix.algorithm]
        source = ix.source_name or ix.name
        indexes.append(
            IndexSchema(
                ix.accessor_name or source,
                prefix + source,
                prefix + ix.name,
                algorithm,
                ix.columns,
                unique,
            )
        )
    for u in uniques:
        if not any(set(ix.columns) == set(u) for ix in indexes):
            cols = [columns[c].name for c in u]
            raise SchemaError(
                f"{what}: the unique constraint on {cols} has no index on the same columns"
            )
    defaults: dict[int, Any] = {}
    for c in t.columns:
        if c.default_value is not None:
            codec = bsatn.codec_for(
                columns[c.col_id].algebraic_type, d.typespace, classes=d.classes
            )
            defaults[c.col_id] = codec.decode(c.default_value)
    sequences = tuple(
        SequenceSchema(
            s.column,
            s.name,
            start=s.start if s.start is not None else (s.min_value or 1),
            increment=s.increment,
        )
        for s in t.sequences
    )
    schedule = None
    if t.schedule is not None:
        if t.schedule.id_column is None:
            raise SchemaError(
                f"{what}: a scheduled table needs a u64 primary key (the schedule id)"
            )
        function = t.schedule.function_name
        source_fn = function_sources.get(function, function)
        schedule = ScheduleSchema(
            t.schedule.name,
            prefix + function,
            prefix + source_fn,
            t.schedule.at_column,
            t.schedule.id_column,
        )
    table = TableSchema(
        accessor=prefix + t.accessor_name,
        name=prefix + t.name,
        row_class=cls,
        row_type=row,
        product_type_ref=ref,
        columns=columns,
        primary_key=t.primary_key[0] if t.primary_key else None,
        indexes=tuple(indexes),
        unique_constraints=uniques,
        sequences=sequences,
        schedule=schedule,
        is_event=t.is_event,
        public=t.is_public,
        default_values=defaults,
    )
    d.source_tables.setdefault(table.accessor, table.name)
    d.source_columns[table.name] = {c.accessor_name: c.name for c in t.columns}
    return table


def _number(d: TsDefinition) -> None:
    for table in d.tables:
        table_id = len(d.table_ids)
        d.table_ids.append(table.name)
        d.table_names.setdefault(table.accessor, table_id)
        d.table_names.setdefault(table.name, table_id)
        for ix in table.indexes:
            index_id = len(d.index_ids)
            d.index_ids.append((table.name, ix))
            d.index_names.setdefault(ix.source_name, index_id)
            d.index_names.setdefault(ix.name, index_id)
