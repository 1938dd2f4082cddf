"""Query-builder views: ``ctx.from_`` and the :class:`Query` a view may return.

Upstream's module libraries let a view return a query instead of rows (``impl Query<T>`` in
Rust, a query object in TypeScript): the host runs it like a subscription query, so the view's
rows follow the tables incrementally, and a view over a table with a primary key inherits that
key (clients then get ``on_update`` for its rows).  Here a view annotated ``-> Query[Row]``
returns a query built from ``ctx.from_``::

    @module.view(public=True)
    def members(ctx: ViewContext) -> Query[Player]:
        return ctx.from_.membership.right_semijoin(
            ctx.from_.player, lambda m, p: m.player_id == p.id
        )

``ctx.from_.<table accessor>`` is a table; its columns are attributes (as in ``ctx.db``);
``where(lambda row: ...)`` filters it with comparisons joined by ``&`` and ``|``;
``right_semijoin(other, on)`` keeps the rows of ``other`` that join a row of this query and
``left_semijoin(other, on)`` those of this query that join a row of ``other``, ``on`` being one
equality between a column of each.  :meth:`Query.to_sql` renders the SQL the server compiles and
evaluates (with its checks: a join needs an index on its columns).

Example::

    >>> from spacetimedb_sdk.server import Module, column
    >>> m = Module("demo")
    >>> @m.table(public=True)
    ... class Player:
    ...     name: str = column(primary_key=True)
    ...     online: bool
    >>> From({t.accessor: t for t in m.table_schemas()}).player.where(lambda p: p.online == True).to_sql()
    'SELECT * FROM "player" WHERE "player"."online" = TRUE'
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from ...sats.values import ConnectionId, Identity, Timestamp
from ..datastore import ColumnSchema, TableSchema

__all__ = ["QUERY_VIEW_TAG", "From", "Query", "QueryTable"]

#: The element name of the product ``{__query__: T}`` that a query view's return type is
#: (upstream's ``QUERY_VIEW_RETURN_TAG``).
QUERY_VIEW_TAG = "__query__"

_T = TypeVar("_T")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    """A Python value as an SQL literal the server's checker types against the column."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Identity | ConnectionId):
        return "0x" + value.to_hex()
    if isinstance(value, uuid.UUID):
        return "0x" + value.hex
    if isinstance(value, Timestamp):
        return "'" + value.to_iso() + "'"
    raise TypeError(f"a view query cannot compare with {type(value).__name__} value {value!r}")


class Cond:
    """A condition over query columns: combine with ``&`` and ``|``."""

    __slots__ = ("sql", "tables")

    def __init__(self, sql: str, tables: frozenset[str]) -> None:
        self.sql = sql
        self.tables = tables

    def __and__(self, other: Cond) -> Cond:
        return Cond(f"({self.sql}) AND ({other.sql})", self.tables | other.tables)

    def __or__(self, other: Cond) -> Cond:
        return Cond(f"({self.sql}) OR ({other.sql})", self.tables | other.tables)

    def __bool__(self) -> bool:
        raise TypeError("combine query conditions with & and |, not `and`/`or`")


class Col:
    """A column in a view query; comparisons make a :class:`Cond`."""

    __slots__ = ("column", "table")

    def __init__(self, table: str, column: ColumnSchema) -> None:
        self.table = table
        self.column = column

    @property
    def sql(self) -> str:
        return f"{_ident(self.table)}.{_ident(self.column.name)}"

    def _cmp(self, op: str, other: object) -> Cond:
        if isinstance(other, Col):
            return Cond(f"{self.sql} {op} {other.sql}", frozenset((self.table, other.table)))
        return Cond(f"{self.sql} {op} {_literal(other)}", frozenset((self.table,)))

    def __eq__(self, other: object) -> Cond:  # type: ignore[override]
        return self._cmp("=", other)

    def __ne__(self, other: object) -> Cond:  # type: ignore[override]
        return self._cmp("<>", other)

    def __lt__(self, other: object) -> Cond:
        return self._cmp("<", other)

    def __le__(self, other: object) -> Cond:
        return self._cmp("<=", other)

    def __gt__(self, other: object) -> Cond:
        return self._cmp(">", other)

    def __ge__(self, other: object) -> Cond:
        return self._cmp(">=", other)

    __hash__ = None  # type: ignore[assignment]


