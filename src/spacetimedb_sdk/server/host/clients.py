"""A connected client as the host sees it: who it is, and its outgoing message queue.

The host only queues messages on a :class:`ClientConnection`; the web app (:mod:`..app`) writes
them to the socket.  No I/O happens here, so the host is testable with plain objects.

Messages are queued by the database thread (commit fan-out), by procedure threads (a
``ProcedureResult``) and by the event loop; a thread-safe deque keeps them in the order they
were queued, and the writer on the event loop is woken through one :class:`_WakeHub` per loop:
a commit that reaches a hundred clients costs one ``call_soon_threadsafe``, not a hundred.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeAlias

from ..._log import get_logger
from ...protocol import messages as m
from ...protocol.framing import SUBPROTOCOL_V2, Compression
from ...sats.values import ConnectionId, Identity
from ..limits import OUTGOING_QUEUE_FULL_CODE, LimitCounters

log = get_logger("spacetimedb_sdk.server")


class _Close:
    """Queued after the last message a closing client must still receive."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


#: What a client's outbox holds: messages (a client without an encoder, in tests), their
#: encoded bodies (``bytes``; ``str`` for v1.json text frames), and the close marker.
Outgoing: TypeAlias = "m.ServerMessage | bytes | str | _Close"


class ClientConnection:
    """One WebSocket client as the host sees it: who it is, and its queues.

    :meth:`send` may be called from any thread: messages are appended to a thread-safe
    deque in commit order and the writer (see :mod:`..app`) is woken on the event loop.
    With an ``encoder`` (the web app's, per protocol) a message is encoded by the thread
    that sends it (the database thread, mostly), so the event loop only writes bytes, and
    the queue knows its size in bytes.  Tests read the queue directly with :meth:`take`.

    ``max_queued`` / ``max_queued_bytes`` bound what is queued and not yet written to the
    socket (:class:`~..limits.ServerLimits`): a message that would pass either (one message
    alone always fits) :meth:`abort` s the client with 1013 instead.
    ``confirmed`` asks for confirmed reads (the ``confirmed`` query parameter): with a data
    directory, the writer sends nothing about a commit before it is synced to disk; what
    tells of no commit (an error, ``InitialConnection``) is marked so it need not wait.

    Example::

        >>> c = ClientConnection(Identity(1), ConnectionId(2), "token")
        >>> c.send(m.TransactionUpdate([]))
        >>> c.take()
        [TransactionUpdate(query_sets=[])]
    """

    def __init__(
        self,
        identity: Identity,
        connection_id: ConnectionId,
        token: str,
        *,
        is_owner: bool = False,
        protocol: str = SUBPROTOCOL_V2,
        compression: Compression = Compression.NONE,
        loop: asyncio.AbstractEventLoop | None = None,
        encoder: Callable[[Any], bytes | str] | None = None,
        max_queued: int | None = None,
        max_queued_bytes: int | None = None,
        counters: LimitCounters | None = None,
        confirmed: bool = False,
    ) -> None:
        self.identity = identity
        self.connection_id = connection_id
        self.token = token
        self.is_owner = is_owner
        self.protocol = protocol
        self.compression = compression
        self._loop = loop
        # Confirmed reads: the writer holds what it sends until the commits before it are synced.
        self.confirmed = confirmed
        self._encoder = encoder
        self._max_queued = max_queued
        self._max_queued_bytes = max_queued_bytes
        self._counters = counters
        self._lock = threading.Lock()
        self._outbox: collections.deque[Outgoing] = collections.deque()
        # Messages (and bytes) queued and not yet written: the writer subtracts what it wrote.
        self._queued = 0
        self._queued_bytes = 0
        self._wakeup = asyncio.Event() if loop is not None else None
        self._aborted = asyncio.Event() if loop is not None else None
        self.abort_close: _Close | None = None  # set by abort(): close at once, drop the queue
        self.closing = False  # nothing more is sent (the socket ended, or we close it)
        self.closed_by_server = False  # we close it: its messages still queued are dropped
        # The reader counts the messages it queued for the database thread, the database
        # thread those it took: each counter has one writer, so no lock is needed.
        self.received = 0
        self.handled = 0

    def __repr__(self) -> str:
        return f"ClientConnection(identity={self.identity.to_hex()[:16]}…, connection_id={self.connection_id})"

    # -- queue sizes

    @property
    def incoming_queued(self) -> int:
        """Messages received from the client and not yet handled by the database thread."""
        return self.received - self.handled

    @property
    def outgoing_queued(self) -> int:
        """Messages queued for the client and not yet written to its socket."""
        return self._queued

    @property
    def outgoing_bytes(self) -> int:
        """The encoded size of :attr:`outgoing_queued` (0 without an encoder)."""
        return self._queued_bytes

    # -- sending

    def send(self, message: m.ServerMessage) -> None:
        """Queue ``message`` for the client (dropped once the client is closing)."""
        if self.closing:
            return
        item: Outgoing = message
        size = 0
        if self._encoder is not None:
            item = self._encoder(message)
            size = len(item)
            if self.confirmed and reports_no_commit(message):
                item = Prompt(item) if isinstance(item, bytes) else PromptText(item)
        with self._lock:
            if self.closing:
                return
            count, total = self._queued + 1, self._queued_bytes + size
            over_count = self._max_queued is not None and count > self._max_queued
            over_bytes = (
                self._max_queued_bytes is not None and total > self._max_queued_bytes and count > 1
            )
            if not (over_count or over_bytes):
                self._outbox.append(item)
                self._queued, self._queued_bytes = count, total
        if over_count or over_bytes:
            reason = f"too far behind: {count} messages ({_mib(total)}) not yet read"
            self.abort(OUTGOING_QUEUE_FULL_CODE, reason, "outgoing_queue_disconnects")
            return
        self._wake(self._wakeup)

    def close(self, code: int, reason: str) -> None:
        """Queue a close after what is already queued; later sends are dropped."""
        with self._lock:
            if self.closing:
                return
            self.closing = True
            self.closed_by_server = True
            self._outbox.append(_Close(code, reason))
        self._wake(self._wakeup)

    def abort(self, code: int, reason: str, counter: str | None = None) -> None:
        """Close at once with ``code``: drop (and free) what is queued, stop handling the
        client's messages, and have the web app close the socket even if the client reads
        nothing.  ``counter`` names the :class:`~..limits.LimitCounters` count to add one to.
        """
        with self._lock:
            first = self.abort_close is None
            if first:
                self.abort_close = _Close(code, reason)
            self.closing = True
            self.closed_by_server = True
            self._outbox.clear()
            self._queued = self._queued_bytes = 0
        if not first:
            return
        log.warning("closing the connection of %s (%d): %s", self.identity, code, reason)
        if counter is not None and self._counters is not None:
            self._counters.count(counter)
        self._wake(self._aborted)
        self._wake(self._wakeup)

    def written(self, messages: int, size: int) -> None:
        """The writer wrote ``messages`` queued messages of ``size`` encoded bytes."""
        with self._lock:
            self._queued = max(0, self._queued - messages)
            self._queued_bytes = max(0, self._queued_bytes - size)

    def _wake(self, event: asyncio.Event | None) -> None:
        loop = self._loop
        if event is None or loop is None:
            return
        if _running_loop() is loop:
            event.set()
        else:
            _hub(loop).mark(event)

    # -- the writer's side

    def take(self) -> list[m.ServerMessage]:
        """Remove and return the queued messages (not the close marker)."""
        out: list[m.ServerMessage] = []
        with self._lock:
            while self._outbox:
                item = self._outbox.popleft()
                if not isinstance(item, (_Close, bytes, str)):
                    out.append(item)
            self._queued = self._queued_bytes = 0
        return out

    async def next_batch(self) -> list[Outgoing]:
        """Wait for queued items and return all of them, oldest first (writer side).

        They still count as queued until the writer reports them :meth:`written`.
        """
        assert self._wakeup is not None, "next_batch needs a client created with loop="
        while not self._outbox:
            self._wakeup.clear()
            if self._outbox:
                break
            await self._wakeup.wait()
        with self._lock:
            out = list(self._outbox)
            self._outbox.clear()
        return out

    async def wait_aborted(self) -> _Close:
        """Wait until :meth:`abort` is called; its close code and reason."""
        assert self._aborted is not None, "wait_aborted needs a client created with loop="
        await self._aborted.wait()
        assert self.abort_close is not None
        return self.abort_close


