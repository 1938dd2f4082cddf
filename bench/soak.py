#!/usr/bin/env python3
"""Soak: one million row updates through a subscribed client; neither side may grow.

A server process (``bench/_resource_server.py``) holds ``--rows`` (1,000) rows; our client
(``DbConnection``, asyncio, in this process) subscribes to all of them and calls
``bump(first, count)`` ``--updates / --batch`` times (10,000 calls of 100 rows), at most
``--window`` calls in flight.  Every call updates its rows in one transaction, whose changes
reach the client's cache (and its ``on_update`` callback) with the call's result.

The RSS of the client (this process) and of the server is taken after a warm-up (the first
``--warmup`` fraction of the updates, 10%) and at the end; the issue's bar is growth under 5%
on both sides.  Guards: the callback must have seen every update, and the cache must end equal
to the server's table (``n`` of every row = the times it was bumped).  Exit status 1 if a guard
fails or either side grew by ``--bar`` (5%) or more.

Run: ``make bench`` or ``.venv/bin/python bench/soak.py [--updates 1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from typing import Any

import httpx
from _procs import ResourceServer, rss_mb
from _util import format_table

from spacetimedb_sdk.connection import DbConnection


async def soak(args: argparse.Namespace) -> int:
    async with ResourceServer() as srv:
        conn: DbConnection = await (
            DbConnection.builder().with_uri(srv.url).with_database_name(srv.database).connect()
        )
        try:
            return await _run(conn, srv, args)
        finally:
            await conn.disconnect()


async def _run(conn: DbConnection, srv: ResourceServer, args: argparse.Namespace) -> int:
    seen = [0]
    table: Any = conn.db.item
    table.on_update(lambda ctx, old, new: seen.__setitem__(0, seen[0] + 1))
    await conn.subscription_builder().subscribe("SELECT * FROM item")
    await conn.reducers.fill(count=args.rows, size=100)
    calls = args.updates // args.batch
    warm_at = int(calls * args.warmup)
    in_flight: set[asyncio.Future[Any]] = set()
    samples: dict[str, tuple[float, float]] = {}
    start = time.perf_counter()
    for i in range(calls):
        if i == warm_at:
            await asyncio.gather(*in_flight)
            gc.collect()
            samples["warm"] = (rss_mb(), rss_mb(srv.pid))
            start = time.perf_counter()
        first = 1 + (i * args.batch) % args.rows
        count = min(args.batch, args.rows - first + 1)
        call = asyncio.ensure_future(conn.reducers.bump(first=first, count=count))
        in_flight.add(call)
        call.add_done_callback(in_flight.discard)
        if len(in_flight) >= args.window:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*in_flight)
    took = time.perf_counter() - start
    gc.collect()
    samples["end"] = (rss_mb(), rss_mb(srv.pid))

    # Guards: every update reached the callback, and the cache is the server's table.
    expected = sum(min(args.batch, args.rows - (i * args.batch) % args.rows) for i in range(calls))
    ok = seen[0] == expected
    async with httpx.AsyncClient(timeout=60) as http:
        r = await http.post(
            f"{srv.url}/v1/database/{srv.database}/sql",
            content="SELECT id, n FROM item",
            headers={"Authorization": f"Bearer {srv.owner_token}"},
        )
    server_rows = sorted(tuple(row) for row in r.json()[0]["rows"])
    cached = sorted((row.id, row.n) for row in table)
    if cached != server_rows:
        print("guard: the client's cache differs from the server's table", file=sys.stderr)
        ok = False
    if not ok:
        print(f"guard: {seen[0]} updates seen, {expected} made", file=sys.stderr)

    rows = []
    grew = []
    for side, index in (("client", 0), ("server", 1)):
        warm, end = samples["warm"][index], samples["end"][index]
        growth = (end - warm) / warm * 100
        grew.append(growth)
        rows.append([side, f"{warm:.1f}", f"{end:.1f}", f"{growth:+.1f}%"])
    done = expected - int(expected * args.warmup)
    print(
        f"{expected:,} row updates in {calls:,} transactions; after warm-up: {done:,} in {took:.1f} s ({done / took:,.0f} updates/s)"
    )
    print(format_table(["side", "RSS MB after warm-up", "RSS MB at end", "growth"], rows))
    passed = ok and all(g < args.bar for g in grew)
    print(f"growth under {args.bar:g}% on both sides: {'yes' if passed else 'NO'}")
    return 0 if passed else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1_000_000, help="row updates in all")
    parser.add_argument("--rows", type=int, default=1_000, help="rows in the table")
    parser.add_argument("--batch", type=int, default=100, help="rows updated per transaction")
    parser.add_argument("--window", type=int, default=16, help="calls in flight at most")
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction before measuring")
    parser.add_argument("--bar", type=float, default=5.0, help="allowed RSS growth, percent")
    args = parser.parse_args()
    sys.exit(asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
