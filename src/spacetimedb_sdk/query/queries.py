"""The query objects: tables, their filtered rows and semijoins, each one subscription query.

A table is a :class:`TableRef` (its columns are attributes), ``where`` makes a
:class:`FromQuery`, a semijoin a :class:`SemijoinQuery`; all are :class:`Query`.

Semijoins (``right_semijoin``/``left_semijoin``, as in the TypeScript SDK) join two
tables on an equality of single-column-indexed columns and return the rows of one
side, which is what the server allows in subscriptions.  A table, its filtered rows
and a semijoin build one another, so they share this module.

Example::

    q.person.where(q.person.name == "Eve").where(q.person.age == 25).to_sql()
    # SELECT * FROM "person" WHERE ("person"."name" = 'Eve') AND ("person"."age" = 25)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from .expressions import BoolExpr, Column, Condition, _as_condition, _Compare, and_
from .literals import quote_identifier
from .table_info import TableInfo

__all__ = ["FromQuery", "Query", "SemijoinQuery", "TableRef"]

_TR = TypeVar("_TR", bound="TableRef")
_TO = TypeVar("_TO", bound="TableRef")


class Query:
    """Anything :meth:`to_sql` renders as one subscription query.

    Example::

        conn.subscription_builder().subscribe([q.user, q.message.where(...)])
    """

    __slots__ = ()

    def to_sql(self) -> str:
        """The query as SQL text (also what ``str(query)`` gives).

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> query = TableRef(TableInfo("person", "person", (("age", "age", T.U32, False),)))
            >>> query.to_sql(), str(query) == query.to_sql()
            ('SELECT * FROM "person"', True)
        """
        raise NotImplementedError

    def __str__(self) -> str:
        return self.to_sql()


def _condition_for(table: TableRef, pred: object) -> BoolExpr:
    cond = _as_condition(pred(table) if callable(pred) else pred)
    foreign = cond.tables - {table.table_name}
    if foreign:
        raise ValueError(
            f"a where() on table {table.table_name!r} can only read its own columns, "
            f"not those of {sorted(foreign)}; filter the other table before joining"
        )
    return cond


def _where_sql(conditions: Sequence[BoolExpr]) -> str:
    if not conditions:
        return ""
    return " WHERE " + and_(*conditions).to_sql()


class TableRef(Query):
    """A table in a query (``q.user``): its columns are attributes; ``to_sql()`` selects all rows.

    Example::

        q.user.to_sql()                                    # SELECT * FROM "user"
        q.user.where(q.user.online).to_sql()               # ... WHERE "user"."online" = TRUE
        q.user.where(lambda u: u.name == "Alice")          # a callable gets the table
    """

    def __init__(self, info: TableInfo) -> None:
        self._info = info
        cols: dict[str, Column[Any]] = {}
        for wire, attr, ty, indexed in info.columns:
            col: Column[Any] = Column(info.name, wire, attr, ty, indexed)
            cols[attr] = col
            self.__dict__[attr] = col
        self._cols = cols

    @property
    def table_name(self) -> str:
        """The canonical (SQL) table name.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> TableRef(TableInfo("person", "person", (("age", "age", T.U32, False),))).table_name
            'person'
        """
        return self._info.name

    @property
    def columns(self) -> tuple[Column[Any], ...]:
        """Every column, in row order.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> [c.name for c in person.columns]
            ['id', 'age']
        """
        return tuple(self._cols.values())

    def col(self, name: str) -> Column[Any]:
        """A column by canonical or Python name, e.g. one named like a keyword.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> msg = TableRef(TableInfo("msg", "msg", (("from", "from_", T.STRING, False),)))
            >>> msg.col("from").to_sql(), msg.col("from_") is msg.from_
            ('"msg"."from"', True)
        """
        if name in self._cols:
            return self._cols[name]
        for c in self._cols.values():
            if c.name == name:
                return c
        raise AttributeError(
            f"table {self._info.name!r} has no column {name!r}; columns: "
            f"{[c.name for c in self._cols.values()]}"
        )

    def __getattr__(self, name: str) -> Column[Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.col(name)

    def where(self: _TR, condition: Condition | Callable[[_TR], Condition]) -> FromQuery[_TR]:
        """Rows matching ``condition`` (a condition, a bool column, or ``lambda t: ...``).

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> person.where(person.age >= 18).to_sql()
            'SELECT * FROM "person" WHERE "person"."age" >= 18'
            >>> person.where(lambda p: p.id == 7).to_sql()
            'SELECT * FROM "person" WHERE "person"."id" = 7'
        """
        return FromQuery(self, ()).where(condition)

    def right_semijoin(
        self: _TR, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TO]:
        """Rows of ``other`` that join some row of this table (``SELECT other.* ...``).

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> orders = TableRef(TableInfo("orders", "orders", (
            ...     ("person_id", "person_id", T.U32, True), ("item", "item", T.STRING, False))))
            >>> print(person.right_semijoin(orders, on=lambda p, o: p.id == o.person_id))
            SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id"
        """
        return FromQuery(self, ()).right_semijoin(other, on)

    def left_semijoin(
        self: _TR, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TR]:
        """Rows of this table that join some row of ``other``.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> orders = TableRef(TableInfo("orders", "orders", (
            ...     ("person_id", "person_id", T.U32, True), ("item", "item", T.STRING, False))))
            >>> print(person.left_semijoin(orders, on=lambda p, o: p.id == o.person_id))
            SELECT "person".* FROM "orders" JOIN "person" ON "person"."id" = "orders"."person_id"
        """
        return FromQuery(self, ()).left_semijoin(other, on)

    def to_sql(self) -> str:
        """``SELECT *`` of the whole table.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> TableRef(TableInfo("person", "person", (("age", "age", T.U32, False),))).to_sql()
            'SELECT * FROM "person"'
        """
        return f"SELECT * FROM {quote_identifier(self._info.name)}"

    def __repr__(self) -> str:
        return f"<TableRef {self._info.name}>"


class FromQuery(Query, Generic[_TR]):
    """The rows of one table matching its conditions; more ``where`` calls add conditions.

    Example::

        q.person.where(q.person.name == "Eve").where(q.person.age == 25).to_sql()
        # SELECT * FROM "person" WHERE ("person"."name" = 'Eve') AND ("person"."age" = 25)
    """

    __slots__ = ("conditions", "table")

    def __init__(self, table: _TR, conditions: tuple[BoolExpr, ...]) -> None:
        self.table = table
        self.conditions = conditions

    def where(self, condition: Condition | Callable[[_TR], Condition]) -> FromQuery[_TR]:
        """This query with one more condition (all must hold).

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> adults = person.where(person.age >= 18)
            >>> print(adults.where(lambda p: p.age < 65))
            SELECT * FROM "person" WHERE ("person"."age" >= 18) AND ("person"."age" < 65)
        """
        return FromQuery(self.table, (*self.conditions, _condition_for(self.table, condition)))

    def right_semijoin(
        self, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TO]:
        """Rows of ``other`` joined to the rows of this query.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> orders = TableRef(TableInfo("orders", "orders", (
            ...     ("person_id", "person_id", T.U32, True), ("item", "item", T.STRING, False))))
            >>> adults = person.where(person.age >= 18)
            >>> joined = adults.right_semijoin(orders, on=person.id == orders.person_id)
            >>> print(joined)  # doctest: +NORMALIZE_WHITESPACE
            SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id"
            WHERE "person"."age" >= 18
        """
        cond = _join_condition(self.table, other, on)
        return SemijoinQuery(FromQuery(other, ()), self, cond)

    def left_semijoin(
        self, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TR]:
        """Rows of this query that join some row of ``other``.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> orders = TableRef(TableInfo("orders", "orders", (
            ...     ("person_id", "person_id", T.U32, True), ("item", "item", T.STRING, False))))
            >>> adults = person.where(person.age >= 18)
            >>> buyers = adults.left_semijoin(orders, on=person.id == orders.person_id)
            >>> print(buyers)  # doctest: +NORMALIZE_WHITESPACE
            SELECT "person".* FROM "orders" JOIN "person" ON "person"."id" = "orders"."person_id"
            WHERE "person"."age" >= 18
        """
        cond = _join_condition(self.table, other, on)
        return SemijoinQuery(self, FromQuery(other, ()), cond)

    def to_sql(self) -> str:
        """``SELECT *`` of the table with every condition joined by ``AND``.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> person.where(person.age >= 18).where(person.id != 1).to_sql()
            'SELECT * FROM "person" WHERE ("person"."age" >= 18) AND ("person"."id" <> 1)'
        """
        return self.table.to_sql() + _where_sql(self.conditions)

    def __repr__(self) -> str:
        return f"<FromQuery {self.to_sql()}>"


class SemijoinQuery(Query, Generic[_TR]):
    """Rows of ``source.table`` that join a row of ``filter.table`` on an indexed equality.

    Example::

        q.person.where(q.person.age == 42).right_semijoin(
            q.orders, on=lambda p, o: p.id == o.person_id
        ).where(lambda o: o.item_name == "Gadget").to_sql()
        # SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id"
        #   WHERE ("person"."age" = 42) AND ("orders"."item_name" = 'Gadget')
    """

    __slots__ = ("filter", "on", "source")

    def __init__(self, source: FromQuery[_TR], filter: FromQuery[Any], on: BoolExpr) -> None:
        self.source = source
        self.filter = filter
        self.on = on

    def where(self, condition: Condition | Callable[[_TR], Condition]) -> SemijoinQuery[_TR]:
        """Add a condition on the returned table's rows.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> orders = TableRef(TableInfo("orders", "orders", (
            ...     ("person_id", "person_id", T.U32, True), ("item", "item", T.STRING, False))))
            >>> bought = person.right_semijoin(orders, on=lambda p, o: p.id == o.person_id)
            >>> print(bought.where(lambda o: o.item == "Gadget"))  # doctest: +NORMALIZE_WHITESPACE
            SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id"
            WHERE "orders"."item" = 'Gadget'
        """
        return SemijoinQuery(self.source.where(condition), self.filter, self.on)

    def to_sql(self) -> str:
        """The join, with the conditions of both sides (the filter side's first).

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> person = TableRef(TableInfo("person", "person", (
            ...     ("id", "id", T.U32, True), ("age", "age", T.U32, False))))
            >>> orders = TableRef(TableInfo("orders", "orders", (
            ...     ("person_id", "person_id", T.U32, True), ("item", "item", T.STRING, False))))
            >>> adults = person.where(person.age >= 18)
            >>> joined = adults.right_semijoin(orders, on=lambda p, o: p.id == o.person_id)
            >>> sql = joined.where(lambda o: o.item == "Gadget").to_sql()
            >>> print(sql)  # doctest: +NORMALIZE_WHITESPACE
            SELECT "orders".* FROM "person" JOIN "orders" ON "person"."id" = "orders"."person_id"
            WHERE ("person"."age" >= 18) AND ("orders"."item" = 'Gadget')
        """
        src = quote_identifier(self.source.table.table_name)
        flt = quote_identifier(self.filter.table.table_name)
        sql = f"SELECT {src}.* FROM {flt} JOIN {src} ON {self.on.to_sql()}"
        return sql + _where_sql([*self.filter.conditions, *self.source.conditions])

    def __repr__(self) -> str:
        return f"<SemijoinQuery {self.to_sql()}>"


def _join_condition(left: TableRef, right: TableRef, on: object) -> BoolExpr:
    if left.table_name == right.table_name:
        raise ValueError(f"cannot semijoin table {left.table_name!r} to itself")
    cond = on(left, right) if callable(on) else on
    if not isinstance(cond, _Compare) or cond.op != "=":
        raise ValueError(
            "a semijoin's on= must be one equality between a column of each table, "
            "e.g. on=lambda a, b: a.id == b.a_id; put other conditions in where()"
        )
    cols = [_column_named(left, cond.left), _column_named(right, cond.left)]
    cols += [_column_named(left, cond.right), _column_named(right, cond.right)]
    found = [c for c in cols if c is not None]
    sides = {c.table for c in found}
    if len(found) != 2 or sides != {left.table_name, right.table_name}:
        raise ValueError(
            f"a semijoin's on= must compare a column of {left.table_name!r} with a column of "
            f"{right.table_name!r}, got {cond.to_sql()}"
        )
    for c in found:
        if not c.join_indexed:
            raise ValueError(
                f"cannot join on {c.to_sql()}: subscriptions join only on columns with a "
                "single-column index, unique constraint or primary key, and this column has none"
            )
    return cond


def _column_named(table: TableRef, sql: str) -> Column[Any] | None:
    for c in table.columns:
        if c.to_sql() == sql:
            return c
    return None
