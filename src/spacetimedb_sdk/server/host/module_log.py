"""A database's module log: upstream's JSON lines in a bounded buffer, with followers.

Each line is one JSON object as upstream's ``database_logger`` writes it (``level`` first, then
``ts`` in microseconds, ``target``, ``filename``, ``line_number``, ``function``, ``message``,
absent fields left out; ``Panic`` lines add ``trace``), so ``spacetime logs`` and
``spacetimedb-py logs`` read it alike.  Lines the server itself writes (creating tables,
calling ``init``, updating the module) carry upstream's ``__spacetimedb__`` sentinel as
``target``, ``filename`` and ``function``.

The buffer keeps the newest lines up to a size (upstream's in-memory logger keeps 16 MiB) and
drops the oldest.  :meth:`ModuleLog.tail` reads the last lines; :meth:`ModuleLog.follow` reads
them and then every new one as it is written (from any thread) on an asyncio loop, until the
log is closed (the database deleted or reset) or the reader stops.  A follower that falls more
than :data:`FOLLOW_BACKLOG` lines behind skips lines, as upstream's broadcast does.

Example::

    log = ModuleLog()
    log.system("Info", "Database initialized")
    [line] = log.tail(1)      # b'{"level":"Info","ts":...,"message":"Database initialized"}\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from typing import Any

from ..module.console import LogRecord, now_micros

#: Bytes of log lines a database keeps (upstream's in-memory logger: 16 MiB).
MAX_LOG_BYTES = 0x1_000_000
#: Lines a follower may fall behind before it skips some.
FOLLOW_BACKLOG = 1024
#: The most lines a follower asks for before following (upstream caps the tail at 2500).
FOLLOW_TAIL_CAP = 2500
SENTINEL = "__spacetimedb__"


def encode_record(record: LogRecord) -> bytes:
    """One JSON line, as upstream writes it.

    Example::

        >>> encode_record(LogRecord("Info", "hi", 1))
        b'{"level":"Info","ts":1,"message":"hi"}\\n'
    """
    obj: dict[str, Any] = {"level": record.level, "ts": record.ts_micros or now_micros()}
    for key, value in (
        ("target", record.target),
        ("filename", record.filename),
        ("line_number", record.line_number),
        ("function", record.function),
    ):
        if value is not None:
            obj[key] = value
    obj["message"] = record.message
    if record.trace is not None:
        obj["trace"] = [
            {k: v for k, v in (("module_name", m), ("func_name", f)) if v is not None}
            for m, f in record.trace
        ]
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class LogFollower:
    """One reader following a log on an asyncio loop (:meth:`ModuleLog.follow`).

    ``backlog`` holds the old lines it asked for; :meth:`next` waits for each new one.
    """

    def __init__(self, log: ModuleLog, loop: asyncio.AbstractEventLoop) -> None:
        self._log = log
        self.loop = loop
        self.backlog: list[bytes] = []
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(FOLLOW_BACKLOG)

    def offer(self, line: bytes | None) -> None:
        """From any thread: queue ``line`` (``None`` ends the follower)."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads any more
            self.loop.call_soon_threadsafe(self._put, line)

    def _put(self, line: bytes | None) -> None:
        if line is None:
            while self.queue.full():  # the end must get through
                self.queue.get_nowait()
        elif self.queue.full():
            return  # lagging: skip the line
        self.queue.put_nowait(line)

    async def next(self, timeout: float | None = None) -> bytes | None:
        """The next new line; ``None`` once the log closed.  :class:`TimeoutError` after
        ``timeout`` seconds without one (the reader may check its connection and wait again)."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        """Stop following (no more lines are queued)."""
        self._log._unfollow(self)


class ModuleLog:
    """The module log of one database (see the module docstring); thread-safe.

    Example::

        >>> log = ModuleLog()
        >>> log.system("Warn", "careful")
        >>> b'"message":"careful"' in log.tail(None)[0]
        True
    """

    def __init__(self, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.max_bytes = max_bytes
        self._lines: deque[bytes] = deque()
        self._size = 0
        self._lock = threading.Lock()
        self._followers: set[LogFollower] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"ModuleLog({len(self._lines)} lines)"

    def write(self, record: LogRecord) -> None:
        """Append one line (from any thread)."""
        line = encode_record(record)
        with self._lock:
            if self._closed:
                return
            self._lines.append(line)
            self._size += len(line)
            while self._size > self.max_bytes and self._lines:
                self._size -= len(self._lines.popleft())
            followers = list(self._followers)
        for follower in followers:
            follower.offer(line)

    def system(self, level: str, message: str, *, function: str | None = None) -> None:
        """A line the server writes itself (upstream's ``SystemLogger``)."""
        self.write(
            LogRecord(
                level,
                message,
                now_micros(),
                target=SENTINEL,
                filename=SENTINEL,
                function=function if function is not None else SENTINEL,
            )
        )

    def tail(self, num_lines: int | None) -> list[bytes]:
        """The last ``num_lines`` lines (every line for ``None``)."""
        with self._lock:
            return self._last(num_lines)

    def _last(self, num_lines: int | None) -> list[bytes]:
        if num_lines is None:
            return list(self._lines)
        if num_lines <= 0:
            return []
        return list(self._lines)[-num_lines:]

    def follow(self, num_lines: int | None) -> LogFollower:
        """Follow the log on the running loop: the follower's ``backlog`` is the last
        ``num_lines`` lines (none for ``None`` or 0, as upstream), then :meth:`LogFollower.next`
        gives every new line until the log closes."""
        follower = LogFollower(self, asyncio.get_running_loop())
        with self._lock:
            follower.backlog = self._last(min(num_lines, FOLLOW_TAIL_CAP)) if num_lines else []
            if self._closed:
                follower.offer(None)
            else:
                self._followers.add(follower)
        return follower

    def _unfollow(self, follower: LogFollower) -> None:
        with self._lock:
            self._followers.discard(follower)

    def close(self) -> None:
        """End every follower; later lines are dropped (the database is gone)."""
        with self._lock:
            self._closed = True
            followers = list(self._followers)
            self._followers.clear()
        for follower in followers:
            follower.offer(None)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed
