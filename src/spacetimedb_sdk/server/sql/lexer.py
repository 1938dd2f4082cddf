"""Tokenizer for SpacetimeDB SQL, following the PostgreSQL dialect of ``sqlparser`` 0.38.

The real server tokenizes with the ``sqlparser`` crate; this lexer reproduces
its rules for everything the SpacetimeDB grammars can use, so the same text
splits into the same tokens:

* keywords and identifiers are words (``[A-Za-z_][A-Za-z0-9_$]*``, Unicode
  letters allowed); a word in double quotes is a quoted identifier (``""``
  escapes a quote) and is never a keyword;
* ``'…'`` strings (``''`` escapes a quote; backslashes are literal), ``X'AB'``
  and ``0xAB`` hex literals (only a lowercase ``x`` after ``0``), ``E'…'`` and
  ``N'…'`` strings (tokenized so they can be reported as unsupported);
* numbers ``12``, ``1.5``, ``.5``, ``1e3``, ``1E-3`` (signs are separate tokens);
* ``--`` line comments and nestable ``/* */`` comments;
* operators; ``!=`` and ``<>`` are one token, shown as ``<>``.

Positions are 1-based line and column, as in the server's messages.

Example::

    >>> [t.text for t in tokenize("SELECT * FROM \\"My\\"\\"T\\" WHERE x <> 0xAB")]
    ['SELECT', '*', 'FROM', '"My"T"', 'WHERE', 'x', '<>', "X'AB'", 'EOF']
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import SqlSyntaxError


class Tok(Enum):
    """Token kinds."""

    WORD = "word"
    NUMBER = "number"
    STRING = "string"
    HEX = "hex"
    NATIONAL = "national"
    ESCAPED = "escaped"
    PLACEHOLDER = "placeholder"
    OP = "op"
    EOF = "eof"


@dataclass(frozen=True, slots=True)
class Token:
    """One token.  ``value`` is the unescaped content (word, string body, hex digits, number).

    ``quoted`` marks a double-quoted identifier; ``text`` is how the server
    displays the token in an error; ``start``/``end`` index the source.

    Example::

        >>> tokenize("'O''Brian'")[0].value
        "O'Brian"
    """

    kind: Tok
    value: str
    text: str
    line: int
    col: int
    start: int
    end: int
    quoted: bool = False

    def is_keyword(self, *words: str) -> bool:
        """True for an unquoted word equal (case-insensitively) to one of ``words``."""
        return self.kind is Tok.WORD and not self.quoted and self.value.upper() in words

    def is_op(self, *ops: str) -> bool:
        """True for an operator/punctuation token whose text is one of ``ops``."""
        return self.kind is Tok.OP and self.text in ops

    def where(self) -> str:
        """`` at Line: L, Column C`` (the server's location suffix)."""
        return f" at Line: {self.line}, Column {self.col}"


# Longest first, so that a prefix never shadows a longer operator.
_OPERATORS = sorted(
    [
        "<=>", "->>", "#>>", "!~*", "||/",
        "<=", "<>", "<<", "<@", ">=", ">>", "!=", "!!", "!~", "==", "=>", "||", "|/",
        "::", ":=", "->", "&&", "~*", "@>", "@?", "@@", "#>", "#-",
        "=", "<", ">", "!", "|", "&", "^", "~", "+", "-", "*", "/", "%", ":", ";", ",",
        "(", ")", "[", "]", "{", "}", "\\", "@", "#", ".",
    ],
    key=len,
    reverse=True,
)  # fmt: skip
_DISPLAY = {"!=": "<>"}


def _is_digit(ch: str) -> bool:
    return len(ch) == 1 and "0" <= ch <= "9"


def _is_ident_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_ident_part(ch: str) -> bool:
    return ch.isalpha() or ch in "0123456789$_"


class _Lexer:
    def __init__(self, sql: str) -> None:
        self.src = sql
        self.pos = 0
        self.line = 1
        self.col = 1
        self.tokens: list[Token] = []

    def peek(self, k: int = 0) -> str:
        i = self.pos + k
        return self.src[i] if i < len(self.src) else ""

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.src[self.pos] == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
            self.pos += 1

    def error(self, message: str, line: int, col: int) -> SqlSyntaxError:
        return SqlSyntaxError(f"sql parser error: {message} at Line: {line}, Column {col}")

    def run(self) -> list[Token]:
        while self.pos < len(self.src):
            self.step()
        self.tokens.append(Token(Tok.EOF, "", "EOF", self.line, self.col, self.pos, self.pos))
        return self.tokens

    def emit(
        self, kind: Tok, value: str, text: str, start: tuple[int, int, int], **kw: bool
    ) -> None:
        line, col, pos = start
        self.tokens.append(Token(kind, value, text, line, col, pos, self.pos, **kw))

    def step(self) -> None:
        ch = self.peek()
        start = (self.line, self.col, self.pos)
        nxt = self.peek(1)
        if ch.isspace():
            self.advance()
        elif ch == "-" and nxt == "-":
            while self.pos < len(self.src) and self.peek() != "\n":
                self.advance()
        elif ch == "/" and nxt == "*":
            self.block_comment()
        elif ch in "xX" and nxt == "'":
            self.advance()
            body = self.quoted("'", start)
            self.emit(Tok.HEX, body, f"X'{body}'", start)
        elif ch in "nN" and nxt == "'":
            self.advance()
            body = self.quoted("'", start)
            self.emit(Tok.NATIONAL, body, f"N'{body}'", start)
        elif ch in "eE" and nxt == "'":
            self.advance()
            body = self.escaped_string(start)
            self.emit(Tok.ESCAPED, body, f"E'{body}'", start)
        elif ch == "'":
            body = self.quoted("'", start)
            self.emit(Tok.STRING, body, f"'{body}'", start)
        elif ch == '"':
            self.quoted_ident(start)
        elif _is_digit(ch) or (ch == "." and _is_digit(nxt)):
            self.number(start)
        elif _is_ident_start(ch):
            while self.pos < len(self.src) and _is_ident_part(self.peek()):
                self.advance()
            word = self.src[start[2] : self.pos]
            self.emit(Tok.WORD, word, word, start)
        elif ch in "?$":
            self.advance()
            while self.pos < len(self.src) and _is_ident_part(self.peek()):
                self.advance()
            text = self.src[start[2] : self.pos]
            self.emit(Tok.PLACEHOLDER, text, text, start)
        else:
            self.operator(start)

    def operator(self, start: tuple[int, int, int]) -> None:
        for op in _OPERATORS:
            if self.src.startswith(op, self.pos):
                self.advance(len(op))
                self.emit(Tok.OP, op, _DISPLAY.get(op, op), start)
                return
        ch = self.peek()
        self.advance()
        self.emit(Tok.OP, ch, ch, start)

    def block_comment(self) -> None:
        self.advance(2)
        depth = 1
        while depth:
            if self.pos >= len(self.src):
                raise self.error(
                    "Unexpected EOF while in a multi-line comment", self.line, self.col
                )
            if self.peek() == "/" and self.peek(1) == "*":
                depth += 1
                self.advance(2)
            elif self.peek() == "*" and self.peek(1) == "/":
                depth -= 1
                self.advance(2)
            else:
                self.advance()

    def quoted(self, quote: str, start: tuple[int, int, int]) -> str:
        """Body of a quoted string at ``pos``; a doubled quote stands for one."""
        line, col = self.line, self.col
        self.advance()
        out: list[str] = []
        while self.pos < len(self.src):
            ch = self.peek()
            self.advance()
            if ch != quote:
                out.append(ch)
            elif self.peek() == quote:
                out.append(quote)
                self.advance()
            else:
                return "".join(out)
        raise self.error("Unterminated string literal", line, col)

    def escaped_string(self, start: tuple[int, int, int]) -> str:
        line, col = self.line, self.col
        self.advance()
        out: list[str] = []
        while self.pos < len(self.src):
            ch = self.peek()
            self.advance()
            if ch == "\\" and self.pos < len(self.src):
                out.append(self.peek())
                self.advance()
            elif ch != "'":
                out.append(ch)
            elif self.peek() == "'":
                out.append("'")
                self.advance()
            else:
                return "".join(out)
        raise self.error("Unterminated encoded string literal", line, col)

    def quoted_ident(self, start: tuple[int, int, int]) -> None:
        line, col = self.line, self.col
        self.advance()
        out: list[str] = []
        while self.pos < len(self.src):
            ch = self.peek()
            self.advance()
            if ch != '"':
                out.append(ch)
            elif self.peek() == '"':
                out.append('"')
                self.advance()
            else:
                value = "".join(out)
                self.emit(Tok.WORD, value, f'"{value}"', start, quoted=True)
                return
        raise self.error("Expected close delimiter '\"' before EOF.", line, col)

    def digits(self, hexdigits: bool = False) -> None:
        ok = "0123456789abcdefABCDEF" if hexdigits else "0123456789"
        while self.pos < len(self.src) and self.src[self.pos] in ok:
            self.advance()

    def number(self, start: tuple[int, int, int]) -> None:
        if self.peek() == "0" and self.peek(1) == "x":
            self.advance(2)
            self.digits(hexdigits=True)
            body = self.src[start[2] + 2 : self.pos]
            self.emit(Tok.HEX, body, f"X'{body}'", start)
            return
        self.digits()
        if self.peek() == ".":
            self.advance()
            self.digits()
        if self.peek() in ("e", "E"):
            k = 2 if self.peek(1) in ("+", "-") else 1
            if _is_digit(self.peek(k)):
                self.advance(k)
                self.digits()
        text = self.src[start[2] : self.pos]
        self.emit(Tok.NUMBER, text, text, start)


def tokenize(sql: str) -> list[Token]:
    """Split ``sql`` into tokens (comments and whitespace dropped), ending with an EOF token.

    Raises :class:`SqlSyntaxError` for an unterminated string, quoted identifier
    or comment.

    Example::

        >>> [t.kind.value for t in tokenize("a = -1.5e3")]
        ['word', 'op', 'op', 'number', 'eof']
    """
    return _Lexer(sql).run()


__all__ = ["Tok", "Token", "tokenize"]
