"""The typed query builder: subscription SQL from Python expressions, rendered safely.

``q.user.where(q.user.online == True)`` renders
``SELECT * FROM "user" WHERE "user"."online" = TRUE``.  Tables are attributes
of a :class:`QueryBuilder` (named like ``conn.db.<table>``), columns are
attributes of a table (:class:`Column`), and comparisons (``== != < <= > >=``)
build :class:`BoolExpr` values that combine with ``&``, ``|`` and ``~``.
Generated bindings subclass these classes with typed column attributes; the
dynamic path (no codegen) offers the same attributes at run time.

Rendering follows the official TypeScript builder: identifiers are always
double-quoted (embedded ``"`` doubled), strings single-quoted (embedded ``'``
doubled), ``Identity``/``ConnectionId``/``uuid.UUID``/``bytes`` as ``0x…`` hex,
timestamps as quoted ISO-8601 with microseconds and ``Z``, booleans as
``TRUE``/``FALSE``, integers and floats exactly.  Literals are checked against
the column's type when the comparison is written, so a mistake fails where it is
made, not on the server.  ``NOT`` is pushed down to the comparisons (``~(a == 1)``
renders ``a <> 1``) because SpacetimeDB's SQL has no ``NOT``.

Semijoins (``right_semijoin``/``left_semijoin``, as in the TypeScript SDK) join
two tables on an equality of single-column-indexed columns and return the rows
of one side, which is what the server allows in subscriptions.

Example::

    q = QueryBuilder(schema)
    q.person.where((q.person.age > 20) & (q.person.name != "Bob")).to_sql()
    # SELECT * FROM "person" WHERE ("person"."age" > 20) AND ("person"."name" <> 'Bob')
    q.person.right_semijoin(q.orders, on=lambda p, o: o.person_id == p.id).to_sql()
    # SELECT "orders".* FROM "person" JOIN "orders" ON "orders"."person_id" = "person"."id"
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .errors import SchemaError
from .sats.types import (
    CONNECTION_ID_TAG,
    IDENTITY_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    Typespace,
)
from .sats.values import ConnectionId, Identity, Timestamp
from .schema.model import ModuleSchema, TableSchema, ViewSchema

if TYPE_CHECKING:  # pragma: no cover
    from .client.bindings import ModuleBindings

__all__ = [
    "BoolExpr",
    "Column",
    "FromQuery",
    "Query",
    "QueryBuilder",
    "SemijoinQuery",
    "TableRef",
    "and_",
    "column_attr",
    "literal_kind",
    "literal_sql",
    "not_",
    "or_",
    "quote_identifier",
]

V = TypeVar("V")
_TR = TypeVar("_TR", bound="TableRef")
_TO = TypeVar("_TO", bound="TableRef")

#: Attribute names of :class:`TableRef`; a column with one of these names is reached as
#: ``name_`` (``q.t.where_``) so that it cannot hide the method.
TABLE_REF_ATTRIBUTES = frozenset(
    {"where", "right_semijoin", "left_semijoin", "to_sql", "table_name", "columns", "col"}
)

_INT_RANGES = {
    "U8": (0, 2**8 - 1),
    "U16": (0, 2**16 - 1),
    "U32": (0, 2**32 - 1),
    "U64": (0, 2**64 - 1),
    "U128": (0, 2**128 - 1),
    "U256": (0, 2**256 - 1),
    "I8": (-(2**7), 2**7 - 1),
    "I16": (-(2**15), 2**15 - 1),
    "I32": (-(2**31), 2**31 - 1),
    "I64": (-(2**63), 2**63 - 1),
    "I128": (-(2**127), 2**127 - 1),
    "I256": (-(2**255), 2**255 - 1),
}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


# ---- rendering --------------------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier, embedded quotes doubled.

    Example::

        >>> quote_identifier('My"Table')
        '"My""Table"'
    """
    return '"' + name.replace('"', '""') + '"'


def _quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _timestamp_sql(ts: Timestamp) -> str:
    try:
        m = _EPOCH + _dt.timedelta(microseconds=ts.micros)
    except OverflowError:
        raise ValueError(
            f"{ts!r} is outside the years 1-9999 that SQL timestamps can express"
        ) from None
    return (
        f"'{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond:06d}Z'"
    )


def _float_sql(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} has no SQL literal")
    # Fixed notation of the shortest repr: exact, and no exponent for parsers that lack it.
    text = format(Decimal(repr(float(value))), "f")
    return text


def literal_kind(ty: AlgebraicType) -> str | None:
    """What literal a column of (resolved) type ``ty`` takes, or ``None`` if SQL cannot compare it.

    Example::

        >>> literal_kind(AlgebraicType.STRING), literal_kind(AlgebraicType.option(AlgebraicType.U8))
        ('String', None)
    """
    if isinstance(ty, PrimitiveType):
        return ty.kind
    if isinstance(ty, ArrayType):
        elem = ty.elem
        return "Bytes" if isinstance(elem, PrimitiveType) and elem.kind == "U8" else None
    if isinstance(ty, ProductType):
        return ty.special_kind()
    return None


