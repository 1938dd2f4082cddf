"""Name resolution and type checking of parsed SQL against a schema.

Follows upstream's ``crates/expr`` (``check.rs``, ``lib.rs``, ``statement.rs``)
and the subscription restrictions of ``crates/subscription``:

* a literal gets its value from the type it is compared with: ``'12'`` is a
  fine ``U32`` and ``12`` a fine ``String`` (its text); a literal compared
  with another literal has no type (error);
* integers accept ``-1``, ``+1``, ``1e3`` and ``1.0`` when the value is whole
  and in range; floats accept any number (``F32`` overflows to infinity);
  Identity / ConnectionId / bytes accept hex (``0x…``, ``X'…'`` or a string
  of hex digits); Timestamp accepts an RFC 3339 string
  (``'2024-01-01T00:00:00.123Z'``, a space instead of ``T`` works, the offset
  is required); Uuid accepts its usual text forms;
* ``:sender`` is an Identity (or bytes, when compared with a bytes column);
* comparisons need both sides of the same type, one of Bool, the integers,
  floats, String, bytes, Identity, ConnectionId, Timestamp or Uuid;
* subscriptions return whole rows of one table; a join needs an index on the
  lookup table's join column and the lookup table must not be an event table;
* private tables exist only for the database owner.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType
    >>> schema = StaticSchema([StaticTable("t", [("id", AlgebraicType.U32)])])
    >>> compile_subscription("SELECT * FROM t WHERE id = 7", schema).select.filter.right.value
    7
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from ...sats.types import (
    CONNECTION_ID_TAG,
    IDENTITY_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
)
from ...sats.values import ConnectionId, Identity, Timestamp
from .ast import (
    CmpOp,
    DeleteStmt,
    FromClause,
    InsertStmt,
    LitKind,
    LogicOp,
    ProjectColumns,
    ProjectCount,
    Projection,
    ProjectStar,
    SelectStmt,
    SetStmt,
    ShowStmt,
    SqlCompare,
    SqlExpr,
    SqlField,
    SqlLiteral,
    SqlLogic,
    SqlParam,
    Statement,
    UpdateStmt,
)
from .errors import (
    SqlAuthError,
    SqlNameError,
    SqlPlanError,
    SqlTypeError,
    SqlUnsupported,
)
from .parser import parse_sql, parse_subscription
from .plan import (
    BOOL,
    BoundTable,
    ColumnRef,
    ColumnsProjection,
    Compare,
    Const,
    CountProjection,
    DeletePlan,
    Expr,
    IndexJoin,
    InsertPlan,
    JoinCondition,
    Logic,
    ProjectionPlan,
    SelectPlan,
    SenderParam,
    SetVarPlan,
    ShowVarPlan,
    Source,
    SqlPlan,
    StarProjection,
    SubscriptionPlan,
    UpdatePlan,
)

MAX_SQL_LENGTH = 50_000
"""Longest accepted SQL text in UTF-8 bytes (upstream ``crates/query``)."""

MAX_TYPE_DEPTH = 2_500
"""Depth limit of upstream's ``type_expr``."""

SYSTEM_VARIABLES = frozenset({"row_limit"})
"""Variables ``SET`` and ``SHOW`` accept."""


# ---- the schema interface ----------------------------------------------------------------


class SqlTable(Protocol):
    """What the checker needs to know about a table (or view).

    ``columns`` are ``(name, type)`` in row order, with column types resolved
    at the top level (no bare ``RefType``); ``indexes`` lists the column
    positions of each index, in index order.
    """

    @property
    def name(self) -> str: ...

    @property
    def columns(self) -> Sequence[tuple[str, AlgebraicType]]: ...

    @property
    def is_public(self) -> bool: ...

    @property
    def is_event(self) -> bool: ...

    @property
    def is_view(self) -> bool: ...

    @property
    def indexes(self) -> Sequence[Sequence[int]]: ...


class SqlSchema(Protocol):
    """Looks tables up by the name SQL uses (the canonical/wire name)."""

    def table(self, name: str) -> SqlTable | None: ...


