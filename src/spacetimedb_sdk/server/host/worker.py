"""The database thread: the one thread that owns a database's datastore.

Every transaction of a database (reducer calls, scheduled and lifecycle reducers, subscription
registration and initial evaluation, one-off queries, ``/sql``, view evaluation, the ``with_tx``
bodies of procedures, commit fan-out) runs on its :class:`DatabaseThread`, one job at a time,
in the order the jobs were submitted.  That is upstream's model (one executor thread per
database for reducers; procedures elsewhere, taking the database per transaction) and it is
what makes in-place writes safe without locks: nothing else touches the datastore.

Submitting is thread-safe and cheap (a ``SimpleQueue``):

* :meth:`DatabaseThread.post` queues a job and returns (the WebSocket reader's messages:
  FIFO per database, hence in order per client);
* :meth:`DatabaseThread.call` queues a job and blocks the calling thread until it ran, returning
  its result or raising its exception (the direct API; a procedure's ``with_tx``); called *on*
  the database thread it runs inline, so jobs may use the direct API;
* :meth:`DatabaseThread.run_async` queues a job and awaits it on an asyncio loop; the job runs
  even if the awaiting task is cancelled (a disconnect must run its ``client_disconnected``);
* :meth:`DatabaseThread.exclusive` parks the thread while another thread works on the
  datastore itself (``db.transaction()`` blocks run in the caller's thread).

Timers (the scheduler's) live on the thread too (:meth:`DatabaseThread.call_later`): the thread
waits on its queue only until the next timer is due.  The thread starts on the first job and
ends after a few idle seconds without timers (or at once after :meth:`shutdown`), so databases
left unused hold no threads; the next job starts a new one.  The thread installs the time budget
of module calls (:class:`~..budget.CallBudget`), which its jobs use through
:func:`~..budget.run_budgeted`.

Example::

    worker = DatabaseThread("chat")
    rows = worker.call(lambda: list(datastore.store("user").iter_rows()))
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from ..._log import get_logger
from ..budget import DEFAULT_BUDGET_SECONDS, CallBudget
from ..module.console import LogSink, bind_sink

log = get_logger("spacetimedb_sdk.server")

_T = TypeVar("_T")

#: Seconds without jobs or timers after which the thread ends (a new one starts on demand).
IDLE_EXIT_SECONDS = 5.0


class TimerHandle:
    """A timer armed with :meth:`DatabaseThread.call_later`; :meth:`cancel` disarms it."""

    __slots__ = ("args", "cancelled", "fn", "when")

    def __init__(self, when: float, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Disarm the timer (it is dropped when its time comes)."""
        self.cancelled = True


class _Job:
    __slots__ = ("args", "done", "fn")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        done: Callable[[Any, BaseException | None], None] | None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.done = done


