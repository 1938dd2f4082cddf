"""What a migration plan asks of the stored data: the checks that can refuse it, and row rewriting.

Some refusals depend on the rows, not the schemas; upstream finds them while executing the
plan (``crates/core/src/db/update.rs``) and reports them as
``Failed to create or update the database: <reason>``.  :func:`check_data` finds them before
anything is changed, in the order upstream would meet them: the sequence prechecks, then the
steps in order (a removed schedule, a removed table that still holds rows, an added unique
index or constraint over duplicate values, an added schedule).  :func:`convert_row` rewrites a
stored row for the new module (a table with added columns gets their default values appended;
every other kept row keeps its bytes, which the planning rules guarantee stay valid).

Rows are BSATN under the *old* module's row type, so the same code serves the running server
(which encodes its rows) and a server restoring stored data.

Example::

    check_data(plan, rows)                      # raises MigrationFailed
    new_bytes = convert_row(plan, "player", old_bytes)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol

from ...errors import SpacetimeDBError
from ...sats import bsatn
from ...sats.types import PrimitiveType
from ...schema import ModuleSchema, TableSchema
from .plan import MigrationPlan, StepKind
from .types import inline

_INT_BITS = {
    "I8": (True, 8),
    "U8": (False, 8),
    "I16": (True, 16),
    "U16": (False, 16),
    "I32": (True, 32),
    "U32": (False, 32),
    "I64": (True, 64),
    "U64": (False, 64),
    "I128": (True, 128),
    "U128": (False, 128),
    "I256": (True, 256),
    "U256": (False, 256),
}
_MAX_DUPLICATES_SHOWN = 10


class StoredRows(Protocol):
    """The stored data of the database being migrated (rows under the old module's types).

    Example::

        class Rows:
            def row_count(self, table): return len(tables[table])
            def rows(self, table): return iter(tables[table])      # BSATN bytes per row
    """

    def row_count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        ...

    def rows(self, table: str) -> Iterable[bytes]:
        """Every row of ``table``, BSATN-encoded with the old module's row type."""
        ...


class MigrationFailed(SpacetimeDBError):
    """The plan cannot be applied to this data; the text is upstream's reason.

    Upstream's publish route answers ``Failed to create or update the database: <reason>``.

    Example::

        >>> str(MigrationFailed("Adding schedules is not yet implemented"))
        'Adding schedules is not yet implemented'
    """


def check_data(plan: MigrationPlan, data: StoredRows) -> None:
    """Refuse data the plan cannot keep (:class:`MigrationFailed` with upstream's reason).

    Example::

        check_data(plan, rows)
    """
    for sequence in plan.prechecks:
        _check_sequence(plan, data, sequence)
    for step in plan.steps:
        if step.kind is StepKind.REMOVE_SCHEDULE:
            raise MigrationFailed("Removing schedules is not yet implemented")
        if step.kind is StepKind.REMOVE_TABLE and data.row_count(step.name) > 0:
            raise MigrationFailed(
                f"Cannot remove table `{step.name}`: table contains data. Clear the table's "
                "rows (e.g. via a reducer) before removing it from your schema."
            )
        if step.kind is StepKind.ADD_INDEX:
            table, columns = _index_columns(plan.new, step.name)
            if columns in table.unique_columns:
                _check_unique(plan, data, table, columns)
        if step.kind is StepKind.ADD_CONSTRAINT:
            table, columns = _constraint_columns(plan.new, step.name)
            _check_unique(plan, data, table, columns)
        if step.kind is StepKind.ADD_SCHEDULE:
            raise MigrationFailed("Adding schedules is not yet implemented")


def convert_row(plan: MigrationPlan, table: str, row: bytes) -> bytes:
    """A stored row of a kept ``table`` as the new module stores it.

    Example::

        >>> convert_row(plan, "user", data) == data   # doctest: +SKIP
        True
    """
    if not plan.has_step(StepKind.ADD_COLUMNS, table):
        return row
    old_columns = {c.name for c in plan.old.table(table).columns}
    defaults = [
        c.default_value or b"" for c in plan.new.table(table).columns if c.name not in old_columns
    ]
    return row + b"".join(defaults)


def _decoded_rows(schema: ModuleSchema, data: StoredRows, table: TableSchema) -> Iterable[Any]:
    codec = bsatn.codec_for(table.row_type, schema.typespace)
    for row in data.rows(table.name):
        yield codec.decode(row)


def _check_sequence(plan: MigrationPlan, data: StoredRows, name: str) -> None:
    for table in plan.new.tables:
        for seq in table.sequences:
            if seq.name != name or table.name in plan.added_tables:
                continue
            column = table.columns[seq.column]
            ty = inline(plan.new.typespace, column.algebraic_type)
            bits = _INT_BITS.get(ty.kind) if isinstance(ty, PrimitiveType) else None
            if bits is None:
                return
            signed, width = bits
            lo_type = -(1 << (width - 1)) if signed else 0
            hi_type = (1 << (width - 1)) - 1 if signed else (1 << width) - 1
            low = _clamp(seq.min_value if seq.min_value is not None else 1, lo_type, hi_type)
            high = _clamp(seq.max_value if seq.max_value is not None else hi_type, lo_type, hi_type)
            old_table = plan.old.table(table.name)
            for row in _decoded_rows(plan.old, data, old_table):
                value = row.get(column.name)
                if isinstance(value, int) and low <= value <= high:
                    raise MigrationFailed(
                        f"Precheck failed: added sequence {name} already has values in range"
                    )
            return


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _index_columns(schema: ModuleSchema, name: str) -> tuple[TableSchema, tuple[int, ...]]:
    for table in schema.tables:
        for ix in table.indexes:
            if ix.name == name:
                return table, ix.columns
    raise KeyError(name)


def _constraint_columns(schema: ModuleSchema, name: str) -> tuple[TableSchema, tuple[int, ...]]:
    for table in schema.tables:
        for constraint in table.constraints:
            if constraint.name == name:
                return table, constraint.columns
    raise KeyError(name)


def _check_unique(
    plan: MigrationPlan, data: StoredRows, table: TableSchema, columns: tuple[int, ...]
) -> None:
    """Refuse duplicate values in ``columns`` (as upstream's ``create_constraint`` reports them)."""
    old_table = plan.old.table(table.name)
    names = [table.columns[c].name for c in columns]
    codecs = [bsatn.codec_for(table.columns[c].algebraic_type, plan.new.typespace) for c in columns]
    # A column the table gains holds its default in every row.
    absent = {c.name for c in table.columns} - {c.name for c in old_table.columns}
    defaults = {
        table.columns[c].name: codec.decode(table.columns[c].default_value or b"")
        for c, codec in zip(columns, codecs, strict=True)
        if table.columns[c].name in absent
    }
    counts: Counter[bytes] = Counter()
    shown: dict[bytes, Any] = {}
    for row in _decoded_rows(plan.old, data, old_table):
        values = [defaults[n] if n in defaults else row.get(n) for n in names]
        key = b"".join(codec.encode(v) for codec, v in zip(codecs, values, strict=True))
        counts[key] += 1
        shown.setdefault(key, values[0] if len(values) == 1 else tuple(values))
    duplicates = [(key, n) for key, n in counts.items() if n > 1]
    if not duplicates:
        return
    examples = "\n".join(
        f"  - {shown[key]!r} appears {n} times" for key, n in duplicates[:_MAX_DUPLICATES_SHOWN]
    )
    more = "\n  ... and more" if len(duplicates) > _MAX_DUPLICATES_SHOWN else ""
    raise MigrationFailed(
        f"Cannot add unique constraint on table {table.name} column(s) {list(columns)} "
        f"(committed state):\n{len(duplicates)} duplicate group(s) found.\n{examples}{more}"
    )
