"""The quickstart chat client: a console chat room over a SpacetimeDB database.

Connects to a database running the quickstart-chat module (this folder's
``module.py`` on the local server, or the upstream quickstart on a real
SpacetimeDB), prints the chat as it happens and sends what you type:
``/name NAME`` sets your name, any other line is sent as a message.  End with
Ctrl-D (end of input) or Ctrl-C.

The token the server gives on the first connection is saved (see
``spacetimedb_sdk.credentials``), so the next run is the same user.  Run two
clients on one machine with different ``--credentials`` keys to be two users.

Typed bindings in ``module_bindings/`` beside this file are used when present
(``make demo`` writes them; ``spacetimedb-py generate`` does too); otherwise
the schema is read from the server when connecting.

Example::

    $ spacetimedb-py serve examples/quickstart-chat/module.py &
    $ python examples/quickstart-chat/client.py
    Connected to quickstart-chat at http://127.0.0.1:3000 as c2007a3b1f4e5d6c.
    Fully connected and all subscriptions applied.
    Use /name to set your name, or type a message!
    /name Alice
    User c2007a3b1f4e5d6c renamed to Alice.
    hello
    Alice: hello
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from spacetimedb_sdk import credentials
from spacetimedb_sdk.client.events import (
    ErrorContext,
    EventContext,
    ReducerEvent,
    SubscriptionEventContext,
    Transaction,
)
from spacetimedb_sdk.connection import DbConnection, DbConnectionBuilder
from spacetimedb_sdk.errors import ConnectError, DisconnectedError, SpacetimeDBError

HERE = Path(__file__).resolve().parent
DEFAULT_SERVER = "http://127.0.0.1:3000"
DEFAULT_DATABASE = "quickstart-chat"
BINDINGS_PACKAGE = "module_bindings"
#: Seconds to wait for the subscription, each reducer call and the goodbye.
TIMEOUT = 30.0

Output = Callable[[str], object]

_REJECTED = re.compile(r"\bHTTP 401\b")


# ---- what a chat client shows -------------------------------------------------------------------


def user_label(user: Any) -> str:
    """A user's name, or the start of their identity if they have not set one.

    Example::

        user_label(conn.db.user.identity.find(conn.identity))  # 'Alice' or 'c2007a3b1f4e5d6c'
    """
    name: str | None = user.name
    return name if name is not None else str(user.identity.to_hex())[:16]


class ChatView:
    """Prints what one chat client sees: messages with their sender's name, renames, and
    users coming online and going offline; each line goes to ``out``.

    The scripted demo attaches one per client with an ``out`` that prefixes the client's
    name; the interactive client prints plainly.

    Example::

        view = ChatView(conn, print)
        view.attach()
        await conn.subscription_builder().on_applied(view.on_applied).add_query(
            lambda q: q.user).add_query(lambda q: q.message).subscribe()
    """

    def __init__(self, conn: DbConnection, out: Output) -> None:
        self.conn = conn
        self.out = out

    def attach(self) -> None:
        """Register the row callbacks on ``user`` and ``message``."""
        self.conn.db.user.on_insert(self.on_user_inserted)
        self.conn.db.user.on_update(self.on_user_updated)
        self.conn.db.message.on_insert(self.on_message_inserted)

    def on_user_inserted(self, ctx: EventContext, user: Any) -> None:
        if user.online:
            self.out(f"User {user_label(user)} connected.")

    def on_user_updated(self, ctx: EventContext, old: Any, new: Any) -> None:
        if old.name != new.name:
            self.out(f"User {user_label(old)} renamed to {user_label(new)}.")
        if old.online and not new.online:
            self.out(f"User {user_label(new)} disconnected.")
        if new.online and not old.online:
            self.out(f"User {user_label(new)} connected.")

    def on_message_inserted(self, ctx: EventContext, message: Any) -> None:
        # Messages already there when subscribing are printed in order by on_applied.
        if isinstance(ctx.event, ReducerEvent | Transaction):
            self.print_message(ctx, message)

    def print_message(self, ctx: EventContext | SubscriptionEventContext, message: Any) -> None:
        sender = ctx.db.user.identity.find(message.sender)
        self.out(f"{user_label(sender) if sender is not None else 'unknown'}: {message.text}")

    def on_applied(self, ctx: SubscriptionEventContext) -> None:
        """Print the chat history in the order it was sent."""
        for message in sorted(ctx.db.message, key=lambda m: m.sent):
            self.print_message(ctx, message)
        self.out("Fully connected and all subscriptions applied.")
        self.out("Use /name to set your name, or type a message!")


async def subscribe_to_chat(conn: DbConnection, view: ChatView) -> None:
    """Subscribe to every user and message; returns once the rows are in the cache.

    Example::

        await subscribe_to_chat(conn, ChatView(conn, print))
    """
    handle = (
        conn.subscription_builder()
        .on_applied(view.on_applied)
        .add_query(lambda q: q.user)
        .add_query(lambda q: q.message)
        .subscribe()
    )
    await asyncio.wait_for(handle, TIMEOUT)


async def handle_line(conn: DbConnection, line: str, err: Output) -> None:
    """Act on one line of input: ``/name NAME`` renames, anything else is a message.

    The module's own refusals (an empty name or message) are reported on ``err``.

    Example::

        await handle_line(conn, "/name Alice", print)
    """
    if line.startswith("/name "):
        name = line[len("/name ") :]
        try:
            await asyncio.wait_for(conn.reducers.set_name(name), TIMEOUT)
        except (SpacetimeDBError, asyncio.TimeoutError) as e:
            if isinstance(e, DisconnectedError):
                raise
            err(f"Failed to set name to {name!r}: {_describe(e)}")
    else:
        try:
            await asyncio.wait_for(conn.reducers.send_message(line), TIMEOUT)
        except (SpacetimeDBError, asyncio.TimeoutError) as e:
            if isinstance(e, DisconnectedError):
                raise
            err(f"Failed to send message {line!r}: {_describe(e)}")


def _describe(e: BaseException) -> str:
    return str(e) or f"no answer within {TIMEOUT:g} s"


# ---- connecting ---------------------------------------------------------------------------------


def connection_class(dynamic: bool = False) -> type[DbConnection]:
    """The generated ``DbConnection`` from ``module_bindings/`` beside this file, if it is there
    (and ``dynamic`` is false); else the generic one, which reads the schema from the server.

    Example::

        conn = await connection_class().builder().with_uri(url).with_database_name(db).connect()
    """
    if dynamic or not (HERE / BINDINGS_PACKAGE / "__init__.py").is_file():
        return DbConnection
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    bindings = importlib.import_module(BINDINGS_PACKAGE)
    cls = bindings.DbConnection
    if not (isinstance(cls, type) and issubclass(cls, DbConnection)):
        raise TypeError(f"{HERE / BINDINGS_PACKAGE} does not define a DbConnection subclass")
    return cls


def default_credentials_key(server: str) -> str:
    """The credentials key for ``server``: one per server, since a token only works where it
    was issued.

    Example::

        >>> default_credentials_key("http://127.0.0.1:3000")
        'quickstart-chat_127.0.0.1_3000'
    """
    parts = urlsplit(server if "://" in server else f"http://{server}")
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"quickstart-chat_{parts.hostname}_{port}")


async def connect(
    args: argparse.Namespace,
    cls: type[DbConnection],
    on_disconnect: Callable[[ErrorContext, Exception | None], object],
    err: Output,
) -> DbConnection:
    """Connect as the saved user (or ``--token``); a saved token the server no longer accepts
    (a restarted local server has a new signing key) is replaced by a new identity."""
    creds = None if args.token else credentials.File(args.credentials)
    token = args.token or (creds.load() if creds is not None else None)

    def save(conn: DbConnection, identity: object, new_token: str) -> None:
        if creds is None:
            return
        try:
            creds.save(new_token)
        except (OSError, credentials.CredentialsError) as e:
            err(f"Failed to save credentials: {e}")

    def builder(token: str | None) -> DbConnectionBuilder[DbConnection]:
        return (
            cls.builder()
            .with_uri(args.server)
            .with_database_name(args.database)
            .with_token(token)
            .on_connect(save)
            .on_disconnect(on_disconnect)
        )

    try:
        return await builder(token).connect()
    except ConnectError as e:
        if creds is None or token is None or not _REJECTED.search(str(e)):
            raise
        err(
            f"The server rejected the saved credentials {creds.key!r} ({creds.path}); "
            "connecting as a new user."
        )
        return await builder(None).connect()


def start_reading_stdin(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines of standard input as they arrive, then ``None`` at its end.

    A daemon thread reads, so that a pending read never keeps the process alive, and it
    works for terminals, pipes and files alike (unlike ``connect_read_pipe``).
    """
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def post(item: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(lines.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            return False
        return True

    def read() -> None:
        for raw in sys.stdin:
            if not post(raw.rstrip("\r\n")):
                return
        post(None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return lines


async def run_chat(args: argparse.Namespace) -> int:
    """Connect, show the chat and send the input lines until input ends or the server goes."""
    out: Output = functools.partial(print, flush=True)
    err: Output = functools.partial(print, file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[Exception | None] = loop.create_future()

    def on_disconnect(ctx: ErrorContext, error: Exception | None) -> None:
        if error is None:
            out("Disconnected.")
        else:
            err(f"Disconnected: {error}")
        if not closed.done():
            closed.set_result(error)

    try:
        cls = connection_class(args.dynamic)
    except (ImportError, TypeError) as e:
        err(f"Cannot use {HERE / BINDINGS_PACKAGE}: {e}; regenerate it or pass --dynamic")
        return 1
    if cls is not DbConnection:
        out(f"Using the generated bindings in {BINDINGS_PACKAGE}/.")
    try:
        conn = await connect(args, cls, on_disconnect, err)
    except SpacetimeDBError as e:
        err(f"Connection error: {e}")
        return 1
    who = conn.identity.to_hex()[:16]
    out(f"Connected to {args.database} at {args.server} as {who}.")
    view = ChatView(conn, out)
    view.attach()
    status = 0
    try:
        await subscribe_to_chat(conn, view)
        lines = start_reading_stdin(loop)
        while not closed.done():
            next_line = asyncio.ensure_future(lines.get())
            either: set[asyncio.Future[Any]] = {next_line, closed}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if not next_line.done():
                next_line.cancel()
                break
            line = next_line.result()
            if line is None:
                break
            await handle_line(conn, line, err)
    except (SpacetimeDBError, asyncio.TimeoutError) as e:
        if not closed.done():  # else on_disconnect has said why
            err(f"Error: {_describe(e)}")
        status = 1
    finally:
        await _close(conn)
    if closed.done() and closed.result() is not None:
        status = 1
    return status


async def _close(conn: DbConnection) -> None:
    # Already gone or not answering: nothing is left to tell the server.
    with contextlib.suppress(SpacetimeDBError, asyncio.TimeoutError):
        await asyncio.wait_for(conn.disconnect(), TIMEOUT)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command-line options (see ``--help``)."""
    parser = argparse.ArgumentParser(
        description="Chat over a SpacetimeDB database running the quickstart-chat module. "
        "Type /name NAME to set your name; other lines are sent as messages.",
    )
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help=f"server URL (default: {DEFAULT_SERVER})"
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help=f"database name or identity (default: {DEFAULT_DATABASE})",
    )
    parser.add_argument("--token", help="connect with this token (nothing is saved)")
    parser.add_argument(
        "--credentials",
        metavar="KEY",
        help="the saved credentials to use and update (default: one key per server, "
        "e.g. quickstart-chat_127.0.0.1_3000)",
    )
    parser.add_argument(
        "--dynamic",
        action="store_true",
        help=f"ignore {BINDINGS_PACKAGE}/ and read the schema from the server",
    )
    args = parser.parse_args(argv)
    if args.credentials is None:
        args.credentials = default_credentials_key(args.server)
    try:
        credentials.File(args.credentials)
    except ValueError as e:
        parser.error(str(e))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; returns the exit status (0 after a clean goodbye).

    Example::

        raise SystemExit(main(["--server", "http://127.0.0.1:3000"]))
    """
    args = parse_args(argv)
    try:
        return asyncio.run(run_chat(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
