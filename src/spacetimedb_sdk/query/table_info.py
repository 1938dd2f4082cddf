"""What the query builder knows of each table and view, taken from the schema.

:class:`TableInfo` lists a table's canonical name, the attribute ``conn.db`` gives it,
and per column the wire name, the Python attribute (:func:`column_attr`), the
resolved type and whether a single-column index covers it (semijoins need one).
The attribute names come from :class:`~spacetimedb_sdk.client.bindings.ModuleBindings`
so that ``q.<name>`` and ``conn.db.<name>`` always agree.  Kept apart from the query
objects (:mod:`.queries`) because this is the only part that reads the schema.

Example::

    >>> column_attr("online"), column_attr("where")
    ('online', 'where_')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..client.bindings import ModuleBindings, py_name
from ..errors import SchemaError
from ..sats.types import AlgebraicType, Typespace
from ..schema.model import ModuleSchema, TableSchema, ViewSchema

__all__ = ["TABLE_REF_ATTRIBUTES", "TableInfo", "column_attr", "table_infos"]

#: Attribute names of :class:`TableRef`; a column with one of these names is reached as
#: ``name_`` (``q.t.where_``) so that it cannot hide the method.
TABLE_REF_ATTRIBUTES = frozenset(
    {"where", "right_semijoin", "left_semijoin", "to_sql", "table_name", "columns", "col"}
)


def column_attr(py_name: str) -> str:
    """The query-builder attribute of a column whose Python name is ``py_name``.

    Example::

        >>> column_attr("online"), column_attr("where")
        ('online', 'where_')
    """
    return py_name + "_" if py_name in TABLE_REF_ATTRIBUTES else py_name


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What the query builder knows of a table or view (built from the schema)."""

    name: str
    accessor: str
    columns: tuple[tuple[str, str, AlgebraicType, bool], ...]  # wire, attr, resolved type, indexed
    is_view: bool = False


def _resolve(ts: Typespace, ty: AlgebraicType) -> AlgebraicType:
    try:
        return ts.resolve(ty)
    except SchemaError:  # a broken ref: keep the type; comparisons on it will be refused
        return ty


def table_infos(
    schema: ModuleSchema, accessors: Mapping[str, str] | None = None
) -> list[TableInfo]:
    """One :class:`TableInfo` per table and per view with a row type.

    ``accessors`` maps canonical table names to the attribute names ``conn.db`` uses;
    without it they are taken from :class:`~spacetimedb_sdk.client.bindings.ModuleBindings`
    built for ``schema``, so ``q.<name>`` and ``conn.db.<name>`` always agree.

    Example::

        >>> [t.accessor for t in table_infos(schema)]  # doctest: +SKIP
        ['user', 'message']
    """
    if accessors is None:
        accessors = _accessors_of(schema)
    out: list[TableInfo] = []
    ts = schema.typespace
    for t in schema.tables:
        single = _single_column_indexes(t)
        cols = tuple(
            (
                c.name,
                column_attr(py_name(c.name)),
                _resolve(ts, c.algebraic_type),
                c.col_id in single,
            )
            for c in t.columns
        )
        out.append(TableInfo(t.name, accessors.get(t.name, py_name(t.name)), cols))
    for v in schema.views:
        if v.row_type is None:
            continue
        # A view is stored with a unique index on its primary key (if it has one, declared or
        # inherited by a query view), so subscriptions may join on that column only.
        single = _single_column_indexes(v)
        cols = tuple(
            (
                c.name,
                column_attr(py_name(c.name)),
                _resolve(ts, c.algebraic_type),
                c.col_id in single,
            )
            for c in v.columns
        )
        out.append(TableInfo(v.name, accessors.get(v.name, py_name(v.name)), cols, is_view=True))
    return out


# Building bindings compiles codecs, so remember the accessors of the last few schemas.
_ACCESSOR_CACHE: dict[int, tuple[ModuleSchema, dict[str, str]]] = {}


def _accessors_of(schema: ModuleSchema) -> dict[str, str]:
    hit = _ACCESSOR_CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    bindings = ModuleBindings.from_schema(schema)
    accessors = {b.name: accessor for accessor, b in bindings.tables.items()}
    if len(_ACCESSOR_CACHE) >= 8:
        _ACCESSOR_CACHE.pop(next(iter(_ACCESSOR_CACHE)))
    _ACCESSOR_CACHE[id(schema)] = (schema, accessors)
    return accessors


def _single_column_indexes(t: TableSchema | ViewSchema) -> set[int]:
    if isinstance(t, ViewSchema):
        return set(t.primary_key) if len(t.primary_key) == 1 else set()
    cols: set[int] = set()
    for ix in t.indexes:
        if len(ix.columns) == 1:
            cols.add(ix.columns[0])
    for c in t.constraints:
        if len(c.columns) == 1:
            cols.add(c.columns[0])
    if len(t.primary_key) == 1:
        cols.add(t.primary_key[0])
    return cols
