"""The host without sockets: lifecycle, who is told what after a commit, HTTP outcomes, timers."""

from __future__ import annotations

import asyncio
import json

import pytest
from server_test_support import Counter, Log, args, decode_rows, game, load_chat, table_changes

from spacetimedb_sdk import ConnectionId, Identity, ScheduleAt, TimeDuration, Timestamp
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats import AlgebraicType, bsatn
from spacetimedb_sdk.server.auth import TokenIssuer
from spacetimedb_sdk.server.host import (
    ClientConnection,
    ConnectionRejected,
    Database,
    FatalClientError,
    SqlFailed,
    next_tick,
)

TIMEOUT = 10.0


def _client(db: Database, subject: str, *, connect: bool = True) -> ClientConnection:
    token = db.issuer.mint(subject)
    identity = db.issuer.validate(token).identity
    client = ClientConnection(
        identity, ConnectionId.random(), token, is_owner=db.is_owner(identity)
    )
    if connect:
        db.connect(client)
    return client


@pytest.fixture
def db() -> Database:
    database = Database(game, issuer=TokenIssuer.generate())
    database.start()
    return database


def _subscribe(db: Database, client: ClientConnection, qs: int, *sql: str) -> m.SubscribeApplied:
    db.handle(client, m.Subscribe(qs, qs, list(sql)))
    (applied,) = client.take()
    assert isinstance(applied, m.SubscribeApplied)
    return applied


def _counter(db: Database) -> int:
    (row,) = db.rows("counter")
    return int(row.n)


# ---- start and lifecycle -----------------------------------------------------------------------


def test_init_runs_once_as_the_owner(db: Database) -> None:
    assert db.rows("counter") == [Counter(1, 0)]  # type: ignore[call-arg]
    db.start()
    assert db.rows("counter") == [Counter(1, 0)]  # type: ignore[call-arg]


def test_connect_and_disconnect_run_the_lifecycle_reducers(db: Database) -> None:
    client = _client(db, "alice")
    assert client in db.clients
    db.disconnect(client)
    texts = [row.text for row in db.rows("log")]
    prefix = client.identity.to_hex()[:8]
    assert texts == [f"connected {prefix}", f"disconnected {prefix}"]
    db.disconnect(client)  # a second disconnect is a no-op
    assert len(db.rows("log")) == 2


def test_rejecting_client_connected_refuses_the_client(db: Database) -> None:
    bad = _client(db, "mallory", connect=False)
    with db.transaction() as tx:
        tx.banned.insert(game.table_schema("banned").row_class(bad.identity))
    with pytest.raises(ConnectionRejected) as e:
        db.connect(bad)
    assert e.value.message == "you are banned"
    assert bad not in db.clients


def test_the_chat_module_tracks_who_is_online() -> None:
    chat = load_chat()
    db = Database(chat.module)
    db.start()
    client = _client(db, "alice")
    assert db.rows("user")[0].online is True
    db.disconnect(client)
    assert db.rows("user")[0].online is False


# ---- reducers over the WebSocket ---------------------------------------------------------------


def test_caller_gets_its_own_update_and_others_a_transaction_update(db: Database) -> None:
    alice, bob, carol = _client(db, "alice"), _client(db, "bob"), _client(db, "carol")
    _subscribe(db, alice, 1, "SELECT * FROM counter")
    _subscribe(db, bob, 7, "SELECT * FROM counter")
    db.handle(alice, m.CallReducer(42, 0, "bump", args(game, "bump", 5)))
    (result,) = alice.take()
    assert isinstance(result, m.ReducerResult) and result.request_id == 42
    assert isinstance(result.result, m.ReducerOk)
    assert result.result.ret_value == b""
    inserted, deleted = table_changes(result.result, "counter")
    codec = game.row_codec("counter")
    assert [codec.decode(r) for r in inserted] == [Counter(1, 5)]  # type: ignore[call-arg]
    assert [codec.decode(r) for r in deleted] == [Counter(1, 0)]  # type: ignore[call-arg]
    (update,) = bob.take()
    assert isinstance(update, m.TransactionUpdate)
    assert [qs.query_set_id for qs in update.query_sets] == [7]
    assert table_changes(update, "counter") == (inserted, deleted)
    assert carol.take() == []  # not subscribed: told nothing


def test_a_reducer_changing_nothing_the_caller_sees_still_gets_ok(db: Database) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.CallReducer(1, 0, "bump", args(game, "bump", 1)))
    (result,) = alice.take()
    assert isinstance(result, m.ReducerResult)
    assert result.result == m.ReducerOk(b"", m.TransactionUpdate([]))


