"""``spacetimedb-py call NAME ARG…``: call a reducer or procedure over HTTP.

Arguments are read as plain JSON (:func:`spacetimedb_sdk.sats.from_plain`), one value
per parameter, checked against the module's schema before the call; a procedure's return
value is printed the same way.  With ``--json`` every successful call prints one JSON
object, ``{"name": ..., "kind": "reducer"|"procedure", "result": ...}`` (``result`` is the
procedure's return value, ``null`` for a reducer), so scripts read one shape for both.

Example::

    $ spacetimedb-py call --database quickstart-chat send_message '"hello"' --json
    {"name":"send_message","kind":"reducer","result":null}
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections.abc import Sequence
from typing import Any

from ..errors import InternalError, ReducerError
from ..http import HttpClient, HttpError
from ..sats.plain import from_plain, to_plain
from ..sats.sats_json import SatsJsonError, from_json, to_json_untyped
from ..sats.types import AlgebraicType, ProductType
from ..schema import ModuleSchema
from .options import (
    EXIT_USAGE,
    CliError,
    add_common,
    client_command,
    database_name,
    fetch_schema,
    resolve_token,
    server_url,
)
from .render import print_json_line, type_text


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = commands.add_parser(
        "call",
        help="call a reducer or procedure",
        description="Call a reducer or procedure with one JSON value per parameter, e.g. "
        "`call send_message '\"hello\"'` (strings need JSON quotes). A procedure's return "
        "value is printed as JSON.",
    )
    add_common(call)
    call.add_argument("function", metavar="REDUCER", help="the reducer or procedure name")
    call.add_argument("arguments", metavar="ARG", nargs="*", help="one JSON value per parameter")
    call.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object for the call: {"name", "kind", "result"}',
    )
    call.set_defaults(run=client_command(_call), trailing_positionals="arguments")


def _call(args: argparse.Namespace) -> int:
    server, database = server_url(args), database_name(args)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        _, schema = fetch_schema(http, database)
        name, params, returns = _find_function(schema, args.function, database)
        values = _parse_arguments(schema, name, params, args.arguments)
        try:
            result = http.call(database, name, values)
        except ReducerError as e:
            raise CliError(f"{name} failed: {e}") from None
        except InternalError as e:
            raise CliError(f"{name} failed on the server: {e}") from None
        except HttpError as e:
            if e.status == 400:
                raise CliError(f"{name} rejected: {' '.join(e.body.split())}") from None
            raise
    plain = None
    if returns is not None and result is not None:
        plain = to_plain(returns, from_json(returns, result, schema.typespace), schema.typespace)
        if not args.json:
            print_json_line(plain)
    if args.json:
        kind = "reducer" if returns is None else "procedure"
        print_json_line({"name": name, "kind": kind, "result": plain})
    return 0


def _find_function(
    schema: ModuleSchema, name: str, database: str
) -> tuple[str, ProductType, AlgebraicType | None]:
    """The canonical name, parameters and (for procedures) return type of ``name``."""
    for r in schema.reducers:
        if name in (r.name, r.accessor_name):
            if r.lifecycle is not None:
                raise CliError(
                    f"{r.name} is the {r.lifecycle.value} lifecycle reducer: clients cannot call it"
                )
            if not r.is_client_callable:
                raise CliError(f"{r.name} is a private reducer: clients cannot call it")
            return r.name, r.params, None
    for p in schema.procedures:
        if name in (p.name, p.accessor_name):
            return p.name, p.params, p.return_type
    known = [r.name for r in schema.reducers if r.is_client_callable] + [
        p.name for p in schema.procedures
    ]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = (
        f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known) or 'none'}"
    )
    raise CliError(f"no reducer or procedure named {name!r} in database {database!r}{hint}")


def _parse_arguments(
    schema: ModuleSchema, name: str, params: ProductType, texts: Sequence[str]
) -> list[Any]:
    ts = schema.typespace
    wanted = [
        f"{n}: {type_text(e.algebraic_type, schema)}"
        for n, e in zip(params.names(), params.elements, strict=True)
    ]
    if len(texts) != len(wanted):
        signature = f"{name}({', '.join(wanted)})"
        raise CliError(
            f"{signature} takes {len(wanted)} argument{'' if len(wanted) == 1 else 's'}, "
            f"got {len(texts)}",
            EXIT_USAGE,
        )
    out = []
    for i, (text, element, what) in enumerate(zip(texts, params.elements, wanted, strict=True), 1):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            hint = " (strings need JSON quotes: '\"text\"')" if text[:1] not in '[{"' else ""
            raise CliError(
                f"argument {i} ({what}) is not JSON: {e.msg}{hint}", EXIT_USAGE
            ) from None
        ty = element.algebraic_type
        try:
            value = from_plain(ty, raw, ts)
        except SatsJsonError as e:
            raise CliError(f"argument {i} ({what}): {e}", EXIT_USAGE) from None
        # Untyped SATS-JSON names sums by tag index and products by position, so the
        # server reads it whatever spelling of variant and field names it expects.
        out.append(to_json_untyped(ty, value, ts))
    return out
