"""The ``generate`` command: ``spacetimedb-py generate --schema FILE | --server URL --database NAME
--out-dir DIR [--include-private] [--compat-07]``.

Example::

    $ spacetimedb-py generate --schema schema.json --out-dir src/module_bindings
    wrote 8 files to src/module_bindings (0 unchanged, 0 stale removed)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import SpacetimeDBError

__all__ = ["add_generate_command", "main", "run_generate"]


def add_generate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``generate`` on a subparsers object (``spacetimedb_sdk.cli`` calls this).

    Example::

        parser = argparse.ArgumentParser()
        add_generate_command(parser.add_subparsers(dest="command"))
    """
    gen = commands.add_parser(
        "generate",
        help="generate typed Python bindings for a module",
        description="Write a module_bindings package (typed rows, tables, reducers and a "
        "DbConnection subclass) for a module schema read from a file or a server.",
    )
    _configure(gen)


def _configure(gen: argparse.ArgumentParser) -> None:
    source = gen.add_mutually_exclusive_group(required=True)
    source.add_argument("--schema", metavar="FILE", help="schema JSON (v9/v10) or BSATN file")
    source.add_argument("--server", metavar="URL", help="read the schema from this server")
    gen.add_argument("--database", metavar="NAME", help="database name (with --server)")
    gen.add_argument("--token", help="token for --server (private schemas)")
    gen.add_argument(
        "--out-dir", required=True, metavar="DIR", help="the package directory to write"
    )
    gen.add_argument(
        "--include-private", action="store_true", help="also bind private tables and reducers"
    )
    gen.add_argument(
        "--compat-07",
        action="store_true",
        help="also write the 0.7 SDK's <table>.py and <reducer>_reducer.py modules",
    )
    gen.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Run ``generate`` with parsed arguments; returns the exit status."""
    from .api import generate
    from .load import load_schema, load_schema_from_server

    try:
        if args.schema is not None:
            schema = load_schema(args.schema)
        else:
            if not args.database:
                print("spacetimedb-py generate: --server needs --database NAME", file=sys.stderr)
                return 2
            schema = load_schema_from_server(args.server, args.database, token=args.token)
        result = generate(
            schema, args.out_dir, include_private=args.include_private, compat_07=args.compat_07
        )
    except (SpacetimeDBError, OSError, ValueError) as e:
        print(f"spacetimedb-py generate: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(result.written)} files to {args.out_dir} ({len(result.unchanged)} "
        f"unchanged, {len(result.removed)} stale removed)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``generate`` as a standalone command line; returns the exit status.

    Example::

        raise SystemExit(main(["--schema", "schema.json", "--out-dir", "module_bindings"]))
    """
    parser = argparse.ArgumentParser(
        prog="spacetimedb-py generate", description="Generate typed Python bindings."
    )
    _configure(parser)
    args = parser.parse_args(argv)
    return run_generate(args)
