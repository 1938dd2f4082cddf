"""Recursive-descent parser for the two SpacetimeDB SQL grammars.

:func:`parse_subscription` accepts the subscription grammar (also used by
WebSocket one-off queries) and :func:`parse_sql` the HTTP ``/sql`` grammar;
both return :mod:`.ast` nodes or raise a :class:`~.errors.SqlError`.

Upstream parses in two steps: the ``sqlparser`` crate builds a general SQL
tree (so any SQL it knows is *syntactically* fine), then
``crates/sql-parser`` rejects what SpacetimeDB does not support.  We do the
same: :class:`_Reader` reads a broad SQL subset (DISTINCT, GROUP BY, ORDER BY,
UNION, outer joins, sub-queries, ``IS NULL``, ``IN``, arithmetic, functions …)
into raw nodes, and the converters below accept or reject them in upstream's
order, so the first error reported is the one the real server reports.

Example::

    >>> parse_subscription("select * from person where name = 'O''Brian'").where.right.text
    "O'Brian"
"""

from __future__ import annotations

from dataclasses import dataclass

from .ast import (
    Assignment,
    CmpOp,
    DeleteStmt,
    FromClause,
    InsertStmt,
    JoinClause,
    LitKind,
    LogicOp,
    ProjectColumns,
    ProjectCount,
    ProjectElem,
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
    SqlVar,
    Statement,
    TableRef,
    UpdateStmt,
)
from .errors import SqlSyntaxError, SqlUnsupported
from .lexer import Tok, Token, tokenize

MAX_PARSER_DEPTH = 50
"""Nesting limit of the SQL tokenizer/parser stage (``sqlparser``'s default recursion limit)."""

MAX_EXPR_DEPTH = 1_600
"""Depth limit of upstream's ``parse_expr`` (``crates/sql-parser/src/parser/recursion.rs``)."""

# Words that end a table reference instead of being its alias (sqlparser 0.38).
_RESERVED_FOR_TABLE_ALIAS = frozenset(
    [
        "WITH",
        "EXPLAIN",
        "ANALYZE",
        "SELECT",
        "WHERE",
        "GROUP",
        "SORT",
        "HAVING",
        "ORDER",
        "PIVOT",
        "UNPIVOT",
        "TOP",
        "LATERAL",
        "VIEW",
        "LIMIT",
        "OFFSET",
        "FETCH",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "ON",
        "JOIN",
        "INNER",
        "CROSS",
        "FULL",
        "LEFT",
        "RIGHT",
        "NATURAL",
        "USING",
        "CLUSTER",
        "DISTRIBUTE",
        "OUTER",
        "SET",
        "QUALIFY",
        "WINDOW",
        "END",
    ]
)
_RESERVED_FOR_COLUMN_ALIAS = frozenset(
    [
        "WITH",
        "EXPLAIN",
        "ANALYZE",
        "SELECT",
        "WHERE",
        "GROUP",
        "SORT",
        "HAVING",
        "ORDER",
        "TOP",
        "LATERAL",
        "VIEW",
        "LIMIT",
        "OFFSET",
        "FETCH",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "CLUSTER",
        "DISTRIBUTE",
        "FROM",
        "INTO",
        "END",
    ]
)
# Words that cannot start an expression (they would be read as a clause keyword).
_NOT_AN_EXPRESSION = frozenset(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "GROUP",
        "ORDER",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "JOIN",
        "INNER",
        "LEFT",
        "RIGHT",
        "FULL",
        "CROSS",
        "OUTER",
        "NATURAL",
        "ON",
        "USING",
        "AS",
        "AND",
        "OR",
        "IS",
        "IN",
        "BETWEEN",
        "LIKE",
        "ILIKE",
        "INTO",
        "VALUES",
        "SET",
        "WITH",
        "BY",
        "DISTINCT",
        "ALL",
        "WHEN",
        "THEN",
        "ELSE",
        "END",
        "ASC",
        "DESC",
    ]
)
# Statements sqlparser knows but SpacetimeDB rejects as a whole.
_OTHER_STATEMENTS = frozenset(
    [
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "EXPLAIN",
        "ANALYZE",
        "DESCRIBE",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "START",
        "GRANT",
        "REVOKE",
        "COPY",
        "MERGE",
        "CALL",
        "DECLARE",
        "FETCH",
        "CLOSE",
        "PREPARE",
        "EXECUTE",
        "DEALLOCATE",
        "KILL",
        "USE",
        "CACHE",
        "UNCACHE",
        "MSCK",
        "SAVEPOINT",
        "RELEASE",
        "ASSERT",
        "REPLACE",
        "DISCARD",
        "LISTEN",
        "NOTIFY",
        "UNLISTEN",
        "VALUES",
        "COMMENT",
        "LOCK",
    ]
)
_COMPARISONS = {"=": CmpOp.EQ, "==": CmpOp.EQ, "<>": CmpOp.NE, "<": CmpOp.LT, ">": CmpOp.GT}
_COMPARISONS.update({"<=": CmpOp.LE, ">=": CmpOp.GE})
_OTHER_COMPARISONS = frozenset({"~", "~*", "!~", "!~*", "<=>"})
_PREC_OR, _PREC_AND, _PREC_NOT, _PREC_IS, _PREC_LIKE, _PREC_CMP = 5, 10, 15, 17, 19, 20
_PREC_PLUS_MINUS = 30
_BINARY_PRECEDENCE = {"|": 21, "^": 22, "#": 22, "<<": 22, ">>": 22, "&": 23, "+": 30, "-": 30}
_BINARY_PRECEDENCE.update({"*": 40, "/": 40, "%": 40, "||": 40})