class DatabaseThread:
    """The thread that runs a database's transactions (see the module docstring).

    ``budget_seconds`` is the time budget of each module call it runs (``None``: unlimited);
    ``log_sink`` receives the module log lines written on the thread (:mod:`..module.console`).

    Example::

        >>> worker = DatabaseThread("demo")
        >>> worker.call(lambda: 6 * 7)
        42
    """

    def __init__(
        self,
        name: str,
        budget_seconds: float | None = DEFAULT_BUDGET_SECONDS,
        log_sink: LogSink | None = None,
    ) -> None:
        self.name = name
        self.budget_seconds = budget_seconds
        self.log_sink = log_sink
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ident: int | None = None
        self._owner: int | None = None  # a thread working under exclusive()
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._timer_seq = itertools.count()
        self._shutdown = False
        self._posted = 0  # jobs posted (under _lock) ...
        self._done = 0  # ... and jobs run (by the thread): their difference is the backlog

    def __repr__(self) -> str:
        state = "running" if self._thread is not None else "idle"
        return f"DatabaseThread({self.name!r}, {state})"

    # -- submitting

    @property
    def queued(self) -> int:
        """Jobs posted and not yet finished (the one running included)."""
        return self._posted - self._done

    def on_thread(self) -> bool:
        """Whether the caller is the database thread (or works for it under :meth:`exclusive`)."""
        ident = threading.get_ident()
        return ident == self._ident or ident == self._owner

    def post(
        self,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[Any, BaseException | None], None] | None = None,
    ) -> None:
        """Queue ``fn(*args)``; ``done(result, error)`` runs on the thread after it."""
        job = _Job(fn, args, done)
        with self._lock:
            self._posted += 1
            self._queue.put(job)
            if self._thread is None:
                self._start()

    def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the thread and wait for it; its exception is raised here."""
        if self.on_thread():
            return fn(*args)
        future: Future[_T] = Future()
        self.post(fn, *args, done=lambda value, error: _settle(future, value, error))
        return future.result()

    async def run_async(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run ``fn(*args)`` on the thread and await it on the running loop.

        The job runs even if the awaiting task is cancelled meanwhile.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_T] = loop.create_future()

        def done(value: Any, error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle_async, waiter, value, error)

        self.post(fn, *args, done=done)
        return await waiter

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Park the database thread while the calling thread uses the datastore itself.

        Inside the block :meth:`call` from the calling thread runs inline.
        """
        if self.on_thread():
            yield
            return
        parked = threading.Event()
        release = threading.Event()

        def park() -> None:
            parked.set()
            release.wait()

        self.post(park)
        parked.wait()
        self._owner = threading.get_ident()
        try:
            yield
        finally:
            self._owner = None
            release.set()

    # -- timers (database thread only)

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> TimerHandle:
        """Run ``fn(*args)`` on the thread after ``delay`` seconds; call on the thread only."""
        handle = TimerHandle(time.monotonic() + max(0.0, delay), fn, args)
        heapq.heappush(self._timers, (handle.when, next(self._timer_seq), handle))
        return handle

    def resume(self) -> None:
        """Undo :meth:`shutdown`: the thread stays up while timers are armed, as normal."""
        self._shutdown = False

    def shutdown(self) -> None:
        """Let the thread end as soon as it is idle (pending timers are dropped); jobs posted
        later still run, each on a thread that ends when it is done."""
        with self._lock:
            self._shutdown = True
            if self._thread is not None:
                self._posted += 1
                self._queue.put(_Job(_nothing, (), None))  # wake it up to notice

    # -- the thread

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name=f"database[{self.name}]", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self) -> None:
        self._ident = threading.get_ident()
        bind_sink(self.log_sink)
        budget = CallBudget(self.budget_seconds).install()
        try:
            self._loop()
        finally:
            budget.uninstall()
            bind_sink(None)

    def _loop(self) -> None:
        idle_since = time.monotonic()
        while True:
            wait = self._run_due_timers()
            try:
                job = self._queue.get(timeout=min(wait, IDLE_EXIT_SECONDS))
            except queue.Empty:
                if self._exit_if_idle(idle_since):
                    return
                continue
            self._run_job(job)
            idle_since = time.monotonic()
            if self._shutdown and self._exit_if_idle(0.0):
                return

    def _run_job(self, job: _Job, *, posted: bool = True) -> None:
        try:
            value = job.fn(*job.args)
        except BaseException as e:  # the job's own error goes to its waiter
            if job.done is None:
                log.exception("a job on the database thread of %s failed", self.name)
            else:
                job.done(None, e)
            return
        finally:
            if posted:
                self._done += 1
        if job.done is not None:
            job.done(value, None)

    def _run_due_timers(self) -> float:
        """Run the timers that are due; returns the seconds until the next one."""
        timers = self._timers
        while timers:
            when, _, handle = timers[0]
            now = time.monotonic()
            if when > now:
                return when - now
            heapq.heappop(timers)
            if not handle.cancelled:
                self._run_job(_Job(handle.fn, handle.args, None), posted=False)
        return IDLE_EXIT_SECONDS

    def _exit_if_idle(self, idle_since: float) -> bool:
        if self._timers and not self._shutdown:
            self._timers[:] = [t for t in self._timers if not t[2].cancelled]
            heapq.heapify(self._timers)
            if self._timers:
                return False
        if not self._shutdown and time.monotonic() - idle_since < IDLE_EXIT_SECONDS:
            return False
        with self._lock:
            if not self._queue.empty():
                return False
            self._thread = None
            self._ident = None
            self._timers.clear()
            return True


def _nothing() -> None:
    pass


def _settle(future: Future[Any], value: Any, error: BaseException | None) -> None:
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _settle_async(waiter: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if waiter.done():
        return
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(value)
