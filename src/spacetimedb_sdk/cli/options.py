"""What every client command shares: options, where values come from, how failures end.

The client commands (``describe``, ``sql``, ``call``, ``subscribe``, ``identity``,
``generate``) take the same ``--server`` (default ``$SPACETIMEDB_SERVER``, else
:data:`DEFAULT_SERVER`), ``--database``, ``--token`` and ``--credentials`` options
(:func:`add_common`); this module resolves them (the server URL, the database name, the
token and where it came from, the credentials file) and turns every failure into one
``error:`` line on stderr and an exit status (:func:`client_command`), with tokens
redacted.  ``serve`` prints its errors with :func:`print_error` too.  It also fetches a
database's schema, which most commands start with.

Exit statuses: 0 success, 1 an error (one ``error:`` line on stderr), 2 a usage error
(argparse's own status, also used for arguments the parser cannot check, such as JSON),
130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM (``subscribe``).  A ``serve``
stopped by Ctrl-C has done what it was asked and exits 0.

Example::

    token, source = resolve_token(args)   # e.g. (None, "anonymous")
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .. import credentials
from ..errors import SpacetimeDBError
from ..http import HttpClient, HttpError, http_base
from ..schema import ModuleSchema

DEFAULT_SERVER = "http://127.0.0.1:3000"
SERVER_ENV = "SPACETIMEDB_SERVER"
TOKEN_ENV = "SPACETIMEDB_TOKEN"
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shells' convention
EXIT_TERMINATED = 143  # 128 + SIGTERM
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")

Command = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A failure reported as one ``error: …`` line; ``code`` is the exit status.

    Example::

        raise CliError("no database given: pass --database NAME", EXIT_USAGE)
    """

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def default_server() -> str:
    """``--server``'s default: ``$SPACETIMEDB_SERVER`` when set, else :data:`DEFAULT_SERVER`.

    Example::

        default_server()   # 'http://127.0.0.1:3000' unless $SPACETIMEDB_SERVER says otherwise
    """
    return os.environ.get(SERVER_ENV) or DEFAULT_SERVER


def add_common(p: argparse.ArgumentParser, *, database: bool = True) -> None:
    """Add the options every client command shares: ``--server``, ``--database``, the token.

    Example::

        add_common(commands.add_parser("describe"))
    """
    p.add_argument(
        "--server",
        default=default_server(),
        metavar="URL",
        help=f"the SpacetimeDB server (default: ${SERVER_ENV}, else {DEFAULT_SERVER})",
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


def server_url(args: argparse.Namespace) -> str:
    try:
        return http_base(args.server)
    except ValueError as e:
        raise CliError(f"bad --server: {e}", EXIT_USAGE) from None


def database_name(args: argparse.Namespace) -> str:
    if not args.database:
        raise CliError(f"no database given: pass --database NAME ({args.command})", EXIT_USAGE)
    return str(args.database)


def credentials_file(args: argparse.Namespace, key: str | None = None) -> credentials.File:
    key = key or args.credentials or default_credentials_key(server_url(args))
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
    creds = credentials_file(args)
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
        # Upstream: "No such database." for an identity, "`name` not found" for a name.
        if e.status == 404 and ("database" in body.lower() or body.endswith("` not found")):
            return f"database {getattr(args, 'database', None)!r} not found on {args.server}"
        if e.status == 401:
            return f"the server rejected the token ({body}); check --token / ${TOKEN_ENV}"
        if e.status == 403:
            return f"permission denied: {body}"
        return f"{body} (HTTP {e.status})"
    if isinstance(e, credentials.CredentialsError | SpacetimeDBError | OSError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def print_error(message: str) -> None:
    """The one line every command ends a failure with: ``error: MESSAGE`` on stderr.

    Example::

        print_error("no database given: pass --database NAME")
    """
    print(f"error: {message}", file=sys.stderr)


def client_command(fn: Command) -> Command:
    """Wrap a command so that every failure ends as one ``error:`` line and an exit status."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except CliError as e:
            code, message = e.code, str(e)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            silence_stdout()
            return 0
        except (SpacetimeDBError, OSError, TimeoutError) as e:
            code, message = EXIT_ERROR, _explain(e, args)
        print_error(_redact(message, args))
        return code

    return run


def silence_stdout() -> None:
    # The reader went away (`… | head`): later writes, even at exit, must not fail again.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def fetch_schema(http: HttpClient, database: str) -> tuple[Any, ModuleSchema]:
    try:
        doc = http.schema_json(database, version=10)
    except HttpError as e:
        if e.status != 400:  # 400: a server without v10 schemas
            raise
        doc = http.schema_json(database, version=9)
    return doc, ModuleSchema.from_json(doc)