# ---- raw nodes (what the SQL reader understands before SpacetimeDB's rules) -------------


@dataclass(frozen=True, slots=True)
class _RLit:
    lit: SqlLiteral
    text: str


@dataclass(frozen=True, slots=True)
class _RBadLit:
    """A literal SpacetimeDB does not accept (NULL, N'…', E'…', ``?`` placeholders, …)."""

    text: str


@dataclass(frozen=True, slots=True)
class _RParam:
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class _RIdent:
    parts: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class _RFunc:
    name: tuple[str, ...]
    star_arg: bool
    distinct: bool
    text: str


@dataclass(frozen=True, slots=True)
class _RNested:
    inner: _RExpr
    text: str


@dataclass(frozen=True, slots=True)
class _RUnary:
    op: str
    operand: _RExpr
    text: str


@dataclass(frozen=True, slots=True)
class _RBin:
    op: str
    left: _RExpr
    right: _RExpr
    text: str


@dataclass(frozen=True, slots=True)
class _ROther:
    """Any other expression (IS NULL, IN, BETWEEN, LIKE, CASE, casts, sub-queries, …)."""

    text: str


_RExpr = _RLit | _RBadLit | _RParam | _RIdent | _RFunc | _RNested | _RUnary | _RBin | _ROther


@dataclass(frozen=True, slots=True)
class _RStar:
    qualifier: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _RItem:
    expr: _RExpr
    alias: str | None


@dataclass(frozen=True, slots=True)
class _RFactor:
    """A table reference; ``name`` is ``None`` for sub-queries, table functions, etc."""

    name: tuple[str, ...] | None
    alias: str | None
    plain: bool
    text: str


@dataclass(frozen=True, slots=True)
class _RJoin:
    factor: _RFactor
    inner: bool
    on: _RExpr | None
    other_constraint: bool


@dataclass(frozen=True, slots=True)
class _RTableWithJoins:
    factor: _RFactor
    joins: tuple[_RJoin, ...]
    text: str


@dataclass(frozen=True, slots=True)
class _RSelect:
    distinct: bool
    items: tuple[_RStar | _RItem, ...]
    from_: tuple[_RTableWithJoins, ...]
    where: _RExpr | None
    group_or_having: bool
    text: str


@dataclass(frozen=True, slots=True)
class _RQuery:
    body: _RSelect | None
    body_text: str
    plain: bool
    limit: _RExpr | None
    text: str


@dataclass(frozen=True, slots=True)
class _RInsert:
    table: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[_RExpr, ...], ...] | None
    source: _RQuery | None


@dataclass(frozen=True, slots=True)
class _RUpdate:
    table: _RFactor
    assignments: tuple[tuple[tuple[str, ...], _RExpr], ...]
    plain: bool
    where: _RExpr | None


@dataclass(frozen=True, slots=True)
class _RDelete:
    from_: tuple[_RTableWithJoins, ...]
    where: _RExpr | None


@dataclass(frozen=True, slots=True)
class _RSet:
    name: tuple[str, ...]
    values: tuple[_RExpr, ...]
    plain: bool


@dataclass(frozen=True, slots=True)
class _RShow:
    name: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _ROtherStmt:
    text: str


_RStatement = _RQuery | _RInsert | _RUpdate | _RDelete | _RSet | _RShow | _ROtherStmt


@dataclass(frozen=True, slots=True)
class _Raw:
    stmt: _RStatement
    text: str


# ---- the SQL reader ------------------------------------------------------------------


