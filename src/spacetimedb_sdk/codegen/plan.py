"""What to generate for a schema, with every Python name decided up front.

:func:`make_plan` walks a :class:`~spacetimedb_sdk.schema.ModuleSchema` once and
fixes the classes (one per named product, plain enum and sum with payloads, plus
row classes for tables whose row type has no name), tables and views (handle,
query-builder and index names), reducers and procedures, all sorted so that
output is deterministic.  Names are allocated in one package-wide namespace
(everything is re-exported from the package), in a fixed order: the package's
own classes first, then types by name, then table, reducer and procedure classes.

Example::

    plan = make_plan(ModuleSchema.from_json(text))
    [c.name for c in plan.type_classes]       # ['Message', 'User']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..client.bindings import ModuleBindings, py_name
from ..client.indexes import IndexDef
from ..connection import TableHandle
from ..errors import SchemaError
from ..query import column_attr
from ..sats.types import AlgebraicType, ProductType, SumType, Typespace
from ..schema.model import (
    ModuleSchema,
    ProcedureSchema,
    ReducerSchema,
    TableSchema,
    ViewSchema,
    Visibility,
)
from .naming import NameAllocator, class_name, enum_member_name, param_name, pascal

__all__ = [
    "FIXED_NAMES",
    "FieldPlan",
    "FunctionPlan",
    "IndexPlan",
    "Plan",
    "TablePlan",
    "TypeClass",
    "VariantPlan",
    "make_plan",
]

#: Classes every generated package defines, in the order they are allocated.
FIXED_NAMES = (
    "DbConnection",
    "QueryBuilder",
    "RemoteTables",
    "RemoteReducers",
    "RemoteProcedures",
    "SCHEMA",
    "CLASSES",
)

# Attributes of TableHandle that an index property must not hide.
_HANDLE_ATTRIBUTES = frozenset(n for n in dir(TableHandle) if not n.startswith("_"))


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """A product field or column: Python name, wire name, type."""

    py: str
    wire: str
    ty: AlgebraicType


@dataclass(frozen=True, slots=True)
class VariantPlan:
    """A variant of a sum with payloads: class attribute, wire name, class, payload type."""

    attr: str
    wire: str
    cls: str
    payload: AlgebraicType | None  # None: a unit variant


@dataclass(frozen=True, slots=True)
class TypeClass:
    """One generated type class: ``kind`` is ``"product"``, ``"enum"`` or ``"sum"``."""

    name: str
    ref: int
    kind: str
    sats_name: str
    fields: tuple[FieldPlan, ...] = ()
    members: tuple[tuple[str, str], ...] = ()  # enum: (member, wire name)
    variants: tuple[VariantPlan, ...] = ()


@dataclass(frozen=True, slots=True)
class IndexPlan:
    """An index property of a table handle."""

    prop: str
    index_name: str
    unique: bool
    columns: tuple[FieldPlan, ...]


@dataclass(frozen=True, slots=True)
class TablePlan:
    """A table or view: ``accessor`` is the ``conn.db``/``q`` attribute."""

    name: str
    accessor: str
    ref: int | None
    row_type: ProductType
    handle_cls: str
    cols_cls: str
    columns: tuple[FieldPlan, ...]
    col_attrs: tuple[str, ...]
    indexes: tuple[IndexPlan, ...]
    primary_key: tuple[str, ...]
    has_pk: bool
    is_view: bool
    is_event: bool
    is_public: bool


@dataclass(frozen=True, slots=True)
class FunctionPlan:
    """A reducer or procedure: accessor, wire name, wrapper class, typed parameters."""

    name: str
    accessor: str
    cls: str
    params: tuple[FieldPlan, ...]
    returns: AlgebraicType
    callable: bool


@dataclass(slots=True)
class Plan:
    """Everything the emitters need; see :func:`make_plan`."""

    schema: ModuleSchema
    names: dict[str, str]  # fixed name -> allocated name
    type_classes: list[TypeClass]
    class_of_ref: dict[int, str]
    type_aliases: list[tuple[str, str]]  # (alias, class) for named types sharing a ref
    tables: list[TablePlan]
    reducers: list[FunctionPlan]
    procedures: list[FunctionPlan]
    include_private: bool
    taken: set[str] = field(default_factory=set)
    accessors: dict[str, str] = field(default_factory=dict)  # every table and view

    def name(self, fixed: str) -> str:
        """The allocated name of one of :data:`FIXED_NAMES`."""
        return self.names[fixed]


def make_plan(schema: ModuleSchema, *, include_private: bool = False) -> Plan:
    """Decide names and contents of the bindings of ``schema`` (see the module docs).

    Example::

        >>> make_plan(ModuleSchema.from_json({"sections": []})).tables
        []
    """
    alloc = NameAllocator()
    names = {n: alloc.take(n) for n in FIXED_NAMES}
    type_classes, class_of_ref, aliases = _plan_types(schema, alloc)
    bindings = ModuleBindings.from_schema(schema)
    tables = _plan_tables(schema, bindings, alloc, class_of_ref, include_private)
    reducer_keys = {b.name: key for key, b in bindings.reducers.items()}
    procedure_keys = {b.name: key for key, b in bindings.procedures.items()}
    reducers = sorted(
        (
            _plan_function(r, reducer_keys, _unit(), alloc, "Reducer")
            for r in schema.reducers
            if r.lifecycle is None
            and (include_private or r.visibility is Visibility.CLIENT_CALLABLE)
        ),
        key=lambda f: (f.accessor, f.name),
    )
    procedures = sorted(
        (
            _plan_function(p, procedure_keys, p.return_type, alloc, "Procedure")
            for p in schema.procedures
            if include_private or p.visibility is Visibility.CLIENT_CALLABLE
        ),
        key=lambda f: (f.accessor, f.name),
    )
    return Plan(
        schema,
        names,
        type_classes,
        class_of_ref,
        aliases,
        tables,
        reducers,
        procedures,
        include_private,
        set(alloc.taken),
        {b.name: accessor for accessor, b in bindings.tables.items()},
    )


def _unit() -> AlgebraicType:
    return ProductType(())


# ---- types ------------------------------------------------------------------------------------


def _plan_types(
    schema: ModuleSchema, alloc: NameAllocator
) -> tuple[list[TypeClass], dict[int, str], list[tuple[str, str]]]:
    ts = schema.typespace
    wanted: list[tuple[str, str, int]] = []  # (class name, sats name or "" for rows, ref)
    for td in schema.types:
        full = "".join(pascal(s) for s in td.name.scope) + td.name.name
        wanted.append((class_name(full), str(td.name), td.ty))
    named_refs = {ref for _, _, ref in wanted}
    # Row types without a name (v9 schemas may have no `types`) get one after their table.
    rows: list[TableSchema | ViewSchema] = [*schema.tables, *schema.views]
    for t in sorted(rows, key=lambda t: t.name):
        ref = t.product_type_ref
        if ref is not None and ref not in named_refs:
            named_refs.add(ref)
            wanted.append((class_name(pascal(t.name)), "", ref))
    wanted.sort(key=lambda w: (w[0], w[1], w[2]))
    class_of_ref: dict[int, str] = {}
    aliases: list[tuple[str, str]] = []
    pending: list[tuple[str, str, int]] = []
    for cname, sats_name, ref in wanted:
        ty = _classed_type(ts[ref])
        if ty is None:
            continue
        if ref in class_of_ref:
            aliases.append((alloc.take(cname), class_of_ref[ref]))
            continue
        class_of_ref[ref] = alloc.take(cname)
        pending.append((class_of_ref[ref], sats_name, ref))
    out = [_type_class(name, sats, ref, ts, alloc) for name, sats, ref in pending]
    return out, class_of_ref, aliases


def _classed_type(ty: AlgebraicType) -> AlgebraicType | None:
    """The type if it gets a class: not a ref, special product, option, result or ScheduleAt."""
    if isinstance(ty, ProductType):
        return None if ty.special_kind() is not None else ty
    if isinstance(ty, SumType):
        if ty.is_option() or ty.is_result() or ty.is_schedule_at() or not ty.variants:
            return None
        return ty
    return None


def _type_class(
    name: str, sats_name: str, ref: int, ts: Typespace, alloc: NameAllocator
) -> TypeClass:
    ty = ts[ref]
    if isinstance(ty, ProductType):
        return TypeClass(name, ref, "product", sats_name, fields=_fields(name, ty))
    assert isinstance(ty, SumType)
    wires = [v.name if v.name is not None else str(i) for i, v in enumerate(ty.variants)]
    if ty.is_plain_enum():
        members = NameAllocator()
        return TypeClass(
            name,
            ref,
            "enum",
            sats_name,
            members=tuple((members.take(enum_member_name(w)), w) for w in wires),
        )
    attrs = NameAllocator({"value"})
    variants = []
    for w, v in zip(wires, ty.variants, strict=True):
        attr = attrs.take(py_name(w))
        # As the codecs do: a payload that resolves to the unit type is no payload.
        payload = None if ts.resolve(v.algebraic_type).is_unit() else v.algebraic_type
        variants.append(VariantPlan(attr, w, alloc.take(f"{name}_{attr}"), payload))
    return TypeClass(name, ref, "sum", sats_name, variants=tuple(variants))


def _fields(owner: str, ty: ProductType) -> tuple[FieldPlan, ...]:
    wire = ty.names()
    fields = tuple(
        FieldPlan(py_name(w), w, e.algebraic_type) for w, e in zip(wire, ty.elements, strict=True)
    )
    pys = [f.py for f in fields]
    if len(set(pys)) != len(pys):
        raise SchemaError(
            f"type {owner}: fields {wire} collide after escaping to Python names {pys}"
        )
    return fields


# ---- tables -----------------------------------------------------------------------------------


def _plan_tables(
    schema: ModuleSchema,
    bindings: ModuleBindings,
    alloc: NameAllocator,
    class_of_ref: dict[int, str],
    include_private: bool,
) -> list[TablePlan]:
    out: list[TablePlan] = []
    items: list[TableSchema | ViewSchema] = [
        t for t in schema.tables if include_private or t.is_public
    ]
    items += [v for v in schema.views if v.row_type is not None]
    for t in sorted(items, key=lambda t: py_name(t.name)):
        binding = bindings.table(t.name)
        row_type = binding.row_type
        cols = _fields(t.name, row_type)
        base = pascal(binding.accessor)
        out.append(
            TablePlan(
                name=t.name,
                accessor=binding.accessor,
                ref=t.product_type_ref,
                row_type=row_type,
                handle_cls=alloc.take(f"{base}Table"),
                cols_cls=alloc.take(f"{base}Cols"),
                columns=cols,
                col_attrs=tuple(column_attr(c.py) for c in cols),
                indexes=_plan_indexes(binding.indexes, binding.primary_key, cols),
                primary_key=binding.primary_key,
                has_pk=bool(binding.primary_key),
                is_view=isinstance(t, ViewSchema),
                is_event=isinstance(t, TableSchema) and t.is_event,
                is_public=t.is_public,
            )
        )
    return out


def _plan_indexes(
    defs: Sequence[IndexDef], primary_key: tuple[str, ...], cols: tuple[FieldPlan, ...]
) -> tuple[IndexPlan, ...]:
    by_py = {c.py: c for c in cols}
    found = [(d.name, d.unique, tuple(d.columns)) for d in defs]
    # The client cache adds a key index named after the primary key when none covers it.
    if primary_key and not any(u and c == primary_key for _, u, c in found):
        found.insert(0, ("_".join(primary_key), True, primary_key))
    props = NameAllocator(_HANDLE_ATTRIBUTES)
    out = []
    for name, unique, columns in found:
        out.append(IndexPlan(props.take(name), name, unique, tuple(by_py[c] for c in columns)))
    return tuple(out)


# ---- reducers and procedures ------------------------------------------------------------------


def _plan_function(
    fn: ReducerSchema | ProcedureSchema,
    keys: dict[str, str],
    returns: AlgebraicType,
    alloc: NameAllocator,
    suffix: str,
) -> FunctionPlan:
    # The attribute the connection's bindings use; private functions are not in them.
    accessor = keys.get(fn.name) or _accessor_name(fn.accessor_name)
    taken = NameAllocator({"self", "callback"})
    fields = tuple(
        FieldPlan(taken.take(param_name(w)), w, e.algebraic_type)
        for w, e in zip(fn.params.names(), fn.params.elements, strict=True)
    )
    cls = alloc.take(f"{pascal(accessor)}{suffix}")
    return FunctionPlan(fn.name, accessor, cls, fields, returns, fn.name in keys)


def _accessor_name(accessor: str) -> str:
    from ..client import bindings

    # The same spelling the bindings give callable functions (python_name where it exists).
    convert: Callable[[str], str] = getattr(bindings, "python_name", py_name)
    return convert(accessor)