def test_failed_reducer_tells_only_the_caller_and_rolls_back(db: Database) -> None:
    alice, bob = _client(db, "alice"), _client(db, "bob")
    _subscribe(db, bob, 1, "SELECT * FROM counter")
    db.handle(alice, m.CallReducer(3, 0, "fail", b""))
    (result,) = alice.take()
    assert isinstance(result, m.ReducerResult)
    expected = bsatn.encode(AlgebraicType.STRING, "nope")
    assert result.result == m.ReducerErr(expected)
    assert bob.take() == []
    assert _counter(db) == 0


def test_crashing_reducer_is_an_internal_error(db: Database) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.CallReducer(3, 0, "crash", b""))
    (result,) = alice.take()
    assert isinstance(result, m.ReducerResult)
    assert result.result == m.ReducerInternalError("The instance encountered a fatal error.")


@pytest.mark.parametrize(
    ("reducer", "payload", "text"),
    [
        ("nope", b"", "no such reducer"),
        ("connected", b"", "can't directly call special OnConnect lifecycle reducer"),
        ("disconnected", b"", "can't directly call special OnDisconnect lifecycle reducer"),
        ("init", b"", "can't directly call special Init lifecycle reducer"),
        ("on_tick", b"", "no such reducer"),  # scheduled: private to non-owners
    ],
)
def test_uncallable_reducers_are_internal_errors(
    db: Database, reducer: str, payload: bytes, text: str
) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.CallReducer(9, 0, reducer, payload))
    (result,) = alice.take()
    assert isinstance(result, m.ReducerResult) and result.request_id == 9
    assert result.result == m.ReducerInternalError(text)


def test_bad_reducer_arguments_are_an_internal_error(db: Database) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.CallReducer(9, 0, "bump", b"\x01"))
    (result,) = alice.take()
    assert isinstance(result, m.ReducerResult)
    assert isinstance(result.result, m.ReducerInternalError)
    assert result.result.message.startswith("invalid arguments for reducer bump: ")


def test_the_owner_may_call_a_private_scheduled_reducer(db: Database) -> None:
    owner = ClientConnection(
        db.owner_identity, ConnectionId.random(), db.owner_token, is_owner=True
    )
    db.connect(owner)
    row = game.table_schema("ticker").row_class(7, ScheduleAt.Time(Timestamp(0)), "manual")
    db.handle(owner, m.CallReducer(1, 0, "on_tick", args(game, "on_tick", row)))
    (result,) = owner.take()
    assert isinstance(result, m.ReducerResult) and isinstance(result.result, m.ReducerOk)
    assert db.rows("log")[-1].text == "tick manual"


# ---- procedures, queries, subscriptions --------------------------------------------------------


def test_procedure_result_and_its_transactions(db: Database) -> None:
    alice, bob = _client(db, "alice"), _client(db, "bob")
    _subscribe(db, alice, 1, "SELECT * FROM log")
    _subscribe(db, bob, 2, "SELECT * FROM log")
    db.handle(alice, m.CallProcedure(5, 0, "log_twice", args(game, "log_twice", "hi")))
    *updates, result = alice.take()
    # Each inner transaction reaches the caller as a TransactionUpdate, before the result.
    assert [type(u) for u in updates] == [m.TransactionUpdate, m.TransactionUpdate]
    assert isinstance(result, m.ProcedureResult) and result.request_id == 5
    assert result.status == m.ProcedureReturned(bsatn.encode(AlgebraicType.U32, 2))
    assert len(bob.take()) == 2
    texts = [row.text for row in db.rows("log")][-2:]
    assert texts == ["hi 0", "hi 1"]


def test_procedure_errors(db: Database) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.CallProcedure(1, 0, "missing", b""))
    db.handle(alice, m.CallProcedure(2, 0, "add", b"\x00"))
    db.handle(alice, m.CallProcedure(3, 0, "explode", b""))
    db.handle(alice, m.CallProcedure(4, 0, "on_ping", b""))  # scheduled: private
    results = alice.take()
    assert [r.request_id for r in results] == [1, 2, 3, 4]  # type: ignore[union-attr]
    statuses = [r.status for r in results]  # type: ignore[union-attr]
    assert statuses[0] == m.ProcedureInternalError("No such procedure")
    assert isinstance(statuses[1], m.ProcedureInternalError)
    assert statuses[1].message.startswith("invalid arguments for procedure add: ")
    assert statuses[2] == m.ProcedureInternalError("ValueError: kaput")
    assert statuses[3] == m.ProcedureInternalError("No such procedure")
    assert all(r.timestamp == Timestamp.UNIX_EPOCH for r in results)  # type: ignore[union-attr]


