"""The time budget of one module call, and how a call that overruns it is stopped.

Upstream meters a reducer's or view's WebAssembly/V8 execution in *energy* and traps a call that
exhausts its budget: the transaction rolls back and the caller is told ``"reducer ran out of
energy"``.  A Python module has no fuel counter, so the local server budgets **wall-clock time per
call** (10 s by default; ``LocalServer(reducer_timeout=S)``, ``serve --reducer-timeout S``).

How a call is stopped
---------------------

Each thread that runs module code under a budget (the database thread) has one
:class:`CallBudget`, found through :func:`current_budget`.  :meth:`CallBudget.run` *arms* it for the
length of a module call; a single process-wide watchdog thread looks at the armed calls a few times
a second and, for one past its deadline, raises :class:`OutOfEnergy` *inside the database thread*
with ``PyThreadState_SetAsyncExc``.  CPython delivers such an exception at the next bytecode
boundary, so pure-Python code (an infinite ``while True: pass`` included) stops within one
watchdog tick of its deadline.  We chose this over ``sys.settrace``/``sys.setprofile`` checks:
those cost on every line or call of every reducer (several times slower module code), while the
watchdog costs nothing per call beyond two attribute stores; ``sys.monitoring`` (3.12+) would be
cheap too but this package supports 3.10.

Limits, documented in ``docs/local-server.md``: code blocked inside one C call (``time.sleep(60)``,
a huge regular expression, a blocking socket read) is stopped only when that call returns; module
code that catches ``BaseException`` and carries on is interrupted again every tick and its result
is discarded anyway; an interrupt that lands while module code holds a lock of its own leaves that
lock held, as ``KeyboardInterrupt`` would.

The interrupt must never land in the host's own code (a half-done commit or index update).  Three
rules guarantee it:

* **Disarm is one store.**  Right after module code returns or raises, ``self._call = None`` runs
  before any instruction at which CPython checks for pending asynchronous exceptions (calls,
  function entries, backward jumps); from then on the watchdog starts no new injection.
* **Settle.**  The watchdog announces ``_busy`` *before* it re-reads ``_call`` and injects; the
  database thread clears ``_call`` *before* it reads ``_busy`` (Dekker's handshake; the GIL makes
  these reads and writes sequentially consistent).  So after disarming, the thread waits for an
  injection in flight to finish and then withdraws whatever is still pending
  (``PyThreadState_SetAsyncExc(tid, NULL)``).  An exception delivered while settling is caught
  in the frame that disarmed (a function's entry is a delivery point too); at most two can
  arrive (one pending slot plus one injection in flight), hence three nested attempts.
* **Shield.**  Host calls made *from* module code that mutate shared structures (the datastore's
  writes) disarm the budget around themselves (:func:`shielded`) and re-arm afterwards, raising
  :class:`OutOfEnergy` synchronously if the deadline passed meanwhile.

The TypeScript module host (a Node process) enforces the same budget by killing its process
(:meth:`CallBudget.run_stoppable`): the watchdog calls the host's ``stop`` instead of raising in
the thread, which is blocked reading from that process and fails when it dies.

Example::

    >>> budget = CallBudget(0.5)
    >>> budget.run(lambda: 6 * 7)
    42
"""

from __future__ import annotations

import ctypes
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from .._log import get_logger

log = get_logger("spacetimedb_sdk.server")

_T = TypeVar("_T")

#: What a reducer's caller is told when the reducer ran out of budget
#: (upstream ``EventStatus::OutOfEnergy`` as sent in ``ReducerOutcome::InternalError``).
REDUCER_OUT_OF_ENERGY = "reducer ran out of energy"
#: ``POST /call`` of a reducer that ran out of budget: 402 with this text (upstream client-api).
HTTP_OUT_OF_ENERGY = "Module energy budget exhausted."
#: A procedure whose transaction ran out of budget (upstream ``ProcedureCallError::OutOfEnergy``).
PROCEDURE_OUT_OF_ENERGY = "Procedure terminated due to insufficient budget"
#: ``client_connected`` ran out of budget (upstream ``ClientConnectedError::OutOfEnergy``).
CONNECT_OUT_OF_ENERGY = "Insufficient energy balance to run `client_connected` reducer"
#: A view ran out of budget (upstream folds this into the reducer's ``OutOfEnergy``).
VIEW_OUT_OF_ENERGY = "view ran out of energy"

