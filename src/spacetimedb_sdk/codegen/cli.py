"""The ``generate`` command's code-generator side: its output options and writing the package.

``spacetimedb-py generate`` (:mod:`spacetimedb_sdk.cli.generate`) adds the options every
client command shares (``--server`` with its default, ``-d/--database``, the token) to the
ones here; :func:`main` is a standalone form of the same command for scripts that import
the generator without the command line.

Example::

    $ spacetimedb-py generate --schema schema.json --out-dir src/module_bindings
    wrote 8 files to src/module_bindings (0 unchanged, 0 stale removed)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import SpacetimeDBError
from ..schema import ModuleSchema

__all__ = ["add_generate_command", "add_output_options", "main", "run_generate", "write_bindings"]

DESCRIPTION = (
    "Write a module_bindings package (typed rows, tables, reducers and a DbConnection "
    "subclass) for a module schema read from a file (--schema) or from a database on a "
    "server (--database, with --server)."
)


def add_generate_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the standalone ``generate`` on a subparsers object (see :func:`main`).

    Example::

        parser = argparse.ArgumentParser()
        add_generate_command(parser.add_subparsers(dest="command"))
    """
    gen = commands.add_parser(
        "generate", help="generate typed Python bindings for a module", description=DESCRIPTION
    )
    _configure(gen)


def add_output_options(gen: argparse.ArgumentParser) -> None:
    """``--schema``, ``--out-dir``, ``--include-private`` and ``--compat-07``.

    Example::

        add_output_options(commands.add_parser("generate"))
    """
    gen.add_argument(
        "--schema",
        metavar="FILE",
        help="read the schema from this JSON (v9/v10) or BSATN file instead of a server",
    )
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


def write_bindings(schema: ModuleSchema, args: argparse.Namespace) -> None:
    """Generate into ``args.out_dir`` and print what changed.

    Example::

        write_bindings(load_schema("schema.json"), args)
    """
    from .api import generate

    result = generate(
        schema, args.out_dir, include_private=args.include_private, compat_07=args.compat_07
    )
    print(
        f"wrote {len(result.written)} files to {args.out_dir} ({len(result.unchanged)} "
        f"unchanged, {len(result.removed)} stale removed)"
    )


def _configure(gen: argparse.ArgumentParser) -> None:
    add_output_options(gen)
    gen.add_argument("--server", metavar="URL", help="read the schema from this server")
    gen.add_argument("--database", "-d", metavar="NAME", help="database name (with --server)")
    gen.add_argument("--token", help="token for --server (private schemas)")
    gen.set_defaults(run=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    """Run the standalone ``generate`` with parsed arguments; returns the exit status."""
    from .load import load_schema, load_schema_from_server

    if (args.schema is None) == (args.server is None):
        print("error: give --schema FILE, or --server URL with --database NAME", file=sys.stderr)
        return 2
    try:
        if args.schema is not None:
            schema = load_schema(args.schema)
        else:
            if not args.database:
                print("error: --server needs --database NAME", file=sys.stderr)
                return 2
            schema = load_schema_from_server(args.server, args.database, token=args.token)
        write_bindings(schema, args)
    except (SpacetimeDBError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``generate`` as a standalone command line; returns the exit status.

    Example::

        raise SystemExit(main(["--schema", "schema.json", "--out-dir", "module_bindings"]))
    """
    parser = argparse.ArgumentParser(prog="spacetimedb-py generate", description=DESCRIPTION)
    _configure(parser)
    args = parser.parse_args(argv)
    return run_generate(args)