def test_one_off_query(db: Database) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.OneOffQuery(1, "SELECT * FROM counter"))
    db.handle(alice, m.OneOffQuery(2, "SELECT * FROM nowhere"))
    ok, err = alice.take()
    assert isinstance(ok, m.OneOffQueryResult) and isinstance(ok.result, m.Ok)
    (table,) = ok.result.value.tables
    assert decode_rows(game, "counter", table.rows) == [Counter(1, 0)]  # type: ignore[call-arg]
    assert isinstance(err, m.OneOffQueryResult) and isinstance(err.result, m.Err)
    assert err.request_id == 2 and "nowhere" in err.result.error


def test_subscription_errors_and_unsubscribe(db: Database) -> None:
    alice = _client(db, "alice")
    db.handle(alice, m.Subscribe(1, 4, ["SELECT * FROM nowhere"]))
    (error,) = alice.take()
    assert isinstance(error, m.SubscriptionError)
    assert (error.request_id, error.query_set_id) == (1, 4)
    _subscribe(db, alice, 4, "SELECT * FROM counter")  # the failed id is free
    db.handle(alice, m.Unsubscribe(2, 4, m.UnsubscribeFlags.SEND_DROPPED_ROWS))
    (applied,) = alice.take()
    assert isinstance(applied, m.UnsubscribeApplied) and applied.rows is not None
    assert decode_rows(game, "counter", applied.rows.tables[0].rows) == [Counter(1, 0)]  # type: ignore[call-arg]
    _subscribe(db, alice, 4, "SELECT * FROM counter")
    db.handle(alice, m.Unsubscribe(3, 4, m.UnsubscribeFlags.DEFAULT))
    assert alice.take() == [m.UnsubscribeApplied(3, 4, None)]
    db.handle(alice, m.Unsubscribe(5, 4))
    (unknown,) = alice.take()
    assert isinstance(unknown, m.SubscriptionError) and unknown.request_id == 5


def test_reusing_an_active_query_set_id_is_fatal(db: Database) -> None:
    alice = _client(db, "alice")
    _subscribe(db, alice, 3, "SELECT * FROM counter")
    with pytest.raises(FatalClientError, match="already exists"):
        db.handle(alice, m.Subscribe(2, 3, ["SELECT * FROM log"]))


def test_disconnect_drops_subscriptions(db: Database) -> None:
    alice, bob = _client(db, "alice"), _client(db, "bob")
    _subscribe(db, alice, 1, "SELECT * FROM counter")
    db.disconnect(alice)
    db.handle(bob, m.CallReducer(1, 0, "bump", args(game, "bump", 1)))
    assert alice.take() == [] and db.subscriptions.query_sets(alice) == []


# ---- fixtures and HTTP outcomes ----------------------------------------------------------------


def test_fixture_transaction_broadcasts_and_rolls_back(db: Database) -> None:
    alice = _client(db, "alice")
    _subscribe(db, alice, 1, "SELECT * FROM log")
    with db.transaction() as tx:
        tx.log.insert(Log(0, "from a fixture"))  # type: ignore[call-arg]
    (update,) = alice.take()
    assert isinstance(update, m.TransactionUpdate)
    with pytest.raises(KeyError), db.transaction() as tx:
        tx.log.insert(Log(0, "never"))  # type: ignore[call-arg]
        raise KeyError("abort")
    assert alice.take() == []
    assert "never" not in [r.text for r in db.rows("log")]


def test_direct_calls_and_sql(db: Database) -> None:
    assert db.call_reducer("bump", 2).ok
    assert db.call_reducer("bump", by=3).ok
    assert _counter(db) == 5
    assert db.call_procedure("add", 1, 2).return_value == 3
    assert db.sql("SELECT n FROM counter")[0]["rows"] == [[5]]
    with pytest.raises(SqlFailed):
        db.sql("SELECT * FROM nowhere")
    with pytest.raises(KeyError):
        db.call_reducer("nope")


def test_http_call_outcomes(db: Database) -> None:
    me = Identity(0xA11CE)
    assert db.http_call(me, "bump", b"[4]").status == 200
    assert db.http_call(me, "bump", b'{"by": 1}').status == 200
    assert _counter(db) == 5
    failed = db.http_call(me, "fail", b"[]")
    assert (failed.status, failed.body) == (530, "nope")
    assert db.http_call(me, "crash", b"[]").status == 530
    bad = db.http_call(me, "bump", b'["x"]')
    assert bad.status == 400 and str(bad.body).startswith("invalid arguments for reducer bump")
    assert db.http_call(me, "bump", b"not json").status == 400
    life = db.http_call(me, "connected", b"[]")
    assert (life.status, life.body) == (
        400,
        "can't directly call special OnConnect lifecycle reducer",
    )
    assert (db.http_call(me, "nope", b"[]").status, db.http_call(me, "nope", b"[]").body) == (
        404,
        "No such procedure",
    )
    assert db.http_call(me, "on_tick", b"[]").status == 404  # private to the owner
    proc = db.http_call(me, "add", b"[2, 3]")
    assert proc.status == 200 and json.loads(proc.body) == 5
    assert db.http_call(me, "explode", b"[]").status == 500


