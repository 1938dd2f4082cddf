"""``spacetimedb-py generate``: typed bindings for a module.

The command itself lives with the code generator (:mod:`spacetimedb_sdk.codegen.cli`);
this module only registers it, importing the generator when the parser is built.

Example::

    $ spacetimedb-py generate --database quickstart-chat --out-dir module_bindings
"""

from __future__ import annotations

import argparse


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..codegen.cli import add_generate_command

    add_generate_command(commands)