class Prompt(bytes):
    """An encoded message that confirmed reads need not hold (see :func:`reports_no_commit`)."""

    __slots__ = ()


class PromptText(str):
    """:class:`Prompt` for a v1.json text frame."""

    __slots__ = ()


def reports_no_commit(message: Any) -> bool:
    """Whether ``message`` tells of no committed change, so confirmed reads send it at once
    (upstream queues these without a transaction offset): a failed call's result, an error,
    ``InitialConnection``.

    Example::

        >>> reports_no_commit(m.SubscriptionError(None, 1, "no such table"))
        True
    """
    if isinstance(message, m.ReducerResult):
        return not isinstance(message.result, m.ReducerOk)
    if isinstance(message, m.ProcedureResult):
        return not isinstance(message.status, m.ProcedureReturned)
    return isinstance(message, m.InitialConnection | m.SubscriptionError)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _WakeHub:
    """Sets, on its loop, the wake-up events other threads marked; one loop callback per batch."""

    __slots__ = ("_lock", "_loop", "_marked", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._marked: dict[asyncio.Event, None] = {}
        self._scheduled = False

    def mark(self, event: asyncio.Event) -> None:
        with self._lock:
            self._marked[event] = None
            if self._scheduled:
                return
            self._scheduled = True
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._lock:
            marked, self._marked = self._marked, {}
            self._scheduled = False
        for event in marked:
            event.set()


_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WakeHub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def _hub(loop: asyncio.AbstractEventLoop) -> _WakeHub:
    hub = _HUBS.get(loop)
    if hub is None:
        with _HUBS_LOCK:
            hub = _HUBS.get(loop)
            if hub is None:
                hub = _HUBS[loop] = _WakeHub(loop)
    return hub
