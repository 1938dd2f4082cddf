"""``spacetimedb-py generate``: typed bindings for a module, from a server or a schema file.

Like the other client commands it reads the schema of ``--database`` on ``--server``
(default ``$SPACETIMEDB_SERVER``, else ``http://127.0.0.1:3000``) with the same token
resolution; ``--schema FILE`` reads a saved schema instead.  The generator and its output
options live in :mod:`spacetimedb_sdk.codegen.cli`.

Example::

    $ spacetimedb-py generate --database quickstart-chat --out-dir module_bindings
"""

from __future__ import annotations

import argparse

from ..codegen.cli import DESCRIPTION, add_output_options, write_bindings
from .options import EXIT_USAGE, CliError, add_common, client_command, resolve_token, server_url


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gen = commands.add_parser(
        "generate", help="generate typed Python bindings for a module", description=DESCRIPTION
    )
    add_common(gen)
    add_output_options(gen)
    gen.set_defaults(run=client_command(_generate))


def _generate(args: argparse.Namespace) -> int:
    from ..codegen.load import load_schema, load_schema_from_server

    if args.schema is not None:
        if args.database:
            raise CliError("give --schema FILE or --database NAME, not both", EXIT_USAGE)
        schema = load_schema(args.schema)
    elif not args.database:
        raise CliError("no schema given: pass --database NAME (or --schema FILE)", EXIT_USAGE)
    else:
        token, _ = resolve_token(args)
        schema = load_schema_from_server(server_url(args), args.database, token=token)
    try:
        write_bindings(schema, args)
    except ValueError as e:  # e.g. a --compat-07 file name colliding with a bindings file
        raise CliError(str(e)) from None
    return 0
