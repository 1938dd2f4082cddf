"""``spacetimedb-py sql SQL``: one statement over HTTP, printed as a table or JSON lines.

Example::

    $ spacetimedb-py sql --database quickstart-chat "SELECT name FROM user"
"""

from __future__ import annotations

import argparse
import sys

from ..http import HttpClient, HttpError
from ..sats.plain import to_plain
from ..sats.types import EMPTY_TYPESPACE
from .options import (
    EXIT_USAGE,
    CliError,
    add_common,
    client_command,
    database_name,
    resolve_token,
    server_url,
)
from .render import print_json_line, print_table


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sql = commands.add_parser(
        "sql",
        help="run a SQL statement over HTTP",
        description="Run one SQL statement through the database's /sql endpoint and print "
        "the rows as a table, or as one JSON object per line (--json).",
    )
    add_common(sql)
    sql.add_argument("query", metavar="SQL", help="the statement; '-' reads it from stdin")
    sql.add_argument("--json", action="store_true", help="one JSON object per row")
    sql.set_defaults(run=client_command(_sql))


def _sql(args: argparse.Namespace) -> int:
    server, database = server_url(args), database_name(args)
    query = sys.stdin.read() if args.query == "-" else args.query
    if not query.strip():
        raise CliError("empty SQL statement", EXIT_USAGE)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        try:
            results = http.sql(database, query)
        except HttpError as e:
            if e.status == 400:
                raise CliError(f"SQL error: {' '.join(e.body.split())}") from None
            raise
        # Result columns should carry resolved types; where a server sends `Ref`s
        # instead, they index the module's typespace.
        needs_refs = any(r.uses_module_types for r in results if r.rows)
        ts = http.schema(database).typespace if needs_refs else EMPTY_TYPESPACE
    for i, result in enumerate(results):
        # Decoded as the HTTP API's users get them, then shown as plain JSON.
        rows = [to_plain(result.schema, row, ts) for row in result.rows_as_dicts(ts)]
        if args.json:
            for row in rows:
                print_json_line(row)
        else:
            if i:
                print()
            print_table(result, rows)
    return 0
