"""The ``st_*`` system tables: the catalog a database exposes to SQL, as upstream lays it out.

Upstream keeps its schema in system tables (``crates/datastore/src/system_tables.rs``) that
clients and the ``spacetime`` CLI read over ``/sql``.  The local server derives them from the
module and the database's state when they are read, with upstream's table ids, column names and
column types:

=================  ==  ===========================================================================
table              id  columns
=================  ==  ===========================================================================
``st_table``        1  table_id u32, table_name, table_type ("system"/"user"),
                       table_access ("public"/"private"), table_primary_key Option<Array<u16>>
``st_column``       2  table_id u32, col_pos u16, col_name, col_type (BSATN of the type, bytes)
``st_sequence``     3  sequence_id u32, sequence_name, table_id u32, col_pos u16, increment,
                       start, min_value, max_value, allocated (all i128)
``st_index``        4  index_id u32, table_id u32, index_name, index_algorithm (sum)
``st_constraint``   5  constraint_id u32, constraint_name, table_id u32, constraint_data (sum)
``st_client``       7  identity u256, connection_id u128
``st_var``          8  name, value (``StVarValue``: a sum over the primitive types)
``st_scheduled``    9  schedule_id u32, table_id u32, reducer_name, schedule_name, at_column u16
=================  ==  ===========================================================================

User tables get ids from 4096 (``ST_RESERVED_SEQUENCE_RANGE``) in declaration order, then the
views; their indexes, constraints and sequences are numbered from 4096 too.  System tables are
public (anyone may read them, as upstream); only ``st_var`` can be written (``SET``, and DML by the
owner), the others describe the module and are read-only here.

Example::

    >>> from spacetimedb_sdk.server import Module
    >>> m = Module("demo")
    >>> @m.table(public=True)
    ... class Person:
    ...     name: str
    >>> table_ids(m)["person"]
    4096
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..sats.types import (
    AlgebraicType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
    Typespace,
)
from ..sats.values import ConnectionId, Identity, SumValue
from .describe import canonical_type, canonical_typespace
from .module import Module

ST_RESERVED_SEQUENCE_RANGE = 4096
"""User tables, indexes, constraints and sequences are numbered from here (upstream)."""

ROW_LIMIT = "row_limit"
"""The one system variable: queries of non-owners estimated to scan more rows are refused."""

_U16, _U32, _I128 = AlgebraicType.U16, AlgebraicType.U32, AlgebraicType.I128
_STR = AlgebraicType.STRING
_COLS = AlgebraicType.array(_U16)

STVAR_VALUE_TYPE = SumType(
    tuple(
        SumTypeVariant(name, ty)
        for name, ty in (
            ("Bool", AlgebraicType.BOOL),
            ("I8", AlgebraicType.I8),
            ("U8", AlgebraicType.U8),
            ("I16", AlgebraicType.I16),
            ("U16", AlgebraicType.U16),
            ("I32", AlgebraicType.I32),
            ("U32", AlgebraicType.U32),
            ("I64", AlgebraicType.I64),
            ("U64", AlgebraicType.U64),
            ("I128", AlgebraicType.I128),
            ("U128", AlgebraicType.U128),
            ("F32", AlgebraicType.F32),
            ("F64", AlgebraicType.F64),
            ("String", AlgebraicType.STRING),
        )
    )
)
"""Upstream's ``StVarValue``: the type of ``st_var.value`` (``SHOW`` returns it)."""


def _named(fields: dict[str, AlgebraicType]) -> ProductType:
    return ProductType(tuple(ProductTypeElement(n, t) for n, t in fields.items()))


def _unused_or(name: str, payload: ProductType) -> SumType:
    return SumType((SumTypeVariant("Unused", AlgebraicType.U128), SumTypeVariant(name, payload)))


_INDEX_ALGORITHM = SumType(
    (
        SumTypeVariant("Unused", AlgebraicType.U128),
        SumTypeVariant("BTree", _named({"columns": _COLS})),
        SumTypeVariant("Direct", _named({"column": _U16})),
        SumTypeVariant("Hash", _named({"columns": _COLS})),
    )
)

_COLUMNS: dict[str, dict[str, AlgebraicType]] = {
    "st_table": {
        "table_id": _U32,
        "table_name": _STR,
        "table_type": _STR,
        "table_access": _STR,
        "table_primary_key": AlgebraicType.option(_COLS),
    },
    "st_column": {
        "table_id": _U32,
        "col_pos": _U16,
        "col_name": _STR,
        "col_type": AlgebraicType.array(AlgebraicType.U8),
    },
    "st_sequence": {
        "sequence_id": _U32,
        "sequence_name": _STR,
        "table_id": _U32,
        "col_pos": _U16,
        "increment": _I128,
        "start": _I128,
        "min_value": _I128,
        "max_value": _I128,
        "allocated": _I128,
    },
    "st_index": {
        "index_id": _U32,
        "table_id": _U32,
        "index_name": _STR,
        "index_algorithm": _INDEX_ALGORITHM,
    },
    "st_constraint": {
        "constraint_id": _U32,
        "constraint_name": _STR,
        "table_id": _U32,
        "constraint_data": _unused_or("Unique", _named({"columns": _COLS})),
    },
    "st_client": {"identity": AlgebraicType.U256, "connection_id": AlgebraicType.U128},
    "st_var": {"name": _STR, "value": STVAR_VALUE_TYPE},
    "st_scheduled": {
        "schedule_id": _U32,
        "table_id": _U32,
        "reducer_name": _STR,
        "schedule_name": _STR,
        "at_column": _U16,
    },
}

