"""The local server for ``server_resources.py`` and ``soak.py``, in its own process.

Serves a small module (``item`` rows; reducers that fill, update, bump and spin) on
``127.0.0.1`` (a free port), prints one JSON line ``{"url", "pid", "database",
"owner_token"}`` and serves until its stdin closes, so it never outlives the benchmark that
started it.  ``--limit NAME=N`` sets one of the server's limits (``ServerLimits``), as
``spacetimedb-py serve --limit`` does.

Example::

    $ .venv/bin/python bench/_resource_server.py --reducer-timeout 2
    {"url": "http://127.0.0.1:41234", "pid": 12345, "database": "resources", ...}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from spacetimedb_sdk.sats import U32, U64
from spacetimedb_sdk.server import Module, ReducerContext, column
from spacetimedb_sdk.server.local import LocalServer

module = Module("resources")


@module.table(public=True)
class Item:
    id: U32 = column(primary_key=True, auto_inc=True)
    tag: U32 = column(index="btree")
    n: U64
    data: str


@module.reducer
def fill(ctx: ReducerContext, count: U32, size: U32) -> None:
    """Insert ``count`` rows of ``size`` bytes of data, all with tag 0."""
    for _ in range(count):
        ctx.db.item.insert(Item(0, 0, 0, "x" * size))  # type: ignore[call-arg]


@module.reducer
def rewrite(ctx: ReducerContext, id: U32, size: U32) -> None:
    """Give row ``id`` new data of ``size`` bytes (a different value each time)."""
    row = ctx.db.item.id.find(id)
    n = row.n + 1
    data = (str(n) * size)[:size]
    ctx.db.item.id.update(Item(id, row.tag, n, data))  # type: ignore[call-arg]


@module.reducer
def bump(ctx: ReducerContext, first: U32, count: U32) -> None:
    """Add one to ``n`` of rows ``first .. first + count - 1``."""
    for id in range(first, first + count):
        row = ctx.db.item.id.find(id)
        ctx.db.item.id.update(Item(id, row.tag, row.n + 1, row.data))  # type: ignore[call-arg]


@module.reducer
def spin(ctx: ReducerContext) -> None:
    """Never returns (the time budget stops it)."""
    while True:
        pass


async def serve(options: dict[str, Any]) -> None:
    async with LocalServer(module, **options) as srv:
        info = {
            "url": srv.url,
            "pid": os.getpid(),
            "database": srv.database,
            "owner_token": srv.owner_token,
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reducer-timeout", type=float, default=None, help="seconds (0: none)")
    parser.add_argument("--limit", action="append", default=[], metavar="NAME=N")
    args = parser.parse_args()
    options: dict[str, Any] = {}
    if args.reducer_timeout is not None:
        options["reducer_timeout"] = args.reducer_timeout or None
    if args.limit:
        from spacetimedb_sdk.server import ServerLimits

        given = {name: int(value) or None for name, value in (x.split("=") for x in args.limit)}
        options["limits"] = ServerLimits(**given)
    asyncio.run(serve(options))


if __name__ == "__main__":
    main()
