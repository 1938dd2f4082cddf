"""A module schema reduced to what must match upstream, by canonical names, and a diff of two.

:func:`summarize` turns a normalized :class:`ModuleSchema` into plain, ordered data: tables (access,
event flag, columns with their types, primary key, indexes, unique constraints, sequences, schedule),
reducers and procedures (parameters, return type, lifecycle, visibility), views (access, caller,
columns, primary key, whether one or many rows), named types (their definitions) and RLS filters.
Types are written out with named types by *name*, so two modules whose typespaces are ordered
differently (the TypeScript library registers types in another order than the Rust macros) still
compare equal.  Accessor (source) names are left out: the comparison is by canonical names, and the
TypeScript twins spell their accessors in camelCase where the Rust modules use snake_case.

Named types are those reachable from a table, view, reducer or procedure signature.  The
TypeScript module library also registers a product type for each reducer's parameter list
(``InsertOneU8`` for ``insert_one_u8``); nothing refers to those, and the Rust modules (the
originals the ports follow) have no such types, so unreachable types are not compared.

:func:`first_difference` walks two summaries and names the first place they differ, with its path
(``tables.one_u_8.columns[0]``) and both values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from spacetimedb_sdk.sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)
from spacetimedb_sdk.schema import ModuleSchema

__all__ = ["first_difference", "summarize"]


class _Types:
    """Renders types with named types by name; records which named types were used."""

    def __init__(self, schema: ModuleSchema) -> None:
        self.ts: Typespace = schema.typespace
        self.names = {t.ty: str(t.name) for t in schema.types}
        self.used: set[int] = set()

    def render(self, ty: AlgebraicType, seen: frozenset[int] = frozenset()) -> str:
        if isinstance(ty, RefType):
            name = self.names.get(ty.index)
            if name is not None:
                if ty.index not in self.used:
                    self.used.add(ty.index)
                    self.render(self.ts[ty.index], seen | {ty.index})  # its own uses
                return name
            if ty.index in seen:
                return f"<recursive ref {ty.index}>"
            return self.render(self.ts[ty.index], seen | {ty.index})
        if isinstance(ty, PrimitiveType):
            return ty.kind
        if isinstance(ty, ArrayType):
            return f"Array<{self.render(ty.elem, seen)}>"
        if isinstance(ty, ProductType):
            special = ty.special_kind()
            if special is not None:
                return special
            inner = ", ".join(
                f"{e.name}: {self.render(e.algebraic_type, seen)}" for e in ty.elements
            )
            return "{" + inner + "}"
        assert isinstance(ty, SumType)
        if ty.is_option():
            return f"Option<{self.render(ty.variants[0].algebraic_type, seen)}>"
        if ty.is_result():
            ok, err = (self.render(v.algebraic_type, seen) for v in ty.variants)
            return f"Result<{ok}, {err}>"
        if ty.is_schedule_at():
            return "ScheduleAt"
        inner = " | ".join(
            f"{v.name}"
            if _is_unit(v.algebraic_type)
            else f"{v.name}({self.render(v.algebraic_type, seen)})"
            for v in ty.variants
        )
        return "(" + inner + ")"

    def params(self, product: ProductType) -> list[str]:
        return [f"{e.name}: {self.render(e.algebraic_type)}" for e in product.elements]


def _is_unit(ty: AlgebraicType) -> bool:
    return isinstance(ty, ProductType) and ty.is_unit() and ty.special_kind() is None


def _col_names(columns: Iterable[Any], ids: Iterable[int]) -> list[str]:
    by_id = {c.col_id: c.name for c in columns}
    return [by_id[i] for i in ids]


def summarize(schema: ModuleSchema) -> dict[str, Any]:
    """The schema as plain data keyed by canonical names (see the module docstring)."""
    types = _Types(schema)
    tables: dict[str, Any] = {}
    for t in sorted(schema.tables, key=lambda t: t.name):
        tables[t.name] = {
            "row_type": types.render(RefType(t.product_type_ref)),
            "access": t.access.value,
            "is_event": t.is_event,
            "columns": [f"{c.name}: {types.render(c.algebraic_type)}" for c in t.columns],
            "primary_key": _col_names(t.columns, t.primary_key),
            "indexes": sorted(
                f"{ix.name} {ix.algorithm.value}({', '.join(_col_names(t.columns, ix.columns))})"
                for ix in t.indexes
            ),
            "unique": sorted(
                f"{c.name} ({', '.join(_col_names(t.columns, c.columns))})" for c in t.constraints
            ),
            "sequences": sorted(
                f"{s.name} ({_col_names(t.columns, [s.column])[0]})" for s in t.sequences
            ),
            "schedule": None
            if t.schedule is None
            else {
                "function": t.schedule.function_name,
                "kind": t.schedule.function_kind.value,
                "at": _col_names(t.columns, [t.schedule.at_column])[0],
            },
        }
    reducers = {
        r.name: {
            "params": types.params(r.params),
            "lifecycle": None if r.lifecycle is None else r.lifecycle.value,
            "visibility": r.visibility.value,
        }
        for r in sorted(schema.reducers, key=lambda r: r.name)
    }
    procedures = {
        p.name: {
            "params": types.params(p.params),
            "returns": types.render(p.return_type),
            "visibility": p.visibility.value,
        }
        for p in sorted(schema.procedures, key=lambda p: p.name)
    }
    views = {
        v.name: {
            "is_public": v.is_public,
            "is_anonymous": v.is_anonymous,
            "params": types.params(v.params),
            # One row (Option<T>) or many (Vec<T>, or a query view's {__query__: T}: the Rust
            # and TypeScript libraries encode the same query view these two ways).
            "rows": "one" if v.return_type.is_option() else "many",
            "row_type": None
            if v.product_type_ref is None
            else types.render(RefType(v.product_type_ref)),
            "columns": [f"{c.name}: {types.render(c.algebraic_type)}" for c in v.columns],
            "primary_key": _col_names(v.columns, v.primary_key),
        }
        for v in sorted(schema.views, key=lambda v: v.name)
    }
    # Definitions of every named type the signatures above reached (and what those reach).
    named: dict[str, str] = {}
    done: set[int] = set()
    while types.used - done:
        ref = min(types.used - done)
        done.add(ref)
        named[types.names[ref]] = types.render(types.ts[ref])
    return {
        "tables": tables,
        "reducers": reducers,
        "procedures": procedures,
        "views": views,
        "types": dict(sorted(named.items())),
        "row_level_security": sorted(schema.row_level_security),
    }


def first_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """The first place ``actual`` differs from ``expected``, as a sentence; ``None`` if equal."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        missing = [k for k in expected if k not in actual]
        if missing:
            return f"{path or 'schema'}: missing {missing[0]!r} (expected {len(expected)} entries, got {len(actual)}; {len(missing)} missing)"
        extra = [k for k in actual if k not in expected]
        if extra:
            return f"{path or 'schema'}: unexpected {extra[0]!r} ({len(extra)} unexpected)"
        for k in expected:
            found = first_difference(expected[k], actual[k], f"{path}.{k}" if path else str(k))
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            found = first_difference(e, a, f"{path}[{i}]")
            if found:
                return found
        if len(expected) != len(actual):
            return f"{path}: expected {len(expected)} items, got {len(actual)}: {expected!r} vs {actual!r}"
        return None
    if expected != actual:
        return f"{path}: expected {expected!r}, got {actual!r}"
    return None
