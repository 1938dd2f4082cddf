#!/usr/bin/env python3
"""The quickstart-chat local server as a child process, for the client benchmarks.

Not a benchmark itself (``run.py`` skips ``_*.py``). It runs in its own interpreter so the
server's work never shares a GIL with the client being measured. It starts
:class:`~spacetimedb_sdk.server.local.LocalServer` on 127.0.0.1 with the module in
``examples/quickstart-chat/module.py``, inserts ``--rows`` deterministic ``message`` rows in one
transaction, and then talks JSON lines:

- stdout, first line: ``{"event": "ready", "url", "database", "rows", "sent_sum", "text_bytes"}``
  (``sent_sum`` and ``text_bytes`` are the sums of ``sent`` micros and of UTF-8 text lengths over
  the table: what a client's cache must add up to);
- stdin ``{"cmd": "tx", "count": N}``: insert N messages, one transaction each, from this
  process's main thread (the driver: direct host calls, no socket); answers
  ``{"event": "tx_done", "t0_ns", "t1_ns", "count", "rows", "sent_sum", "text_bytes"}`` where
  ``t0_ns`` is ``time.monotonic_ns()`` just before the first commit (CLOCK_MONOTONIC, the same
  clock as Node's ``process.hrtime``) and the rest is the table's digest afterwards;
- stdin ``{"cmd": "clear"}``: delete every message (``{"event": "cleared", "rows": n}``);
- end of stdin stops the server.

Example::

    python bench/_chat_server.py --rows 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from spacetimedb_sdk.sats.values import Identity, Timestamp
from spacetimedb_sdk.server.local import LocalServer

MODULE = "examples/quickstart-chat/module.py"
DATABASE = "quickstart-chat"
BASE_MICROS = 1_718_000_000_000_000
# Identities like real ones: 256 bits, none of them small.
SENDERS = [Identity((0xC200 << 240) | (i * 0x9E3779B97F4A7C15)) for i in range(1, 9)]


def message_text(i: int) -> str:
    """The text of fixture message ``i``: unique (rows are a set), 30 to 60 bytes."""
    return f"message {i:07d}: " + "lorem ipsum dolor sit amet"[: 10 + i % 17] + "!" * (i % 7)


def emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class ChatServer:
    """The server plus the row class and the numbering of the rows it inserts."""

    def __init__(self) -> None:
        self.srv = LocalServer(MODULE, database=DATABASE)
        self.row_class = self.srv.db.datastore.store("message").schema.row_class
        self.next_i = 0
        self.sent_sum = 0
        self.text_bytes = 0

    def row(self) -> Any:
        i = self.next_i
        self.next_i += 1
        text = message_text(i)
        sent = BASE_MICROS + i * 1_000
        self.sent_sum += sent
        self.text_bytes += len(text.encode())
        return self.row_class(sender=SENDERS[i % len(SENDERS)], sent=Timestamp(sent), text=text)

    def fill(self, rows: int) -> None:
        """``rows`` messages in a single transaction (seconds for 100k, not minutes)."""
        with self.srv.db.transaction() as tx:
            for _ in range(rows):
                tx.message.insert(self.row())

    def transactions(self, count: int) -> dict[str, Any]:
        db = self.srv.db
        t0 = time.monotonic_ns()
        for _ in range(count):
            with db.transaction() as tx:
                tx.message.insert(self.row())
        t1 = time.monotonic_ns()
        return {"event": "tx_done", "count": count, "t0_ns": t0, "t1_ns": t1, **self.digest()}

    def digest(self) -> dict[str, Any]:
        """What a client subscribed to every message must hold now."""
        rows = self.srv.db.datastore.store("message").count()
        return {"rows": rows, "sent_sum": self.sent_sum, "text_bytes": self.text_bytes}

    def clear(self) -> dict[str, Any]:
        with self.srv.db.transaction() as tx:
            n = tx.message.clear()
        self.sent_sum = self.text_bytes = 0
        return {"event": "cleared", "rows": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=0, help="message rows to start with")
    args = parser.parse_args(argv)
    server = ChatServer()
    server.fill(args.rows)
    server.srv.start()
    try:
        emit(
            {
                "event": "ready",
                "url": server.srv.url,
                "database": server.srv.database,
                **server.digest(),
            }
        )
        for line in sys.stdin:
            if not line.strip():
                continue
            cmd = json.loads(line)
            if cmd["cmd"] == "tx":
                emit(server.transactions(int(cmd["count"])))
            elif cmd["cmd"] == "clear":
                emit(server.clear())
            else:
                emit({"event": "error", "error": f"unknown cmd {cmd['cmd']!r}"})
    finally:
        server.srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
