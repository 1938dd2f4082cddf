"""A module's schema as the server serves it: ``RawModuleDefV9`` / ``RawModuleDefV10`` JSON.

These reproduce ``impl From<ModuleDef> for RawModuleDefV9/V10`` in upstream's
``crates/schema/src/def.rs`` applied to a validated (canonicalized) module, in the
server's typed SATS-JSON (protocol.md §3):

- the typespace carries canonical names: product elements in snake case, sum variants
  in camel case, special types (Identity, Option, ScheduleAt …) untouched;
- v9 lists tables, types, indexes, constraints and sequences sorted by name (upstream
  sorts through a ``BTreeMap``), reducers in declaration order, and uses canonical
  table and reducer names; misc exports are column defaults, then procedures, then views;
- v10 emits ``Typespace`` first, then ``Types``, ``Tables``, ``Reducers``,
  ``Procedures``, ``Views``, ``ViewPrimaryKeys`` (procedural views' declared keys),
  ``Schedules``, ``LifeCycleReducers``,
  ``RowLevelSecurity`` when non-empty, and always ``ExplicitNames`` (accessor →
  canonical for every table, reducer, procedure and view).  Upstream iterates hash
  maps for tables and indexes here; we use declaration order for tables and sorted
  names for indexes, constraints and sequences, which is one of the orders it can emit.

Example::

    >>> from spacetimedb_sdk.server import Module
    >>> m = Module("demo")
    >>> @m.table(public=True)
    ... class Person:
    ...     name: str
    >>> describe_v9(m)["tables"][0]["name"]
    'person'
    >>> [list(s)[0] for s in describe_v10(m)["sections"]]
    ['Typespace', 'Types', 'Tables', 'ExplicitNames']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..sats.types import (
    AlgebraicType,
    ProductType,
    Typespace,
)
from ..schema.load import canonicalize_type, canonicalize_typespace
from ..schema.names import CaseConversionPolicy
from .datastore import IndexSchema, TableSchema
from .types_from_py import to_pascal_case

if TYPE_CHECKING:
    # Only the declarations: Module itself calls this exporter (Module.describe_v9/_v10).
    from .module.declarations import ModuleDeclarations
    from .module.definitions import ViewDef

_NONE: dict[str, Any] = {"none": []}
_UNIT_JSON: dict[str, Any] = {"elements": []}
_LIFECYCLE_ORDER = ("Init", "OnConnect", "OnDisconnect")


def _opt(value: Any) -> dict[str, Any]:
    return _NONE if value is None else {"some": value}


# ---- canonical typespace -----------------------------------------------------------------------


def canonical_type(ty: AlgebraicType, snake: bool) -> AlgebraicType:
    """Apply upstream's typespace case conversion to one type (skips special types)."""
    return canonicalize_type(ty, _policy(snake))


def _policy(snake: bool) -> CaseConversionPolicy:
    return CaseConversionPolicy.SNAKE_CASE if snake else CaseConversionPolicy.NONE


def canonical_typespace(module: ModuleDeclarations) -> Typespace:
    """The module typespace with canonical names, as both schema versions carry it."""
    return canonicalize_typespace(module.typespace, _policy(module.case_conversion == "snake_case"))


def _product_json(ty: ProductType) -> dict[str, Any]:
    return {"elements": [e.to_json() for e in ty.elements]}


def _type_name(module: ModuleDeclarations, name: str) -> str:
    return to_pascal_case(name) if module.case_conversion == "snake_case" else name


def _view_column_name(module: ModuleDeclarations, view: ViewDef, col: int) -> str:
    """The canonical name of a view column (its row type's element, case-converted)."""
    row = module.typespace[view.product_type_ref]
    assert isinstance(row, ProductType)  # the builder checks view row types
    return module.canonical(row.names()[col])


def _named_types(module: ModuleDeclarations) -> list[tuple[str, int]]:
    return [(_type_name(module, n), ref) for n, ref in module.build().named_types]


# ---- tables ------------------------------------------------------------------------------------


def _algorithm(ix: IndexSchema) -> dict[str, Any]:
    if ix.algorithm == "direct":
        return {"Direct": ix.columns[0]}
    return {"BTree" if ix.algorithm == "btree" else "Hash": list(ix.columns)}


def _constraints(t: TableSchema) -> list[tuple[str, tuple[int, ...]]]:
    return sorted((t.constraint_name(cols), cols) for cols in t.unique_constraints)


def _sequence_body(t: TableSchema) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for s in sorted(t.sequences, key=lambda s: s.name):
        out.append(
            (
                s.name,
                {
                    "column": s.col_id,
                    "start": _NONE,
                    "min_value": _NONE,
                    "max_value": _NONE,
                    "increment": s.increment,
                },
            )
        )
    return out


def _access(t: TableSchema) -> dict[str, Any]:
    return {"Public": []} if t.public else {"Private": []}


def _table_v9(t: TableSchema) -> dict[str, Any]:
    schedule = None
    if t.schedule is not None:
        schedule = {
            "name": {"some": t.schedule.name},
            "reducer_name": t.schedule.function_name,
            "scheduled_at_column": t.schedule.at_column,
        }
    return {
        "name": t.name,
        "product_type_ref": t.product_type_ref,
        "primary_key": [] if t.primary_key is None else [t.primary_key],
        "indexes": [
            {
                "name": {"some": ix.name},
                "accessor_name": {"some": ix.accessor},
                "algorithm": _algorithm(ix),
            }
            for ix in sorted(t.indexes, key=lambda ix: ix.name)
        ],
        "constraints": [
            {"name": {"some": name}, "data": {"Unique": {"columns": list(cols)}}}
            for name, cols in _constraints(t)
        ],
        "sequences": [{"name": {"some": name}, **body} for name, body in _sequence_body(t)],
        "schedule": _opt(schedule),
        "table_type": {"User": []},
        "table_access": _access(t),
    }


def _default_bytes(module: ModuleDeclarations, t: TableSchema) -> list[tuple[int, str]]:
    if not t.default_values:
        return []
    from ..sats import bsatn

    out = []
    for col_id, value in sorted(t.default_values.items()):
        ty = t.columns[col_id].algebraic_type
        codec = bsatn.codec_for(ty, module.typespace, classes=module.classes)
        out.append((col_id, codec.encode(value).hex()))
    return out


def _table_v10(module: ModuleDeclarations, t: TableSchema) -> dict[str, Any]:
    return {
        "source_name": t.accessor,
        "product_type_ref": t.product_type_ref,
        "primary_key": [] if t.primary_key is None else [t.primary_key],
        "indexes": [
            {
                "source_name": {"some": ix.source_name},
                "accessor_name": {"some": ix.accessor},
                "algorithm": _algorithm(ix),
            }
            for ix in sorted(t.indexes, key=lambda ix: ix.name)
        ],
        "constraints": [
            {"source_name": {"some": name}, "data": {"Unique": {"columns": list(cols)}}}
            for name, cols in _constraints(t)
        ],
        "sequences": [{"source_name": {"some": name}, **body} for name, body in _sequence_body(t)],
        "table_type": {"User": []},
        "table_access": _access(t),
        "default_values": [{"col_id": c, "value": v} for c, v in _default_bytes(module, t)],
        "is_event": t.is_event,
    }


# ---- v9 ----------------------------------------------------------------------------------------


def describe_v9(module: ModuleDeclarations) -> dict[str, Any]:
    """``RawModuleDefV9`` as served at ``/v1/database/:name/schema?version=9``."""
    built = module.build()
    tables = sorted(built.tables, key=lambda t: t.name)
    misc: list[dict[str, Any]] = []
    for t in tables:
        for col_id, value in _default_bytes(module, t):
            misc.append({"ColumnDefaultValue": {"table": t.name, "col_id": col_id, "value": value}})
    for p in module.procedures:
        misc.append(
            {
                "Procedure": {
                    "name": p.name,
                    "params": _product_json(p.params),
                    "return_type": p.return_type.to_json(),
                }
            }
        )
    for v in module.views:
        misc.append(
            {
                "View": {
                    "name": v.name,
                    "index": v.index,
                    "is_public": v.is_public,
                    "is_anonymous": v.is_anonymous,
                    "params": _product_json(v.params),
                    "return_type": v.return_type.to_json(),
                }
            }
        )
    return {
        "typespace": canonical_typespace(module).to_json(),
        "tables": [_table_v9(t) for t in tables],
        "reducers": [
            {
                "name": r.name,
                "params": _product_json(r.params),
                "lifecycle": _opt(None if r.lifecycle is None else {r.lifecycle: []}),
            }
            for r in module.reducers
        ],
        "types": [
            {"name": {"scope": [], "name": name}, "ty": ref, "custom_ordering": True}
            for name, ref in sorted(_named_types(module))
        ],
        "misc_exports": misc,
        "row_level_security": [{"sql": sql} for sql in module.row_level_security],
    }


