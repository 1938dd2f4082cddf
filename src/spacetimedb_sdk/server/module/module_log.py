"""The module log of a database: what its module code logged, as upstream's database logger.

SpacetimeDB keeps a log per database of what module code prints (``console.log`` in TypeScript,
``log::info!`` in Rust) and of its failures; ``spacetime logs`` reads it.  :class:`ModuleLog` is
that log for the local server: a bounded list of :class:`LogRecord` (the newest are kept), each
also forwarded to the Python logger ``spacetimedb_sdk.server.module`` so that it shows up where
the server's own logs go.

Example::

    >>> log = ModuleLog("chat")
    >>> log.write("info", "User alice sets name", function="set_name")
    >>> [r.message for r in log.records()]
    ['User alice sets name']
"""

from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass

from ..._log import get_logger
from ...sats.values import Timestamp

_PY_LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": logging.DEBUG,
    "panic": logging.CRITICAL,
}

#: How many records a database keeps by default.
DEFAULT_CAPACITY = 10_000

_forward = get_logger("spacetimedb_sdk.server.module")


@dataclass(frozen=True)
class LogRecord:
    """One line of the module log: when, how bad (``level``), from which function, what."""

    timestamp: Timestamp
    level: str
    function: str | None
    message: str

    def __str__(self) -> str:
        where = f" {self.function}:" if self.function else ""
        return f"{self.timestamp.to_iso()} {self.level.upper():>5}{where} {self.message}"


class ModuleLog:
    """A database's module log (see the module docstring); safe to write from any thread."""

    def __init__(self, database: str, capacity: int = DEFAULT_CAPACITY) -> None:
        self.database = database
        self._records: collections.deque[LogRecord] = collections.deque(maxlen=capacity)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ModuleLog({self.database!r}, {len(self._records)} records)"

    def write(self, level: str, message: str, function: str | None = None) -> None:
        """Append a record (``level``: error, warn, info, debug, trace or panic)."""
        record = LogRecord(Timestamp.now(), level, function, message)
        with self._lock:
            self._records.append(record)
        py_level = _PY_LEVELS.get(level, logging.INFO)
        if _forward.isEnabledFor(py_level):
            where = f" {function}:" if function else ""
            _forward.log(py_level, "[%s]%s %s", self.database, where, message)

    def records(self) -> list[LogRecord]:
        """The records kept, oldest first."""
        with self._lock:
            return list(self._records)

    def text(self) -> str:
        """The records as lines of text (what ``spacetime logs`` prints, roughly)."""
        return "\n".join(str(r) for r in self.records())