@dataclass(frozen=True)
class StaticTable:
    """A plain :class:`SqlTable`.

    Example::

        >>> StaticTable("t", [("id", AlgebraicType.U32)], indexes=[[0]]).indexes
        ((0,),)
    """

    name: str
    columns: Sequence[tuple[str, AlgebraicType]]
    is_public: bool = True
    is_event: bool = False
    is_view: bool = False
    indexes: Sequence[Sequence[int]] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple((n, t) for n, t in self.columns))
        object.__setattr__(self, "indexes", tuple(tuple(ix) for ix in self.indexes))


@dataclass(frozen=True)
class StaticSchema:
    """A :class:`SqlSchema` over a fixed list of tables.

    Example::

        >>> StaticSchema([StaticTable("t", [])]).table("t").name
        't'
    """

    tables: Iterable[SqlTable]
    _by_name: Mapping[str, SqlTable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tables = tuple(self.tables)
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "_by_name", {t.name: t for t in tables})

    def table(self, name: str) -> SqlTable | None:
        return self._by_name.get(name)


# ---- type helpers -------------------------------------------------------------------------


def fmt_type(ty: AlgebraicType) -> str:
    """A type as the server's error messages write it (``U32``, ``(__identity__: U256)``).

    Example::

        >>> fmt_type(AlgebraicType.array(AlgebraicType.U8))
        'Array<U8>'
    """
    if isinstance(ty, PrimitiveType):
        return ty.kind
    if isinstance(ty, RefType):
        return str(ty.index)
    if isinstance(ty, ArrayType):
        return f"Array<{fmt_type(ty.elem)}>"
    if isinstance(ty, ProductType):
        inner = ", ".join(
            f"{e.name if e.name is not None else i}: {fmt_type(e.algebraic_type)}"
            for i, e in enumerate(ty.elements)
        )
        return f"({inner})"
    if isinstance(ty, SumType):
        if not ty.variants:
            return "(|)"
        return (
            "("
            + " | ".join(
                (f"{v.name}: " if v.name is not None else "") + fmt_type(v.algebraic_type)
                for v in ty.variants
            )
            + ")"
        )
    return repr(ty)  # pragma: no cover - every AlgebraicType is handled above


_INT_RANGES = {
    kind: ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind[0] == "I" else (0, (1 << bits) - 1))
    for kind, bits in (
        ("I8", 8), ("U8", 8), ("I16", 16), ("U16", 16), ("I32", 32), ("U32", 32),
        ("I64", 64), ("U64", 64), ("I128", 128), ("U128", 128), ("I256", 256), ("U256", 256),
    )
}  # fmt: skip
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_HEX = re.compile(r"[0-9a-fA-F]*\Z")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})\Z"
)
_F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def _is_bytes(ty: AlgebraicType) -> bool:
    return isinstance(ty, ArrayType) and ty.elem == AlgebraicType.U8


def _special(ty: AlgebraicType) -> str | None:
    return ty.special_kind() if isinstance(ty, ProductType) else None


def op_supports_type(ty: AlgebraicType) -> bool:
    """Can values of ``ty`` be compared in SQL?

    Example::

        >>> op_supports_type(AlgebraicType.array(AlgebraicType.STRING))
        False
    """
    if isinstance(ty, PrimitiveType):
        return True
    return _is_bytes(ty) or _special(ty) in (
        IDENTITY_TAG,
        CONNECTION_ID_TAG,
        TIMESTAMP_TAG,
        UUID_TAG,
    )


def _parse_decimal(text: str) -> Decimal:
    if not _DECIMAL.match(text):
        raise ValueError(f"{text!r} is not a number")
    return Decimal(text)


def _parse_int(text: str, kind: str) -> int:
    number = _parse_decimal(text)
    # A huge exponent cannot be in range of any width; refuse before materializing it.
    if number and number.adjusted() > 80:
        raise ValueError(f"{text} is out of bounds for type {kind}")
    if number != number.to_integral_value():
        raise ValueError(f"{text} is not an integer")
    value = int(number)
    lo, hi = _INT_RANGES[kind]
    if not lo <= value <= hi:
        raise ValueError(f"{text} is out of bounds for type {kind}")
    return value


