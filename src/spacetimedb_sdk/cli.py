"""The ``spacetimedb-py`` command line.

Subcommands (``spacetimedb-py COMMAND --help`` for each; also ``python -m spacetimedb_sdk``):

* ``serve MODULE.py`` — serve a Python module as a local SpacetimeDB database,
  print its URL and the owner's token, and run until Ctrl-C.
* ``generate`` — write typed bindings for a module (see :mod:`.codegen.cli`).
* ``describe`` — the schema of a database: a summary, ``--json`` or ``--raw``.
* ``sql SQL`` — run a statement over HTTP; a table, or ``--json`` (one object per row).
* ``call REDUCER ARG…`` — call a reducer or procedure, one JSON value per parameter.
* ``subscribe SQL…`` — stream row changes as JSON lines until Ctrl-C, end of input,
  ``--limit N`` or ``--timeout S``.
* ``identity [new|show|forget]`` — create, print or forget this machine's identity.

The client commands share ``--server URL`` (default ``http://127.0.0.1:3000``),
``--database NAME`` and a token taken from ``--token``, else ``$SPACETIMEDB_TOKEN``,
else the credentials stored by ``identity new`` (``--credentials KEY``; by default one
key per server), else none (an anonymous identity).  Errors print one ``error:`` line
on stderr and exit 1 (2 for usage errors); tokens never appear in them.  Values are
printed as "plain JSON" (see :func:`spacetimedb_sdk.sats.to_plain`): hex identities,
RFC 3339 timestamps.

Example::

    $ spacetimedb-py serve examples/quickstart-chat/module.py --port 3000
    Serving database 'quickstart-chat' at http://127.0.0.1:3000
    ...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import difflib
import functools
import json
import os
import re
import signal
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import credentials
from .client.events import EventContext, SubscribeApplied
from .errors import InternalError, ReducerError, SpacetimeDBError
from .http import HttpClient, HttpError, SqlResult, http_base
from .sats.plain import from_plain, to_plain
from .sats.sats_json import SatsJsonError, from_json, to_json_untyped
from .sats.types import (
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
from .sats.values import Identity
from .schema import ModuleSchema
from .schema.model import ColumnSchema, Visibility

if TYPE_CHECKING:
    from .connection import DbConnection
    from .server.local import LocalServer

__all__ = [
    "DEFAULT_SERVER",
    "CliError",
    "build_parser",
    "default_credentials_key",
    "main",
    "plain_json",
    "resolve_token",
    "schema_summary",
    "token_identity",
    "type_text",
]

Command = Callable[[argparse.Namespace], int]
plain_json = to_plain  # its name here before the codec moved to sats


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command.

    Example::

        >>> build_parser().parse_args(["serve", "m.py"]).port
        3000
    """
    parser = argparse.ArgumentParser(
        prog="spacetimedb-py", description="Python tools for SpacetimeDB 2.x."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_serve(commands)
    _add_generate(commands)
    _add_client_commands(commands)
    return parser


def _add_generate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from .codegen.cli import add_generate_command

    add_generate_command(commands)


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a Python module as a local SpacetimeDB database",
        description="Serve MODULE.py (which defines `module = Module(...)`) over the "
        "SpacetimeDB HTTP and WebSocket API until interrupted.",
    )
    serve.add_argument("module_file", metavar="MODULE.py", help="the Python file defining `module`")
    serve.add_argument("--database", help="the database name (default: the module's name)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=3000,
        help="port to listen on; 0 picks a free one (default: 3000)",
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    from .server.local import LocalServer

    try:
        server = LocalServer(
            args.module_file, database=args.database, host=args.host, port=args.port
        )
    except (OSError, ImportError) as e:
        print(f"spacetimedb-py serve: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_interrupted(server))
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    except OSError as e:
        print(
            f"spacetimedb-py serve: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr
        )
        return 1
    return 0


async def _serve_until_interrupted(server: LocalServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows has no loop signal handlers: there Ctrl-C raises KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server as srv:
        print(f"Serving database {srv.database!r} at {srv.url}", flush=True)
        print(f"WebSocket: {srv.ws_url}", flush=True)
        print(f"Owner identity: {srv.owner_identity.to_hex()}", flush=True)
        print(f"Owner token: {srv.owner_token}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
        print("Stopping.", flush=True)


# ==== client commands: describe, sql, call, subscribe, identity ===============================
#
# Output conventions, shared by `sql --json`, `subscribe` and `call` (see `sats.to_plain`): one
# JSON document per line, rows as objects keyed by column name, values in "plain JSON" made
# for jq rather than the server's SATS-JSON.
#
# Exit statuses: 0 success, 1 an error (one `error:` line on stderr), 2 a usage error
# (argparse's own status, also used for arguments the parser cannot check, such as JSON),
# 130 interrupted (Ctrl-C outside `subscribe`, where Ctrl-C is the normal way out).

DEFAULT_SERVER = "http://127.0.0.1:3000"
TOKEN_ENV = "SPACETIMEDB_TOKEN"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_SUBSCRIBE_CONNECT_TIMEOUT = 15.0
_PROGRESS_DELAY = 0.5  # seconds of loading before a progress line appears
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


class CliError(Exception):
    """A failure reported as one ``error: …`` line; ``code`` is the exit status.

    Example::

        raise CliError("no database given: pass --database NAME", EXIT_USAGE)
    """

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


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


# ---- common options, tokens, errors -------------------------------------------------------------


def _add_common(p: argparse.ArgumentParser, *, database: bool = True) -> None:
    p.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        metavar="URL",
        help=f"the SpacetimeDB server (default: {DEFAULT_SERVER})",
    )
    if database:
        p.add_argument("--database", "-d", metavar="NAME", help="the database name or identity")
    p.add_argument(
        "--token",
        help=f"the token to use (prefer ${TOKEN_ENV} or stored credentials: "
        "command lines are visible to other users)",
    )
    p.add_argument(
        "--credentials",
        metavar="KEY",
        help="the stored credentials to use (default: one key per server, "
        "as `identity new` saves it)",
    )


def default_credentials_key(server: str) -> str:
    """The credentials key ``identity new`` saves to and other commands read, per server.

    Example::

        >>> default_credentials_key("http://127.0.0.1:3000")
        'spacetimedb-py_127.0.0.1_3000'
    """
    parts = urlsplit(http_base(server))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"spacetimedb-py_{parts.hostname or 'localhost'}_{port}")


def _server(args: argparse.Namespace) -> str:
    try:
        return http_base(args.server)
    except ValueError as e:
        raise CliError(f"bad --server: {e}", EXIT_USAGE) from None


def _database(args: argparse.Namespace) -> str:
    if not args.database:
        raise CliError(f"no database given: pass --database NAME ({args.command})", EXIT_USAGE)
    return str(args.database)


def _credentials_file(args: argparse.Namespace, key: str | None = None) -> credentials.File:
    key = key or args.credentials or default_credentials_key(_server(args))
    try:
        return credentials.File(key)
    except ValueError as e:
        raise CliError(str(e), EXIT_USAGE) from None


def resolve_token(args: argparse.Namespace) -> tuple[str | None, str]:
    """The token a command uses and where it came from: ``--token``, then ``$SPACETIMEDB_TOKEN``,
    then stored credentials (``--credentials KEY`` or the server's default key), else anonymous.

    Example::

        token, source = resolve_token(build_parser().parse_args(["sql", "-d", "chat", "SELECT 1"]))
    """
    if args.token:
        return args.token, "--token"
    env = os.environ.get(TOKEN_ENV)
    if env:
        return env, f"${TOKEN_ENV}"
    creds = _credentials_file(args)
    token = creds.load()
    if token:
        return token, f"credentials {creds.key!r}"
    if args.credentials:
        raise CliError(
            f"no stored credentials named {args.credentials!r} (looked for {creds.path})"
        )
    return None, "anonymous"


def _redact(message: str, args: argparse.Namespace) -> str:
    for secret in (getattr(args, "token", None), os.environ.get(TOKEN_ENV)):
        if secret:
            message = message.replace(secret, "<token>")
    return _JWT.sub("<token>", message)


def _explain(e: BaseException, args: argparse.Namespace) -> str:
    if isinstance(e, HttpError):
        body = " ".join(e.body.split()) or f"HTTP {e.status}"
        if e.status == 404 and "database" in body.lower():
            return f"database {getattr(args, 'database', None)!r} not found on {args.server}"
        if e.status == 401:
            return f"the server rejected the token ({body}); check --token / ${TOKEN_ENV}"
        if e.status == 403:
            return f"permission denied: {body}"
        return f"{body} (HTTP {e.status})"
    if isinstance(e, credentials.CredentialsError | SpacetimeDBError | OSError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _client_command(fn: Command) -> Command:
    """Wrap a command so that every failure ends as one ``error:`` line and an exit status."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except CliError as e:
            code, message = e.code, str(e)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            _silence_stdout()
            return 0
        except (SpacetimeDBError, OSError, TimeoutError) as e:
            code, message = EXIT_ERROR, _explain(e, args)
        print(f"error: {_redact(message, args)}", file=sys.stderr)
        return code

    return run


def _silence_stdout() -> None:
    # The reader went away (`… | head`): later writes, even at exit, must not fail again.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _fetch_schema(http: HttpClient, database: str) -> tuple[Any, ModuleSchema]:
    try:
        doc = http.schema_json(database, version=10)
    except HttpError as e:
        if e.status != 400:  # 400: a server without v10 schemas
            raise
        doc = http.schema_json(database, version=9)
    return doc, ModuleSchema.from_json(doc)


def _print_json_line(obj: Any) -> None:
    sys.stdout.write(_dumps(obj) + "\n")


# ---- registering the commands -----------------------------------------------------------------


def _add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    describe = commands.add_parser(
        "describe",
        help="summarize a database's tables, reducers, procedures and views",
        description="Print the schema of a database: a summary, a JSON summary (--json) "
        "or the server's own schema document (--raw).",
    )
    _add_common(describe)
    fmt = describe.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the summary as JSON")
    fmt.add_argument("--raw", action="store_true", help="print the server's schema JSON")
    describe.set_defaults(run=_client_command(_describe))

    sql = commands.add_parser(
        "sql",
        help="run a SQL statement over HTTP",
        description="Run one SQL statement through the database's /sql endpoint and print "
        "the rows as a table, or as one JSON object per line (--json).",
    )
    _add_common(sql)
    sql.add_argument("query", metavar="SQL", help="the statement; '-' reads it from stdin")
    sql.add_argument("--json", action="store_true", help="one JSON object per row")
    sql.set_defaults(run=_client_command(_sql))

    call = commands.add_parser(
        "call",
        help="call a reducer or procedure",
        description="Call a reducer or procedure with one JSON value per parameter, e.g. "
        "`call send_message '\"hello\"'` (strings need JSON quotes). A procedure's return "
        "value is printed as JSON.",
    )
    _add_common(call)
    call.add_argument("function", metavar="REDUCER", help="the reducer or procedure name")
    call.add_argument("arguments", metavar="ARG", nargs="*", help="one JSON value per parameter")
    call.set_defaults(run=_client_command(_call), trailing_positionals="arguments")

    sub = commands.add_parser(
        "subscribe",
        help="subscribe to queries and stream row changes as JSON lines",
        description="Subscribe to SQL queries and print each change as a JSON line: "
        '{"op": "insert"|"delete", "table": T, "row": R} or {"op": "update", "table": T, '
        '"old": R, "new": R}, and {"op": "applied", ...} once the initial rows are printed. '
        "Stops on Ctrl-C, end of input on a terminal or pipe, --limit or --timeout.",
    )
    _add_common(sub)
    sub.add_argument("queries", metavar="SQL", nargs="+", help="subscription queries")
    sub.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N changes")
    sub.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this long (an error if the subscription was not applied yet, "
        "or --limit was not reached)",
    )
    sub.add_argument(
        "--no-snapshot",
        action="store_true",
        help="do not print the initial rows (the applied line still counts them)",
    )
    sub.set_defaults(run=_client_command(_subscribe), trailing_positionals="queries")

    _add_identity(commands)


def _add_identity(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    identity = commands.add_parser(
        "identity",
        help="create a new identity or show the one in use",
        description="`identity new` creates an identity on the server and stores its token "
        "(in a credentials file the Rust SDK can read too); `identity show` (the default) "
        "prints the identity the other commands would use, never its token unless "
        "--show-token; `identity forget` deletes the stored token.",
    )
    identity.add_argument(
        "action", nargs="?", default="show", choices=("new", "show", "forget"), help="default: show"
    )
    _add_common(identity, database=False)
    identity.add_argument(
        "--save", metavar="KEY", help="new: the credentials key to store the token under"
    )
    identity.add_argument("--force", action="store_true", help="new: replace a stored identity")
    identity.add_argument("--show-token", action="store_true", help="also print the token")
    identity.add_argument("--json", action="store_true", help="print one JSON object")
    identity.set_defaults(run=_client_command(_identity))


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


# ---- describe ---------------------------------------------------------------------------------


def _describe(args: argparse.Namespace) -> int:
    server, database = _server(args), _database(args)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        doc, schema = _fetch_schema(http, database)
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


# ---- sql ----------------------------------------------------------------------------------------


def _sql(args: argparse.Namespace) -> int:
    server, database = _server(args), _database(args)
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
        needs_refs = any(_has_ref(r.schema) for r in results if r.rows)
        ts = _fetch_schema(http, database)[1].typespace if needs_refs else EMPTY_TYPESPACE
    for i, result in enumerate(results):
        rows = [to_plain(result.schema, from_json(result.schema, r, ts), ts) for r in result.rows]
        if args.json:
            for row in rows:
                _print_json_line(row)
        else:
            if i:
                print()
            _print_table(result, rows)
    return 0


def _has_ref(ty: AlgebraicType) -> bool:
    if isinstance(ty, RefType):
        return True
    if isinstance(ty, ArrayType):
        return _has_ref(ty.elem)
    if isinstance(ty, ProductType):
        return any(_has_ref(e.algebraic_type) for e in ty.elements)
    if isinstance(ty, SumType):
        return any(_has_ref(v.algebraic_type) for v in ty.variants)
    return False


def _print_table(result: SqlResult, rows: list[dict[str, Any]]) -> None:
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


# ---- call ---------------------------------------------------------------------------------------


def _call(args: argparse.Namespace) -> int:
    server, database = _server(args), _database(args)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        _, schema = _fetch_schema(http, database)
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
    if returns is not None and result is not None:
        value = from_json(returns, result, schema.typespace)
        _print_json_line(to_plain(returns, value, schema.typespace))
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


# ---- identity -----------------------------------------------------------------------------------


def _identity(args: argparse.Namespace) -> int:
    action = args.action
    if action == "new":
        return _identity_new(args)
    if action == "forget":
        creds = _credentials_file(args)
        existed = creds.path.exists()
        creds.clear()
        print(f"forgot {creds.path}" if existed else f"nothing stored at {creds.path}")
        return 0
    token, source = resolve_token(args)
    if token is None:
        creds = _credentials_file(args)
        raise CliError(
            f"no identity: no --token, no ${TOKEN_ENV} and nothing stored at {creds.path}; "
            f"create one with `spacetimedb-py identity new --server {args.server}`"
        )
    identity = token_identity(token)
    if identity is None:
        raise CliError(f"the token from {source} is not a SpacetimeDB token (JWT)")
    path = _credentials_file(args).path if source.startswith("credentials") else None
    _print_identity(args, identity, token, source, path)
    return 0


def _identity_new(args: argparse.Namespace) -> int:
    server = _server(args)
    creds = _credentials_file(args, args.save)
    old = creds.load()
    if old and not args.force:
        held = token_identity(old) or "an identity"
        raise CliError(
            f"{creds.path} already holds {held}; pass --force to replace it "
            "(its token is lost unless saved elsewhere)"
        )
    with HttpClient(server) as http:
        identity, token = http.create_identity()
    creds.save(token)
    _print_identity(args, identity.to_hex(), token, f"credentials {creds.key!r}", creds.path)
    return 0


def _print_identity(
    args: argparse.Namespace, identity: str, token: str, source: str, path: Path | None
) -> None:
    info: dict[str, Any] = {"identity": identity, "source": source}
    if path is not None:
        info["path"] = str(path)
    if args.show_token:
        info["token"] = token
    if args.json:
        print(json.dumps(info))
    else:
        width = max(map(len, info))
        for k, v in info.items():
            print(f"{k + ':':<{width + 1}} {v}")


def token_identity(token: str) -> str | None:
    """The identity (hex) a SpacetimeDB token names, read from its claims without verifying.

    Example::

        token_identity("not a jwt")   # None
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        value = claims["hex_identity"]
        return Identity.from_hex(str(value)).to_hex()
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None


# ---- subscribe ----------------------------------------------------------------------------------


def _subscribe(args: argparse.Namespace) -> int:
    server, database = _server(args), _database(args)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        _, schema = _fetch_schema(http, database)
    try:
        return asyncio.run(_Subscriber(args, server, database, token, schema).run())
    except BrokenPipeError:
        _silence_stdout()
        return 0


class _Progress:
    """A status line on stderr, redrawn in place; silent unless stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


# Queue items: a change ("insert"/"delete"/"update", table, rows, in_snapshot) or a signal.
_Item = tuple[str, Any, Any, Any]


class _Subscriber:
    """One ``subscribe`` run: callbacks feed a queue, and :meth:`run` prints it in order."""

    def __init__(
        self,
        args: argparse.Namespace,
        server: str,
        database: str,
        token: str | None,
        schema: ModuleSchema,
    ) -> None:
        self.args = args
        self.server = server
        self.database = database
        self.token = token
        self.schema = schema
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.applied = False
        self.ending = False
        self.snapshot: dict[str, int] = {}
        self.printed = 0
        self.snapshot_done = 0
        self.progress = _Progress()
        self.row_types = {t.name: t.row_type for t in schema.tables}
        self.row_types.update({v.name: v.row_type for v in schema.views if v.row_type})

    async def run(self) -> int:
        from .connection import DbConnection  # websockets is loaded only for this command

        loop = asyncio.get_running_loop()
        cleanup = self._watch_for_stop(loop)
        conn: DbConnection | None = None
        ticker = loop.create_task(self._tick_while_loading(loop.time()))
        try:
            builder = (
                DbConnection.builder(self.schema)
                .with_uri(self.server)
                .with_database_name(self.database)
                .with_token(self.token)
                .on_disconnect(lambda ctx, err: self._put(("closed", err, None, None)))
            )
            conn = await asyncio.wait_for(builder.connect(), _SUBSCRIBE_CONNECT_TIMEOUT)
            self._listen(conn)
            handle = conn.subscription_builder().subscribe(list(self.args.queries))
            waiter = loop.create_task(self._await_applied(handle))
            try:
                return await self._print_until_done(loop)
            finally:
                waiter.cancel()
        finally:
            self.ending = True
            ticker.cancel()
            self.progress.clear()
            cleanup()
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.disconnect(), 5.0)

    def _put(self, item: _Item) -> None:
        if not self.ending:
            self.queue.put_nowait(item)

    def _listen(self, conn: DbConnection) -> None:
        for handle in conn.db:
            name = handle.table_name

            def on_row(op: str, name: str = name) -> Callable[..., None]:
                def callback(ctx: EventContext, *rows: Any) -> None:
                    snapshot = isinstance(ctx.event, SubscribeApplied)
                    if snapshot:
                        self.snapshot[name] = self.snapshot.get(name, 0) + 1
                    else:
                        self._mark_applied()
                    self._put((op, name, rows, snapshot))

                return callback

            handle.on_insert(on_row("insert"))
            handle.on_delete(on_row("delete"))
            if self.schema.table_or_view(name).primary_key:
                handle.on_update(on_row("update"))

    def _mark_applied(self) -> None:
        # The first change after the initial rows proves they are all queued.
        if not self.applied:
            self.applied = True
            self._put(("applied", None, None, None))

    async def _await_applied(self, handle: Any) -> None:
        try:
            await handle
        except SpacetimeDBError as e:
            self._put(("failed", e, None, None))
            return
        self._mark_applied()

    def _watch_for_stop(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Stop on SIGINT/SIGTERM, and on end of input when stdin is a terminal or a pipe."""
        undo: list[Callable[[], object]] = []
        stop: _Item = ("stop", None, None, None)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._put, stop)
                undo.append(functools.partial(loop.remove_signal_handler, sig))
        fd = _watchable_stdin()
        if fd is not None:

            def readable() -> None:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    loop.remove_reader(fd)
                    self._put(stop)

            with contextlib.suppress(NotImplementedError, OSError, ValueError):
                loop.add_reader(fd, readable)
                undo.append(functools.partial(loop.remove_reader, fd))

        def cleanup() -> None:
            for fn in undo:
                with contextlib.suppress(Exception):
                    fn()

        return cleanup

    async def _tick_while_loading(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        if not self.progress.enabled:
            return
        await asyncio.sleep(_PROGRESS_DELAY)
        while not self.applied:
            loaded = sum(self.snapshot.values())
            what = f"{loaded} rows received" if loaded else "waiting for the initial rows"
            self.progress.show(f"subscribing: {what}, {loop.time() - started:.1f} s")
            await asyncio.sleep(0.25)

    async def _print_until_done(self, loop: asyncio.AbstractEventLoop) -> int:
        limit, timeout = self.args.limit, self.args.timeout
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self.queue.empty():
                sys.stdout.flush()
            try:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                kind, a, b, c = await asyncio.wait_for(self.queue.get(), remaining)
            except asyncio.TimeoutError:  # not the builtin before 3.11
                return self._timed_out(timeout)
            if kind == "stop":
                return 0
            if kind == "closed":
                raise CliError("the server closed the connection" + (f": {a}" if a else ""))
            if kind == "failed":
                raise CliError(f"subscription rejected: {a}")
            if kind == "applied":
                self.progress.clear()
                total = sum(self.snapshot.values())
                _print_json_line({"op": "applied", "rows": total, "tables": self.snapshot})
                continue
            if c:
                self.snapshot_done += 1
                if self.snapshot_done % 1000 == 0:
                    await self._show_snapshot_progress()
                if self.args.no_snapshot:
                    continue
            _print_json_line(self._change(kind, a, b))
            self.printed += 1
            if limit is not None and self.printed >= limit:
                return 0
            if not c and self.printed % 1000 == 0:
                await asyncio.sleep(0)  # a burst of changes: let signals and the socket in

    async def _show_snapshot_progress(self) -> None:
        # Every snapshot row is queued before the first is printed, so the total is known.
        total = sum(self.snapshot.values())
        self.progress.show(f"initial rows: {self.snapshot_done} of {total}")
        await asyncio.sleep(0)  # let the progress line, signals and the socket in

    def _change(self, op: str, table: str, rows: tuple[Any, ...]) -> dict[str, Any]:
        ty, ts = self.row_types[table], self.schema.typespace
        if op == "update":
            old, new = rows
            return {
                "op": op,
                "table": table,
                "old": to_plain(ty, old, ts),
                "new": to_plain(ty, new, ts),
            }
        return {"op": op, "table": table, "row": to_plain(ty, rows[0], ts)}

    def _timed_out(self, timeout: float | None) -> int:
        limit = self.args.limit
        if not self.applied:
            raise CliError(f"timed out after {timeout:g} s waiting for the subscription")
        if limit is not None and self.printed < limit:
            raise CliError(f"timed out after {timeout:g} s with {self.printed} of {limit} changes")
        return 0


def _watchable_stdin() -> int | None:
    # A terminal (Ctrl-D) or a pipe (the parent closed it); never /dev/null or a file,
    # which are at end of input from the start.
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    return fd if os.isatty(fd) or stat.S_ISFIFO(mode) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Example::

        raise SystemExit(main(["serve", "module.py", "--port", "0"]))
    """
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    _take_trailing_positionals(args, extras)
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    run: Command = args.run
    return run(args)


def _take_trailing_positionals(args: argparse.Namespace, extras: list[str]) -> None:
    """Let ``call NAME --database D ARG…`` work: argparse leaves positionals after options over.

    Commands opt in with ``set_defaults(trailing_positionals=DEST)``; anything that looks
    like an option (not a negative number) is still reported as unrecognized.
    """
    dest = getattr(args, "trailing_positionals", None)
    if dest is None or not extras:
        return
    if any(x.startswith("-") and not _NEGATIVE_NUMBER.match(x) for x in extras):
        return
    getattr(args, dest).extend(extras)
    extras.clear()


_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+")


if __name__ == "__main__":
    raise SystemExit(main())