def test_http_call_runs_connect_and_disconnect(db: Database) -> None:
    me = Identity(0xB0B)
    db.http_call(me, "bump", b"[1]")
    texts = [r.text for r in db.rows("log")]
    assert texts == [f"connected {me.to_hex()[:8]}", f"disconnected {me.to_hex()[:8]}"]
    with db.transaction() as tx:
        tx.banned.insert(game.table_schema("banned").row_class(me))
    rejected = db.http_call(me, "bump", b"[1]")
    assert (rejected.status, rejected.body) == (403, "you are banned")
    assert db.http_sql(me, "SELECT * FROM counter").status == 403


def test_http_sql(db: Database) -> None:
    me = Identity(0xB0B)
    ok = db.http_sql(me, "SELECT * FROM counter")
    assert ok.status == 200 and json.loads(ok.body)[0]["rows"] == [[1, 0]]
    assert db.http_sql(me, "SELECT * FROM").status == 400
    assert db.http_sql(me, "DELETE FROM counter").status == 400  # DML needs the owner
    assert db.http_sql(db.owner_identity, "DELETE FROM counter").status == 200
    assert db.rows("counter") == []


# ---- the scheduler -----------------------------------------------------------------------------


def test_next_tick_skips_missed_ticks() -> None:
    step = TimeDuration(10)
    assert next_tick(Timestamp(0), step, Timestamp(5)) == Timestamp(10)
    assert next_tick(Timestamp(0), step, Timestamp(10)) == Timestamp(20)
    assert next_tick(Timestamp(0), step, Timestamp(35)) == Timestamp(40)
    assert next_tick(Timestamp(100), step, Timestamp(50)) == Timestamp(110)


async def _until(predicate: object, db: Database) -> None:
    """Wait (on events, not sleeps) until a commit makes ``predicate()`` true."""
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    watcher = ClientConnection(Identity(1), ConnectionId.random(), "", loop=loop)
    db.connect(watcher)
    tables = ["log", "ticker", "ping_timer"]
    db.handle(watcher, m.Subscribe(1, 1, [f"SELECT * FROM {t}" for t in tables]))
    watcher.take()

    async def wait() -> None:
        while not predicate():
            await watcher.next_batch()

    try:
        await asyncio.wait_for(wait(), TIMEOUT)
    finally:
        db.disconnect(watcher)


async def test_interval_schedule_repeats_until_the_row_is_deleted() -> None:
    db = Database(game)
    db.start(asyncio.get_running_loop())
    try:
        assert db.call_reducer("schedule_every", 20_000, "fast").ok
        (timer,) = db.rows("ticker")

        def ticks() -> int:
            return sum(r.text == "tick fast" for r in db.rows("log"))

        await _until(lambda: ticks() >= 2, db)
        assert db.rows("ticker") == [timer]  # an interval row stays
        assert db.call_reducer("cancel", timer.scheduled_id).ok
        assert db.scheduler.pending() == []
    finally:
        db.stop()


async def test_one_shot_schedule_fires_once_and_its_row_goes() -> None:
    db = Database(game)
    db.start(asyncio.get_running_loop())
    try:
        assert db.call_reducer("schedule_in", 10_000, "once").ok
        await _until(lambda: db.rows("ticker") == [], db)
        assert [r.text for r in db.rows("log")].count("tick once") == 1
        assert db.scheduler.pending() == []
    finally:
        db.stop()


async def test_schedule_in_the_past_fires_at_once_and_procedures_can_be_scheduled() -> None:
    db = Database(game)
    db.start(asyncio.get_running_loop())
    try:
        row_class = game.table_schema("ping_timer").row_class
        with db.transaction() as tx:
            tx.ping_timer.insert(row_class(0, ScheduleAt.Time(Timestamp(0)), "late"))
        await _until(lambda: "ping late" in [r.text for r in db.rows("log")], db)
        await _until(lambda: db.rows("ping_timer") == [], db)
    finally:
        db.stop()


async def test_rows_present_at_start_are_scheduled_and_stop_cancels() -> None:
    db = Database(game)
    with db.transaction() as tx:  # before start: no loop yet, nothing armed
        tx.ticker.insert(
            game.table_schema("ticker").row_class(
                0, ScheduleAt.Interval(TimeDuration(60_000_000)), "slow"
            )
        )
    assert db.scheduler.pending() == []
    db.start(asyncio.get_running_loop())
    assert len(db.scheduler.pending()) == 1
    db.stop()
    assert db.scheduler.pending() == []