SYSTEM_TABLE_IDS: dict[str, int] = {
    "st_table": 1,
    "st_column": 2,
    "st_sequence": 3,
    "st_index": 4,
    "st_constraint": 5,
    "st_client": 7,
    "st_var": 8,
    "st_scheduled": 9,
}
"""Upstream's ids of the system tables served here (``ST_*_ID``)."""

# Primary keys and indexes of the system tables (upstream's, for st_table's and st_index's rows).
_SYSTEM_PK: dict[str, tuple[int, ...]] = {
    "st_table": (0,),
    "st_sequence": (0,),
    "st_index": (0,),
    "st_constraint": (0,),
    "st_var": (0,),
    "st_scheduled": (0,),
}
_SYSTEM_INDEXES: dict[str, list[tuple[str, tuple[int, ...]]]] = {
    "st_table": [("st_table_table_id_idx_btree", (0,)), ("st_table_table_name_idx_btree", (1,))],
    "st_column": [("st_column_table_id_col_pos_idx_btree", (0, 1))],
    "st_sequence": [("st_sequence_sequence_id_idx_btree", (0,))],
    "st_index": [("st_index_index_id_idx_btree", (0,))],
    "st_constraint": [("st_constraint_constraint_id_idx_btree", (0,))],
    "st_client": [("st_client_identity_connection_id_idx_btree", (0, 1))],
    "st_var": [("st_var_name_idx_btree", (0,))],
    "st_scheduled": [
        ("st_scheduled_schedule_id_idx_btree", (0,)),
        ("st_scheduled_table_id_idx_btree", (1,)),
    ],
}


@dataclass(frozen=True)
class SystemTable:
    """One system table: its row type (in :data:`SYSTEM_TYPESPACE`) and row class.

    ``row_ref`` indexes :data:`SYSTEM_TYPESPACE`; rows are instances of ``row_class``
    (a frozen dataclass whose fields are the columns).
    """

    name: str
    table_id: int
    row_ref: int
    row_type: ProductType
    row_class: type
    indexes: tuple[tuple[int, ...], ...]

    @property
    def columns(self) -> tuple[tuple[str, AlgebraicType], ...]:
        """``(name, type)`` of each column."""
        return tuple((e.name or "", e.algebraic_type) for e in self.row_type.elements)


def _build() -> tuple[dict[str, SystemTable], Typespace, dict[int, type]]:
    tables: dict[str, SystemTable] = {}
    types: list[AlgebraicType] = []
    classes: dict[int, type] = {}
    for name, fields in _COLUMNS.items():
        row_type = _named(fields)
        cls = dataclasses.make_dataclass(
            "".join(part.title() for part in name.split("_")) + "Row",
            list(fields),
            frozen=True,
        )
        ref = len(types)
        types.append(row_type)
        classes[ref] = cls
        indexes = tuple(cols for _, cols in _SYSTEM_INDEXES.get(name, []))
        tables[name] = SystemTable(name, SYSTEM_TABLE_IDS[name], ref, row_type, cls, indexes)
    return tables, Typespace(tuple(types)), classes


SYSTEM_TABLES, SYSTEM_TYPESPACE, SYSTEM_CLASSES = _build()
"""The system tables by name, the typespace of their row types, and their row classes by ref."""


def table_ids(module: Module) -> dict[str, int]:
    """Every user table's and view's id: 4096 on, tables in declaration order, then views.

    Example::

        >>> from spacetimedb_sdk.server import Module
        >>> table_ids(Module("empty"))
        {}
    """
    names = [t.name for t in module.table_schemas()] + [v.name for v in module.views]
    return {name: ST_RESERVED_SEQUENCE_RANGE + i for i, name in enumerate(names)}


@dataclass
class SystemState:
    """What the system tables read besides the module: the variables and the connected clients.

    ``variables`` maps a variable's name to its ``StVarValue`` (a :class:`SumValue`);
    ``clients`` returns the connected ``(identity, connection id)`` pairs;
    ``sequence_next`` the next value of a table's sequence column (for ``allocated``).

    Example::

        >>> SystemState().row_limit() is None
        True
    """

    variables: dict[str, SumValue] = dataclasses.field(default_factory=dict)
    clients: Callable[[], Iterable[tuple[Identity, ConnectionId]]] = lambda: ()
    sequence_next: Callable[[str, int], int | None] = lambda table, col: None

    def row_limit(self) -> int | None:
        """``row_limit`` when it is set to a ``U64`` (as upstream reads it), else ``None``."""
        value = self.variables.get(ROW_LIMIT)
        if value is not None and value.tag == "U64" and isinstance(value.value, int):
            return value.value
        return None


