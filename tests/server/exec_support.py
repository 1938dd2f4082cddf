"""A module for the execution-model tests: procedures that wait between transactions, reducers
that block or never end, and the module features of procedures (HTTP, uuids, sender_auth).

The waiting procedures are modelled on upstream's ``sdk-test-procedure-concurrency`` module
(``modules/sdk-test-procedure-concurrency/src/lib.rs``): a table whose auto-increment column
records the order in which the procedure's and the other calls' rows were inserted.  Reducers
that must stay busy until the test lets them go wait on a :class:`threading.Event` of
:data:`GATES`, so the tests observe concurrency by events, never by timing.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp.web
import pytest

from spacetimedb_sdk import Err, Ok, ScheduleAt, TimeDuration, Timestamp
from spacetimedb_sdk.sats import U32, U64
from spacetimedb_sdk.server import (
    AnonymousViewContext,
    Module,
    ProcedureContext,
    ReducerContext,
    column,
)
from spacetimedb_sdk.server.module import HttpError

module = Module("exec-test")

#: Named events the module's blocking functions wait on; tests set and reset them.
GATES: defaultdict[str, threading.Event] = defaultdict(threading.Event)
#: Set by a function when it has started (so a test knows it is running).
STARTED: defaultdict[str, threading.Event] = defaultdict(threading.Event)


def reset_gates() -> None:
    """Release every waiting function, then forget the events (between tests)."""
    for event in list(GATES.values()):
        event.set()
    GATES.clear()
    STARTED.clear()


@pytest.fixture(autouse=True)
def release_gates() -> Iterator[None]:
    """Import into a test module: a failed test must not leave a reducer blocking its thread."""
    yield
    reset_gates()


@module.table(public=True)
class ProcedureConcurrencyRow:
    insertion_order: U32 = column(auto_inc=True)
    insertion_context: str


@module.table(public=True)
class Note:
    id: U64 = column(primary_key=True, auto_inc=True)
    text: str


@module.table(scheduled="insert_scheduled_reducer")
class ScheduledReducerRow:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.table(scheduled="scheduled_procedure_between_inserts")
class ScheduledProcedureRow:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


def _insert(ctx: ReducerContext, context: str) -> None:
    ctx.db.procedure_concurrency_row.insert(ProcedureConcurrencyRow(0, context))  # type: ignore[call-arg]


def _note(ctx: ReducerContext, text: str) -> None:
    ctx.db.note.insert(Note(0, text))  # type: ignore[call-arg]


# ---- upstream's concurrency scenarios ---------------------------------------------------------


@module.reducer
def insert_reducer_row(ctx: ReducerContext) -> None:
    _insert(ctx, "reducer")


@module.reducer
def insert_scheduled_reducer(ctx: ReducerContext, _schedule: ScheduledReducerRow) -> None:
    _insert(ctx, "scheduled_reducer")


def _poll_until(ctx: ProcedureContext, other_than: str) -> None:
    """Upstream's ``poll_until_tx_true``: sleep 100 ms, look, up to 10 s."""
    deadline = ctx.timestamp + TimeDuration.from_seconds(10)
    while ctx.timestamp < deadline:
        ctx.sleep_until(ctx.timestamp + TimeDuration.from_seconds(0.1))
        if ctx.with_tx(
            lambda tx: any(
                r.insertion_context != other_than for r in tx.db.procedure_concurrency_row
            )
        ):
            return
    raise RuntimeError("poll_until_tx_true: exceeded timeout")


@module.procedure
def procedure_sleep_between_inserts(ctx: ProcedureContext) -> None:
    ctx.with_tx(lambda tx: _insert(tx, "procedure_before"))
    _poll_until(ctx, "procedure_before")
    ctx.with_tx(lambda tx: _insert(tx, "procedure_after"))


@module.procedure
def procedure_schedule_reducer_between_inserts(ctx: ProcedureContext) -> None:
    def before(tx: ReducerContext) -> None:
        _insert(tx, "procedure_before")
        tx.db.scheduled_reducer_row.insert(ScheduledReducerRow(0, ScheduleAt.Time(tx.timestamp)))  # type: ignore[call-arg]

    ctx.with_tx(before)
    _poll_until(ctx, "procedure_before")
    ctx.with_tx(lambda tx: _insert(tx, "procedure_after"))


@module.procedure
def scheduled_procedure_between_inserts(ctx: ProcedureContext, _row: ScheduledProcedureRow) -> None:
    ctx.with_tx(lambda tx: _insert(tx, "scheduled_procedure_before"))
    # Upstream sleeps 10 s with the reducer due after 2 s; the same shape, five times shorter.
    ctx.sleep_until(ctx.timestamp + TimeDuration.from_seconds(2))
    ctx.with_tx(lambda tx: _insert(tx, "scheduled_procedure_after"))


@module.reducer
def schedule_procedure_then_reducer(ctx: ReducerContext) -> None:
    now = ScheduleAt.Time(ctx.timestamp)
    ctx.db.scheduled_procedure_row.insert(ScheduledProcedureRow(0, now))  # type: ignore[call-arg]
    later = ScheduleAt.Time(ctx.timestamp + TimeDuration.from_seconds(0.4))
    ctx.db.scheduled_reducer_row.insert(ScheduledReducerRow(0, later))  # type: ignore[call-arg]


# ---- procedures waiting on HTTP between transactions ------------------------------------------


@module.procedure
def procedure_http_between_inserts(ctx: ProcedureContext, url: str) -> str:
    ctx.with_tx(lambda tx: _insert(tx, "procedure_before"))
    body = ctx.http.get(url).text()
    ctx.with_tx(lambda tx: _insert(tx, "procedure_after"))
    return body