class _Reader:
    """Reads statements into raw nodes; raises :class:`SqlSyntaxError` on malformed SQL."""

    def __init__(self, sql: str) -> None:
        self.src = sql
        self.toks = tokenize(sql)
        self.i = 0
        self.depth = 0
        self.last_end = 0

    # -- token helpers --

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind is not Tok.EOF:
            self.i += 1
            self.last_end = tok.end
        return tok

    def expected(self, what: str, tok: Token | None = None) -> SqlSyntaxError:
        tok = tok or self.peek()
        return SqlSyntaxError(f"sql parser error: Expected {what}, found: {tok.text}{tok.where()}")

    def keyword(self, *words: str) -> bool:
        if self.peek().is_keyword(*words):
            self.next()
            return True
        return False

    def keywords(self, *words: str) -> bool:
        """Consume the whole sequence of keywords, or nothing."""
        if all(self.peek(k).is_keyword(w) for k, w in enumerate(words)):
            for _ in words:
                self.next()
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise self.expected(word)

    def op(self, *ops: str) -> bool:
        if self.peek().is_op(*ops):
            self.next()
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.op(op):
            raise self.expected(op)

    def text_from(self, start: Token) -> str:
        return self.src[start.start : self.last_end]

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_PARSER_DEPTH:
            raise SqlSyntaxError("sql parser error: recursion limit exceeded")

    def leave(self) -> None:
        self.depth -= 1

    def identifier(self) -> str:
        tok = self.peek()
        if tok.kind is not Tok.WORD:
            raise self.expected("identifier", tok)
        self.next()
        return tok.value

    def object_name(self) -> tuple[str, ...]:
        parts = [self.identifier()]
        while self.peek().is_op(".") and self.peek(1).kind is Tok.WORD:
            self.next()
            parts.append(self.identifier())
        return tuple(parts)

    # -- statements --

    def statements(self) -> list[_Raw]:
        out: list[_Raw] = []
        expecting_delimiter = False
        while True:
            while self.op(";"):
                expecting_delimiter = False
            if self.peek().kind is Tok.EOF:
                return out
            if expecting_delimiter:
                raise self.expected("end of statement")
            start = self.peek()
            stmt = self.statement()
            out.append(_Raw(stmt, self.text_from(start)))
            expecting_delimiter = True

    def statement(self) -> _RStatement:
        tok = self.peek()
        if tok.is_keyword("SELECT", "WITH") or tok.is_op("("):
            return self.query()
        if tok.is_keyword("INSERT"):
            return self.insert()
        if tok.is_keyword("UPDATE"):
            return self.update()
        if tok.is_keyword("DELETE"):
            return self.delete()
        if tok.is_keyword("SET"):
            return self.set_variable()
        if tok.is_keyword("SHOW"):
            self.next()
            return _RShow(self.object_name())
        if tok.is_keyword(*_OTHER_STATEMENTS):
            # A statement SpacetimeDB rejects whatever it says; skip to its end.
            while not (self.peek().kind is Tok.EOF or self.peek().is_op(";")):
                self.next()
            return _ROtherStmt(self.text_from(tok))
        raise self.expected("an SQL statement", tok)

    def query(self) -> _RQuery:
        self.enter()
        start = self.peek()
        plain = True
        if self.keyword("WITH"):
            plain = False
            self.keyword("RECURSIVE")
            while True:
                self.identifier()
                self.expect_keyword("AS")
                self.expect_op("(")
                self.query()
                self.expect_op(")")
                if not self.op(","):
                    break
        body_start = self.peek()
        body = self.set_expr()
        body_text = self.text_from(body_start)
        if self.keywords("ORDER", "BY"):
            plain = False
            self.order_by()
        limit: _RExpr | None = None
        if self.keyword("LIMIT"):
            limit = _ROther("ALL") if self.keyword("ALL") else self.expr()
        if self.keyword("OFFSET"):
            plain = False
            self.expr()
            self.keyword("ROW", "ROWS")
        self.leave()
        return _RQuery(body, body_text, plain, limit, self.text_from(start))

    def order_by(self) -> None:
        while True:
            self.expr()
            self.keyword("ASC", "DESC")
            if self.keyword("NULLS") and not self.keyword("FIRST", "LAST"):
                raise self.expected("FIRST or LAST")
            if not self.op(","):
                return

    def set_expr(self) -> _RSelect | None:
        """A SELECT, or ``None`` for any other query body (set operation, parenthesized query)."""
        body: _RSelect | None
        if self.op("("):
            self.query()
            self.expect_op(")")
            body = None
        elif self.peek().is_keyword("SELECT"):
            body = self.select()
        else:
            raise self.expected("SELECT, VALUES, or a subquery in the query body")
        while self.keyword("UNION", "EXCEPT", "INTERSECT"):
            self.keyword("ALL", "DISTINCT")
            self.set_expr()
            body = None
        return body

    def select(self) -> _RSelect:
        start = self.next()
        distinct = False
        if self.keyword("DISTINCT"):
            distinct = True
            if self.keyword("ON"):
                self.expect_op("(")
                self.expr_list()
                self.expect_op(")")
        else:
            self.keyword("ALL")
        items = [self.select_item()]
        while self.op(","):
            items.append(self.select_item())
        from_: list[_RTableWithJoins] = []
        if self.keyword("FROM"):
            from_.append(self.table_with_joins())
            while self.op(","):
                from_.append(self.table_with_joins())
        where = self.expr() if self.keyword("WHERE") else None
        group_or_having = False
        if self.keywords("GROUP", "BY"):
            group_or_having = True
            if not self.keyword("ALL"):
                self.expr_list()
        if self.keyword("HAVING"):
            group_or_having = True
            self.expr()
        return _RSelect(
            distinct, tuple(items), tuple(from_), where, group_or_having, self.text_from(start)
        )

    def select_item(self) -> _RStar | _RItem:
        if self.op("*"):
            return _RStar(None)
        k = 0
        while self.peek(k).kind is Tok.WORD and self.peek(k + 1).is_op("."):
            k += 2
        if k and self.peek(k).is_op("*"):
            parts = tuple(self.toks[self.i + j].value for j in range(0, k, 2))
            for _ in range(k + 1):
                self.next()
            return _RStar(parts)
        expr = self.expr()
        return _RItem(expr, self.optional_alias(_RESERVED_FOR_COLUMN_ALIAS))

    def optional_alias(self, reserved: frozenset[str]) -> str | None:
        if self.keyword("AS"):
            return self.identifier()
        tok = self.peek()
        if tok.kind is Tok.WORD and (tok.quoted or tok.value.upper() not in reserved):
            self.next()
            return tok.value
        return None

    def table_with_joins(self) -> _RTableWithJoins:
        start = self.peek()
        factor = self.table_factor()
        joins: list[_RJoin] = []
        while True:
            join = self.join()
            if join is None:
                return _RTableWithJoins(factor, tuple(joins), self.text_from(start))
            joins.append(join)

    def join(self) -> _RJoin | None:
        if self.keywords("CROSS", "JOIN"):
            return _RJoin(self.table_factor(), True, None, False)
        natural = self.keyword("NATURAL")
        inner = True
        if self.keyword("INNER"):
            pass
        elif self.keyword("LEFT", "RIGHT", "FULL"):
            inner = False
            self.keyword("OUTER", "SEMI", "ANTI")
        elif not self.peek().is_keyword("JOIN"):
            if natural:
                raise self.expected("a join type after NATURAL")
            return None
        self.expect_keyword("JOIN")
        factor = self.table_factor()
        on: _RExpr | None = None
        other = natural
        if self.keyword("ON"):
            on = self.expr()
        elif self.keyword("USING"):
            other = True
            self.expect_op("(")
            self.identifier()
            while self.op(","):
                self.identifier()
            self.expect_op(")")
        return _RJoin(factor, inner and not natural, on, other)

    def table_factor(self) -> _RFactor:
        self.enter()
        start = self.peek()
        if self.op("("):
            if self.peek().is_keyword("SELECT", "WITH") or self.peek().is_op("("):
                self.query()
            else:
                self.table_with_joins()
            self.expect_op(")")
            self.optional_alias(_RESERVED_FOR_TABLE_ALIAS)
            self.leave()
            return _RFactor(None, None, False, self.text_from(start))
        name = self.object_name()
        plain = True
        if self.op("("):
            plain = False
            self.skip_balanced()
        alias = self.optional_alias(_RESERVED_FOR_TABLE_ALIAS)
        if alias is not None and self.op("("):
            plain = False
            self.skip_balanced()
        self.leave()
        return _RFactor(name, alias, plain, self.text_from(start))

    def skip_balanced(self) -> None:
        """Skip to the ``)`` matching an already consumed ``(``."""
        depth = 1
        while depth:
            tok = self.next()
            if tok.kind is Tok.EOF:
                raise self.expected(")", tok)
            depth += tok.is_op("(") - tok.is_op(")")

    def insert(self) -> _RInsert:
        self.next()
        self.keyword("INTO")
        table = self.object_name()
        columns: list[str] = []
        if (
            self.peek().is_op("(")
            and self.peek(1).kind is Tok.WORD
            and not self.peek(1).is_keyword("SELECT", "WITH")
        ):
            self.next()
            columns.append(self.identifier())
            while self.op(","):
                columns.append(self.identifier())
            self.expect_op(")")
        if self.keyword("VALUES"):
            rows = [self.value_row()]
            while self.op(","):
                rows.append(self.value_row())
            return _RInsert(table, tuple(columns), tuple(rows), None)
        if self.peek().is_keyword("SELECT", "WITH") or self.peek().is_op("("):
            return _RInsert(table, tuple(columns), None, self.query())
        raise self.expected("SELECT, VALUES, or a subquery in the query body")

    def value_row(self) -> tuple[_RExpr, ...]:
        self.expect_op("(")
        row = self.expr_list()
        self.expect_op(")")
        return row

    def update(self) -> _RUpdate:
        self.next()
        table = self.table_factor()
        plain = table.plain and table.alias is None
        while self.join() is not None:
            plain = False
        self.expect_keyword("SET")
        assignments = [self.assignment()]
        while self.op(","):
            assignments.append(self.assignment())
        if self.keyword("FROM"):
            plain = False
            self.table_with_joins()
        where = self.expr() if self.keyword("WHERE") else None
        return _RUpdate(table, tuple(assignments), plain, where)

    def assignment(self) -> tuple[tuple[str, ...], _RExpr]:
        name = self.object_name()
        self.expect_op("=")
        return name, self.expr()

    def delete(self) -> _RDelete:
        self.next()
        self.expect_keyword("FROM")
        from_ = [self.table_with_joins()]
        while self.op(","):
            from_.append(self.table_with_joins())
        where = self.expr() if self.keyword("WHERE") else None
        return _RDelete(tuple(from_), where)

    def set_variable(self) -> _RSet:
        self.next()
        plain = not self.keyword("SESSION", "LOCAL")
        name = self.object_name()
        if not (self.op("=") or self.keyword("TO")):
            raise self.expected("equals sign or TO")
        values = self.expr_list()
        return _RSet(name, values, plain)

    # -- expressions (precedence climbing, as sqlparser does) --

    def expr_list(self) -> tuple[_RExpr, ...]:
        out = [self.expr()]
        while self.op(","):
            out.append(self.expr())
        return tuple(out)

    def expr(self, precedence: int = 0) -> _RExpr:
        self.enter()
        start = self.peek()
        expr = self.prefix()
        while True:
            nxt = self.next_precedence()
            if precedence >= nxt:
                break
            expr = self.infix(expr, nxt, start)
        self.leave()
        return expr

    def next_precedence(self) -> int:
        tok = self.peek()
        if tok.kind is Tok.WORD and not tok.quoted:
            word = tok.value.upper()
            if word == "NOT":
                after = self.peek(1)
                if after.is_keyword("IN", "BETWEEN"):
                    return _PREC_CMP
                return _PREC_LIKE if after.is_keyword("LIKE", "ILIKE", "SIMILAR") else 0
            return {
                "OR": _PREC_OR,
                "AND": _PREC_AND,
                "IS": _PREC_IS,
                "IN": _PREC_CMP,
                "BETWEEN": _PREC_CMP,
                "LIKE": _PREC_LIKE,
                "ILIKE": _PREC_LIKE,
                "SIMILAR": _PREC_LIKE,
            }.get(word, 0)
        if tok.kind is not Tok.OP:
            return 0
        if tok.text in _COMPARISONS or tok.text in _OTHER_COMPARISONS:
            return _PREC_CMP
        if tok.text in ("::", "["):
            return 50
        return _BINARY_PRECEDENCE.get(tok.text, 0)

    def infix(self, left: _RExpr, precedence: int, start: Token) -> _RExpr:
        tok = self.next()
        if tok.is_keyword("AND", "OR"):
            right = self.expr(precedence)
            return _RBin(tok.value.upper(), left, right, self.text_from(start))
        if tok.kind is Tok.OP and tok.text == "::":
            self.identifier()
            if self.op("("):
                self.skip_balanced()
            return _ROther(self.text_from(start))
        if tok.kind is Tok.OP and tok.text == "[":
            self.expr()
            self.expect_op("]")
            return _ROther(self.text_from(start))
        if tok.kind is Tok.OP:
            right = self.expr(precedence)
            return _RBin(tok.text, left, right, self.text_from(start))
        self.keyword_infix(tok, precedence)
        return _ROther(self.text_from(start))

    def keyword_infix(self, tok: Token, precedence: int) -> None:
        """IS …, [NOT] IN / BETWEEN / LIKE: read and report as unsupported later."""
        if tok.is_keyword("IS"):
            self.keyword("NOT")
            if self.keywords("DISTINCT", "FROM"):
                self.expr(precedence)
            elif not self.keyword("NULL", "TRUE", "FALSE", "UNKNOWN"):
                raise self.expected("[NOT] NULL or TRUE|FALSE or [NOT] DISTINCT FROM after IS")
            return
        if tok.is_keyword("NOT"):
            tok = self.next()
        if tok.is_keyword("IN"):
            self.expect_op("(")
            if self.peek().is_keyword("SELECT", "WITH"):
                self.query()
            elif not self.peek().is_op(")"):
                self.expr_list()
            self.expect_op(")")
        elif tok.is_keyword("BETWEEN"):
            self.expr(_PREC_CMP)
            self.expect_keyword("AND")
            self.expr(_PREC_CMP)
        else:
            self.keyword("TO")  # SIMILAR TO
            self.expr(_PREC_LIKE)
            if self.keyword("ESCAPE"):
                self.expr()

    def prefix(self) -> _RExpr:
        tok = self.next()
        if tok.kind is Tok.NUMBER:
            return _RLit(SqlLiteral(LitKind.NUM, tok.value), tok.text)
        if tok.kind is Tok.STRING:
            return _RLit(SqlLiteral(LitKind.STR, tok.value), tok.text)
        if tok.kind is Tok.HEX:
            return _RLit(SqlLiteral(LitKind.HEX, tok.value), tok.text)
        if tok.kind in (Tok.NATIONAL, Tok.ESCAPED, Tok.PLACEHOLDER):
            return _RBadLit(tok.text)
        if tok.kind is Tok.WORD:
            return self.word_prefix(tok)
        if tok.is_op(":"):
            name = self.identifier()
            text = self.text_from(tok)
            return _RParam(name, text) if name == "sender" else _RBadLit(f":{name}")
        if tok.is_op("-", "+"):
            operand = self.expr(_PREC_PLUS_MINUS)
            return _RUnary(tok.text, operand, self.text_from(tok))
        if tok.is_op("("):
            return self.parenthesized(tok)
        raise self.expected("an expression:", tok)

    def parenthesized(self, start: Token) -> _RExpr:
        if self.peek().is_keyword("SELECT", "WITH"):
            self.query()
            self.expect_op(")")
            return _ROther(self.text_from(start))
        inner = self.expr()
        if self.op(","):
            self.expr_list()
            self.expect_op(")")
            return _ROther(self.text_from(start))
        self.expect_op(")")
        return _RNested(inner, self.text_from(start))

    def word_prefix(self, tok: Token) -> _RExpr:
        if not tok.quoted:
            word = tok.value.upper()
            if word in ("TRUE", "FALSE"):
                return _RLit(SqlLiteral(LitKind.BOOL, word.lower()), word)
            if word == "NULL":
                return _RBadLit("NULL")
            if word == "NOT":
                self.expr(_PREC_NOT)
                return _ROther(self.text_from(tok))
            if word == "CASE":
                self.skip_case()
                return _ROther(self.text_from(tok))
            if word in _NOT_AN_EXPRESSION:
                raise self.expected("an expression:", tok)
        parts = [tok.value]
        while self.peek().is_op(".") and self.peek(1).kind is Tok.WORD:
            self.next()
            parts.append(self.next().value)
        if self.op("("):
            return self.function(tuple(parts), tok)
        return _RIdent(tuple(parts), self.text_from(tok))

    def function(self, name: tuple[str, ...], start: Token) -> _RFunc:
        star_arg = distinct = False
        if self.peek().is_op("*") and self.peek(1).is_op(")"):
            star_arg = True
            self.next()
            self.next()
        else:
            distinct = self.peek().is_keyword("DISTINCT")
            self.skip_balanced()
        return _RFunc(name, star_arg, distinct, self.text_from(start))

    def skip_case(self) -> None:
        depth = 1
        while depth:
            tok = self.next()
            if tok.kind is Tok.EOF:
                raise self.expected("END", tok)
            depth += tok.is_keyword("CASE") - tok.is_keyword("END")


