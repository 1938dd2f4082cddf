"""``spacetimedb-py publish MODULE.py --database NAME``: create a database, or replace its module.

It makes the requests upstream's ``spacetime publish`` makes (``crates/cli/src/subcommands/
publish.rs``), with the module's source as the program (``host_type=Python``, content type
``text/x-python``):

* with ``--database``, ``POST .../pre_publish`` first: 404 means a new database; a plan that
  needs a manual migration is printed and refused (``--clear`` starts the database empty
  instead); a plan that disconnects every client is printed and needs ``--break-clients`` (or
  a "y" at the prompt on a terminal), and then goes with upstream's ``policy=BreakClients`` and
  the plan's token; then ``PUT /v1/database/NAME`` (``?clear=true`` with ``--clear``);
* without ``--database``, ``POST /v1/database``: a new database with a fresh identity.

Publishing needs an identity, which becomes the database's owner: without a token it creates
one on the server and stores it, as ``identity new`` would (upstream logs in the same way).

Example::

    $ spacetimedb-py publish scores.py --database scores
    Created new database with name: scores, identity: c200...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from ..http import HttpError
from .identity import token_identity
from .options import (
    EXIT_ERROR,
    EXIT_USAGE,
    CliError,
    add_common,
    client_command,
    credentials_file,
    resolve_token,
    server_url,
)

HOST_TYPE = "Python"
CONTENT_TYPE = "text/x-python"


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    publish = commands.add_parser(
        "publish",
        help="publish a Python module: create a database or replace its module",
        description="Publish MODULE.py (which defines `module = Module(...)`) to a server that "
        "runs Python modules (`spacetimedb-py serve`). A new name creates a database owned by "
        "your identity; the name of a running database replaces its module, keeping its data "
        "as SpacetimeDB's migration rules allow.",
    )
    publish.add_argument("module_file", metavar="MODULE.py", help="the Python module to publish")
    add_common(publish)
    publish.add_argument(
        "--clear",
        action="store_true",
        help="start the database empty with this module (deletes its data)",
    )
    publish.add_argument(
        "--break-clients",
        action="store_true",
        help="publish even when the update disconnects every connected client",
    )
    publish.set_defaults(run=client_command(_publish))


def _publish(args: argparse.Namespace) -> int:
    server = server_url(args)
    path = Path(args.module_file)
    try:
        program = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"no module file at {str(path)!r}", EXIT_USAGE) from None
    name: str | None = args.database
    with httpx.Client(base_url=server, timeout=60.0) as http:
        token = _token(args, http)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE}
        params: dict[str, str] = {"host_type": HOST_TYPE}
        if name is None:
            response = _send(http, "POST", "/v1/database", program, headers, params)
        else:
            if args.clear:
                params["clear"] = "true"
            else:
                params.update(_pre_publish(http, name, program, headers, args.break_clients))
            response = _send(http, "PUT", f"/v1/database/{name}", program, headers, params)
    result = _json(response).get("Success")
    if not isinstance(result, dict):
        raise CliError(f"the server refused: {response.text}")
    op = "Created new" if result.get("op") == "created" else "Updated"
    identity = result.get("database_identity")
    if result.get("domain"):
        print(f"{op} database with name: {result['domain']}, identity: {identity}")
    else:
        print(f"{op} database with identity: {identity}")
    return 0


def _token(args: argparse.Namespace, http: httpx.Client) -> str:
    """The publisher's token; without one, a new identity stored for this server."""
    token, _ = resolve_token(args)
    if token is not None:
        return token
    creds = credentials_file(args)
    created = _json(_send(http, "POST", "/v1/identity", b"", {}, {}))
    token = str(created["token"])
    creds.save(token)
    print(
        f"Created identity {token_identity(token)} for {args.server} "
        f"(stored in credentials {creds.key!r})",
        file=sys.stderr,
    )
    return token


def _pre_publish(
    http: httpx.Client,
    name: str,
    program: bytes,
    headers: dict[str, str],
    break_clients: bool,
) -> dict[str, str]:
    """Check the update first, as upstream's CLI does; the query parameters it calls for."""
    style = "AnsiColor" if sys.stdout.isatty() else "NoColor"
    params = {"host_type": HOST_TYPE, "style": style}
    response = _send(http, "POST", f"/v1/database/{name}/pre_publish", program, headers, params)
    if response.status_code == 404:
        return {}  # a new database: nothing to migrate
    _raise_for(response)
    plan = _json(response)
    manual = plan.get("ManualMigrate")
    if isinstance(manual, dict):
        print(manual.get("reason", ""))
        raise CliError(
            "the new module cannot replace the running one without a manual migration; "
            "pass --clear to start the database empty instead (this deletes its data)"
        )
    auto = plan.get("AutoMigrate")
    if not isinstance(auto, dict):
        raise CliError(f"unexpected pre-publish answer: {response.text}")
    print(auto.get("migrate_plan", ""))
    if not auto.get("break_clients"):
        return {}
    if not break_clients and not _confirm(
        "The above changes will BREAK existing clients. Do you want to proceed? [y/N] "
    ):
        raise CliError(
            "the update disconnects every connected client; pass --break-clients to publish anyway"
        )
    return {"policy": "BreakClients", "token": str(auto.get("token", ""))}


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(prompt).strip().lower() in ("y", "yes")


def _send(
    http: httpx.Client,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    params: dict[str, str],
) -> httpx.Response:
    try:
        return http.request(method, path, content=body, headers=headers, params=params)
    except httpx.TransportError as e:
        raise CliError(f"cannot reach {http.base_url}: {e}. Is the server running?") from None


def _raise_for(response: httpx.Response) -> None:
    if not response.is_success:
        url = str(response.request.url.copy_with(query=None))
        raise HttpError(response.request.method, url, response.status_code, response.text)


def _json(response: httpx.Response) -> dict[str, Any]:
    _raise_for(response)
    try:
        value = response.json()
    except ValueError:
        raise CliError(
            f"the server answered {response.status_code} with no JSON: {response.text[:200]}",
            EXIT_ERROR,
        ) from None
    if not isinstance(value, dict):
        raise CliError(f"unexpected answer from the server: {response.text[:200]}")
    return value
