"""The local server's resource limits (:class:`ServerLimits`) and the counters that show them.

One client must not be able to take the server's memory or its database thread for itself.
Each limit below is upstream's where upstream has one; the others bound what the Python server
would otherwise do without bound (SpacetimeDB's Rust engine does the same work orders of
magnitude faster, so it needs fewer of them).  ``LocalServer(..., limits=ServerLimits(...))``
and ``spacetimedb-py serve --incoming-queue-length N ...`` change them; ``docs/local-server.md``
lists them for users.

==========================  ==============  =========================================================
limit                       default         upstream
==========================  ==============  =========================================================
``incoming_queue_length``   16,384          16,384 frames (``WebSocketOptions``); we count messages
``outgoing_queue_length``   16,384          16,384 messages (``CLIENT_CHANNEL_CAPACITY``)
``outgoing_queue_bytes``    64 MiB          none
``sql_row_limit``           100,000         none (``st_var`` ``row_limit`` only)
``sql_max_rows``            1,000,000       none
``sql_max_result_bytes``    64 MiB          none
==========================  ==============  =========================================================

Example::

    >>> ServerLimits(outgoing_queue_length=100).incoming_queue_length
    16384
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

from ..sats.values import ConnectionId, Identity

#: Upstream's ``WebSocketOptions::incoming_queue_length`` and ``CLIENT_CHANNEL_CAPACITY``.
UPSTREAM_QUEUE_LENGTH = 16_384
_MIB = 1024 * 1024

#: The close code and reason upstream sends a client whose incoming queue is full.
INCOMING_QUEUE_FULL = (1013, "too many requests")
#: The close code of a client that fell too far behind (upstream drops it without a close frame;
#: we send one first, so the client can tell why; 1013: try again later, reconnecting is fine).
OUTGOING_QUEUE_FULL_CODE = 1013


@dataclass(frozen=True)
class ServerLimits:
    """What one client may make the local server hold or do (see the module docstring).

    ``None`` turns a limit off.

    * ``incoming_queue_length``: messages a WebSocket client may have waiting for the database
      thread; one more closes it with 1013 ``too many requests`` (upstream's code and reason)
      and drops what it queued.  Upstream counts frames; a v3 frame carries any number of
      messages, so the local server counts messages, and stops decoding a frame at the limit.
    * ``outgoing_queue_length`` / ``outgoing_queue_bytes``: messages (and their encoded bytes)
      queued for a client and not yet written to its socket.  A client that falls further
      behind (it stopped reading) is closed with 1013 and a reason saying so, and what was
      queued for it is freed.  One message alone is always accepted, however big.
    * ``sql_row_limit``: for callers who may not exceed the row limit (everyone but the
      database owner), the estimated rows a ``/sql`` query or a one-off query may scan when
      the owner has not ``SET row_limit``; over it the query is refused before it runs, with
      upstream's ``Estimated cardinality (N rows) exceeds limit (M rows)``.
    * ``sql_max_rows``: joined rows a ``/sql`` query may produce at any step of its evaluation
      (anyone, the owner included); over it the query stops with an error.
    * ``sql_max_result_bytes``: the JSON size of a ``/sql`` result (anyone); over it the query
      stops with an error.

    Example::

        >>> ServerLimits(sql_row_limit=None).sql_row_limit is None
        True
    """

    incoming_queue_length: int | None = UPSTREAM_QUEUE_LENGTH
    outgoing_queue_length: int | None = UPSTREAM_QUEUE_LENGTH
    outgoing_queue_bytes: int | None = 64 * _MIB
    sql_row_limit: int | None = 100_000
    sql_max_rows: int | None = 1_000_000
    sql_max_result_bytes: int | None = 64 * _MIB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"ServerLimits.{f.name} must be a positive int or None: {value!r}")


@dataclass(frozen=True)
class ConnectionStats:
    """One WebSocket connection's queues, as :meth:`Database.stats` sees them.

    ``incoming_queued``: messages received and not yet handled by the database thread;
    ``outgoing_queued`` / ``outgoing_bytes``: messages (encoded bytes) queued for the client
    and not yet written to its socket.

    Example::

        >>> ConnectionStats(Identity(1), ConnectionId(2), "v3.bsatn.spacetimedb", 0, 0, 0).outgoing_bytes
        0
    """

    identity: Identity
    connection_id: ConnectionId
    protocol: str
    incoming_queued: int
    outgoing_queued: int
    outgoing_bytes: int


@dataclass(frozen=True)
class DatabaseStats:
    """A database's queues and the disconnects its limits caused (``srv.stats()``).

    ``database_queue``: jobs waiting for (or running on) the database thread;
    ``incoming_queue_disconnects`` / ``outgoing_queue_disconnects``: clients closed because
    they sent too much / read too little (upstream's metrics of the same names);
    ``sql_refused``: ``/sql`` and one-off queries refused or stopped by a limit.

    Example::

        >>> DatabaseStats((), 0, 0, 0, 0).connections
        ()
    """

    connections: tuple[ConnectionStats, ...]
    database_queue: int
    incoming_queue_disconnects: int
    outgoing_queue_disconnects: int
    sql_refused: int


class LimitCounters:
    """Thread-safe counts of what the limits did (read by :class:`DatabaseStats`).

    Example::

        >>> c = LimitCounters()
        >>> c.count("sql_refused")
        >>> c.sql_refused
        1
    """

    __slots__ = ("_lock", "incoming_queue_disconnects", "outgoing_queue_disconnects", "sql_refused")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.incoming_queue_disconnects = 0
        self.outgoing_queue_disconnects = 0
        self.sql_refused = 0

    def count(self, name: str) -> None:
        """Add one to the counter ``name``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


__all__ = [
    "INCOMING_QUEUE_FULL",
    "OUTGOING_QUEUE_FULL_CODE",
    "ConnectionStats",
    "DatabaseStats",
    "LimitCounters",
    "ServerLimits",
]
