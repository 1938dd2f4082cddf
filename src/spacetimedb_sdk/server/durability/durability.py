"""When a commit is durable: the write, the group-commit flusher, waiting for it, and snapshots.

The policy (docs/local-server.md, "Durability"):

* **Written before anyone hears of it.**  The database thread appends each commit's record to
  the log (:meth:`Durability.append`, an unbuffered ``write``) before the commit's messages are
  queued for any client or its HTTP answer is sent.  From then on the commit survives the
  death of the server process (SIGKILL, a crash): the operating system holds the bytes.
* **Synced in groups.**  A flusher thread ``fdatasync`` s the log whenever it has unsynced
  records; commits written while one sync runs are covered by the next (group commit), so under
  load a sync costs a fraction of a commit.  The *durable offset* (:attr:`Durability.durable`)
  is the number of transactions known to survive a machine crash or power loss too.
* **Confirmed reads wait for the sync.**  What a ``confirmed=true`` client receives is held until
  the durable offset covers every commit made before it was sent (:meth:`wait_durable_async`),
  as upstream's confirmed reads; ``/sql`` answers likewise.

A snapshot is taken when the log has grown by more than the state held by the last snapshot
(at least ``snapshot_bytes``), counting the log a restart replayed: the database thread captures the state by reference and starts a new
segment; a thread of its own encodes and writes it, then prunes the snapshots and segments no
longer needed.  A failure to write or sync stops acknowledging: every later append and wait
raises :class:`~.errors.DurabilityFailed`.

Example::

    durability.append(changes)                  # on the database thread, before fan-out
    await durability.wait_durable_async()        # a confirmed client's writer
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

from ..._log import get_logger
from ...sats.values import Timestamp
from .commitlog import CommitLog
from .errors import DurabilityFailed
from .records import Changes, encode_changes
from .snapshots import prune_snapshots, write_snapshot
from .state import Capture, StateCodec

log = get_logger("spacetimedb_sdk.server")

SNAPSHOT_BYTES = 16 * 1024 * 1024
"""The least log growth (bytes) after which a snapshot is taken."""

_Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Durability:
    """The commit log of one database and when its records are durable (see the module docstring).

    ``capture`` (set by the host) returns the state for a snapshot; without it no snapshots are
    taken.  :meth:`append` is called by one thread at a time (the database thread).
    """

    def __init__(
        self,
        commit_log: CommitLog,
        snapshots: Path,
        codec: StateCodec,
        schema: bytes,
        *,
        snapshot_bytes: int = SNAPSHOT_BYTES,
        last_snapshot_size: int = 0,
        logged_since_snapshot: int = 0,
    ) -> None:
        self.log = commit_log
        self.snapshots = snapshots
        self.codec = codec
        self.schema = schema
        self.capture: Callable[[], Capture] | None = None
        self._min_snapshot = snapshot_bytes
        self._threshold = max(snapshot_bytes, last_snapshot_size)
        self._since_snapshot = logged_since_snapshot
        self._snapshot_thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._written = commit_log.next_offset
        self._durable = commit_log.next_offset
        self._waiters: list[_Waiter] = []
        self._failed: DurabilityFailed | None = None
        self._closing = False
        self._flusher: threading.Thread | None = None

    @property
    def committed(self) -> int:
        """Transactions written to the log (the next record's offset)."""
        return self._written

    @property
    def durable(self) -> int:
        """Transactions synced to disk (they survive a machine crash)."""
        return self._durable

    # -- appending (database thread)

    def append(self, changes: Changes) -> int:
        """Write one commit's record; returns its offset.  Raises :class:`DurabilityFailed`."""
        if self._failed is not None:
            raise self._failed
        body = encode_changes(changes)
        try:
            offset = self.log.append(body)
        except DurabilityFailed as e:
            self._fail(e)
            raise
        with self._cond:
            self._written = offset + 1
            self._cond.notify_all()
            if self._flusher is None and not self._closing:
                self._flusher = threading.Thread(
                    target=self._flush_loop,
                    name=f"durability[{self.log.folder.parent.name[:16]}]",
                    daemon=True,
                )
                self._flusher.start()
        self._since_snapshot += len(body)
        if self._since_snapshot >= self._threshold:
            self._maybe_snapshot()
        return offset

    # -- the flusher (group commit)

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while self._written <= self._durable and not self._closing:
                    self._cond.wait()
                if self._written <= self._durable:
                    return
                target = self._written
            try:
                self.log.sync()
            except OSError as e:
                self._fail(
                    DurabilityFailed(f"cannot sync the commit log in {str(self.log.folder)!r}: {e}")
                )
                return
            self._advance(target)

    def _advance(self, target: int) -> None:
        with self._cond:
            if target <= self._durable:
                return
            self._durable = target
            self._cond.notify_all()
            ready = [w for w in self._waiters if w[0] <= target]
            self._waiters = [w for w in self._waiters if w[0] > target]
        for _, loop, future in ready:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, None)

    def _fail(self, error: DurabilityFailed) -> None:
        log.critical("%s; the database acknowledges nothing more", error)
        with self._cond:
            self._failed = error
            self._cond.notify_all()
            waiters, self._waiters = self._waiters, []
        for _, loop, future in waiters:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, error)

    # -- waiting

    def wait_durable(self, offset: int | None = None, timeout: float | None = None) -> bool:
        """Block until ``offset`` transactions (default: all written so far) are synced.

        Returns ``False`` on timeout; raises :class:`DurabilityFailed` if syncing failed.
        """
        target = self._written if offset is None else offset
        with self._cond:
            ok = self._cond.wait_for(
                lambda: self._durable >= target or self._failed is not None, timeout
            )
            if self._durable < target and self._failed is not None:
                raise self._failed
        return ok

    async def wait_durable_async(self, offset: int | None = None) -> None:
        """Await until ``offset`` transactions (default: all written so far) are synced."""
        target = self._written if offset is None else offset
        if self._durable >= target:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._durable >= target:
                return
            if self._failed is not None:
                raise self._failed
            self._waiters.append((target, loop, future))
        await future

    # -- snapshots

    def _maybe_snapshot(self) -> None:
        running = self._snapshot_thread
        if self.capture is None or (running is not None and running.is_alive()):
            return
        capture = self.capture()
        offset = self.log.next_offset
        self.log.start_segment()  # syncs the old segment: every record before `offset` is on disk
        self._since_snapshot = 0
        thread = threading.Thread(
            target=self._write_snapshot, args=(capture, offset), name="snapshot", daemon=True
        )
        self._snapshot_thread = thread
        thread.start()

    def _write_snapshot(self, capture: Capture, offset: int) -> None:
        try:
            size = self.write_snapshot(capture, offset)
        except Exception:  # the log still holds everything: nothing is lost, the log grows
            log.exception("writing a snapshot at transaction %d failed", offset)
            return
        self._threshold = max(self._min_snapshot, size)

    def write_snapshot(self, capture: Capture, offset: int, *, keep: int = 2) -> int:
        """Write the snapshot of ``capture`` at ``offset`` and prune what it makes unneeded;
        returns the size of the state it holds."""
        state = encode_changes(self.codec.encode_capture(capture, Timestamp.now().micros))
        write_snapshot(self.snapshots, offset, self.schema, state)
        oldest = prune_snapshots(self.snapshots, keep)
        if oldest is not None:
            self.log.remove_segments_before(oldest)
        return len(state)

    # -- closing

    def close(self) -> None:
        """Finish a running snapshot, sync what was written, and stop the flusher."""
        running = self._snapshot_thread
        if running is not None:
            running.join()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            flusher = self._flusher
        if flusher is not None:
            flusher.join()
        target = self._written
        self.log.close()
        if self._failed is None:
            self._advance(target)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(None)


__all__ = ["SNAPSHOT_BYTES", "Durability"]
