"""``spacetimedb-py subscribe SQL…``: stream row changes as JSON lines.

Unlike the other client commands it opens a WebSocket connection
(:class:`spacetimedb_sdk.connection.DbConnection`, imported only when the command runs):
callbacks feed a queue that one loop prints in order, with a progress line on a terminal
while the initial rows load, until Ctrl-C, end of input, ``--limit`` or ``--timeout``.

Example::

    $ spacetimedb-py subscribe --database quickstart-chat "SELECT * FROM message" --limit 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..client.events import EventContext, SubscribeApplied
from ..errors import SpacetimeDBError
from ..http import HttpClient
from ..sats.plain import to_plain
from ..schema import ModuleSchema
from .options import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    CliError,
    add_common,
    client_command,
    database_name,
    fetch_schema,
    resolve_token,
    server_url,
    silence_stdout,
)
from .render import print_json_line

if TYPE_CHECKING:
    from ..connection import DbConnection


_SUBSCRIBE_CONNECT_TIMEOUT = 15.0
_PROGRESS_DELAY = 0.5  # seconds of loading before a progress line appears


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = commands.add_parser(
        "subscribe",
        help="subscribe to queries and stream row changes as JSON lines",
        description="Subscribe to SQL queries and print each change as a JSON line: "
        '{"op": "insert"|"delete", "table": T, "row": R} or {"op": "update", "table": T, '
        '"old": R, "new": R}, and {"op": "applied", ...} once the initial rows are printed. '
        "Stops on Ctrl-C, end of input on a terminal or pipe, --limit or --timeout.",
    )
    add_common(sub)
    sub.add_argument("queries", metavar="SQL", nargs="+", help="subscription queries")
    sub.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N changes")
    sub.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this long (an error if the subscription was not applied yet, "
        "or --limit was not reached)",
    )
    sub.add_argument(
        "--no-snapshot",
        action="store_true",
        help="do not print the initial rows (the applied line still counts them)",
    )
    sub.set_defaults(run=client_command(_subscribe), trailing_positionals="queries")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _subscribe(args: argparse.Namespace) -> int:
    server, database = server_url(args), database_name(args)
    token, _ = resolve_token(args)
    with HttpClient(server, token=token) as http:
        _, schema = fetch_schema(http, database)
    try:
        return asyncio.run(_Subscriber(args, server, database, token, schema).run())
    except BrokenPipeError:
        silence_stdout()
        return 0


class _Progress:
    """A status line on stderr, redrawn in place; silent unless stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K" + text)
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self.shown = False


# Queue items: a change ("insert"/"delete"/"update", table, rows, in_snapshot) or a signal.
_Item = tuple[str, Any, Any, Any]


