"""The ``spacetimedb-py`` command line.

Subcommands (``spacetimedb-py COMMAND --help`` for each; also ``python -m spacetimedb_sdk``):

* ``serve PATH`` (or ``--example quickstart-chat``) — serve a Python module file or a TypeScript
  module (folder or entry file, run in Node) as a local SpacetimeDB database, print its URL and
  the owner's token, and run until Ctrl-C.
* ``generate`` — write typed bindings for a module (see :mod:`spacetimedb_sdk.codegen.cli`).
* ``describe`` — the schema of a database: a summary, ``--json`` or ``--raw``.
* ``sql SQL`` — run a statement over HTTP; a table, or ``--json`` (one object per row).
* ``call REDUCER ARG…`` — call a reducer or procedure, one JSON value per parameter.
* ``subscribe SQL…`` — stream row changes as JSON lines until Ctrl-C, end of input,
  ``--limit N`` or ``--timeout S``.
* ``identity [new|show|forget]`` — create, print or forget this machine's identity.

The client commands (all but ``serve``) share ``--server URL`` (default
``$SPACETIMEDB_SERVER``, else ``http://127.0.0.1:3000``), ``--database NAME`` and a token
taken from ``--token``, else ``$SPACETIMEDB_TOKEN``, else the credentials stored by
``identity new`` (``--credentials KEY``; by default one key per server), else none (an
anonymous identity).  Errors print one ``error:`` line on stderr and exit 1 (2 for usage
errors, with the command's usage); tokens never appear in them.  Ctrl-C exits 130;
``--version`` prints the package version.  Values are
printed as "plain JSON" (see :func:`spacetimedb_sdk.sats.to_plain`): hex identities,
RFC 3339 timestamps.

Example::

    $ spacetimedb-py serve --example quickstart-chat --port 3000
    Serving database 'quickstart-chat' at http://127.0.0.1:3000
    ...

One module per command (:mod:`.serve`, :mod:`.generate`, :mod:`.describe`, :mod:`.sql`,
:mod:`.call`, :mod:`.subscribe`, :mod:`.identity`); :mod:`.options` holds what the client
commands share (options, token resolution, error lines), :mod:`.render` how they print,
and :mod:`.parser` ties them into :func:`main`.  This package only re-exports.
"""

from __future__ import annotations

from ..sats.plain import to_plain as plain_json  # its name here before the codec moved to sats
from .describe import schema_summary
from .identity import token_identity
from .options import DEFAULT_SERVER, CliError, default_credentials_key, resolve_token
from .parser import build_parser, main
from .render import type_text

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