# ---- SpacetimeDB's rules over the raw tree -----------------------------------------------


def _unsupported(message: str) -> SqlUnsupported:
    return SqlUnsupported(message)


def _join_parts(parts: tuple[str, ...]) -> str:
    """Multi-part names are one catalog name joined with dots (namespaced tables)."""
    return ".".join(parts)


def _convert_expr(raw: _RExpr) -> SqlExpr:
    """Upstream ``parse_expr``, without Python recursion (deep AND/OR chains are legal)."""
    results: list[SqlExpr] = []
    stack: list[tuple[_RExpr, int, bool]] = [(raw, 0, False)]
    while stack:
        node, depth, combine = stack.pop()
        if combine:
            assert isinstance(node, _RBin)
            right = results.pop()
            results.append(_combine(node, results.pop(), right))
            continue
        if depth > MAX_EXPR_DEPTH:
            raise _unsupported("Recursion limit exceeded, `sql-parser::parse_expr`")
        if isinstance(node, _RNested):
            stack.append((node.inner, depth + 1, False))
        elif isinstance(node, _RBin):
            stack += [
                (node, depth, True),
                (node.right, depth + 1, False),
                (node.left, depth + 1, False),
            ]
        else:
            results.append(_convert_leaf(node))
    return results[0]


def _combine(node: _RBin, left: SqlExpr, right: SqlExpr) -> SqlExpr:
    if node.op in ("AND", "OR"):
        return SqlLogic(LogicOp(node.op), left, right)
    op = _COMPARISONS.get(node.op)
    if op is None:
        raise _unsupported(f"Unsupported binary operator: {node.op}")
    return SqlCompare(op, left, right)


