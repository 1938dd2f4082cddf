"""Resolved, typed query plans: what :mod:`.check` produces and an evaluator runs.

Names are resolved to positions: a :class:`ColumnRef` says "column ``column``
of the ``table``-th table of the FROM clause", so a joined row is a tuple of
rows, one per table.  Literals are already typed Python values following the
SDK's value conventions (``int``, ``float``, ``str``, ``bool``, ``bytes``,
:class:`~spacetimedb_sdk.sats.Identity`, :class:`~spacetimedb_sdk.sats.ConnectionId`,
:class:`~spacetimedb_sdk.sats.Timestamp`, ``uuid.UUID``).  ``:sender`` stays a
:class:`SenderParam` until evaluation, where it becomes the caller's identity.

AND/OR chains are flattened into one n-ary :class:`Logic` node so that
evaluating a long ``a = 1 OR a = 2 OR …`` needs no recursion.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType
    >>> Compare(CmpOp.EQ, ColumnRef(0, 1, "name", AlgebraicType.STRING),
    ...         Const("Alice", AlgebraicType.STRING)).op.value
    '='
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...sats.types import AlgebraicType
from .ast import CmpOp, LogicOp

BOOL = AlgebraicType.BOOL


@dataclass(frozen=True, slots=True)
class BoundTable:
    """A table of the FROM clause (or the target of a DML statement).

    Example::

        >>> BoundTable("person", "p", (("id", AlgebraicType.U32),)).column_names
        ('id',)
    """

    name: str
    alias: str
    columns: tuple[tuple[str, AlgebraicType], ...]
    is_event: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        """Column names in row order."""
        return tuple(name for name, _ in self.columns)


@dataclass(frozen=True, slots=True)
class ColumnRef:
    """Column ``column`` (row position) of FROM table number ``table``.

    Example::

        >>> ColumnRef(0, 2, "age", AlgebraicType.U8).column
        2
    """

    table: int
    column: int
    name: str
    type: AlgebraicType


@dataclass(frozen=True, slots=True)
class Const:
    """A typed constant; ``value`` follows the SDK value conventions.

    Example::

        >>> Const(True, BOOL).value
        True
    """

    value: Any
    type: AlgebraicType


@dataclass(frozen=True, slots=True)
class SenderParam:
    """``:sender``: the caller's identity.  ``type`` is the Identity product type, or
    ``Array<U8>`` when compared with a bytes column: then the value is
    ``identity.to_be_bytes()`` (upstream substitutes the identity's hex text).

    Example::

        >>> SenderParam(AlgebraicType.identity()).type.special_kind()
        '__identity__'
    """

    type: AlgebraicType


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right``; both sides have the same type (``Bool`` for nested comparisons).

    Example::

        >>> Compare(CmpOp.LT, Const(1, AlgebraicType.U8), Const(2, AlgebraicType.U8)).right.value
        2
    """

    op: CmpOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logic:
    """``operands[0] op operands[1] op …`` (flattened AND or OR).

    Example::

        >>> Logic.of(LogicOp.AND, Const(True, BOOL), Const(False, BOOL)).operands[1].value
        False
    """

    op: LogicOp
    operands: tuple[Expr, ...]

    @staticmethod
    def of(op: LogicOp, left: Expr, right: Expr) -> Logic:
        """Combine two expressions, flattening nested nodes of the same ``op``."""
        parts: list[Expr] = []
        for side in (left, right):
            if isinstance(side, Logic) and side.op is op:
                parts += side.operands
            else:
                parts.append(side)
        return Logic(op, tuple(parts))


Expr = ColumnRef | Const | SenderParam | Compare | Logic


@dataclass(frozen=True, slots=True)
class JoinCondition:
    """``left = right`` between columns of two FROM tables.

    Example::

        >>> u32 = AlgebraicType.U32
        >>> JoinCondition(ColumnRef(0, 0, "id", u32), ColumnRef(1, 0, "id", u32)).right.table
        1
    """

    left: ColumnRef
    right: ColumnRef


@dataclass(frozen=True, slots=True)
class Source:
    """The FROM clause: ``joins[i]`` joins ``tables[i + 1]`` (``None``: cross join).

    Example::

        >>> Source((BoundTable("t", "t", ()),), ()).tables[0].name
        't'
    """

    tables: tuple[BoundTable, ...]
    joins: tuple[JoinCondition | None, ...]


@dataclass(frozen=True, slots=True)
class StarProjection:
    """Whole rows of FROM table number ``table``.

    Example::

        >>> StarProjection(0).table
        0
    """

    table: int


@dataclass(frozen=True, slots=True)
class ColumnsProjection:
    """Named columns: ``(output name, column)`` pairs.

    Example::

        >>> ColumnsProjection((("n", ColumnRef(0, 0, "name", AlgebraicType.STRING)),)).columns[0][0]
        'n'
    """

    columns: tuple[tuple[str, ColumnRef], ...]


@dataclass(frozen=True, slots=True)
class CountProjection:
    """``COUNT(*) AS alias``: one row with one ``U64`` column.

    Example::

        >>> CountProjection("n").alias
        'n'
    """

    alias: str


ProjectionPlan = StarProjection | ColumnsProjection | CountProjection


@dataclass(frozen=True, slots=True)
class SelectPlan:
    """A checked SELECT: rows of ``source`` matching ``filter``, projected, at most ``limit``.

    Example::

        >>> from spacetimedb_sdk.server.sql import StaticSchema, StaticTable, compile_sql
        >>> schema = StaticSchema([StaticTable("t", [("a", AlgebraicType.U8)])])
        >>> compile_sql("SELECT a FROM t LIMIT 3", schema).limit
        3
    """

    source: Source
    filter: Expr | None
    projection: ProjectionPlan
    limit: int | None = None
    uses_sender: bool = False

    @property
    def output_columns(self) -> tuple[tuple[str, AlgebraicType], ...]:
        """Names and types of the result columns."""
        proj = self.projection
        if isinstance(proj, StarProjection):
            return self.source.tables[proj.table].columns
        if isinstance(proj, CountProjection):
            return ((proj.alias, AlgebraicType.U64),)
        return tuple((name, ref.type) for name, ref in proj.columns)


@dataclass(frozen=True, slots=True)
class IndexJoin:
    """How a two-table subscription is evaluated: probing ``index_columns`` of the lookup table.

    Example::

        >>> IndexJoin(lookup_table=1, index_columns=(0,)).lookup_table
        1
    """

    lookup_table: int
    index_columns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """A checked subscription: a :class:`SelectPlan` returning whole rows of one table.

    Example::

        >>> from spacetimedb_sdk.server.sql import StaticSchema, StaticTable, compile_subscription
        >>> schema = StaticSchema([StaticTable("t", [("a", AlgebraicType.U8)])])
        >>> compile_subscription("SELECT * FROM t", schema).return_table.name
        't'
    """

    select: SelectPlan
    index_join: IndexJoin | None = None

    @property
    def return_index(self) -> int:
        """Which FROM table the subscription returns."""
        proj = self.select.projection
        assert isinstance(proj, StarProjection)
        return proj.table

    @property
    def return_table(self) -> BoundTable:
        """The table whose rows the subscription returns."""
        return self.select.source.tables[self.return_index]

    @property
    def uses_sender(self) -> bool:
        """Does the query depend on the caller (``:sender``)?"""
        return self.select.uses_sender


@dataclass(frozen=True, slots=True)
class InsertPlan:
    """Rows to insert, each a tuple in the table's column order.

    Example::

        >>> InsertPlan(BoundTable("t", "t", (("a", AlgebraicType.U8),)), ((1,),)).rows
        ((1,),)
    """

    table: BoundTable
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """Set ``(column position, value)`` pairs on the rows matching ``filter``.

    Example::

        >>> UpdatePlan(BoundTable("t", "t", ()), ((0, 5),), None).assignments
        ((0, 5),)
    """

    table: BoundTable
    assignments: tuple[tuple[int, Any], ...]
    filter: Expr | None


@dataclass(frozen=True, slots=True)
class DeletePlan:
    """Delete the rows of ``table`` matching ``filter`` (all rows when ``None``).

    Example::

        >>> DeletePlan(BoundTable("t", "t", ()), None).filter is None
        True
    """

    table: BoundTable
    filter: Expr | None


@dataclass(frozen=True, slots=True)
class SetVarPlan:
    """``SET name = value`` (only ``row_limit`` exists).

    Example::

        >>> SetVarPlan("row_limit", 100).value
        100
    """

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class ShowVarPlan:
    """``SHOW name``: one row ``(value,)`` from the server's variables.

    Example::

        >>> ShowVarPlan("row_limit").name
        'row_limit'
    """

    name: str


SqlPlan = SelectPlan | InsertPlan | UpdatePlan | DeletePlan | SetVarPlan | ShowVarPlan
DML_PLANS: tuple[type, ...] = (InsertPlan, UpdatePlan, DeletePlan, SetVarPlan)
"""Plans that write (and therefore need the caller to own the database)."""

__all__ = [
    "BOOL",
    "DML_PLANS",
    "BoundTable",
    "ColumnRef",
    "ColumnsProjection",
    "Compare",
    "Const",
    "CountProjection",
    "DeletePlan",
    "Expr",
    "IndexJoin",
    "InsertPlan",
    "JoinCondition",
    "Logic",
    "ProjectionPlan",
    "SelectPlan",
    "SenderParam",
    "SetVarPlan",
    "ShowVarPlan",
    "Source",
    "SqlPlan",
    "StarProjection",
    "SubscriptionPlan",
    "UpdatePlan",
]