def system_rows(name: str, module: Module, state: SystemState) -> list[Any]:
    """The current rows of system table ``name``."""
    cls = SYSTEM_TABLES[name].row_class
    return [cls(*values) for values in _ROWS[name](module, state)]


_RowValues = Iterable[Sequence[Any]]


def _st_table(module: Module, state: SystemState) -> _RowValues:
    for name, table in SYSTEM_TABLES.items():
        pk = _SYSTEM_PK.get(name)
        yield (table.table_id, name, "system", "public", list(pk) if pk is not None else None)
    ids = table_ids(module)
    for schema in module.table_schemas():
        key = None if schema.primary_key is None else [schema.primary_key]
        access = "public" if schema.public else "private"
        yield (ids[schema.name], schema.name, "user", access, key)


def _st_column(module: Module, state: SystemState) -> _RowValues:
    for table in SYSTEM_TABLES.values():
        for pos, (col, ty) in enumerate(table.columns):
            yield (table.table_id, pos, col, ty.to_bsatn())
    ids = table_ids(module)
    snake = module.case_conversion == "snake_case"
    typespace = canonical_typespace(module)
    for schema in module.table_schemas():
        for c in schema.columns:
            ty = typespace.inline(canonical_type(c.algebraic_type, snake))
            yield (ids[schema.name], c.col_id, c.name, ty.to_bsatn())


def _user_ids(module: Module) -> Iterable[tuple[int, Any]]:
    ids = table_ids(module)
    for schema in module.table_schemas():
        yield ids[schema.name], schema


def _st_index(module: Module, state: SystemState) -> _RowValues:
    index_id = 1
    for name, entries in _SYSTEM_INDEXES.items():
        for ix_name, cols in entries:
            algorithm = SumValue("BTree", {"columns": list(cols)})
            yield (index_id, SYSTEM_TABLE_IDS[name], ix_name, algorithm)
            index_id += 1
    index_id = ST_RESERVED_SEQUENCE_RANGE
    for table_id, schema in _user_ids(module):
        for ix in schema.indexes:
            if ix.algorithm == "direct":
                algorithm = SumValue("Direct", {"column": ix.columns[0]})
            else:
                kind = "BTree" if ix.algorithm == "btree" else "Hash"
                algorithm = SumValue(kind, {"columns": list(ix.columns)})
            yield (index_id, table_id, ix.name, algorithm)
            index_id += 1


def _st_constraint(module: Module, state: SystemState) -> _RowValues:
    constraint_id = ST_RESERVED_SEQUENCE_RANGE
    for table_id, schema in _user_ids(module):
        for cols in schema.unique_constraints:
            data = SumValue("Unique", {"columns": list(cols)})
            yield (constraint_id, schema.constraint_name(cols), table_id, data)
            constraint_id += 1


def _st_sequence(module: Module, state: SystemState) -> _RowValues:
    sequence_id = ST_RESERVED_SEQUENCE_RANGE
    max_i128 = (1 << 127) - 1
    for table_id, schema in _user_ids(module):
        for seq in schema.sequences:
            upcoming = state.sequence_next(schema.name, seq.col_id)
            allocated = seq.start if upcoming is None else upcoming
            yield (
                sequence_id,
                seq.name,
                table_id,
                seq.col_id,
                seq.increment,
                seq.start,
                1,
                max_i128,
                allocated,
            )
            sequence_id += 1


def _st_client(module: Module, state: SystemState) -> _RowValues:
    for identity, connection_id in state.clients():
        yield (identity.value, connection_id.value)


def _st_var(module: Module, state: SystemState) -> _RowValues:
    yield from state.variables.items()


def _st_scheduled(module: Module, state: SystemState) -> _RowValues:
    schedule_id = ST_RESERVED_SEQUENCE_RANGE
    for table_id, schema in _user_ids(module):
        if schema.schedule is not None:
            s = schema.schedule
            yield (schedule_id, table_id, s.function_name, s.name, s.at_column)
            schedule_id += 1


_ROWS: Mapping[str, Callable[[Module, SystemState], _RowValues]] = {
    "st_table": _st_table,
    "st_column": _st_column,
    "st_sequence": _st_sequence,
    "st_index": _st_index,
    "st_constraint": _st_constraint,
    "st_client": _st_client,
    "st_var": _st_var,
    "st_scheduled": _st_scheduled,
}


def system_row_type(name: str) -> RefType:
    """The row type of a system table, as a ref into :data:`SYSTEM_TYPESPACE`."""
    return RefType(SYSTEM_TABLES[name].row_ref)


__all__ = [
    "ROW_LIMIT",
    "STVAR_VALUE_TYPE",
    "ST_RESERVED_SEQUENCE_RANGE",
    "SYSTEM_CLASSES",
    "SYSTEM_TABLES",
    "SYSTEM_TABLE_IDS",
    "SYSTEM_TYPESPACE",
    "SystemState",
    "SystemTable",
    "system_row_type",
    "system_rows",
    "table_ids",
]