# ---- v10 ---------------------------------------------------------------------------------------


def _visibility(callable_: bool) -> dict[str, Any]:
    return {"ClientCallable": []} if callable_ else {"Private": []}


def describe_v10(module: ModuleDeclarations) -> dict[str, Any]:
    """``RawModuleDefV10`` as served at ``/v1/database/:name/schema?version=10``."""
    built = module.build()
    sections: list[dict[str, Any]] = [{"Typespace": canonical_typespace(module).to_json()}]
    entries: list[dict[str, Any]] = []

    def add(section: str, items: list[Any]) -> None:
        if items:
            sections.append({section: items})

    add(
        "Types",
        [
            {"source_name": {"scope": [], "source_name": name}, "ty": ref, "custom_ordering": True}
            for name, ref in _named_types(module)
        ],
    )
    for t in built.tables:
        entries.append({"Table": {"source_name": t.accessor, "canonical_name": t.name}})
    add("Tables", [_table_v10(module, t) for t in built.tables])
    reducers = module.reducers
    for r in reducers:
        entries.append({"Function": {"source_name": r.source_name, "canonical_name": r.name}})
    add(
        "Reducers",
        [
            {
                "source_name": r.source_name,
                "params": _product_json(r.params),
                "visibility": _visibility(r.client_callable),
                "ok_return_type": {"Product": _UNIT_JSON},
                "err_return_type": {"String": []},
            }
            for r in reducers
        ],
    )
    for p in module.procedures:
        entries.append({"Function": {"source_name": p.source_name, "canonical_name": p.name}})
    add(
        "Procedures",
        [
            {
                "source_name": p.source_name,
                "params": _product_json(p.params),
                "return_type": p.return_type.to_json(),
                "visibility": _visibility(p.client_callable),
            }
            for p in module.procedures
        ],
    )
    for v in module.views:
        entries.append({"Function": {"source_name": v.source_name, "canonical_name": v.name}})
    add(
        "Views",
        [
            {
                "source_name": v.source_name,
                "index": v.index,
                "is_public": v.is_public,
                "is_anonymous": v.is_anonymous,
                "params": _product_json(v.params),
                "return_type": v.return_type.to_json(),
            }
            for v in module.views
        ],
    )
    # Only procedural views declare their key here; a query view's key is its table's, which
    # a reader infers again (upstream serializes `ViewPrimaryKeys` the same way).
    add(
        "ViewPrimaryKeys",
        [
            {
                "view_source_name": v.source_name,
                "columns": [_view_column_name(module, v, v.primary_key)],
            }
            for v in module.views
            if v.primary_key is not None and not v.is_query
        ],
    )
    add(
        "Schedules",
        [
            {
                "source_name": {"some": t.schedule.name},
                "table_name": t.name,
                "schedule_at_col": t.schedule.at_column,
                "function_name": t.schedule.function_name,
            }
            for t in built.tables
            if t.schedule is not None
        ],
    )
    by_lifecycle = {r.lifecycle: r for r in reducers if r.lifecycle is not None}
    add(
        "LifeCycleReducers",
        [
            {"lifecycle_spec": {lc: []}, "function_name": by_lifecycle[lc].name}
            for lc in _LIFECYCLE_ORDER
            if lc in by_lifecycle
        ],
    )
    add("RowLevelSecurity", [{"sql": sql} for sql in module.row_level_security])
    sections.append({"ExplicitNames": {"entries": entries}})
    return {"sections": sections}


__all__ = ["canonical_type", "canonical_typespace", "describe_v9", "describe_v10"]
