"""``spacetimedb-py serve MODULE.py``: a Python module as a local database until Ctrl-C.

Separate from the client commands: it runs a server (:mod:`spacetimedb_sdk.server`)
rather than talking to one, and shares none of their options.

Example::

    $ spacetimedb-py serve examples/quickstart-chat/module.py --port 3000
    Serving database 'quickstart-chat' at http://127.0.0.1:3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..server.local import LocalServer


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve a Python module as a local SpacetimeDB database",
        description="Serve MODULE.py (which defines `module = Module(...)`) over the "
        "SpacetimeDB HTTP and WebSocket API until interrupted.",
    )
    serve.add_argument("module_file", metavar="MODULE.py", help="the Python file defining `module`")
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


def _serve(args: argparse.Namespace) -> int:
    from ..server.local import LocalServer

    try:
        server = LocalServer(
            args.module_file,
            database=args.database,
            host=args.host,
            port=args.port,
            reducer_timeout=args.reducer_timeout or None,
            allow_loopback_http=args.allow_loopback_http,
        )
    except (OSError, ImportError) as e:
        print(f"spacetimedb-py serve: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_interrupted(server))
    except KeyboardInterrupt:  # platforms without loop signal handlers
        pass
    except OSError as e:
        print(
            f"spacetimedb-py serve: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr
        )
        return 1
    return 0


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
