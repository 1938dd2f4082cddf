"""``spacetimedb-py describe``: a database's tables, reducers, procedures and views.

Prints a text summary, the same summary as JSON (``--json``, see :func:`schema_summary`)
or the server's own schema document (``--raw``).

Example::

    $ spacetimedb-py describe --database quickstart-chat --json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ..http import HttpClient
from ..sats.types import ProductType
from ..schema import ModuleSchema
from ..schema.model import ColumnSchema, Visibility
from .options import (
    add_common,
    client_command,
    database_name,
    fetch_schema,
    resolve_token,
    server_url,
)
from .render import type_text


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    describe = commands.add_parser(
        "describe",
        help="summarize a database's tables, reducers, procedures and views",
        description="Print the schema of a database: a summary, a JSON summary (--json) "
        "or the server's own schema document (--raw).",
    )
    add_common(describe)
    fmt = describe.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the summary as JSON")
    fmt.add_argument("--raw", action="store_true", help="print the server's schema JSON")
    describe.set_defaults(run=client_command(_describe))


def _describe(args: argparse.Namespace) -> int:
    server, database = server_url(args), database_name(args)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        doc, schema = fetch_schema(http, database)
    if args.raw:
        print(json.dumps(doc, indent=2))
    elif args.json:
        print(json.dumps(schema_summary(schema, database), indent=2))
    else:
        _print_summary(schema_summary(schema, database))
    return 0


def schema_summary(schema: ModuleSchema, database: str) -> dict[str, Any]:
    """The JSON ``describe --json`` prints: tables, reducers, procedures and views.

    Example::

        summary = schema_summary(ModuleSchema.from_json(doc), "quickstart-chat")
        [t["name"] for t in summary["tables"]]   # ['user', 'message']
    """

    def columns(cols: Sequence[ColumnSchema]) -> list[dict[str, str]]:
        return [{"name": c.name, "type": type_text(c.algebraic_type, schema)} for c in cols]

    def params(p: ProductType) -> list[dict[str, str]]:
        return [
            {"name": n, "type": type_text(e.algebraic_type, schema)}
            for n, e in zip(p.names(), p.elements, strict=True)
        ]

    return {
        "database": database,
        "tables": [
            {
                "name": t.name,
                "public": t.is_public,
                "event": t.is_event,
                "primary_key": [t.columns[i].name for i in t.primary_key],
                "scheduled": t.schedule.function_name if t.schedule else None,
                "columns": columns(t.columns),
            }
            for t in schema.tables
        ],
        "reducers": [
            {
                "name": r.name,
                "params": params(r.params),
                "lifecycle": r.lifecycle.value if r.lifecycle else None,
                "callable": r.is_client_callable,
            }
            for r in schema.reducers
        ],
        "procedures": [
            {
                "name": p.name,
                "params": params(p.params),
                "returns": type_text(p.return_type, schema),
                "callable": p.visibility is Visibility.CLIENT_CALLABLE,
            }
            for p in schema.procedures
        ],
        "views": [
            {
                "name": v.name,
                "public": v.is_public,
                "primary_key": [v.columns[i].name for i in v.primary_key],
                "columns": columns(v.columns),
            }
            for v in schema.views
        ],
    }


def _print_summary(s: dict[str, Any]) -> None:
    lines = [f"database {s['database']}"]

    def section(title: str, items: list[dict[str, Any]]) -> None:
        lines.append("")
        lines.append(f"{title}:" if items else f"{title}: none")

    def column_lines(cols: list[dict[str, str]]) -> None:
        width = max((len(c["name"]) for c in cols), default=0)
        lines.extend(f"    {c['name']:<{width}}  {c['type']}" for c in cols)

    def signature(f: dict[str, Any]) -> str:
        return f"{f['name']}({', '.join(p['name'] + ': ' + p['type'] for p in f['params'])})"

    section("tables", s["tables"])
    for t in s["tables"]:
        notes = ["public" if t["public"] else "private"]
        if t["event"]:
            notes.append("event")
        if t["primary_key"]:
            notes.append("primary key: " + ", ".join(t["primary_key"]))
        if t["scheduled"]:
            notes.append(f"scheduled: {t['scheduled']}")
        lines.append(f"  {t['name']}  ({'; '.join(notes)})")
        column_lines(t["columns"])
    section("reducers", s["reducers"])
    for r in s["reducers"]:
        note = f"  [{r['lifecycle']}]" if r["lifecycle"] else "" if r["callable"] else "  [private]"
        lines.append(f"  {signature(r)}{note}")
    section("procedures", s["procedures"])
    for p in s["procedures"]:
        lines.append(f"  {signature(p)} -> {p['returns']}")
    section("views", s["views"])
    for v in s["views"]:
        lines.append(f"  {v['name']}  ({'public' if v['public'] else 'private'})")
        column_lines(v["columns"])
    print("\n".join(lines))
