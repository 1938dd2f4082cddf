"""Building a module: annotations become a typespace, declarations become validated schemas.

:class:`_Builder` reads what the decorators recorded (through the :class:`Declarations`
protocol, so it does not import the declaration API that calls it), resolves type annotations
with :class:`~..types_from_py.TypespaceBuilder`, assigns canonical names, checks every rule
upstream's validation checks (one primary key, integer auto-increment columns, schedule
signatures, unique names ...) and fills in the parameter and return types of the function
definitions.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Protocol, get_args, get_origin

from ...errors import SchemaError
from ...sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
)
from ...sats.values import Err, Ok
from ..datastore import (
    ColumnSchema,
    IndexSchema,
    ScheduleSchema,
    SequenceSchema,
    TableSchema,
)
from ..types_from_py import TypespaceBuilder, type_hints
from .columns import _MISSING
from .definitions import ProcedureDef, ReducerDef, ViewDef, _Built, _TableDecl
from .query import QUERY_VIEW_TAG, Query

_INTEGER_KINDS = frozenset(
    ["U8", "U16", "U32", "U64", "U128", "U256", "I8", "I16", "I32", "I64", "I128", "I256"]
)


class Declarations(Protocol):
    """What the builder reads of a module: the recorded declarations and its naming policy."""

    _tables: list[_TableDecl]
    _reducers: list[ReducerDef]
    _procedures: list[ProcedureDef]
    _views: list[ViewDef]
    _extra_types: list[type]

    def canonical(self, source: str) -> str:
        """The canonical name of something declared as ``source``."""
        ...


class _Builder:
    """Turns a :class:`Module`'s declarations into typed, validated schemas."""

    def __init__(self, module: Declarations) -> None:
        self.m = module
        # The module's own classes resolve string annotations even when declared locally.
        own = [d.cls for d in module._tables] + list(module._extra_types)
        self.ns = {c.__name__: c for c in own}
        self.b = TypespaceBuilder(self.ns)

    def build(self) -> _Built:
        tables = [self._table(d) for d in self.m._tables]
        for rd in self.m._reducers:
            rd.params = self._params(rd.fn, f"reducer {rd.source_name}")
            self._check_returns_none(rd)
            if rd.lifecycle is not None and rd.params.elements:
                raise SchemaError(f"lifecycle reducer {rd.source_name} takes only the context")
        for pd in self.m._procedures:
            pd.params = self._params(pd.fn, f"procedure {pd.source_name}")
            ret = type_hints(pd.fn, f"procedure {pd.source_name}", self.ns).get("return", None)
            pd.return_type = self.b.type_of(ret, where=f"procedure {pd.source_name} return")
        counters = {True: 0, False: 0}
        for vd in self.m._views:
            self._view(vd)
            vd.index = counters[vd.is_anonymous]
            counters[vd.is_anonymous] += 1
        for cls in self.m._extra_types:
            self.b.type_of(cls, where=f"type {cls.__qualname__}")
        tables = [self._schedule(d, t) for d, t in zip(self.m._tables, tables, strict=True)]
        self._check_names(tables)
        self._query_view_keys(tables)
        for rd in self.m._reducers:
            rd.client_callable = rd.lifecycle is None and not any(
                t.schedule and t.schedule.function_source_name == rd.source_name for t in tables
            )
        for pd in self.m._procedures:
            pd.client_callable = not any(
                t.schedule and t.schedule.function_source_name == pd.source_name for t in tables
            )
        named = [(n.name, n.ref) for n in self.b.named]
        return _Built(self.b.typespace(), self.b.classes, named, tables)

    # -- tables

    def _table(self, d: _TableDecl) -> TableSchema:
        where = f"table {d.cls.__qualname__}"
        ref = self.b.reserve_product(d.cls, name=d.cls.__name__)
        hints = type_hints(d.cls, where, self.ns)
        attrs = [f.name for f in dataclasses.fields(d.cls)]
        cols: list[ColumnSchema] = []
        for i, attr in enumerate(attrs):
            ty = self.b.type_of(hints[attr], where=f"{d.cls.__qualname__}.{attr}")
            cols.append(ColumnSchema(i, attr, self.m.canonical(attr), ty))
        row_type = ProductType(tuple(ProductTypeElement(c.attr, c.algebraic_type) for c in cols))
        self.b.define(ref, row_type)
        col_of = {c.attr: c for c in cols}
        for attr in d.specs:
            if attr not in col_of:
                raise SchemaError(f"{where}: column() on {attr!r}, which is not a field")
        pk = [col_of[a].col_id for a, s in d.specs.items() if s.primary_key]
        if len(pk) > 1:
            raise SchemaError(f"{where}: more than one primary key column")
        indexes: list[IndexSchema] = []
        uniques: list[tuple[int, ...]] = []
        sequences: list[SequenceSchema] = []
        defaults: dict[int, Any] = {}
        for attr, spec in d.specs.items():
            c = col_of[attr]
            if spec.unique:
                uniques.append((c.col_id,))
                indexes.append(self._index_schema(d, attr, "btree", (c,), True))
            elif spec.index is not None:
                indexes.append(self._index_schema(d, attr, spec.index, (c,), False))
            if spec.auto_inc:
                if not (
                    isinstance(c.algebraic_type, PrimitiveType)
                    and c.algebraic_type.kind in _INTEGER_KINDS
                ):
                    raise SchemaError(f"{where}.{attr}: auto_inc needs an integer column")
                sequences.append(SequenceSchema(c.col_id, f"{d.name}_{c.name}_seq"))
            if spec.default is not _MISSING:
                defaults[c.col_id] = spec.default
        for ix in d.indexes:
            try:
                ix_cols = tuple(col_of[a] for a in ix.columns)
            except KeyError as e:
                raise SchemaError(
                    f"{where}: index {ix.accessor!r} names unknown column {e}"
                ) from None
            algo = "direct" if ix.algorithm == "direct" else ix.algorithm
            indexes.append(self._index_schema(d, ix.accessor, algo, ix_cols, False))
        return TableSchema(
            accessor=d.accessor, name=d.name, row_class=d.cls, row_type=row_type,
            product_type_ref=ref, columns=tuple(cols), primary_key=pk[0] if pk else None,
            indexes=tuple(indexes), unique_constraints=tuple(uniques), sequences=tuple(sequences),
            is_event=d.event, public=d.public, default_values=defaults,
        )  # fmt: skip

    def _index_schema(
        self, d: _TableDecl, accessor: str, algo: str, cols: tuple[ColumnSchema, ...], unique: bool
    ) -> IndexSchema:
        # Source name as the Rust bindings generate it (accessor + source column names);
        # canonical name from the canonical table and column names (validate/v9.rs).
        source = f"{d.accessor}_{'_'.join(c.attr for c in cols)}_idx_{algo}"
        name = f"{d.name}_{'_'.join(c.name for c in cols)}_idx_{algo}"
        return IndexSchema(accessor, source, name, algo, tuple(c.col_id for c in cols), unique)

    def _schedule(self, d: _TableDecl, t: TableSchema) -> TableSchema:
        if d.scheduled is None:
            return t
        where = f"scheduled table {t.name}"
        target = d.scheduled if isinstance(d.scheduled, str) else d.scheduled.__name__
        fn_def: ReducerDef | ProcedureDef | None = next(
            (r for r in self.m._reducers if target in (r.source_name, r.name)), None
        ) or next((p for p in self.m._procedures if target in (p.source_name, p.name)), None)
        if fn_def is None:
            raise SchemaError(f"{where}: no reducer or procedure named {target!r}")
        at_cols = [c for c in t.columns if self._is_schedule_at(c.algebraic_type)]
        if d.scheduled_at is not None:
            at_cols = [c for c in at_cols if c.attr == d.scheduled_at]
        if len(at_cols) != 1:
            raise SchemaError(f"{where}: needs exactly one ScheduleAt column (scheduled_at=)")
        pk = t.primary_key
        if pk is None or t.columns[pk].algebraic_type != AlgebraicType.U64:
            raise SchemaError(f"{where}: the primary key must be a U64 column (the schedule id)")
        expected = ProductType((ProductTypeElement(None, RefType(t.product_type_ref)),))
        if (
            len(fn_def.params.elements) != 1
            or fn_def.params.elements[0].algebraic_type != expected.elements[0].algebraic_type
        ):
            raise SchemaError(
                f"{where}: {fn_def.source_name} must take exactly one parameter of the row type "
                f"{t.row_class.__qualname__}"
            )
        sched = ScheduleSchema(
            f"{t.name}_sched", fn_def.name, fn_def.source_name, at_cols[0].col_id, pk
        )
        return dataclasses.replace(t, schedule=sched)

    @staticmethod
    def _is_schedule_at(ty: AlgebraicType) -> bool:
        return isinstance(ty, SumType) and ty.is_schedule_at()

    # -- functions

    def _params(self, fn: Callable[..., Any], where: str) -> ProductType:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if not params:
            raise SchemaError(f"{where}: the first parameter must be the context")
        hints = type_hints(fn, where, self.ns)
        elems = []
        for p in params[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise SchemaError(f"{where}: *args/**kwargs parameters are not supported")
            if p.name not in hints:
                raise SchemaError(f"{where}: parameter {p.name!r} needs a type annotation")
            elems.append(
                ProductTypeElement(
                    p.name, self.b.type_of(hints[p.name], where=f"{where}({p.name})")
                )
            )
        return ProductType(tuple(elems))

    def _check_returns_none(self, rd: ReducerDef) -> None:
        # Upstream reducers return nothing, or Rust's `Result<(), E>`: here `None`, or
        # `Err(...)` to fail (annotated `Err[str] | None`, `Ok[None] | Err[str]`...).
        ret = type_hints(rd.fn, f"reducer {rd.source_name}", self.ns).get("return", None)
        if ret is not None and not all(_reducer_return_ok(t) for t in _union_members(ret)):
            raise SchemaError(
                f"reducer {rd.source_name} must return None, or Err(...) to fail "
                "(or raise SenderError): reducers cannot return values"
            )

    def _view(self, vd: ViewDef) -> None:
        where = f"view {vd.source_name}"
        vd.params = self._params(vd.fn, where)
        if vd.params.elements:
            raise SchemaError(f"{where}: views take no parameters besides the context")
        ret = type_hints(vd.fn, where, self.ns).get("return")
        if ret is None:
            raise SchemaError(
                f"{where}: annotate the return type (list[Row], Row | None, Row or Query[Row])"
            )
        vd.is_query = get_origin(ret) is Query
        if vd.is_query:
            (row,) = get_args(ret) or (None,)
            inner = self.b.type_of(row, where=f"{where} return")
            # Upstream encodes a query view's return type as the product {__query__: T}.
            ty: AlgebraicType = ProductType((ProductTypeElement(QUERY_VIEW_TAG, inner),))
        else:
            ty = self.b.type_of(ret, where=f"{where} return")
            inner = ty
            if isinstance(ty, ArrayType):
                inner = ty.elem
            elif isinstance(ty, SumType) and ty.is_option():
                inner = ty.variants[0].algebraic_type
        vd.return_type = ty
        if not isinstance(inner, RefType) or not isinstance(
            self.b.typespace_slot(inner.index), ProductType
        ):
            raise SchemaError(f"{where}: must return rows of a dataclass type, got {ret!r}")
        vd.product_type_ref = inner.index
        if vd.declared_primary_key is not None:
            if vd.is_query:
                raise SchemaError(
                    f"{where}: a query view's primary key is its table's; drop primary_key="
                )
            row_type = self.b.typespace_slot(inner.index)
            assert isinstance(row_type, ProductType)
            names = row_type.names()
            if vd.declared_primary_key not in names:
                raise SchemaError(
                    f"{where}: primary_key={vd.declared_primary_key!r} is not a column; "
                    f"columns: {names}"
                )
            vd.primary_key = names.index(vd.declared_primary_key)

    def _query_view_keys(self, tables: list[TableSchema]) -> None:
        """A query view's rows are its table's: it has that table's primary key (if one table
        has its row type; upstream infers it the same way when it validates a module)."""
        for vd in self.m._views:
            if not vd.is_query:
                continue
            keys = {
                t.primary_key
                for t in tables
                if t.product_type_ref == vd.product_type_ref and t.primary_key is not None
            }
            vd.primary_key = keys.pop() if len(keys) == 1 else None

    def _check_names(self, tables: list[TableSchema]) -> None:
        seen: dict[str, str] = {}
        for kind, name in [
            *(("table", t.name) for t in tables),
            *(("reducer", r.name) for r in self.m._reducers),
            *(("procedure", p.name) for p in self.m._procedures),
            *(("view", v.name) for v in self.m._views),
        ]:
            if name in seen:
                raise SchemaError(f"{kind} {name!r} has the same canonical name as a {seen[name]}")
            seen[name] = kind
        for t in tables:
            if t.name.startswith("st_"):
                raise SchemaError(f"table {t.name!r}: names starting with 'st_' are reserved")


def _union_members(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return (tp,)


def _reducer_return_ok(tp: Any) -> bool:
    """Whether ``tp`` may be (part of) a reducer's return annotation."""
    if tp is type(None) or tp is None or tp is Err or typing.get_origin(tp) is Err:
        return True
    if tp is Ok:
        return True
    return typing.get_origin(tp) is Ok and typing.get_args(tp) in ((type(None),), (None,))
