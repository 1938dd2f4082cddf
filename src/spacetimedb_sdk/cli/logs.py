"""``spacetimedb-py logs --database NAME [-f] [-n N]``: a database's module log.

It reads ``GET /v1/database/NAME/logs?num_lines=N&follow=BOOL`` as upstream's ``spacetime
logs`` does (``crates/cli/src/subcommands/logs.rs``), from this package's server or
SpacetimeDB itself, with the owner's token, and prints each JSON record as upstream prints
it: ``TIME LEVEL: function file:line: message`` (lines the server wrote itself carry no
function or file), plus a Panic's stack.  ``--json`` prints the records as they came.
``-f`` follows the log until Ctrl-C (the last 10 lines first, unless ``-n`` says otherwise).

Example::

    $ spacetimedb-py logs --database quickstart-chat -n 1
    2025-01-01T12:00:00.000000Z  INFO: Database initialized
"""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

import httpx

from .options import (
    EXIT_USAGE,
    CliError,
    add_common,
    client_command,
    database_name,
    resolve_token,
    server_url,
)
from .publish import _raise_for

SENTINEL = "__spacetimedb__"
_LEVELS = {
    "Error": "ERROR",
    "Warn": "WARN",
    "Info": "INFO",
    "Debug": "DEBUG",
    "Trace": "TRACE",
    "Panic": "PANIC",
}


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser(
        "logs",
        help="print a database's module log",
        description="Print the log lines of a database's module (its print/logging output "
        "and the server's own lines); the database owner's token is needed.",
    )
    add_common(logs)
    logs.add_argument(
        "--num-lines", "-n", type=_count, metavar="N", help="only the last N lines (default: all)"
    )
    logs.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C"
    )
    logs.add_argument("--json", action="store_true", help="print the JSON records as they came")
    logs.set_defaults(run=client_command(_logs))


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 0xFFFF_FFFF:
        raise argparse.ArgumentTypeError(f"not a number of lines: {text!r}")
    return int(text)


def _logs(args: argparse.Namespace) -> int:
    server, database = server_url(args), database_name(args)
    token, _ = resolve_token(args)
    num_lines = args.num_lines
    if args.follow and num_lines is None:
        num_lines = 10  # following: recent lines only, as upstream's CLI
    params = {"follow": "true" if args.follow else "false"}
    if num_lines is not None:
        params["num_lines"] = str(num_lines)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = httpx.Timeout(30.0, read=None if args.follow else 30.0)
    try:
        with (
            httpx.Client(base_url=server, timeout=timeout) as http,
            http.stream(
                "GET", f"/v1/database/{database}/logs", params=params, headers=headers
            ) as r,
        ):
            if not r.is_success:
                r.read()
                _raise_for(r)
            for line in r.iter_lines():
                if line:
                    _print(line, args.json)
    except httpx.TransportError as e:
        raise CliError(f"cannot reach {server}: {e}. Is the server running?") from None
    return 0


def _print(line: str, raw: bool) -> None:
    if raw:
        print(line, flush=True)
        return
    try:
        record: dict[str, Any] = json.loads(line)
    except ValueError:
        raise CliError(
            f"the server sent a log line that is not JSON: {line[:200]!r}", EXIT_USAGE
        ) from None
    print(format_record(record), flush=True)


def format_record(record: dict[str, Any]) -> str:
    """One record as upstream's ``spacetime logs`` prints it (without colours).

    Example::

        >>> format_record({"level": "Info", "ts": 0, "function": "add", "message": "hi"})
        '1970-01-01T00:00:00.000000Z  INFO: add: hi'
    """
    parts = []
    ts = record.get("ts")
    if isinstance(ts, int):
        when = datetime.datetime.fromtimestamp(ts / 1e6, datetime.timezone.utc)
        parts.append(when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + " ")
    level = _LEVELS.get(str(record.get("level")), str(record.get("level")).upper())
    parts.append(f"{level:>5}: ")
    where = []
    function = record.get("function")
    if function and function != SENTINEL:
        where.append(str(function))
    filename = record.get("filename")
    if filename and filename != SENTINEL:
        line_number = record.get("line_number")
        where.append(f"{filename}:{line_number}" if line_number is not None else str(filename))
    if where:
        parts.append(" ".join(where) + ": ")
    parts.append(str(record.get("message", "")))
    text = "".join(parts)
    for frame in record.get("trace") or []:
        module, func = frame.get("module_name"), frame.get("func_name")
        text += "\n    in " + (f"{module} :: " if module else "") + (func or "")
    return text
