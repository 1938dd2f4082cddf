"""``spacetimedb-py serve PATH`` (or ``--example NAME``): a local database until Ctrl-C.

``PATH`` is a Python module file, or a TypeScript module: a folder in the layout
``spacetime init --lang typescript`` creates, or a ``.ts``/``.js`` entry file, run in Node.

Separate from the client commands: it runs a server (:mod:`spacetimedb_sdk.server`)
rather than talking to one, and shares none of their options; its errors are the same
one ``error:`` line on stderr.  It needs the ``[server]`` extra, and says so in that line
when the extra is missing.  Ctrl-C (or SIGTERM) is how it is meant to end: status 0.

Example::

    $ spacetimedb-py serve --example quickstart-chat --port 3000
    Serving database 'quickstart-chat' at http://127.0.0.1:3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
from typing import TYPE_CHECKING

from ..errors import SpacetimeDBError
from .options import EXIT_ERROR, EXIT_USAGE, CliError, print_error

if TYPE_CHECKING:
    from ..server.limits import ServerLimits
    from ..server.local import LocalServer
    from ..server.module import Module


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a Python or TypeScript module as a local SpacetimeDB database",
        description="Serve a module over the SpacetimeDB HTTP and WebSocket API until "
        "interrupted: a Python file defining `module = Module(...)`, a TypeScript module "
        "(a folder with package.json and src/index.ts, or a .ts/.js entry file; it runs in "
        "Node 20 or newer, and its npm dependencies are installed if missing), or a module "
        "shipped with the package (--example quickstart-chat). Needs the [server] extra.",
    )
    source = serve.add_mutually_exclusive_group()
    source.add_argument(
        "module_file",
        metavar="PATH",
        nargs="?",
        help="a Python file defining `module`, or a TypeScript module folder or entry file",
    )
    source.add_argument(
        "--example",
        metavar="NAME",
        help="serve a module shipped with the package instead (quickstart-chat)",
    )
    serve.add_argument("--database", help="the database name (default: the module's name)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=3000,
        help="port to listen on; 0 picks a free one (default: 3000)",
    )
    serve.add_argument(
        "--reducer-timeout",
        type=_seconds,
        default=10.0,
        metavar="S",
        help="time budget of one reducer, view or procedure transaction in seconds; a call "
        "over it is stopped and rolled back (default: 10; 0 for none)",
    )
    serve.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the database, the signing key and the owner identity in DIR across "
        "restarts (created if missing; default: everything in memory)",
    )
    serve.add_argument(
        "--clear",
        action="store_true",
        help="with --data-dir: delete the database's stored data and start it empty",
    )
    serve.add_argument(
        "--limit",
        action="append",
        type=_limit,
        default=[],
        metavar="NAME=N",
        help="change one of the server's resource limits (repeatable; 0 for none): "
        "incoming_queue_length, outgoing_queue_length, outgoing_queue_bytes, sql_row_limit, "
        "sql_max_rows, sql_max_result_bytes (defaults in docs/local-server.md)",
    )
    serve.add_argument(
        "--allow-loopback-http",
        action="store_true",
        help="let procedures' ctx.http reach 127.0.0.1 and ::1 (refused by default, as upstream)",
    )
    serve.set_defaults(run=_serve)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number of seconds: {text!r}")
    return value


def _limit(text: str) -> tuple[str, int | None]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=N: {text!r}")
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more: {text!r}")
    return name.strip().replace("-", "_"), number or None


def _serve(args: argparse.Namespace) -> int:
    try:
        server = _local_server(args)
    except CliError as e:
        print_error(str(e))
        return e.code
    try:
        asyncio.run(_serve_until_interrupted(server))
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    except OSError as e:
        print_error(f"cannot listen on {args.host}:{args.port}: {e}")
        return EXIT_ERROR
    return 0


def _local_server(args: argparse.Namespace) -> LocalServer:
    from ..server.extra import ServerExtraMissing

    try:
        from ..server.local import LocalServer
    except ServerExtraMissing as e:  # its message says what to install
        raise CliError(str(e)) from None
    if args.example is not None:
        from ..server.examples import load_example

        try:
            module: Module | str = load_example(args.example)
        except LookupError as e:
            raise CliError(str(e), EXIT_USAGE) from None
    elif args.module_file is not None:
        module = args.module_file
    else:
        raise CliError("serve needs a module: pass a module PATH or --example NAME", EXIT_USAGE)
    if args.clear and args.data_dir is None:
        raise CliError("--clear empties a data directory: pass --data-dir DIR too", EXIT_USAGE)
    try:
        return LocalServer(
            module,
            limits=_limits(args.limit),
            database=args.database,
            host=args.host,
            port=args.port,
            reducer_timeout=args.reducer_timeout or None,  # 0: no budget
            allow_loopback_http=args.allow_loopback_http,
            data_dir=args.data_dir,
            clear=args.clear,
        )
    except FileNotFoundError as e:
        raise CliError(str(e), EXIT_USAGE) from None
    except (OSError, ImportError, SpacetimeDBError) as e:  # a TS module, a data directory
        raise CliError(str(e)) from None


def _limits(given: list[tuple[str, int | None]]) -> ServerLimits:
    from ..server.limits import ServerLimits

    known = [f.name for f in dataclasses.fields(ServerLimits)]
    for name, _ in given:
        if name not in known:
            raise CliError(
                f"--limit: no limit named {name!r}; one of {', '.join(known)}", EXIT_USAGE
            )
    return ServerLimits(**dict(given))


async def _serve_until_interrupted(server: LocalServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows has no loop signal handlers: there Ctrl-C raises KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server as srv:
        print(f"Serving database {srv.database!r} at {srv.url}", flush=True)
        print(f"WebSocket: {srv.ws_url}", flush=True)
        print(f"Owner identity: {srv.owner_identity.to_hex()}", flush=True)
        print(f"Owner token: {srv.owner_token}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        await stop.wait()
        print("Stopping.", flush=True)