def _convert_leaf(node: _RExpr) -> SqlExpr:
    if isinstance(node, _RLit):
        return node.lit
    if isinstance(node, _RParam):
        return SqlParam(node.name)
    if isinstance(node, _RBadLit):
        raise _unsupported(f"Unsupported literal expression: {node.text}")
    if isinstance(node, _RIdent):
        if len(node.parts) == 1:
            return SqlVar(node.parts[0])
        return SqlField(_join_parts(node.parts[:-1]), node.parts[-1])
    if isinstance(node, _RUnary):
        return _signed_number(node, "Unsupported expression")
    raise _unsupported(f"Unsupported expression: {node.text}")


def _signed_number(node: _RUnary, unsupported: str) -> SqlLiteral:
    if isinstance(node.operand, _RLit) and node.operand.lit.kind is LitKind.NUM:
        return SqlLiteral(LitKind.NUM, node.op + node.operand.lit.text)
    raise _unsupported(f"{unsupported}: {node.text}")


def _literal(node: _RExpr, unsupported: str) -> SqlLiteral:
    """Upstream ``parse_literal_expr``: a constant, possibly a signed number."""
    if isinstance(node, _RLit):
        return node.lit
    if isinstance(node, (_RBadLit, _RParam)):
        raise _unsupported(f"Unsupported literal expression: {node.text}")
    if isinstance(node, _RUnary):
        return _signed_number(node, unsupported)
    raise _unsupported(f"{unsupported}: {node.text}")