class _Subscriber:
    """One ``subscribe`` run: callbacks feed a queue, and :meth:`run` prints it in order."""

    def __init__(
        self,
        args: argparse.Namespace,
        server: str,
        database: str,
        token: str | None,
        schema: ModuleSchema,
    ) -> None:
        self.args = args
        self.server = server
        self.database = database
        self.token = token
        self.schema = schema
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.applied = False
        self.ending = False
        self.snapshot: dict[str, int] = {}
        self.printed = 0
        self.snapshot_done = 0
        self.progress = _Progress()
        self.row_types = {t.name: t.row_type for t in schema.tables}
        self.row_types.update({v.name: v.row_type for v in schema.views if v.row_type})

    async def run(self) -> int:
        from ..connection import DbConnection  # websockets is loaded only for this command

        loop = asyncio.get_running_loop()
        cleanup = self._watch_for_stop(loop)
        conn: DbConnection | None = None
        ticker = loop.create_task(self._tick_while_loading(loop.time()))
        try:
            builder = (
                DbConnection.builder(self.schema)
                .with_uri(self.server)
                .with_database_name(self.database)
                .with_token(self.token)
                .on_disconnect(lambda ctx, err: self._put(("closed", err, None, None)))
            )
            conn = await asyncio.wait_for(builder.connect(), _SUBSCRIBE_CONNECT_TIMEOUT)
            self._listen(conn)
            handle = conn.subscription_builder().subscribe(list(self.args.queries))
            waiter = loop.create_task(self._await_applied(handle))
            try:
                return await self._print_until_done(loop)
            finally:
                waiter.cancel()
        finally:
            self.ending = True
            ticker.cancel()
            self.progress.clear()
            cleanup()
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.disconnect(), 5.0)

    def _put(self, item: _Item) -> None:
        if not self.ending:
            self.queue.put_nowait(item)

    def _listen(self, conn: DbConnection) -> None:
        for handle in conn.db:
            name = handle.table_name

            def on_row(op: str, name: str = name) -> Callable[..., None]:
                def callback(ctx: EventContext, *rows: Any) -> None:
                    snapshot = isinstance(ctx.event, SubscribeApplied)
                    if snapshot:
                        self.snapshot[name] = self.snapshot.get(name, 0) + 1
                    else:
                        self._mark_applied()
                    self._put((op, name, rows, snapshot))

                return callback

            handle.on_insert(on_row("insert"))
            handle.on_delete(on_row("delete"))
            if self.schema.table_or_view(name).primary_key:
                handle.on_update(on_row("update"))

    def _mark_applied(self) -> None:
        # The first change after the initial rows proves they are all queued.
        if not self.applied:
            self.applied = True
            self._put(("applied", None, None, None))

    async def _await_applied(self, handle: Any) -> None:
        try:
            await handle
        except SpacetimeDBError as e:
            self._put(("failed", e, None, None))
            return
        self._mark_applied()

    def _watch_for_stop(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Stop on SIGINT/SIGTERM (status 130/143, as the shells report a signal) and on end
        of input when stdin is a terminal or a pipe (status 0: the input said "done")."""
        undo: list[Callable[[], object]] = []
        stop: _Item = ("stop", 0, None, None)
        for sig, status in ((signal.SIGINT, EXIT_INTERRUPTED), (signal.SIGTERM, EXIT_TERMINATED)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._put, ("stop", status, None, None))
                undo.append(functools.partial(loop.remove_signal_handler, sig))
        fd = _watchable_stdin()
        if fd is not None:

            def readable() -> None:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    loop.remove_reader(fd)
                    self._put(stop)

            with contextlib.suppress(NotImplementedError, OSError, ValueError):
                loop.add_reader(fd, readable)
                undo.append(functools.partial(loop.remove_reader, fd))

        def cleanup() -> None:
            for fn in undo:
                with contextlib.suppress(Exception):
                    fn()

        return cleanup

    async def _tick_while_loading(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        if not self.progress.enabled:
            return
        await asyncio.sleep(_PROGRESS_DELAY)
        while not self.applied:
            loaded = sum(self.snapshot.values())
            what = f"{loaded} rows received" if loaded else "waiting for the initial rows"
            self.progress.show(f"subscribing: {what}, {loop.time() - started:.1f} s")
            await asyncio.sleep(0.25)

    async def _print_until_done(self, loop: asyncio.AbstractEventLoop) -> int:
        limit, timeout = self.args.limit, self.args.timeout
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self.queue.empty():
                sys.stdout.flush()
            try:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                kind, a, b, c = await asyncio.wait_for(self.queue.get(), remaining)
            except asyncio.TimeoutError:  # not the builtin before 3.11
                return self._timed_out(timeout)
            if kind == "stop":
                return int(a)
            if kind == "closed":
                raise CliError("the server closed the connection" + (f": {a}" if a else ""))
            if kind == "failed":
                raise CliError(f"subscription rejected: {a}")
            if kind == "applied":
                self.progress.clear()
                total = sum(self.snapshot.values())
                print_json_line({"op": "applied", "rows": total, "tables": self.snapshot})
                continue
            if c:
                self.snapshot_done += 1
                if self.snapshot_done % 1000 == 0:
                    await self._show_snapshot_progress()
                if self.args.no_snapshot:
                    continue
            print_json_line(self._change(kind, a, b))
            self.printed += 1
            if limit is not None and self.printed >= limit:
                return 0
            if not c and self.printed % 1000 == 0:
                await asyncio.sleep(0)  # a burst of changes: let signals and the socket in

    async def _show_snapshot_progress(self) -> None:
        # Every snapshot row is queued before the first is printed, so the total is known.
        total = sum(self.snapshot.values())
        self.progress.show(f"initial rows: {self.snapshot_done} of {total}")
        await asyncio.sleep(0)  # let the progress line, signals and the socket in

    def _change(self, op: str, table: str, rows: tuple[Any, ...]) -> dict[str, Any]:
        ty, ts = self.row_types[table], self.schema.typespace
        if op == "update":
            old, new = rows
            return {
                "op": op,
                "table": table,
                "old": to_plain(ty, old, ts),
                "new": to_plain(ty, new, ts),
            }
        return {"op": op, "table": table, "row": to_plain(ty, rows[0], ts)}

    def _timed_out(self, timeout: float | None) -> int:
        limit = self.args.limit
        if not self.applied:
            raise CliError(f"timed out after {timeout:g} s waiting for the subscription")
        if limit is not None and self.printed < limit:
            raise CliError(f"timed out after {timeout:g} s with {self.printed} of {limit} changes")
        return 0


def _watchable_stdin() -> int | None:
    # A terminal (Ctrl-D) or a pipe (the parent closed it); never /dev/null or a file,
    # which are at end of input from the start.
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    return fd if os.isatty(fd) or stat.S_ISFIFO(mode) else None
