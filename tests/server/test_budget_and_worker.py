"""The call budget (stopping runaway module code) and the database thread, without a server."""

from __future__ import annotations

import asyncio
import threading

import pytest

from spacetimedb_sdk.server.budget import CallBudget, OutOfEnergy, current_budget, run_budgeted
from spacetimedb_sdk.server.host.worker import DatabaseThread

TIMEOUT = 10.0


def _on_thread_with_budget(seconds: float, fn: object) -> object:
    """Run ``fn()`` on a fresh thread with a budget installed; return its value or exception."""
    outcome: list[object] = []

    def run() -> None:
        budget = CallBudget(seconds).install()
        try:
            outcome.append(fn())  # type: ignore[operator]
        except BaseException as e:
            outcome.append(e)
        finally:
            budget.uninstall()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the budgeted thread did not finish"
    return outcome[0]


def test_a_call_within_its_budget_returns_its_value_and_raises_its_errors() -> None:
    budget = CallBudget(5.0)
    assert budget.run(lambda: 6 * 7) == 42
    with pytest.raises(KeyError, match="mine"):
        budget.run(lambda: {}["mine"])


def test_an_infinite_loop_is_stopped_and_the_thread_goes_on() -> None:
    def spin() -> None:
        while True:
            pass

    def scenario() -> list[object]:
        results: list[object] = []
        for _ in range(3):  # the same thread, stopped three times and still usable
            try:
                run_budgeted(spin)
            except OutOfEnergy:
                results.append("stopped")
            results.append(run_budgeted(sum, [1, 2, 3]))
        return results

    assert _on_thread_with_budget(0.2, scenario) == ["stopped", 6] * 3


def test_module_code_that_swallows_the_interrupt_is_still_out_of_energy() -> None:
    def swallow() -> str:
        try:
            while True:
                pass
        except BaseException:
            return "swallowed"

    def scenario() -> object:
        try:
            return run_budgeted(swallow)
        except OutOfEnergy:
            return "out of energy"

    assert _on_thread_with_budget(0.2, scenario) == "out of energy"


def test_no_interrupt_leaks_into_host_code_after_calls_that_end_near_their_deadline() -> None:
    # Calls that finish right around the deadline are where a late interrupt could land in
    # the host's code; the settle protocol must keep every one inside the budgeted call.
    import time

    def busy_until(deadline: float) -> None:
        while time.monotonic() < deadline:
            pass

    def scenario() -> tuple[int, int]:
        stopped = finished = 0
        budget = current_budget()
        assert budget is not None
        for i in range(40):
            deadline = time.monotonic() + 0.05 + (i % 5) * 0.002
            try:
                budget.run(busy_until, deadline)
                finished += 1
            except OutOfEnergy:
                stopped += 1
            # Host code between calls: a leaked interrupt would surface here.
            for _ in range(2000):
                pass
        return stopped, finished

    stopped, finished = _on_thread_with_budget(0.05, scenario)  # type: ignore[misc]
    assert stopped + finished == 40


def test_shielded_host_code_is_not_interrupted_and_reports_the_overrun_after() -> None:
    import time

    trace: list[str] = []

    def module_code() -> None:
        budget = current_budget()
        assert budget is not None
        call = budget.shield()
        try:  # host code (a datastore write) running past the deadline is not interrupted
            end = time.monotonic() + 0.4
            while time.monotonic() < end:
                pass
            trace.append("host work completed")
        finally:
            try:
                budget.unshield(call)
            except OutOfEnergy:
                trace.append("out of energy on leaving the host")
                raise
        trace.append("not reached")

    def scenario() -> object:
        try:
            return run_budgeted(module_code)
        except OutOfEnergy:
            return "stopped"

    assert _on_thread_with_budget(0.1, scenario) == "stopped"
    assert trace == ["host work completed", "out of energy on leaving the host"]


def test_a_budget_needs_a_positive_number_of_seconds() -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        CallBudget(0)
    assert CallBudget(None).run(lambda: "unlimited") == "unlimited"


# ---- the database thread ----------------------------------------------------------------------


def test_jobs_run_in_order_on_one_thread_and_errors_reach_the_caller() -> None:
    worker = DatabaseThread("order", None)
    seen: list[tuple[int, int]] = []
    for i in range(50):
        worker.post(lambda i=i: seen.append((i, threading.get_ident())))
    assert worker.call(lambda: len(seen)) == 50
    assert [i for i, _ in seen] == list(range(50))
    assert len({t for _, t in seen}) == 1 and seen[0][1] != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        worker.call(lambda: 1 / 0)
    # On the thread itself, call() runs inline instead of waiting for itself.
    assert worker.call(lambda: worker.call(lambda: "inline")) == "inline"
    worker.shutdown()


def test_timers_fire_on_the_thread_in_order_and_can_be_cancelled() -> None:
    worker = DatabaseThread("timers", None)
    fired: list[str] = []
    done = threading.Event()

    def arm() -> None:
        worker.call_later(0.02, fired.append, "second")
        worker.call_later(0.0, fired.append, "first")
        worker.call_later(0.01, fired.append, "cancelled").cancel()
        worker.call_later(0.05, done.set)

    worker.post(arm)
    assert done.wait(TIMEOUT)
    assert fired == ["first", "second"]
    worker.shutdown()


async def test_run_async_awaits_a_job_and_the_job_survives_cancellation() -> None:
    worker = DatabaseThread("async", None)
    assert await worker.run_async(lambda: "value") == "value"
    gate = threading.Event()
    ran = threading.Event()

    def slow() -> None:
        gate.wait(TIMEOUT)
        ran.set()

    task = asyncio.ensure_future(worker.run_async(slow))
    await asyncio.sleep(0)  # let it submit
    task.cancel()
    gate.set()
    assert await asyncio.get_running_loop().run_in_executor(None, ran.wait, TIMEOUT)
    worker.shutdown()


def test_exclusive_parks_the_thread_and_calls_from_the_owner_run_inline() -> None:
    worker = DatabaseThread("exclusive", None)
    order: list[str] = []
    with worker.exclusive():
        worker.post(order.append, "queued while parked")
        order.append("owner works")
        assert worker.call(lambda: "inline for the owner") == "inline for the owner"
    worker.call(order.append, "after")
    assert order == ["owner works", "queued while parked", "after"]
    worker.shutdown()


def test_the_thread_ends_when_idle_and_a_new_one_serves_the_next_job() -> None:
    worker = DatabaseThread("restart", None)
    first = worker.call(threading.get_ident)
    worker.shutdown()
    # The next job starts a thread again (the old one may or may not have ended yet).
    assert worker.call(lambda: "served") == "served"
    assert isinstance(first, int)
    worker.shutdown()


def test_the_database_thread_installs_its_budget() -> None:
    worker = DatabaseThread("budgeted", 0.2)

    def spin() -> None:
        while True:
            pass

    def job() -> str:
        try:
            run_budgeted(spin)
        except OutOfEnergy:
            return "stopped"
        return "returned"

    assert worker.call(job) == "stopped"
    budget = worker.call(current_budget)
    assert budget is not None and budget.seconds == 0.2
    worker.shutdown()