def _relvar(factor: _RFactor) -> TableRef:
    if factor.name is None or not factor.plain:
        raise _unsupported(f"Unsupported FROM expression: {factor.text}")
    name = _join_parts(factor.name)
    return TableRef(name, factor.alias if factor.alias is not None else name)


def _convert_from(from_: tuple[_RTableWithJoins, ...]) -> FromClause:
    if not from_:
        raise _unsupported("A FROM clause is required")
    if len(from_) > 1:
        raise _unsupported("Implicit joins are not supported")
    first = _relvar(from_[0].factor)
    joins = tuple(_convert_join(j) for j in from_[0].joins)
    return FromClause(first, joins)


def _convert_join(join: _RJoin) -> JoinClause:
    table = _relvar(join.factor)
    if not join.inner or join.other_constraint:
        raise _unsupported("Non-inner joins are not supported")
    if join.on is None:
        return JoinClause(table, None)
    on = join.on
    if (
        isinstance(on, _RBin)
        and _COMPARISONS.get(on.op) is CmpOp.EQ
        and isinstance(on.left, _RIdent)
        and isinstance(on.right, _RIdent)
    ):
        expr = _convert_expr(on)
        assert isinstance(expr, SqlCompare)
        return JoinClause(table, expr)
    raise _unsupported("Non-inner joins are not supported")