def _parse_float(text: str, kind: str) -> float:
    value = float(_parse_decimal(text))
    if kind == "F32":
        if abs(value) > _F32_MAX:
            return float("inf") if value > 0 else float("-inf")
        value = float(struct.unpack("<f", struct.pack("<f", value))[0])
    return value


def _parse_hex(text: str, nbytes: int | None) -> bytes:
    s = text[2:] if text.startswith(("0x", "X'")) else text
    if not _HEX.match(s) or len(s) % 2 or (nbytes is not None and len(s) != 2 * nbytes):
        raise ValueError(f"invalid hex {text!r}")
    return bytes.fromhex(s)


def _parse_timestamp(text: str) -> Timestamp:
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(
            "Invalid timestamp format. Expected RFC 3339 format (e.g. '2025-02-10 15:45:30')."
        )
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, offset = m.group(7) or "", m.group(8)
    tz = dt.timezone.utc
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        tz = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    when = dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    micros = (when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(
        microseconds=1
    )
    return Timestamp(micros + int((frac + "000000")[:6]))


def parse_literal(text: str, ty: AlgebraicType) -> Any:
    """The value of literal source ``text`` as type ``ty`` (upstream ``parse``).

    Raises ``ValueError`` when the text does not denote a value of that type.

    Example::

        >>> parse_literal("1e3", AlgebraicType.U32)
        1000
        >>> parse_literal("2024-01-01T00:00:00.123000Z", AlgebraicType.timestamp()).micros
        1704067200123000
    """
    if isinstance(ty, PrimitiveType):
        if ty.kind in _INT_RANGES:
            return _parse_int(text, ty.kind)
        if ty.kind in ("F32", "F64"):
            return _parse_float(text, ty.kind)
        if ty.kind == "String":
            return text
    special = _special(ty)
    try:
        if special == TIMESTAMP_TAG:
            return _parse_timestamp(text)
        if _is_bytes(ty):
            return _parse_hex(text, None)
        if special == IDENTITY_TAG:
            return Identity.from_be_bytes(_parse_hex(text, 32))
        if special == CONNECTION_ID_TAG:
            return ConnectionId.from_be_bytes(_parse_hex(text, 16))
        if special == UUID_TAG:
            return uuid.UUID(text)
    except (ValueError, OverflowError) as e:
        raise ValueError(str(e)) from None
    raise ValueError(f"Literal values for type {fmt_type(ty)} are not supported")


def _unexpected(expected: AlgebraicType, inferred: AlgebraicType) -> SqlTypeError:
    return SqlTypeError(
        f"Unexpected type: (expected) {fmt_type(expected)} != {fmt_type(inferred)} (inferred)"
    )


def _invalid_literal(text: str, ty: AlgebraicType) -> SqlTypeError:
    return SqlTypeError(
        f"The literal expression `{text}` cannot be parsed as type `{fmt_type(ty)}`"
    )


def _no_such_table(name: str) -> SqlNameError:
    return SqlNameError(f"no such table: `{name}`. If the table exists, it may be marked private.")


def _not_in_scope(name: str) -> SqlNameError:
    return SqlNameError(f"`{name}` is not in scope")


def _typed_literal(lit: SqlLiteral, ty: AlgebraicType) -> Const:
    if lit.kind is LitKind.BOOL:
        if ty != BOOL:
            raise _unexpected(BOOL, ty)
        return Const(lit.text == "true", BOOL)
    try:
        return Const(parse_literal(lit.text, ty), ty)
    except ValueError:
        raise _invalid_literal(lit.text, ty) from None


# ---- expressions ----------------------------------------------------------------------------


class _Scope:
    """The tables in FROM, by alias."""

    def __init__(self) -> None:
        self.tables: list[BoundTable] = []
        self.by_alias: dict[str, int] = {}

    def add(self, table: BoundTable) -> None:
        self.by_alias[table.alias] = len(self.tables)
        self.tables.append(table)

    def column(self, ref: SqlField) -> ColumnRef:
        index = self.by_alias.get(ref.table)
        if index is None:
            raise _not_in_scope(ref.table)
        for pos, (name, ty) in enumerate(self.tables[index].columns):
            if name == ref.column:
                return ColumnRef(index, pos, name, ty)
        raise _not_in_scope(ref.column)


_Typed = tuple[Expr, AlgebraicType]


def _type_expr(expr: SqlExpr, expected: AlgebraicType | None, scope: _Scope) -> Expr:
    """Resolve and type ``expr`` (upstream ``type_expr``), without Python recursion."""
    out: list[_Typed] = []
    stack: list[Any] = [("enter", expr, expected, 0)]
    while stack:
        frame = stack.pop()
        kind = frame[0]
        if kind == "enter":
            _, node, want, depth = frame
            if depth > MAX_TYPE_DEPTH:
                raise SqlUnsupported("Recursion limit exceeded, `expr::type_expr`")
            if isinstance(node, (SqlLogic, SqlCompare)) and want is not None and want != BOOL:
                raise _unexpected(BOOL, want)
            if isinstance(node, SqlLogic):
                stack += [("logic", node), ("enter", node.right, BOOL, depth + 1)]
                stack.append(("enter", node.left, BOOL, depth + 1))
            elif isinstance(node, SqlCompare):
                # A constant is typed after (and from) the other side.
                const_first = isinstance(node.left, (SqlLiteral, SqlParam))
                first = node.right if const_first else node.left
                stack += [("compare", node, const_first, depth), ("enter", first, None, depth + 1)]
            else:
                out.append(_type_leaf(node, want, scope))
        elif kind == "logic":
            right, left = out.pop(), out.pop()
            out.append((Logic.of(frame[1].op, left[0], right[0]), BOOL))
        elif kind == "compare":
            _, node, const_first, depth = frame
            other = node.left if const_first else node.right
            stack += [
                ("compared", node, const_first, depth),
                ("enter", other, out[-1][1], depth + 1),
            ]
        else:
            _, node, const_first, _depth = frame
            typed_second, typed_first = out.pop(), out.pop()
            left, right = (
                (typed_second, typed_first) if const_first else (typed_first, typed_second)
            )
            if not op_supports_type(left[1]):
                raise SqlTypeError(
                    f"Invalid binary operator `{node.op.value}` for type `{fmt_type(left[1])}`"
                )
            out.append((Compare(node.op, left[0], right[0]), BOOL))
    return out[0][0]


def _type_leaf(node: SqlExpr, want: AlgebraicType | None, scope: _Scope) -> _Typed:
    if isinstance(node, SqlLiteral):
        if want is None and node.kind is LitKind.BOOL:
            return Const(node.text == "true", BOOL), BOOL
        if want is None:
            raise SqlTypeError("Cannot resolve type for literal expression")
        return _typed_literal(node, want), want
    if isinstance(node, SqlParam):
        identity = AlgebraicType.identity()
        if want is None:
            return SenderParam(identity), identity
        if _special(want) == IDENTITY_TAG or _is_bytes(want):
            return SenderParam(want), want
        raise _unexpected(identity, want)
    if isinstance(node, SqlField):
        ref = scope.column(node)
        if want is not None and ref.type != want:
            raise _unexpected(ref.type, want)
        return ref, ref.type
    # Bare names were qualified by the parser; one left here is not in any scope.
    raise _not_in_scope(getattr(node, "name", "?"))


# ---- SELECT ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Env:
    schema: SqlSchema
    is_owner: bool

    def lookup(self, name: str, alias: str) -> BoundTable:
        table = self.schema.table(name)
        if table is None or not (table.is_public or self.is_owner):
            raise _no_such_table(name)
        return BoundTable(table.name, alias, tuple(table.columns), table.is_event)

    def raw(self, name: str) -> SqlTable:
        table = self.schema.table(name)
        assert table is not None
        return table


def _type_from(from_: FromClause, env: _Env, scope: _Scope) -> tuple[JoinCondition | None, ...]:
    scope.add(env.lookup(from_.first.name, from_.first.alias))
    joins: list[JoinCondition | None] = []
    for join in from_.joins:
        if join.table.alias in scope.by_alias:
            raise SqlNameError(f"Duplicate name `{join.table.alias}`")
        scope.add(env.lookup(join.table.name, join.table.alias))
        if join.on is None:
            joins.append(None)
            continue
        on = _type_expr(join.on, BOOL, scope)
        assert isinstance(on, Compare)
        assert isinstance(on.left, ColumnRef) and isinstance(on.right, ColumnRef)
        joins.append(JoinCondition(on.left, on.right))
    return tuple(joins)


def _type_projection(project: Projection, scope: _Scope) -> ProjectionPlan:
    if isinstance(project, ProjectStar):
        if project.table is None:
            if len(scope.tables) > 1:
                raise SqlTypeError("SELECT * is not supported for joins")
            return StarProjection(0)
        if project.table not in scope.by_alias:
            raise _not_in_scope(project.table)
        return StarProjection(scope.by_alias[project.table])
    if isinstance(project, ProjectCount):
        return CountProjection(project.alias)
    return _type_columns(project, scope)


def _type_columns(project: ProjectColumns, scope: _Scope) -> ColumnsProjection:
    columns: list[tuple[str, ColumnRef]] = []
    seen: set[str] = set()
    for elem in project.items:
        if elem.alias in seen:
            raise SqlNameError(f"Duplicate name `{elem.alias}`")
        seen.add(elem.alias)
        expr = elem.expr
        if not isinstance(expr, SqlField):
            raise _not_in_scope(expr.name)
        columns.append((elem.alias, scope.column(expr)))
    return ColumnsProjection(tuple(columns))


def _type_select(select: SelectStmt, env: _Env) -> SelectPlan:
    scope = _Scope()
    joins = _type_from(select.from_, env, scope)
    where = None if select.where is None else _type_expr(select.where, BOOL, scope)
    projection = _type_projection(select.project, scope)
    limit = None
    if select.limit is not None:
        try:
            limit = _parse_int(select.limit, "U64")
        except ValueError:
            raise _invalid_literal(select.limit, AlgebraicType.U64) from None
    source = Source(tuple(scope.tables), joins)
    return SelectPlan(source, where, projection, limit, select.has_parameter())


# ---- subscriptions ---------------------------------------------------------------------------


def check_subscription(
    select: SelectStmt, schema: SqlSchema, *, caller_is_owner: bool = False
) -> SubscriptionPlan:
    """Type-check a parsed subscription and apply the subscription planner's rules.

    Example::

        >>> schema = StaticSchema([StaticTable("t", [("a", AlgebraicType.U8)])])
        >>> check_subscription(parse_subscription("SELECT * FROM t"), schema).return_index
        0
    """
    env = _Env(schema, caller_is_owner)
    plan = _type_select(select, env)
    if not isinstance(plan.projection, StarProjection):
        raise SqlTypeError(
            "Column projections are not supported in subscriptions; "
            "Subscriptions must return a table type"
        )
    return SubscriptionPlan(plan, _index_join(plan, env))


def _index_join(plan: SelectPlan, env: _Env) -> IndexJoin | None:
    tables = plan.source.tables
    if len(tables) == 1:
        return None
    if any(j is None for j in plan.source.joins):
        raise SqlPlanError("Subscriptions require indexes on join columns")
    if len(tables) > 2:
        raise SqlPlanError(f"Invalid number of tables in subscription: {len(tables)}")
    cond = plan.source.joins[0]
    assert cond is not None
    pushed = _pushed_filters(plan.filter)
    # Upstream's optimizer swaps the sides when only the right one is filtered;
    # the right side of the (possibly swapped) join is probed through an index.
    lookup = 0 if pushed.get(1) and not pushed.get(0) else 1
    refs = [r for r in (cond.left, cond.right) if r.table == lookup]
    fixed = {
        c.left.column
        for c in pushed.get(lookup, [])
        if c.op is CmpOp.EQ and isinstance(c.left, ColumnRef)
    }
    index = None
    if refs:
        index = _usable_index(env.raw(tables[lookup].name).indexes, refs[0].column, fixed)
    if index is None:
        raise SqlPlanError("Subscriptions require indexes on join columns")
    if tables[lookup].is_event:
        raise SqlPlanError("Event tables cannot be used as the lookup table in subscription joins")
    return IndexJoin(lookup, index)


def _pushed_filters(filter_: Expr | None) -> dict[int, list[Compare]]:
    """``column op constant`` terms of a top-level conjunction, by table."""
    if filter_ is None:
        return {}
    terms = (
        filter_.operands if isinstance(filter_, Logic) and filter_.op is LogicOp.AND else (filter_,)
    )
    out: dict[int, list[Compare]] = {}
    for term in terms:
        if (
            isinstance(term, Compare)
            and isinstance(term.left, ColumnRef)
            and isinstance(term.right, (Const, SenderParam))
        ):
            out.setdefault(term.left.table, []).append(term)
    return out


def _usable_index(
    indexes: Sequence[Sequence[int]], column: int, fixed: set[int]
) -> tuple[int, ...] | None:
    """An index ending with the join column whose other columns are fixed by ``=`` constants."""
    for cols in indexes:
        if cols and cols[-1] == column and all(c in fixed for c in cols[:-1]):
            return tuple(cols)
    return None


# ---- statements of /sql -----------------------------------------------------------------------


def check_statement(
    stmt: Statement,
    schema: SqlSchema,
    *,
    caller_is_owner: bool = False,
    caller: Identity | None = None,
) -> SqlPlan:
    """Type-check one parsed ``/sql`` statement; DML needs ``caller_is_owner``.

    Example::

        >>> schema = StaticSchema([StaticTable("t", [("a", AlgebraicType.U8)])])
        >>> check_statement(parse_sql("DELETE FROM t WHERE a > 1"), schema, caller_is_owner=True).table.name
        't'
    """
    env = _Env(schema, caller_is_owner)
    plan: SqlPlan
    if isinstance(stmt, SelectStmt):
        plan = _type_select(stmt, env)
    elif isinstance(stmt, InsertStmt):
        plan = _type_insert(stmt, env)
    elif isinstance(stmt, UpdateStmt):
        plan = _type_update(stmt, env)
    elif isinstance(stmt, DeleteStmt):
        plan = _type_delete(stmt, env)
    elif isinstance(stmt, SetStmt):
        plan = _type_set(stmt)
    else:
        plan = _type_show(stmt)
    if not caller_is_owner and isinstance(plan, (InsertPlan, UpdatePlan, DeletePlan, SetVarPlan)):
        who = caller.to_hex() if caller is not None else "(anonymous)"
        raise SqlAuthError(f"Caller {who} is not authorized to run SQL DML statements")
    return plan


def _dml_target(name: str, env: _Env) -> BoundTable:
    table = env.lookup(name, name)
    if env.raw(name).is_view:
        raise SqlTypeError(f"`{name}` is a view; DML on views is not supported")
    return table


def _dml_value(lit: SqlLiteral, ty: AlgebraicType) -> Any:
    """INSERT/UPDATE values: strings only for String columns, bools only for Bool."""
    if lit.kind is LitKind.BOOL and ty != BOOL:
        raise _unexpected(BOOL, ty)
    if lit.kind is LitKind.STR and ty != AlgebraicType.STRING:
        raise _unexpected(AlgebraicType.STRING, ty)
    return _typed_literal(lit, ty).value


def _column_position(table: BoundTable, column: str) -> int:
    for pos, (name, _) in enumerate(table.columns):
        if name == column:
            return pos
    raise SqlNameError(f"`{table.name}` does not have a field `{column}`")


def _type_insert(stmt: InsertStmt, env: _Env) -> InsertPlan:
    table = _dml_target(stmt.table, env)
    n = len(table.columns)
    if len(stmt.columns) != n:
        raise SqlTypeError(
            f"The number of fields ({len(stmt.columns)}) in the INSERT does not match "
            f"the number of columns ({n}) of the table `{table.name}`"
        )
    positions: list[int] = []
    for column in stmt.columns:
        pos = _column_position(table, column)
        if pos in positions:
            raise SqlNameError(f"Duplicate name `{column}`")
        positions.append(pos)
    rows: list[tuple[Any, ...]] = []
    for row in stmt.rows:
        if len(row) != n:
            raise SqlTypeError(
                f"Inserting a row with {len(row)} values into `{table.name}` which has {n} fields"
            )
        values: list[Any] = [None] * n
        for pos, lit in zip(positions, row, strict=False):
            values[pos] = _dml_value(lit, table.columns[pos][1])
        rows.append(tuple(values))
    return InsertPlan(table, tuple(rows))


def _type_update(stmt: UpdateStmt, env: _Env) -> UpdatePlan:
    table = _dml_target(stmt.table, env)
    assignments: list[tuple[int, Any]] = []
    for assignment in stmt.assignments:
        pos = _column_position(table, assignment.column)
        assignments.append((pos, _dml_value(assignment.value, table.columns[pos][1])))
    return UpdatePlan(table, tuple(assignments), _dml_filter(stmt.where, table))


def _type_delete(stmt: DeleteStmt, env: _Env) -> DeletePlan:
    table = _dml_target(stmt.table, env)
    return DeletePlan(table, _dml_filter(stmt.where, table))


def _dml_filter(where: SqlExpr | None, table: BoundTable) -> Expr | None:
    if where is None:
        return None
    scope = _Scope()
    scope.add(table)
    return _type_expr(where, BOOL, scope)


def _check_variable(name: str) -> None:
    if name not in SYSTEM_VARIABLES:
        raise SqlTypeError(f"{name} is not a valid system variable")


def _type_set(stmt: SetStmt) -> SetVarPlan:
    _check_variable(stmt.name)
    u64 = AlgebraicType.U64
    inferred = {
        LitKind.BOOL: BOOL,
        LitKind.STR: AlgebraicType.STRING,
        LitKind.HEX: AlgebraicType.array(AlgebraicType.U8),
    }.get(stmt.value.kind)
    if inferred is not None:
        raise _unexpected(u64, inferred)
    try:
        return SetVarPlan(stmt.name, _parse_int(stmt.value.text, "U64"))
    except ValueError:
        raise _invalid_literal(stmt.value.text, u64) from None


def _type_show(stmt: ShowStmt) -> ShowVarPlan:
    _check_variable(stmt.name)
    return ShowVarPlan(stmt.name)


# ---- one-call entry points ------------------------------------------------------------------


def _check_length(sql: str) -> None:
    if len(sql.encode()) > MAX_SQL_LENGTH:
        raise SqlPlanError(f'SQL query exceeds maximum allowed length: "{sql[:120]}..."')


def compile_subscription(
    sql: str, schema: SqlSchema, *, caller_is_owner: bool = False
) -> SubscriptionPlan:
    """Parse and check a subscription or WebSocket one-off query.

    Example::

        >>> schema = StaticSchema([StaticTable("t", [("a", AlgebraicType.U8)])])
        >>> compile_subscription("SELECT * FROM t WHERE a = :sender", schema)
        Traceback (most recent call last):
        ...
        spacetimedb_sdk.server.sql.errors.SqlTypeError: Unexpected type: (expected) (__identity__: U256) != U8 (inferred)
    """
    _check_length(sql)
    return check_subscription(parse_subscription(sql), schema, caller_is_owner=caller_is_owner)


def compile_sql(
    sql: str,
    schema: SqlSchema,
    *,
    caller_is_owner: bool = False,
    caller: Identity | None = None,
) -> SqlPlan:
    """Parse and check one HTTP ``/sql`` statement.

    Example::

        >>> schema = StaticSchema([StaticTable("t", [("a", AlgebraicType.U8)])])
        >>> compile_sql("SELECT COUNT(*) AS n FROM t", schema).output_columns
        (('n', PrimitiveType(kind='U64')),)
    """
    _check_length(sql)
    stmt = parse_sql(sql)
    return check_statement(stmt, schema, caller_is_owner=caller_is_owner, caller=caller)


__all__ = [
    "MAX_SQL_LENGTH",
    "MAX_TYPE_DEPTH",
    "SYSTEM_VARIABLES",
    "SqlSchema",
    "SqlTable",
    "StaticSchema",
    "StaticTable",
    "check_statement",
    "check_subscription",
    "compile_sql",
    "compile_subscription",
    "fmt_type",
    "op_supports_type",
    "parse_literal",
]