class Query(Generic[_T]):
    """What a query-builder view returns; annotate the view ``-> Query[Row]``.

    Example::

        @module.view(public=True)
        def everyone(ctx: ViewContext) -> Query[Player]:
            return ctx.from_.player
    """

    __slots__ = ()

    @property
    def table(self) -> TableSchema:
        """The table whose rows the query returns.

        Example::

            query.table.name   # 'player'
        """
        raise NotImplementedError

    def to_sql(self) -> str:
        """The query as SQL.

        Example::

            query.to_sql()   # 'SELECT * FROM "player" WHERE "player"."level" >= 2'
        """
        raise NotImplementedError


class QueryTable(Query[Any]):
    """A table of ``ctx.from_``, with the conditions of ``where`` calls."""

    __slots__ = ("_conds", "_schema")

    def __init__(self, schema: TableSchema, conds: tuple[Cond, ...] = ()) -> None:
        self._schema = schema
        self._conds = conds

    @property
    def table(self) -> TableSchema:
        return self._schema

    def __getattr__(self, attr: str) -> Col:
        if attr.startswith("_"):
            raise AttributeError(attr)
        for c in self._schema.columns:
            if attr in (c.attr, c.name):
                return Col(self._schema.name, c)
        raise AttributeError(
            f"table {self._schema.name!r} has no column {attr!r}; columns: "
            f"{[c.attr for c in self._schema.columns]}"
        )

    def where(self, pred: Callable[[QueryTable], Cond]) -> QueryTable:
        """The rows for which ``pred(row)`` holds (alias: ``filter``)."""
        cond = pred(self)
        if not isinstance(cond, Cond) or cond.tables - {self._schema.name}:
            raise TypeError(
                f"where() on {self._schema.name!r} takes a condition on its own columns"
            )
        return QueryTable(self._schema, (*self._conds, cond))

    filter = where

    def right_semijoin(self, other: QueryTable, on: Callable[[Any, Any], Cond]) -> Semijoin:
        """Rows of ``other`` that join a row of this query."""
        return Semijoin(other, self, _join(self, other, on))

    def left_semijoin(self, other: QueryTable, on: Callable[[Any, Any], Cond]) -> Semijoin:
        """Rows of this query that join a row of ``other``."""
        return Semijoin(self, other, _join(self, other, on))

    def to_sql(self) -> str:
        sql = f"SELECT * FROM {_ident(self._schema.name)}"
        return sql + _where(self._conds)


class Semijoin(Query[Any]):
    """The rows of ``returned`` joining a row of ``other`` (``where`` filters ``returned``)."""

    __slots__ = ("_on", "_other", "_returned")

    def __init__(self, returned: QueryTable, other: QueryTable, on: Cond) -> None:
        self._returned = returned
        self._other = other
        self._on = on

    @property
    def table(self) -> TableSchema:
        return self._returned.table

    def where(self, pred: Callable[[QueryTable], Cond]) -> Semijoin:
        """Filter the returned table's rows."""
        return Semijoin(self._returned.where(pred), self._other, self._on)

    filter = where

    def to_sql(self) -> str:
        ret, oth = _ident(self._returned.table.name), _ident(self._other.table.name)
        sql = f"SELECT {ret}.* FROM {oth} JOIN {ret} ON {self._on.sql}"
        return sql + _where((*self._other._conds, *self._returned._conds))


def _where(conds: tuple[Cond, ...]) -> str:
    if not conds:
        return ""
    if len(conds) == 1:
        return " WHERE " + conds[0].sql
    return " WHERE " + " AND ".join(f"({c.sql})" for c in conds)


def _join(left: QueryTable, right: QueryTable, on: Callable[[Any, Any], Cond]) -> Cond:
    if left.table.name == right.table.name:
        raise ValueError(f"cannot semijoin table {left.table.name!r} to itself")
    cond = on(left, right)
    if not isinstance(cond, Cond) or cond.tables != {left.table.name, right.table.name}:
        raise TypeError("a semijoin's on= must compare a column of each table, e.g. a.id == b.id")
    return cond


class From:
    """``ctx.from_``: the module's tables by accessor, to build a view's query."""

    __slots__ = ("_tables",)

    def __init__(self, tables: Mapping[str, TableSchema]) -> None:
        self._tables = tables

    def __getattr__(self, accessor: str) -> QueryTable:
        if accessor.startswith("_"):
            raise AttributeError(accessor)
        schema = self._tables.get(accessor)
        if schema is None:
            raise AttributeError(f"no table {accessor!r} to query; tables: {sorted(self._tables)}")
        return QueryTable(schema)

    def __dir__(self) -> list[str]:
        return sorted(self._tables)
