"""How the client commands write: JSON lines, tables, and types as short names.

Output conventions, shared by ``sql --json``, ``subscribe`` and ``call``: one JSON
document per line, rows as objects keyed by column name, values in "plain JSON" (see
:mod:`spacetimedb_sdk.sats.plain`) made for ``jq`` rather than the server's SATS-JSON.
``sql`` without ``--json`` prints a table; ``describe`` and argument errors name types
with :func:`type_text`.

Example::

    >>> from spacetimedb_sdk.sats.types import AlgebraicType as T
    >>> type_text(T.result(T.STRING, T.identity()))
    'Result<String, Identity>'
"""

from __future__ import annotations

import json
import sys
from typing import Any

from ..http import SqlResult
from ..sats.types import (
    CONNECTION_ID_TAG,
    EMPTY_TYPESPACE,
    IDENTITY_TAG,
    TIME_DURATION_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
)
from ..schema import ModuleSchema


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def print_json_line(obj: Any) -> None:
    sys.stdout.write(_dumps(obj) + "\n")


# ---- types as text (describe, argument errors) --------------------------------------------------

_SPECIAL_NAMES = {
    IDENTITY_TAG: "Identity",
    CONNECTION_ID_TAG: "ConnectionId",
    TIMESTAMP_TAG: "Timestamp",
    TIME_DURATION_TAG: "TimeDuration",
    UUID_TAG: "Uuid",
}


def type_text(ty: AlgebraicType, schema: ModuleSchema | None = None) -> str:
    """A short readable name for a type, as ``describe`` prints it.

    Example::

        >>> from spacetimedb_sdk.sats.types import AlgebraicType as T
        >>> type_text(T.option(T.array(T.U32))), type_text(T.identity())
        ('Option<Array<U32>>', 'Identity')
    """
    ts = schema.typespace if schema is not None else EMPTY_TYPESPACE
    if isinstance(ty, RefType):
        name = schema.type_name_of(ty.index) if schema is not None else None
        if name is not None:
            return str(name)
        ty = ts.resolve(ty)
    if isinstance(ty, PrimitiveType):
        return ty.kind
    if isinstance(ty, ArrayType):
        return f"Array<{type_text(ty.elem, schema)}>"
    if isinstance(ty, ProductType):
        kind = ty.special_kind()
        if kind is not None:
            return _SPECIAL_NAMES.get(kind, kind)
        inner = ", ".join(
            f"{n}: {type_text(e.algebraic_type, schema)}"
            for n, e in zip(ty.names(), ty.elements, strict=True)
        )
        return f"({inner})"
    assert isinstance(ty, SumType)
    args = [type_text(v.algebraic_type, schema) for v in ty.variants]
    if ty.is_option():
        return f"Option<{args[0]}>"
    if ty.is_result():
        return f"Result<{args[0]}, {args[1]}>"
    if ty.is_schedule_at():
        return "ScheduleAt"
    parts = [
        (v.name or str(i)) + ("" if ts.resolve(v.algebraic_type).is_unit() else f"({a})")
        for i, (v, a) in enumerate(zip(ty.variants, args, strict=True))
    ]
    return "enum " + " | ".join(parts)


# ---- tables (`sql` without --json) -------------------------------------------------------------


def print_table(result: SqlResult, rows: list[dict[str, Any]]) -> None:
    names = result.column_names
    if not names:  # a statement without a result set (INSERT, UPDATE, DELETE)
        stats = result.stats or {}
        done = [f"{n} {k.removeprefix('rows_')}" for k, n in stats.items() if n]
        print("OK" + (f" ({', '.join(done)})" if done else ""))
        return
    plain_strings = [
        _is_string(e.algebraic_type) for e in result.schema.elements
    ]  # String cells are quoted, so '"null"' and null differ; hex and times are not
    cells = [
        [_cell(row[n], quoted) for n, quoted in zip(names, plain_strings, strict=True)]
        for row in rows
    ]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    print((" " + " | ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))).rstrip())
    print("-" + "-+-".join("-" * w for w in widths) + "-")
    for r in cells:
        print((" " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip())
    print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")


def _is_string(ty: AlgebraicType) -> bool:
    if isinstance(ty, SumType) and ty.is_option():
        ty = ty.variants[0].algebraic_type
    return isinstance(ty, PrimitiveType) and ty.kind == "String"


def _cell(value: Any, quoted: bool) -> str:
    if isinstance(value, str) and not quoted:
        return value
    return _dumps(value)
