"""``spacetimedb-py generate``: typed Python bindings for a SpacetimeDB module.

:func:`generate` writes a ``module_bindings`` package (see :mod:`.emit` for its
files) from a :class:`~spacetimedb_sdk.schema.ModuleSchema`; :func:`render` returns
the files without writing them; :func:`main` is the command line.

Example::

    from spacetimedb_sdk.codegen import generate, load_schema
    generate(load_schema("schema.json"), "src/module_bindings")
"""

from __future__ import annotations

from .api import GenerateResult, generate, render
from .cli import add_generate_command, main
from .load import load_schema, load_schema_from_server

__all__ = [
    "GenerateResult",
    "add_generate_command",
    "generate",
    "load_schema",
    "load_schema_from_server",
    "main",
    "render",
]
