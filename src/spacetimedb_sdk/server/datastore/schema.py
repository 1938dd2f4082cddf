"""What the datastore knows about a table: columns, indexes, sequences, schedule.

These frozen records are the datastore's whole view of a module's schema.  The Python module API
(:mod:`..module`) builds them from declarations and the schema exporter (:mod:`..describe`) reads
them; keeping them in a file of their own lets both depend on the schema without depending on the
storage or the transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...sats.types import AlgebraicType, ProductType


@dataclass(frozen=True)
class ColumnSchema:
    """One column: position, Python attribute (source name), canonical name and type."""

    col_id: int
    attr: str
    name: str
    algebraic_type: AlgebraicType


@dataclass(frozen=True)
class IndexSchema:
    """An index of a table.

    ``name`` is the canonical name (``{table}_{cols}_idx_btree``), ``source_name`` the
    module-side one, ``accessor`` the attribute under ``ctx.db.<table>``.
    """

    accessor: str
    source_name: str
    name: str
    algorithm: str  # "btree" | "hash" | "direct"
    columns: tuple[int, ...]
    unique: bool


@dataclass(frozen=True)
class SequenceSchema:
    """An auto-increment column; values start at ``start`` and grow by ``increment``."""

    col_id: int
    name: str
    start: int = 1
    increment: int = 1


@dataclass(frozen=True)
class ScheduleSchema:
    """A scheduled (timer) table: which function to call, and its id and time columns."""

    name: str
    function_name: str
    function_source_name: str
    at_column: int
    id_column: int


@dataclass(frozen=True)
class TableSchema:
    """Everything the datastore needs to know about one table.

    ``row_type`` is the module-side product (element names = Python attributes);
    ``columns`` carry the canonical names too.

    Example::

        schema = module.table_schema("task")
        schema.name, schema.accessor, [c.name for c in schema.columns]   # ('task', 'task', ['id', ...])
    """

    accessor: str
    name: str
    row_class: type
    row_type: ProductType
    product_type_ref: int
    columns: tuple[ColumnSchema, ...]
    primary_key: int | None = None
    indexes: tuple[IndexSchema, ...] = ()
    unique_constraints: tuple[tuple[int, ...], ...] = ()
    sequences: tuple[SequenceSchema, ...] = ()
    schedule: ScheduleSchema | None = None
    is_event: bool = False
    public: bool = False
    default_values: Mapping[int, Any] = field(default_factory=dict)

    def column_by_attr(self, attr: str) -> ColumnSchema:
        """The column whose Python attribute is ``attr``.

        Example::

            module.table_schema("task").column_by_attr("owner").col_id   # 1
        """
        for c in self.columns:
            if c.attr == attr:
                return c
        raise KeyError(attr)

    def constraint_name(self, cols: tuple[int, ...]) -> str:
        """The canonical unique-constraint name ``{table}_{cols}_key``.

        Example::

            module.table_schema("task").constraint_name((0,))   # 'task_id_key'
        """
        return f"{self.name}_{'_'.join(self.columns[c].name for c in cols)}_key"