#: The default budget of one reducer, view or transaction body, in seconds.
DEFAULT_BUDGET_SECONDS = 10.0

# The longest the watchdog sleeps, and how often it interrupts again a call that swallowed it.
_MAX_TICK = 0.25


class OutOfEnergy(BaseException):
    """A module call ran past its time budget and was stopped.

    A ``BaseException`` (like ``KeyboardInterrupt``), so module code's ``except Exception``
    does not swallow it: upstream's trap cannot be caught by the module either.

    Example::

        >>> isinstance(OutOfEnergy(), Exception)
        False
    """


class _Call:
    """One armed module call: its deadline, whether the watchdog interrupted it, and how to stop
    it when it runs outside this interpreter (``stop``, see :meth:`CallBudget.run_stoppable`)."""

    __slots__ = ("deadline", "expired", "last_injection", "stop")

    def __init__(self, deadline: float, stop: Callable[[], None] | None = None) -> None:
        self.deadline = deadline
        self.expired = False
        self.last_injection = 0.0
        self.stop = stop


class CallBudget:
    """The time budget of the module calls of one thread (see the module docstring).

    ``seconds=None`` disables it.  :meth:`run` may be used from the thread the budget was
    created on or installed on (:meth:`install`).

    Example::

        budget = CallBudget(10.0).install()     # on the database thread
        value = budget.run(reducer, ctx)         # raises OutOfEnergy past 10 s
    """

    __slots__ = ("__weakref__", "_busy", "_call", "_tid", "seconds")

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"a call budget must be a positive number of seconds, got {seconds!r}")
        self.seconds = seconds
        self._tid = threading.get_ident()
        self._call: _Call | None = None
        self._busy = False

    def install(self) -> CallBudget:
        """Make this the budget of the calling thread (:func:`current_budget`) and watch it."""
        self._tid = threading.get_ident()
        _local.budget = self
        if self.seconds is not None:
            _WATCHDOG.watch(self)
        return self

    def uninstall(self) -> None:
        """Forget this budget on the calling thread and stop watching it."""
        if getattr(_local, "budget", None) is self:
            _local.budget = None
        _WATCHDOG.forget(self)

    @property
    def tick(self) -> float:
        """How often the watchdog looks at this budget's calls."""
        return _MAX_TICK if self.seconds is None else min(_MAX_TICK, self.seconds / 4)

    def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` under the budget; raises :class:`OutOfEnergy` if it ran past it.

        A nested call (module code calling back into code that runs module code) runs
        under the outer call's deadline.
        """
        if self.seconds is None or self._call is not None or not _CAN_INTERRUPT:
            return fn(*args)
        call = _Call(time.monotonic() + self.seconds)
        self._call = call
        try:
            value = fn(*args)
            error: BaseException | None = None
        except BaseException as e:  # OutOfEnergy delivered inside fn, or fn's own error
            value = None
            error = e
        # The disarm: one attribute store, with no point where CPython delivers an
        # asynchronous exception between the end of fn and here (see the module docstring).
        self._call = None
        # Then settle, in this very frame: a helper's entry is itself a delivery point, so each
        # call to it sits in a handler here.  At most two interrupts can still arrive (the one
        # pending in the thread's single slot, one injection in flight), hence three levels.
        try:
            self._settle(call)
        except OutOfEnergy:
            try:
                self._settle(call)
            except OutOfEnergy:
                self._settle(call)
        if call.expired:
            raise OutOfEnergy() from None
        if error is not None:
            raise error
        return value  # type: ignore[return-value]

    def run_stoppable(self, fn: Callable[..., _T], stop: Callable[[], None], *args: Any) -> _T:
        """``fn(*args)`` under the budget, for module code running in another process.

        Past the deadline the watchdog calls ``stop()`` once (from its own thread; it kills the
        process) instead of interrupting this thread; ``fn``, blocked on that process, then
        fails, and that failure becomes :class:`OutOfEnergy`.  Nested calls run under the
        outer call's deadline, as with :meth:`run`.
        """
        if self.seconds is None or self._call is not None:
            return fn(*args)
        call = _Call(time.monotonic() + self.seconds, stop)
        self._call = call
        try:
            value = fn(*args)
        except BaseException as e:
            self._call = None
            if call.expired:
                raise OutOfEnergy() from e
            raise
        self._call = None
        return value

    # -- settling after a disarm

    def _settle(self, call: _Call) -> None:
        while self._busy:  # an injection in flight: let it finish, then withdraw it
            time.sleep(0)
        if call.expired:
            _clear_async_exc(self._tid)

    # -- shielding host code called from module code

    def shield(self) -> _Call | None:
        """Disarm around a host call made from module code; give the result to :meth:`unshield`."""
        call = self._call
        if call is None:
            return None
        self._call = None
        try:  # as in run(): settle in this frame, three levels deep
            self._settle(call)
        except OutOfEnergy:
            try:
                self._settle(call)
            except OutOfEnergy:
                self._settle(call)
        return call

    def unshield(self, call: _Call | None) -> None:
        """Re-arm after :meth:`shield`; raises :class:`OutOfEnergy` if the deadline passed."""
        if call is None:
            return
        self._call = call
        if call.expired or time.monotonic() >= call.deadline:
            call.expired = True
            raise OutOfEnergy()

    # -- the watchdog's side

    def _check(self, now: float) -> float | None:
        """Interrupt an overdue call; returns the deadline to look again at, if any."""
        call = self._call
        if call is None:
            return None
        if now < call.deadline:
            return call.deadline
        if call.stop is not None:  # module code in another process: stop that process, once
            if not call.expired:
                call.expired = True
                call.stop()
            return None
        if call.expired and now - call.last_injection < self.tick:
            return call.last_injection + self.tick
        self._busy = True  # announce first, then re-read: the other half of the handshake
        try:
            if self._call is call:
                call.expired = True
                call.last_injection = now
                _set_async_exc(self._tid, OutOfEnergy)
        finally:
            self._busy = False
        return now + self.tick


@contextmanager
def shielded() -> Iterator[None]:
    """Run a host-side mutation called from module code without the budget's interrupt in it.

    Example::

        with shielded():
            store._add(key, row)
    """
    budget: CallBudget | None = getattr(_local, "budget", None)
    call = budget.shield() if budget is not None else None
    try:
        yield
    finally:
        if budget is not None:
            budget.unshield(call)


def current_budget() -> CallBudget | None:
    """The budget installed on the calling thread, if any.

    Example::

        >>> current_budget() is None
        True
    """
    budget: CallBudget | None = getattr(_local, "budget", None)
    return budget


def run_budgeted(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` under the calling thread's budget (unbudgeted on other threads).

    Example::

        >>> run_budgeted(len, "abc")
        3
    """
    budget: CallBudget | None = getattr(_local, "budget", None)
    if budget is None:
        return fn(*args)
    return budget.run(fn, *args)


# ---- the watchdog --------------------------------------------------------------------------------


class _Watchdog:
    """One thread for the process: interrupts calls past their deadline (see above)."""

    def __init__(self) -> None:
        self._budgets: weakref.WeakSet[CallBudget] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, budget: CallBudget) -> None:
        with self._lock:
            self._budgets.add(budget)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="spacetimedb-budget-watchdog", daemon=True
                )
                self._thread.start()
            else:
                self._wake.set()  # a shorter tick may apply now

    def forget(self, budget: CallBudget) -> None:
        with self._lock:
            self._budgets.discard(budget)

    def _run(self) -> None:
        while True:
            with self._lock:
                budgets = list(self._budgets)
                if not budgets:
                    self._thread = None
                    return
            now = time.monotonic()
            wake = now + min(b.tick for b in budgets)
            for budget in budgets:
                try:
                    at = budget._check(now)
                except Exception:  # never let the watchdog die
                    log.exception("the call budget watchdog failed")
                    at = None
                if at is not None:
                    wake = min(wake, at)
            self._wake.wait(max(0.0, wake - time.monotonic()))
            self._wake.clear()


_WATCHDOG = _Watchdog()
_local = threading.local()

# PyPy and other implementations lack the C API: there calls run unbudgeted.
_CAN_INTERRUPT = hasattr(ctypes, "pythonapi") and hasattr(
    ctypes.pythonapi, "PyThreadState_SetAsyncExc"
)


def _set_async_exc(tid: int, exc: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc))


def _clear_async_exc(tid: int) -> None:
    # A NULL exception withdraws a pending one (a no-op if it was delivered already).
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)
