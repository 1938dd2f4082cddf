"""The definitions a module is made of: reducers, procedures, views, tables as declared, and the
built result (typespace and table schemas).

These records are the data model shared by the declaration API (:mod:`.declarations`), which
creates them, the builder (:mod:`.builder`), which completes them, and whoever reads a module:
the host, the subscription engine and the schema exporter (:mod:`..describe`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...sats.types import AlgebraicType, ProductType, Typespace
from ..datastore import TableSchema
from .columns import ColumnSpec, IndexSpec


@dataclass
class _TableDecl:
    cls: type
    accessor: str
    name: str
    explicit_name: bool
    public: bool
    event: bool
    scheduled: Callable[..., Any] | str | None
    scheduled_at: str | None
    specs: dict[str, ColumnSpec]
    indexes: tuple[IndexSpec, ...]


@dataclass
class ReducerDef:
    """A reducer: names, the Python function, its parameter product and lifecycle.

    Example::

        rd = module.reducer_def("add_task")
        rd.name, rd.source_name, rd.params.names()   # ('add_task', 'add_task', ['text'])
    """

    source_name: str
    name: str
    explicit_name: bool
    fn: Callable[..., Any]
    params: ProductType = field(default_factory=lambda: ProductType(()))
    lifecycle: str | None = None
    client_callable: bool = True


@dataclass
class ProcedureDef:
    """A procedure: like a reducer, with a return type and no implicit transaction.

    Example::

        module.procedure_def("add").return_type   # PrimitiveType(kind='U32')
    """

    source_name: str
    name: str
    explicit_name: bool
    fn: Callable[..., Any]
    params: ProductType = field(default_factory=lambda: ProductType(()))
    return_type: AlgebraicType = field(default_factory=AlgebraicType.unit)
    client_callable: bool = True


@dataclass
class ViewDef:
    """A view: a read-only function of ``db`` (and the caller, unless anonymous).

    ``declared_primary_key`` is the attribute given as ``primary_key=`` (procedural views);
    ``primary_key`` the column position the built view has as its key: the declared one, or for
    a query view (``is_query``, returning ``Query[Row]``) the key of the table it returns rows of.

    Example::

        vd = module.view_def("my_tasks")
        vd.is_anonymous, vd.is_query   # (False, False)
    """

    source_name: str
    name: str
    explicit_name: bool
    fn: Callable[..., Any]
    is_public: bool
    is_anonymous: bool
    declared_primary_key: str | None = None
    index: int = 0
    params: ProductType = field(default_factory=lambda: ProductType(()))
    return_type: AlgebraicType = field(default_factory=AlgebraicType.unit)
    product_type_ref: int = 0
    is_query: bool = False
    primary_key: int | None = None


@dataclass
class _Built:
    """A built module: its typespace, row classes by ref, named types and table schemas."""

    typespace: Typespace
    classes: dict[int, type]
    named_types: list[tuple[str, int]]
    tables: list[TableSchema]
