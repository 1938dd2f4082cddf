"""``spacetimedb-py identity [new|show|forget]``: this machine's identity on a server.

``new`` creates one and stores its token in a credentials file, ``show`` prints the one
the other commands would use (see :func:`.options.resolve_token`), ``forget`` deletes the
stored token.

Example::

    $ spacetimedb-py identity show --json
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from pathlib import Path
from typing import Any

from ..http import HttpClient
from ..sats.values import Identity
from .options import (
    TOKEN_ENV,
    CliError,
    add_common,
    client_command,
    credentials_file,
    resolve_token,
    server_url,
)


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_common(identity, database=False)
    identity.add_argument(
        "--save", metavar="KEY", help="new: the credentials key to store the token under"
    )
    identity.add_argument("--force", action="store_true", help="new: replace a stored identity")
    identity.add_argument("--show-token", action="store_true", help="also print the token")
    identity.add_argument("--json", action="store_true", help="print one JSON object")
    identity.set_defaults(run=client_command(_identity))


def _identity(args: argparse.Namespace) -> int:
    action = args.action
    if action == "new":
        return _identity_new(args)
    if action == "forget":
        creds = credentials_file(args)
        existed = creds.path.exists()
        creds.clear()
        print(f"forgot {creds.path}" if existed else f"nothing stored at {creds.path}")
        return 0
    token, source = resolve_token(args)
    if token is None:
        creds = credentials_file(args)
        raise CliError(
            f"no identity: no --token, no ${TOKEN_ENV} and nothing stored at {creds.path}; "
            f"create one with `spacetimedb-py identity new --server {args.server}`"
        )
    identity = token_identity(token)
    if identity is None:
        raise CliError(f"the token from {source} is not a SpacetimeDB token (JWT)")
    path = credentials_file(args).path if source.startswith("credentials") else None
    _print_identity(args, identity, token, source, path)
    return 0


def _identity_new(args: argparse.Namespace) -> int:
    server = server_url(args)
    creds = credentials_file(args, args.save)
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