def _convert_projection(items: tuple[_RStar | _RItem, ...]) -> Projection:
    if len(items) == 1:
        item = items[0]
        if isinstance(item, _RStar):
            return ProjectStar(None if item.qualifier is None else _join_parts(item.qualifier))
        if isinstance(item.expr, _RFunc):
            if item.alias is None:
                raise _unsupported("Aggregate expressions must have column aliases")
            fn = item.expr
            if len(fn.name) == 1 and fn.name[0].lower() == "count" and fn.star_arg:
                return ProjectCount(item.alias)
            raise _unsupported(f"Unsupported aggregate function: {fn.text}")
    return ProjectColumns(tuple(_project_elem(item) for item in items))


def _project_elem(item: _RStar | _RItem) -> ProjectElem:
    if isinstance(item, _RStar):
        raise _unsupported("Mixed wildcard projections are not supported")
    expr = item.expr
    if not isinstance(expr, _RIdent):
        raise _unsupported(f"Unsupported projection expression: {expr.text}")
    ref = _convert_leaf(expr)
    assert isinstance(ref, (SqlVar, SqlField))
    default = ref.name if isinstance(ref, SqlVar) else ref.column
    return ProjectElem(ref, item.alias if item.alias is not None else default)


# -- qualification of column names (upstream qualify_vars / find_unqualified_vars) --


def _qualify(expr: SqlExpr, alias: str) -> SqlExpr:
    """Replace every bare column ``c`` by ``alias.c`` (iteratively: chains can be long)."""
    results: list[SqlExpr] = []
    stack: list[tuple[SqlExpr, bool]] = [(expr, False)]
    while stack:
        node, combine = stack.pop()
        if isinstance(node, (SqlCompare, SqlLogic)):
            if combine:
                right = results.pop()
                left = results.pop()
                if isinstance(node, SqlCompare):
                    results.append(SqlCompare(node.op, left, right))
                else:
                    results.append(SqlLogic(node.op, left, right))
            else:
                stack += [(node, True), (node.right, False), (node.left, False)]
        elif isinstance(node, SqlVar):
            results.append(SqlField(alias, node.name))
        else:
            results.append(node)
    return results[0]


def _has_var(expr: SqlExpr) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, SqlVar):
            return True
        if isinstance(node, (SqlCompare, SqlLogic)):
            stack += (node.left, node.right)
    return False


def _qualify_select(select: SelectStmt) -> SelectStmt:
    from_ = select.from_
    if not from_.joins:
        alias = from_.first.alias
        project = select.project
        if isinstance(project, ProjectColumns):
            project = ProjectColumns(
                tuple(
                    ProjectElem(SqlField(alias, e.expr.name), e.alias)
                    if isinstance(e.expr, SqlVar)
                    else e
                    for e in project.items
                )
            )
        where = None if select.where is None else _qualify(select.where, alias)
        return SelectStmt(project, from_, where, select.limit)
    unqualified = any(j.on is not None and _has_var(j.on) for j in from_.joins)
    if isinstance(select.project, ProjectColumns):
        unqualified |= any(isinstance(e.expr, SqlVar) for e in select.project.items)
    unqualified |= select.where is not None and _has_var(select.where)
    if unqualified:
        raise _unsupported("Names must be qualified when using joins")
    return select


# -- statements --


