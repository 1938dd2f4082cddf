"""Columns and conditions: what ``where`` and ``on=`` take.

A :class:`Column` compared with a value or another column (``== != < <= > >=``, or
the TypeScript SDK's ``eq``/``ne``/``lt``/... methods) builds a :class:`BoolExpr`;
conditions combine with ``&``, ``|`` and ``~`` (or :func:`and_`, :func:`or_`,
:func:`not_`).  ``NOT`` is pushed down to the comparisons (``~(a == 1)`` renders
``a <> 1``) because SpacetimeDB's SQL has no ``NOT``.  Columns and conditions refer
to each other (a Bool column is a condition; combining a column builds one), so they
share this module; the tables and queries that hold them are in :mod:`.queries`.

Example::

    cond = (q.person.age >= 18) & ~(q.person.name == "root")
    cond.to_sql()   # ("person"."age" >= 18) AND ("person"."name" <> 'root')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..sats.types import AlgebraicType
from .literals import literal_kind, literal_sql, quote_identifier

__all__ = ["BoolExpr", "Column", "Condition", "and_", "not_", "or_"]

V = TypeVar("V")


# ---- expressions --------------------------------------------------------------------------------

_NEGATED = {"=": "<>", "<>": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
_FLIPPED = {"=": "=", "<>": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


class BoolExpr:
    """A condition: a comparison, or ``&`` / ``|`` / ``~`` of conditions.

    Python's ``and``/``or``/``not`` cannot be overloaded, so using them on a condition
    raises ``TypeError``; use ``&``, ``|``, ``~`` (with parentheses around comparisons)
    or :func:`and_`, :func:`or_`, :func:`not_`.

    Example::

        cond = (q.person.age >= 18) & ~(q.person.name == "root")
        cond.to_sql()   # ("person"."age" >= 18) AND ("person"."name" <> 'root')
    """

    __slots__ = ()

    @property
    def tables(self) -> frozenset[str]:
        """The (wire) names of the tables whose columns the condition reads.

        Example::

            >>> (Column("person", "age", "age", AlgebraicType.U32) > 20).tables
            frozenset({'person'})
        """
        raise NotImplementedError

    def to_sql(self) -> str:
        """The condition as SQL text (without ``WHERE``).

        Example::

            >>> (Column("person", "age", "age", AlgebraicType.U32) > 20).to_sql()
            '"person"."age" > 20'
        """
        raise NotImplementedError

    def negated(self) -> BoolExpr:
        """The opposite condition, with the negation pushed down to the comparisons.

        Example::

            >>> (Column("person", "age", "age", AlgebraicType.U32) > 20).negated().to_sql()
            '"person"."age" <= 20'
        """
        raise NotImplementedError

    def __and__(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        return and_(self, other)

    def __rand__(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        return and_(other, self)

    def __or__(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        return or_(self, other)

    def __ror__(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        return or_(other, self)

    def __invert__(self) -> BoolExpr:
        return self.negated()

    def and_(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        """``self & other`` (the TypeScript SDK's ``.and``).

        Example::

            >>> age = Column("person", "age", "age", AlgebraicType.U32)
            >>> age.gt(20).and_(age.lt(30)).to_sql()
            '("person"."age" > 20) AND ("person"."age" < 30)'
        """
        return and_(self, other)

    def or_(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        """``self | other`` (the TypeScript SDK's ``.or``).

        Example::

            >>> age = Column("person", "age", "age", AlgebraicType.U32)
            >>> age.lt(18).or_(age.gt(65)).to_sql()
            '("person"."age" < 18) OR ("person"."age" > 65)'
        """
        return or_(self, other)

    def not_(self) -> BoolExpr:
        """``~self`` (the TypeScript SDK's ``.not``).

        Example::

            >>> Column("person", "age", "age", AlgebraicType.U32).eq(1).not_().to_sql()
            '"person"."age" <> 1'
        """
        return self.negated()

    def __bool__(self) -> bool:
        raise TypeError(
            "a query condition has no truth value: combine conditions with &, | and ~ "
            "(parenthesize comparisons), not with and/or/not or chained comparisons"
        )

    def __repr__(self) -> str:
        return f"<BoolExpr {self.to_sql()}>"


@dataclass(frozen=True, eq=False, slots=True, repr=False)
class _Compare(BoolExpr):
    op: str
    left: str
    right: str
    refs: frozenset[str]

    @property
    def tables(self) -> frozenset[str]:
        return self.refs

    def to_sql(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    def negated(self) -> BoolExpr:
        return _Compare(_NEGATED[self.op], self.left, self.right, self.refs)


@dataclass(frozen=True, eq=False, slots=True, repr=False)
class _Logic(BoolExpr):
    op: str  # "AND" | "OR"
    operands: tuple[BoolExpr, ...]

    @property
    def tables(self) -> frozenset[str]:
        return frozenset().union(*(o.tables for o in self.operands))

    def to_sql(self) -> str:
        return f" {self.op} ".join(f"({o.to_sql()})" for o in self.operands)

    def negated(self) -> BoolExpr:
        flipped = "OR" if self.op == "AND" else "AND"
        return _Logic(flipped, tuple(o.negated() for o in self.operands))


def _as_condition(value: object) -> BoolExpr:
    if isinstance(value, BoolExpr):
        return value
    if isinstance(value, Column):
        if literal_kind(value.type) != "Bool":
            raise TypeError(
                f"column {value.to_sql()} is not a Bool column, so it is not a condition by itself"
            )
        return value == True  # noqa: E712 - builds a comparison, not a test
    raise TypeError(
        f"expected a query condition (a comparison of columns, &, |, ~), got {type(value).__name__}"
    )


def _logic(op: str, parts: Sequence[object]) -> BoolExpr:
    flat: list[BoolExpr] = []
    for p in parts:
        cond = _as_condition(p)
        # (a AND b) AND c renders as a AND b AND c: same meaning, fewer parentheses.
        if isinstance(cond, _Logic) and cond.op == op:
            flat.extend(cond.operands)
        else:
            flat.append(cond)
    if len(flat) == 1:
        return flat[0]
    return _Logic(op, tuple(flat))


def and_(first: BoolExpr | Column[bool], *rest: BoolExpr | Column[bool]) -> BoolExpr:
    """All conditions hold (``a & b & c``).

    Example::

        and_(q.person.name == "Alice", q.person.age == 30).to_sql()
        # ("person"."name" = 'Alice') AND ("person"."age" = 30)
    """
    return _logic("AND", (first, *rest))


def or_(first: BoolExpr | Column[bool], *rest: BoolExpr | Column[bool]) -> BoolExpr:
    """At least one condition holds (``a | b | c``).

    Example::

        or_(q.person.name == "Carol", q.person.name == "Dave").to_sql()
        # ("person"."name" = 'Carol') OR ("person"."name" = 'Dave')
    """
    return _logic("OR", (first, *rest))


def not_(condition: BoolExpr | Column[bool]) -> BoolExpr:
    """The opposite condition (``~a``), pushed down to the comparisons.

    Example::

        not_(q.person.name == "Bob").to_sql()   # "person"."name" <> 'Bob'
    """
    if isinstance(condition, Column):
        _as_condition(condition)  # checks that it is a Bool column
        return condition == False  # noqa: E712 - builds a comparison, not a test
    return _as_condition(condition).negated()


# ---- columns ------------------------------------------------------------------------------------


class Column(Generic[V]):
    """A column of one table in a query; compare it with a value or another column.

    ``name`` is the canonical (SQL) column name, ``attr`` the Python attribute,
    ``type`` the column's type with refs resolved.  ``join_indexed`` says whether a
    single-column index (or key) covers it, which semijoins require.

    Example::

        q.user.online == True       # "user"."online" = TRUE
        q.user.name != "Bob"        # "user"."name" <> 'Bob'
        q.person.age.gte(18)        # the TypeScript SDK's method names work too
    """

    __slots__ = ("attr", "join_indexed", "name", "table", "type")

    def __init__(
        self, table: str, name: str, attr: str, ty: AlgebraicType, join_indexed: bool = False
    ) -> None:
        self.table = table
        self.name = name
        self.attr = attr
        self.type = ty
        self.join_indexed = join_indexed

    def to_sql(self) -> str:
        """``"table"."column"``.

        Example::

            >>> Column("person", "age", "age", AlgebraicType.U32).to_sql()
            '"person"."age"'
        """
        return f"{quote_identifier(self.table)}.{quote_identifier(self.name)}"

    def __repr__(self) -> str:
        return f"<Column {self.to_sql()}>"

    def _compare(self, op: str, other: object) -> BoolExpr:
        if isinstance(other, Column):
            if other.type != self.type:
                raise TypeError(
                    f"cannot compare {self.to_sql()} ({self.type!r}) with "
                    f"{other.to_sql()} ({other.type!r}): the types differ"
                )
            if literal_kind(self.type) is None:
                raise TypeError(f"column {self.to_sql()} has a type SQL cannot compare")
            return _Compare(op, self.to_sql(), other.to_sql(), frozenset((self.table, other.table)))
        if isinstance(other, BoolExpr):
            raise TypeError(f"cannot compare column {self.to_sql()} with a condition")
        right = literal_sql(other, self.type, what=f"column {self.to_sql()}")
        return _Compare(op, self.to_sql(), right, frozenset((self.table,)))

    # Comparisons build conditions; mypy's object.__eq__ signature says bool, hence the ignores.
    def __eq__(self, other: V | Column[V]) -> BoolExpr:  # type: ignore[override]
        return self._compare("=", other)

    def __ne__(self, other: V | Column[V]) -> BoolExpr:  # type: ignore[override]
        return self._compare("<>", other)

    def __lt__(self, other: V | Column[V]) -> BoolExpr:
        return self._compare("<", other)

    def __le__(self, other: V | Column[V]) -> BoolExpr:
        return self._compare("<=", other)

    def __gt__(self, other: V | Column[V]) -> BoolExpr:
        return self._compare(">", other)

    def __ge__(self, other: V | Column[V]) -> BoolExpr:
        return self._compare(">=", other)

    __hash__ = None  # type: ignore[assignment]

    def eq(self, other: V | Column[V]) -> BoolExpr:
        """``self == other``.

        Example::

            >>> print(Column("person", "name", "name", AlgebraicType.STRING).eq("Bob").to_sql())
            "person"."name" = 'Bob'
        """
        return self._compare("=", other)

    def ne(self, other: V | Column[V]) -> BoolExpr:
        """``self != other`` (SQL ``<>``).

        Example::

            >>> print(Column("person", "name", "name", AlgebraicType.STRING).ne("Bob").to_sql())
            "person"."name" <> 'Bob'
        """
        return self._compare("<>", other)

    def lt(self, other: V | Column[V]) -> BoolExpr:
        """``self < other``.

        Example::

            >>> Column("person", "age", "age", AlgebraicType.U32).lt(18).to_sql()
            '"person"."age" < 18'
        """
        return self._compare("<", other)

    def lte(self, other: V | Column[V]) -> BoolExpr:
        """``self <= other``.

        Example::

            >>> Column("person", "age", "age", AlgebraicType.U32).lte(18).to_sql()
            '"person"."age" <= 18'
        """
        return self._compare("<=", other)

    def gt(self, other: V | Column[V]) -> BoolExpr:
        """``self > other``.

        Example::

            >>> Column("person", "age", "age", AlgebraicType.U32).gt(18).to_sql()
            '"person"."age" > 18'
        """
        return self._compare(">", other)

    def gte(self, other: V | Column[V]) -> BoolExpr:
        """``self >= other``.

        Example::

            >>> Column("person", "age", "age", AlgebraicType.U32).gte(18).to_sql()
            '"person"."age" >= 18'
        """
        return self._compare(">=", other)

    def __invert__(self: Column[bool]) -> BoolExpr:
        return not_(self)

    def __and__(self: Column[bool], other: BoolExpr | Column[bool]) -> BoolExpr:
        return and_(self, other)

    def __or__(self: Column[bool], other: BoolExpr | Column[bool]) -> BoolExpr:
        return or_(self, other)

    def __bool__(self) -> bool:
        raise TypeError(
            f"column {self.to_sql()} has no truth value in Python; compare it "
            "(col == value) or pass it to where() as a condition"
        )


Condition = BoolExpr | Column[bool]