_DESCRIBE = {
    "Bytes": "bytes",
    IDENTITY_TAG: "Identity",
    CONNECTION_ID_TAG: "ConnectionId",
    TIMESTAMP_TAG: "Timestamp",
    UUID_TAG: "uuid.UUID",
}


def literal_sql(value: object, ty: AlgebraicType, *, what: str = "value") -> str:
    """The SQL literal for ``value`` compared with a column of (resolved) type ``ty``.

    Raises ``TypeError`` when the value does not fit the type and ``ValueError`` when it
    is out of range or the type has no SQL literal; ``what`` names the column in errors.

    Example::

        >>> literal_sql("O'Brian", AlgebraicType.STRING)
        "'O''Brian'"
        >>> literal_sql(True, AlgebraicType.BOOL), literal_sql(1.5, AlgebraicType.F64)
        ('TRUE', '1.5')
    """
    kind = literal_kind(ty)
    if value is None:
        raise TypeError(f"{what}: SQL has no NULL; options cannot be compared in subscriptions")
    if kind is None:
        raise TypeError(
            f"{what}: a column of type {ty!r} cannot be compared in SQL; the server compares "
            "booleans, integers, floats, strings, bytes, Identity, ConnectionId, Uuid and Timestamp"
        )
    expected = _DESCRIBE.get(kind, kind)
    if kind == "Bool":
        if not isinstance(value, bool):
            raise TypeError(f"{what} is Bool, got {type(value).__name__} {value!r}")
        return "TRUE" if value else "FALSE"
    if kind in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} is {kind}, got {type(value).__name__} {value!r}")
        lo, hi = _INT_RANGES[kind]
        if not lo <= value <= hi:
            raise ValueError(f"{what}: {value} is out of range for {kind} ({lo}..{hi})")
        return str(int(value))
    if kind in ("F32", "F64"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{what} is {kind}, got {type(value).__name__} {value!r}")
        return str(int(value)) if isinstance(value, int) else _float_sql(value)
    if kind == "String":
        if not isinstance(value, str):
            raise TypeError(f"{what} is String, got {type(value).__name__} {value!r}")
        return _quote_string(value)
    if kind == "Bytes" and isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if kind == IDENTITY_TAG and isinstance(value, Identity):
        return "0x" + value.to_hex()
    if kind == CONNECTION_ID_TAG and isinstance(value, ConnectionId):
        return "0x" + value.to_hex()
    if kind == UUID_TAG and isinstance(value, uuid.UUID):
        return "0x" + value.hex
    if kind == TIMESTAMP_TAG and isinstance(value, Timestamp):
        return _timestamp_sql(value)
    if kind in _DESCRIBE:
        raise TypeError(f"{what} is {expected}, got {type(value).__name__} {value!r}")
    raise TypeError(f"{what}: a column of type {kind} cannot be compared in SQL")


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
        """The (wire) names of the tables whose columns the condition reads."""
        raise NotImplementedError

    def to_sql(self) -> str:
        """The condition as SQL text (without ``WHERE``)."""
        raise NotImplementedError

    def negated(self) -> BoolExpr:
        """The opposite condition, with the negation pushed down to the comparisons."""
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
        """``self & other`` (the TypeScript SDK's ``.and``)."""
        return and_(self, other)

    def or_(self, other: BoolExpr | Column[bool]) -> BoolExpr:
        """``self | other`` (the TypeScript SDK's ``.or``)."""
        return or_(self, other)

    def not_(self) -> BoolExpr:
        """``~self`` (the TypeScript SDK's ``.not``)."""
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
        """``"table"."column"``."""
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
        """``self == other``."""
        return self._compare("=", other)

    def ne(self, other: V | Column[V]) -> BoolExpr:
        """``self != other`` (SQL ``<>``)."""
        return self._compare("<>", other)

    def lt(self, other: V | Column[V]) -> BoolExpr:
        """``self < other``."""
        return self._compare("<", other)

    def lte(self, other: V | Column[V]) -> BoolExpr:
        """``self <= other``."""
        return self._compare("<=", other)

    def gt(self, other: V | Column[V]) -> BoolExpr:
        """``self > other``."""
        return self._compare(">", other)

    def gte(self, other: V | Column[V]) -> BoolExpr:
        """``self >= other``."""
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


# ---- tables and queries -------------------------------------------------------------------------

Condition = BoolExpr | Column[bool]


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
    from .client.bindings import py_name

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
        # Views have no indexes on the server, so they cannot be joined in a subscription.
        cols = tuple(
            (c.name, column_attr(py_name(c.name)), _resolve(ts, c.algebraic_type), False)
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
    from .client.bindings import ModuleBindings

    bindings = ModuleBindings.from_schema(schema)
    accessors = {b.name: accessor for accessor, b in bindings.tables.items()}
    if len(_ACCESSOR_CACHE) >= 8:
        _ACCESSOR_CACHE.pop(next(iter(_ACCESSOR_CACHE)))
    _ACCESSOR_CACHE[id(schema)] = (schema, accessors)
    return accessors


def _single_column_indexes(t: TableSchema | ViewSchema) -> set[int]:
    if isinstance(t, ViewSchema):
        return set()
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


class Query:
    """Anything :meth:`to_sql` renders as one subscription query.

    Example::

        conn.subscription_builder().subscribe([q.user, q.message.where(...)])
    """

    __slots__ = ()

    def to_sql(self) -> str:
        """The query as SQL text."""
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
        """The canonical (SQL) table name."""
        return self._info.name

    @property
    def columns(self) -> tuple[Column[Any], ...]:
        """Every column, in row order."""
        return tuple(self._cols.values())

    def col(self, name: str) -> Column[Any]:
        """A column by canonical or Python name (``q.t.col("from")``)."""
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
        """Rows matching ``condition`` (a condition, a bool column, or ``lambda t: ...``)."""
        return FromQuery(self, ()).where(condition)

    def right_semijoin(
        self: _TR, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TO]:
        """Rows of ``other`` that join some row of this table (``SELECT other.* ...``)."""
        return FromQuery(self, ()).right_semijoin(other, on)

    def left_semijoin(
        self: _TR, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TR]:
        """Rows of this table that join some row of ``other``."""
        return FromQuery(self, ()).left_semijoin(other, on)

    def to_sql(self) -> str:
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
        """This query with one more condition (all must hold)."""
        return FromQuery(self.table, (*self.conditions, _condition_for(self.table, condition)))

    def right_semijoin(
        self, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TO]:
        """Rows of ``other`` joined to the rows of this query."""
        cond = _join_condition(self.table, other, on)
        return SemijoinQuery(FromQuery(other, ()), self, cond)

    def left_semijoin(
        self, other: _TO, on: BoolExpr | Callable[[_TR, _TO], BoolExpr]
    ) -> SemijoinQuery[_TR]:
        """Rows of this query that join some row of ``other``."""
        cond = _join_condition(self.table, other, on)
        return SemijoinQuery(self, FromQuery(other, ()), cond)

    def to_sql(self) -> str:
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
        """Add a condition on the returned table's rows."""
        return SemijoinQuery(self.source.where(condition), self.filter, self.on)

    def to_sql(self) -> str:
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


class QueryBuilder:
    """The tables of a module for building queries: ``q.<table>`` is a :class:`TableRef`.

    Built from a :class:`ModuleSchema` or the connection's bindings; generated bindings
    subclass it with typed table attributes and need no argument.  ``q["wire_name"]``
    finds a table by its canonical name too.

    Example::

        conn.subscription_builder().add_query(lambda q: q.user.where(q.user.online)).subscribe()
        q = QueryBuilder(schema)
        q.user.to_sql()     # SELECT * FROM "user"
    """

    #: Set by generated bindings: the schema, the accessor of every table and view (by
    #: canonical name, as the connection names them), and a TableRef subclass per accessor.
    __schema__: ClassVar[ModuleSchema | None] = None
    __accessors__: ClassVar[Mapping[str, str] | None] = None
    __table_refs__: ClassVar[Mapping[str, type[TableRef]]] = {}

    def __init__(self, source: ModuleSchema | ModuleBindings | None = None) -> None:
        accessors: Mapping[str, str] | None = None
        if source is None:
            schema = type(self).__schema__
            accessors = type(self).__accessors__
        elif isinstance(source, ModuleSchema):
            schema = source
        else:
            schema = source.schema
            accessors = {b.name: accessor for accessor, b in source.tables.items()}
        if schema is None:
            raise TypeError("QueryBuilder needs a ModuleSchema (or use generated bindings)")
        refs: dict[str, TableRef] = {}
        for info in table_infos(schema, accessors):
            ref_cls = type(self).__table_refs__.get(info.accessor, TableRef)
            refs[info.accessor] = ref_cls(info)
        self._refs = refs
        self._by_wire = {r.table_name: r for r in refs.values()}
        self.__dict__.update(refs)

    def __getattr__(self, name: str) -> TableRef:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"no table or view named {name!r}; tables: {sorted(self._refs)}")

    def __getitem__(self, name: str) -> TableRef:
        ref = self._by_wire.get(name) or self._refs.get(name)
        if ref is None:
            raise KeyError(f"no table or view named {name!r}; tables: {sorted(self._by_wire)}")
        return ref

    def __iter__(self) -> Iterator[TableRef]:
        return iter(self._refs.values())

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._refs})
