"""The syntax tree of SpacetimeDB SQL (what :mod:`.parser` produces).

It mirrors upstream's ``crates/sql-parser/src/ast``: literals keep their
source text (a literal only gets a value once the type checker knows which
column type it is compared with), and after parsing every column reference
in a single-table query is qualified with the table's alias, so the checker
only ever sees :class:`SqlField` in WHERE clauses and projections.

Example::

    >>> from spacetimedb_sdk.server.sql import parse_subscription
    >>> parse_subscription("SELECT * FROM t WHERE a = 1").where
    SqlCompare(op=<CmpOp.EQ: '='>, left=SqlField(table='t', column='a'), right=SqlLiteral(kind=<LitKind.NUM: 'num'>, text='1'))
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class LitKind(Enum):
    """The lexical kind of a literal."""

    BOOL = "bool"
    NUM = "num"
    STR = "str"
    HEX = "hex"


class CmpOp(Enum):
    """Comparison operators (``!=`` is parsed as ``<>``)."""

    EQ = "="
    NE = "<>"
    LT = "<"
    GT = ">"
    LE = "<="
    GE = ">="


class LogicOp(Enum):
    """Logical connectives."""

    AND = "AND"
    OR = "OR"


@dataclass(frozen=True, slots=True)
class SqlLiteral:
    """A constant as written: ``text`` is ``"true"``/``"false"`` for booleans,
    the digits (with sign) for numbers, the unescaped body for strings, and the
    hex digits without ``0x``/``X'…'`` for hex literals.

    Example::

        >>> SqlLiteral(LitKind.NUM, "-1").text
        '-1'
    """

    kind: LitKind
    text: str


@dataclass(frozen=True, slots=True)
class SqlParam:
    """A ``:name`` parameter; only ``:sender`` (the caller's identity) exists.

    Example::

        >>> SqlParam("sender").name
        'sender'
    """

    name: str


@dataclass(frozen=True, slots=True)
class SqlVar:
    """An unqualified column name (only before qualification; see module doc).

    Example::

        >>> SqlVar("age").name
        'age'
    """

    name: str


@dataclass(frozen=True, slots=True)
class SqlField:
    """A qualified column reference ``table.column`` (``table`` may be an alias).

    Example::

        >>> SqlField("p", "name").column
        'name'
    """

    table: str
    column: str


@dataclass(frozen=True, slots=True)
class SqlCompare:
    """``left op right``.

    Example::

        >>> SqlCompare(CmpOp.LT, SqlField("t", "a"), SqlLiteral(LitKind.NUM, "3")).op.value
        '<'
    """

    op: CmpOp
    left: SqlExpr
    right: SqlExpr


@dataclass(frozen=True, slots=True)
class SqlLogic:
    """``left AND right`` or ``left OR right``.

    Example::

        >>> SqlLogic(LogicOp.OR, SqlLiteral(LitKind.BOOL, "true"), SqlLiteral(LitKind.BOOL, "false")).op
        <LogicOp.OR: 'OR'>
    """

    op: LogicOp
    left: SqlExpr
    right: SqlExpr


SqlExpr = SqlLiteral | SqlParam | SqlVar | SqlField | SqlCompare | SqlLogic


@dataclass(frozen=True, slots=True)
class ProjectStar:
    """``SELECT *`` (``table`` is ``None``) or ``SELECT t.*``.

    Example::

        >>> ProjectStar("t").table
        't'
    """

    table: str | None


@dataclass(frozen=True, slots=True)
class ProjectCount:
    """``SELECT COUNT(*) AS alias``.

    Example::

        >>> ProjectCount("n").alias
        'n'
    """

    alias: str


@dataclass(frozen=True, slots=True)
class ProjectElem:
    """One column of a column list, with its output name.

    Example::

        >>> ProjectElem(SqlField("t", "a"), "x").alias
        'x'
    """

    expr: SqlVar | SqlField
    alias: str


@dataclass(frozen=True, slots=True)
class ProjectColumns:
    """``SELECT a, t.b AS c`` (HTTP ``/sql`` only).

    Example::

        >>> len(ProjectColumns((ProjectElem(SqlField("t", "a"), "a"),)).items)
        1
    """

    items: tuple[ProjectElem, ...]


Projection = ProjectStar | ProjectCount | ProjectColumns


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table in FROM and the name it goes by (its alias, or its own name).

    Example::

        >>> TableRef("person", "p").alias
        'p'
    """

    name: str
    alias: str


@dataclass(frozen=True, slots=True)
class JoinClause:
    """``[INNER] JOIN table [AS alias] [ON a.x = b.y]`` (``on`` is ``None`` for a cross join).

    Example::

        >>> JoinClause(TableRef("s", "s"), None).on is None
        True
    """

    table: TableRef
    on: SqlCompare | None


@dataclass(frozen=True, slots=True)
class FromClause:
    """The first table and the tables joined to it, left to right.

    Example::

        >>> FromClause(TableRef("t", "t"), ()).joins
        ()
    """

    first: TableRef
    joins: tuple[JoinClause, ...]

    @property
    def tables(self) -> tuple[TableRef, ...]:
        """Every table in FROM, in order."""
        return (self.first, *(j.table for j in self.joins))


@dataclass(frozen=True, slots=True)
class SelectStmt:
    """A SELECT.  ``limit`` is the literal text of ``LIMIT n`` (``/sql`` only).

    Example::

        >>> from spacetimedb_sdk.server.sql import parse_sql
        >>> parse_sql("SELECT * FROM t LIMIT 5").limit
        '5'
    """

    project: Projection
    from_: FromClause
    where: SqlExpr | None
    limit: str | None = None

    def has_parameter(self) -> bool:
        """Does the WHERE clause use ``:sender``?"""
        return self.where is not None and has_parameter(self.where)


@dataclass(frozen=True, slots=True)
class InsertStmt:
    """``INSERT INTO table [(columns)] VALUES (…), (…)``.

    Example::

        >>> from spacetimedb_sdk.server.sql import parse_sql
        >>> parse_sql("INSERT INTO t (a) VALUES (1), (2)").rows[1][0].text
        '2'
    """

    table: str
    columns: tuple[str, ...]
    rows: tuple[tuple[SqlLiteral, ...], ...]


@dataclass(frozen=True, slots=True)
class Assignment:
    """``column = literal`` in an UPDATE.

    Example::

        >>> Assignment("a", SqlLiteral(LitKind.NUM, "1")).column
        'a'
    """

    column: str
    value: SqlLiteral


@dataclass(frozen=True, slots=True)
class UpdateStmt:
    """``UPDATE table SET c = lit, … [WHERE …]``.

    Example::

        >>> from spacetimedb_sdk.server.sql import parse_sql
        >>> parse_sql("UPDATE t SET a = 1").assignments[0].column
        'a'
    """

    table: str
    assignments: tuple[Assignment, ...]
    where: SqlExpr | None


@dataclass(frozen=True, slots=True)
class DeleteStmt:
    """``DELETE FROM table [WHERE …]``.

    Example::

        >>> from spacetimedb_sdk.server.sql import parse_sql
        >>> parse_sql("DELETE FROM t").where is None
        True
    """

    table: str
    where: SqlExpr | None


@dataclass(frozen=True, slots=True)
class SetStmt:
    """``SET var = literal`` (or ``SET var TO literal``).

    Example::

        >>> from spacetimedb_sdk.server.sql import parse_sql
        >>> parse_sql("SET row_limit = 10").value.text
        '10'
    """

    name: str
    value: SqlLiteral


@dataclass(frozen=True, slots=True)
class ShowStmt:
    """``SHOW var``.

    Example::

        >>> from spacetimedb_sdk.server.sql import parse_sql
        >>> parse_sql("SHOW row_limit").name
        'row_limit'
    """

    name: str


Statement = SelectStmt | InsertStmt | UpdateStmt | DeleteStmt | SetStmt | ShowStmt


def has_parameter(expr: SqlExpr) -> bool:
    """Does ``expr`` mention ``:sender``?

    Example::

        >>> has_parameter(SqlCompare(CmpOp.EQ, SqlField("t", "id"), SqlParam("sender")))
        True
    """
    stack: list[SqlExpr] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, SqlParam):
            return True
        if isinstance(e, (SqlCompare, SqlLogic)):
            stack += (e.left, e.right)
    return False


__all__ = [
    "Assignment",
    "CmpOp",
    "DeleteStmt",
    "FromClause",
    "InsertStmt",
    "JoinClause",
    "LitKind",
    "LogicOp",
    "ProjectColumns",
    "ProjectCount",
    "ProjectElem",
    "ProjectStar",
    "Projection",
    "SelectStmt",
    "SetStmt",
    "ShowStmt",
    "SqlCompare",
    "SqlExpr",
    "SqlField",
    "SqlLiteral",
    "SqlLogic",
    "SqlParam",
    "SqlVar",
    "Statement",
    "TableRef",
    "UpdateStmt",
    "has_parameter",
]
