"""The SQL of a TypeScript query view, from the module's source names to canonical names.

A view built with the module library's query builder (``ctx.from.player.where(...)``) returns SQL
that names tables and columns as the module's source does (``"viewPkPlayer"."playerId"``), every
identifier double-quoted; the local server's SQL engine, like a client's subscription, speaks
canonical names.  :func:`canonical_sql` rewrites the quoted identifiers and leaves the rest
(keywords, literals, operators) as they are.

Example::

    >>> canonical_sql('SELECT "viewPkPlayer".* FROM "viewPkPlayer" WHERE "viewPkPlayer"."id" = 1',
    ...               {"viewPkPlayer": "view_pk_player"}, {"view_pk_player": {"id": "id"}})
    'SELECT "view_pk_player".* FROM "view_pk_player" WHERE "view_pk_player"."id" = 1'
"""

from __future__ import annotations

from collections.abc import Mapping


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_quoted(sql: str, i: int) -> tuple[str, int]:
    """The identifier quoted at ``sql[i]`` (a ``"``) and the index after its closing quote."""
    out = []
    j = i + 1
    while j < len(sql):
        if sql[j] == '"':
            if j + 1 < len(sql) and sql[j + 1] == '"':
                out.append('"')
                j += 2
                continue
            return "".join(out), j + 1
        out.append(sql[j])
        j += 1
    return "".join(out), j


def _rename(
    parts: list[str],
    tables: Mapping[str, str],
    columns: Mapping[str, Mapping[str, str]],
) -> str:
    """A dotted chain of identifiers: the longest prefix naming a table, then a column."""
    for k in range(len(parts), 0, -1):
        source = ".".join(parts[:k])
        table = tables.get(source) or (source if source in columns else None)
        if table is None:
            continue
        rest = parts[k:]
        renamed = [_quote(table)]
        if rest:
            renamed.append(_quote(columns.get(table, {}).get(rest[0], rest[0])))
            renamed.extend(_quote(p) for p in rest[1:])
        return ".".join(renamed)
    return ".".join(_quote(p) for p in parts)


def canonical_sql(
    sql: str, tables: Mapping[str, str], columns: Mapping[str, Mapping[str, str]]
) -> str:
    """``sql`` with source table and column names replaced by canonical ones.

    ``tables`` maps source table names to canonical ones; ``columns`` maps a canonical table
    name to its source-to-canonical column names.
    """
    out: list[str] = []
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "'":  # a string literal: copy it whole
            j = i + 1
            while j < n:
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i : j + 1])
            i = j + 1
        elif c == '"':
            parts = []
            name, i = _read_quoted(sql, i)
            parts.append(name)
            while i + 1 < n and sql[i] == "." and sql[i + 1] == '"':
                name, i = _read_quoted(sql, i + 1)
                parts.append(name)
            out.append(_rename(parts, tables, columns))
        else:
            out.append(c)
            i += 1
    return "".join(out)
