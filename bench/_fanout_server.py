"""The local server for ``server_fanout.py``, in its own process (not a benchmark itself).

Serves ``examples/quickstart-chat/module.py`` on ``127.0.0.1`` (a free port; with
``--data-dir DIR``, durably from DIR, emptied first), first filling
``message`` with ``--prefill`` rows through the host's fixture API (one transaction), then
prints one JSON line ``{"url": ..., "rows": ...}`` and serves until its stdin closes, so it
never outlives the benchmark that started it.

Example::

    $ .venv/bin/python bench/_fanout_server.py --prefill 1000
    {"url": "http://127.0.0.1:41234", "rows": 1000}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from _util import ROOT

from spacetimedb_sdk import Identity, Timestamp
from spacetimedb_sdk.server.local import LocalServer

CHAT = ROOT / "examples" / "quickstart-chat" / "module.py"


def prefill(srv: LocalServer, count: int) -> int:
    """Insert ``count`` distinct message rows in one transaction; returns the table's size."""
    row_class: Any = srv.db.module.table_schema("message").row_class
    sender = Identity.from_hex("c2" + "00" * 29 + "0001")
    start = Timestamp.now().micros
    with srv.db.transaction() as tx:
        for i in range(count):
            text = f"prefilled message number {i}, a line of ordinary chat"
            tx.message.insert(row_class(sender=sender, sent=Timestamp(start + i), text=text))
    return len(srv.db.rows("message"))


async def serve(count: int, reducer_timeout: float | None, data_dir: str | None) -> None:
    options: dict[str, Any] = {}
    if reducer_timeout is not None:
        options["reducer_timeout"] = reducer_timeout or None  # 0: no budget
    if data_dir is not None:  # durable, starting empty
        options.update(data_dir=data_dir, clear=True)
    async with LocalServer(CHAT, database="quickstart-chat", **options) as srv:
        rows = prefill(srv, count)
        print(json.dumps({"url": srv.url, "rows": rows}), flush=True)
        # Serve until the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefill", type=int, default=0, help="message rows to insert first")
    parser.add_argument(
        "--reducer-timeout", type=float, default=None, help="time budget per call (0: none)"
    )
    parser.add_argument("--data-dir", default=None, help="serve durably from this directory")
    args = parser.parse_args()
    asyncio.run(serve(args.prefill, args.reducer_timeout, args.data_dir))


if __name__ == "__main__":
    main()
