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

from ...protocol import messages as m
from ...protocol.framing import SUBPROTOCOL_V2, Compression
from ...sats.values import ConnectionId, Identity


class _Close:
    """Queued after the last message a closing client must still receive."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class ClientConnection:
    """One WebSocket client as the host sees it: who it is, and its outgoing queue.

    :meth:`send` may be called from any thread: messages are appended to a
    thread-safe deque in commit order and the writer (see :mod:`..app`) is woken
    on the event loop.  Tests read the queue directly with :meth:`take`.
    ``confirmed`` asks for confirmed reads (the ``confirmed`` query parameter): with a data
    directory, the writer sends nothing about a commit before it is synced to disk.

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
        self._outbox: collections.deque[m.ServerMessage | _Close] = collections.deque()
        self._wakeup = asyncio.Event() if loop is not None else None
        self.closing = False  # nothing more is sent (the socket ended, or we close it)
        self.closed_by_server = False  # we close it: its messages still queued are dropped

    def __repr__(self) -> str:
        return f"ClientConnection(identity={self.identity.to_hex()[:16]}…, connection_id={self.connection_id})"

    def send(self, message: m.ServerMessage) -> None:
        """Queue ``message`` for the client (dropped once the client is closing)."""
        if self.closing:
            return
        self._outbox.append(message)
        self._wake()

    def close(self, code: int, reason: str) -> None:
        """Queue a close after what is already queued; later sends are dropped."""
        if self.closing:
            return
        self.closing = True
        self.closed_by_server = True
        self._outbox.append(_Close(code, reason))
        self._wake()

    def _wake(self) -> None:
        wakeup, loop = self._wakeup, self._loop
        if wakeup is None or loop is None:
            return
        if _running_loop() is loop:
            wakeup.set()
        else:
            _hub(loop).mark(wakeup)

    def take(self) -> list[m.ServerMessage]:
        """Remove and return the queued messages (not the close marker)."""
        out: list[m.ServerMessage] = []
        while self._outbox:
            item = self._outbox.popleft()
            if not isinstance(item, _Close):
                out.append(item)
        return out

    async def next_batch(self) -> list[m.ServerMessage | _Close]:
        """Wait for queued items and return all of them, oldest first (writer side)."""
        assert self._wakeup is not None, "next_batch needs a client created with loop="
        while not self._outbox:
            self._wakeup.clear()
            if self._outbox:
                break
            await self._wakeup.wait()
        out: list[m.ServerMessage | _Close] = []
        while self._outbox:
            out.append(self._outbox.popleft())
        return out


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