@module.procedure
def http_get(ctx: ProcedureContext, url: str, timeout_ms: U32) -> str:
    """The body, or the text of the HttpError (as upstream's ``invalid_request`` returns it)."""
    try:
        response = ctx.http.get(url, timeout=timeout_ms / 1000 if timeout_ms else None)
    except HttpError as e:
        return f"error: {e.message}"
    return f"{response.status} {response.text()}"


@module.procedure
def http_inside_tx(ctx: ProcedureContext, url: str) -> str:
    try:
        ctx.with_tx(lambda tx: ctx.http.get(url))
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "no error"


# ---- transactions that fail -------------------------------------------------------------------


@module.procedure
def try_with_tx_err(ctx: ProcedureContext) -> str:
    def body(tx: ReducerContext) -> Err[str] | Ok[None]:
        _note(tx, "rolled back")
        return Err("not this time")

    result = ctx.try_with_tx(body)
    kept = ctx.try_with_tx(lambda tx: Ok(_note(tx, "kept")))
    count = ctx.with_tx(lambda tx: tx.db.note.count())
    return f"{result!r} {kept!r} {count}"


@module.procedure
def raise_mid_transaction(ctx: ProcedureContext) -> None:
    ctx.with_tx(lambda tx: _note(tx, "first, committed"))

    def body(tx: ReducerContext) -> None:
        _note(tx, "second, rolled back")
        raise ValueError("mid-transaction failure")

    ctx.with_tx(body)
    ctx.with_tx(lambda tx: _note(tx, "never reached"))


# ---- reducers that block or never end ---------------------------------------------------------


@module.reducer
def wait_for_gate(ctx: ReducerContext, gate: str) -> None:
    STARTED[gate].set()
    GATES[gate].wait(30)
    _note(ctx, f"gate {gate} passed")


@module.reducer
def spin_forever(ctx: ReducerContext) -> None:
    _note(ctx, "spinning")
    STARTED["spin"].set()
    while True:
        pass


@module.reducer
def swallow_once(ctx: ReducerContext) -> None:
    """Catches the budget's interrupt and returns normally: its work is discarded anyway."""
    _note(ctx, "spinning")
    try:
        while True:
            pass
    except BaseException:
        pass
    _note(ctx, "after the interrupt")


@module.procedure
def spin_in_transaction(ctx: ProcedureContext) -> str:
    ctx.with_tx(lambda tx: _note(tx, "before the spin"))

    def body(tx: ReducerContext) -> None:
        _note(tx, "spinning")
        while True:
            pass

    try:
        ctx.with_tx(body)
    except Exception as e:  # OutOfEnergy is no Exception: this does not catch it
        return f"caught {e}"
    return "returned"


@module.reducer
def add_note(ctx: ReducerContext, text: str) -> None:
    _note(ctx, text)


@module.view(public=True, anonymous=True)
def runaway_view(ctx: AnonymousViewContext) -> list[Note]:
    while True:
        pass


# ---- what a reducer knows about its caller and returns ----------------------------------------


@module.reducer
def record_auth(ctx: ReducerContext) -> None:
    auth = ctx.sender_auth
    jwt = auth.jwt
    if jwt is None:
        _note(ctx, f"internal={auth.is_internal} jwt=None")
        return
    claims = f"sub={jwt.subject} iss={jwt.issuer} aud={','.join(jwt.audience)}"
    role = jwt.payload.get("role")
    _note(
        ctx, f"internal={auth.is_internal} {claims} role={role} same={jwt.identity == ctx.sender}"
    )


@module.reducer
def schedule_record_auth(ctx: ReducerContext) -> None:
    ctx.db.auth_timer.insert(AuthTimer(0, ScheduleAt.Time(ctx.timestamp)))  # type: ignore[call-arg]


@module.table(scheduled="record_auth_scheduled")
class AuthTimer:
    scheduled_id: U64 = column(primary_key=True, auto_inc=True)
    scheduled_at: ScheduleAt


@module.reducer
def record_auth_scheduled(ctx: ReducerContext, _timer: AuthTimer) -> None:
    record_auth(ctx)


@module.reducer
def returns_err(ctx: ReducerContext) -> Err[str]:
    _note(ctx, "rolled back")
    return Err("refused politely")


@module.reducer
def returns_value(ctx: ReducerContext):  # type: ignore[no-untyped-def]  # annotated, it is refused
    _note(ctx, "rolled back")
    return 7


@module.reducer
def insert_uuids(ctx: ReducerContext, count: U32) -> None:
    made = [ctx.new_uuid_v7() for _ in range(count)]
    if made != sorted(made):
        raise RuntimeError("UUIDs are not sorted correctly")
    for u in made:
        _note(ctx, str(u))


@module.procedure
def procedure_uuids(ctx: ProcedureContext) -> str:
    return f"{ctx.new_uuid_v4()} {ctx.new_uuid_v7()} {ctx.new_uuid_v7()}"


@module.procedure
def sleep_for(ctx: ProcedureContext, micros: U64) -> str:
    before = ctx.timestamp
    target = Timestamp(before.micros + micros)
    ctx.sleep_until(target)
    return f"{before.micros} {target.micros} {ctx.timestamp.micros}"


class http_server:
    """A throwaway aiohttp server on 127.0.0.1 with the given GET routes; yields its base URL."""

    def __init__(self, routes: dict[str, Callable[..., Any]]) -> None:
        self.app = aiohttp.web.Application()
        for path, handler in routes.items():
            self.app.router.add_get(path, handler)
        self.runner = aiohttp.web.AppRunner(self.app, shutdown_timeout=0.1)

    async def __aenter__(self) -> str:
        await self.runner.setup()
        site = aiohttp.web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()
