"""The top-level parser and :func:`main`: which commands make up the command line.

Each command lives in its own module with an ``add_command(commands)`` that registers
its subparser; :func:`build_parser` calls them in the order ``--help`` lists them.  A new
command is a new module here plus one line in :func:`build_parser`.

Example::

    raise SystemExit(main(["sql", "-d", "quickstart-chat", "SELECT * FROM user"]))
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from .._version import __version__
from . import call, describe, generate, identity, logs, publish, serve, sql, subscribe
from .options import Command


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command.

    Example::

        >>> build_parser().parse_args(["serve", "m.py"]).port
        3000
    """
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each command's own parser by name (for that command's usage errors)."""
    parser = argparse.ArgumentParser(
        prog="spacetimedb-py", description="Python tools for SpacetimeDB 2.x."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    serve.add_command(commands)
    generate.add_command(commands)
    describe.add_command(commands)
    sql.add_command(commands)
    call.add_command(commands)
    subscribe.add_command(commands)
    identity.add_command(commands)
    publish.add_command(commands)
    logs.add_command(commands)
    return parser, dict(commands.choices)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Example::

        raise SystemExit(main(["serve", "module.py", "--port", "0"]))
    """
    parser, command_parsers = _build()
    args, extras = parser.parse_known_args(argv)
    _take_trailing_positionals(args, extras)
    if extras:
        # What is left over follows the command's name: its usage is the helpful one.
        command_parsers.get(args.command, parser).error(
            f"unrecognized arguments: {' '.join(extras)}"
        )
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