def _read(sql: str) -> _Raw:
    raws = _Reader(sql).statements()
    if len(raws) > 1:
        raise _unsupported("Multiple SQL statements are not supported")
    if not raws:
        raise _unsupported("Empty SQL query")
    return raws[0]


def parse_subscription(sql: str) -> SelectStmt:
    """Parse a subscription / WebSocket one-off query (``crates/sql-parser/src/parser/sub.rs``).

    Example::

        >>> q = parse_subscription('SELECT a.* FROM t AS a JOIN s AS b ON a.x = b.y')
        >>> q.from_.joins[0].on.right
        SqlField(table='b', column='y')
    """
    raw = _read(sql)
    query = raw.stmt
    if not isinstance(query, _RQuery):
        raise _unsupported("Unsupported: Non-SELECT queries")
    if not query.plain or query.limit is not None:
        raise _unsupported(f"Unsupported: {query.text}")
    select = query.body
    if select is None:
        raise _unsupported(f"Unsupported set operation: {query.body_text}")
    if select.distinct or select.group_or_having:
        raise _unsupported(f"Unsupported SELECT: {select.text}")
    from_ = _convert_from(select.from_)
    where = None if select.where is None else _convert_expr(select.where)
    project = _convert_projection(select.items)
    return _qualify_select(SelectStmt(project, from_, where))


def parse_sql(sql: str) -> Statement:
    """Parse one statement of the HTTP ``/sql`` grammar (``crates/sql-parser/src/parser/sql.rs``).

    Example::

        >>> parse_sql("INSERT INTO t (a, b) VALUES (1, 'x')").columns
        ('a', 'b')
    """
    raw = _read(sql)
    stmt = raw.stmt
    if isinstance(stmt, _RQuery):
        return _qualify_select(_sql_query(stmt))
    if isinstance(stmt, _RInsert):
        return _sql_insert(stmt)
    if isinstance(stmt, _RUpdate):
        return _sql_update(stmt, raw.text)
    if isinstance(stmt, _RDelete):
        return _sql_delete(stmt)
    if isinstance(stmt, _RSet):
        return _sql_set(stmt, raw.text)
    if isinstance(stmt, _RShow):
        return ShowStmt(_join_parts(stmt.name))
    raise _unsupported(f"Unsupported: {raw.text}")


def _sql_query(query: _RQuery) -> SelectStmt:
    limit: str | None = None
    if query.limit is not None:
        lim = query.limit
        if not (isinstance(lim, _RLit) and lim.lit.kind is LitKind.NUM):
            raise _unsupported(f"Unsupported: {query.text}")
        limit = lim.lit.text
    if not query.plain:
        raise _unsupported(f"Unsupported: {query.text}")
    select = query.body
    if select is None:
        raise _unsupported(f"Unsupported: {query.body_text}")
    if select.distinct or select.group_or_having:
        raise _unsupported(f"Unsupported: {select.text}")
    project = _convert_projection(select.items)
    from_ = _convert_from(select.from_)
    where = None if select.where is None else _convert_expr(select.where)
    return SelectStmt(project, from_, where, limit)


def _sql_insert(stmt: _RInsert) -> InsertStmt:
    if stmt.rows is None:
        assert stmt.source is not None
        raise _unsupported(f"Unsupported INSERT expression: {stmt.source.text}")
    rows = tuple(tuple(_literal(v, "Unsupported INSERT value") for v in row) for row in stmt.rows)
    return InsertStmt(_join_parts(stmt.table), stmt.columns, rows)


def _sql_update(stmt: _RUpdate, text: str) -> UpdateStmt:
    if not stmt.plain or stmt.table.name is None:
        raise _unsupported(f"Unsupported: {text}")
    table = _join_parts(stmt.table.name)
    assignments = tuple(
        Assignment(
            _join_parts(name),
            _literal(value, "Unsupported column/variable assignment expression"),
        )
        for name, value in stmt.assignments
    )
    where = None if stmt.where is None else _qualify(_convert_expr(stmt.where), table)
    return UpdateStmt(table, assignments, where)


def _sql_delete(stmt: _RDelete) -> DeleteStmt:
    if len(stmt.from_) != 1:
        raise _unsupported("Multi-table DELETE is not supported")
    target = stmt.from_[0]
    factor = target.factor
    if target.joins or factor.name is None or not factor.plain or factor.alias is not None:
        raise _unsupported(f"Unsupported table expression in DELETE: {target.text}")
    table = _join_parts(factor.name)
    where = None if stmt.where is None else _qualify(_convert_expr(stmt.where), table)
    return DeleteStmt(table, where)


def _sql_set(stmt: _RSet, text: str) -> SetStmt:
    if not stmt.plain or len(stmt.values) != 1:
        raise _unsupported(f"Unsupported: {text}")
    value = _literal(stmt.values[0], "Unsupported column/variable assignment expression")
    return SetStmt(_join_parts(stmt.name), value)


__all__ = ["MAX_EXPR_DEPTH", "MAX_PARSER_DEPTH", "parse_sql", "parse_subscription"]
