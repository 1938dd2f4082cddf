"""The sans-I/O client core fed with recorded frames: cache contents and callback order.

Frames come from tests/fixtures/protocol (made by the official TypeScript implementation)
or are encoded by our protocol codec (itself checked byte for byte against those fixtures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk.client import core as c
from spacetimedb_sdk.client.bindings import ModuleBindings
from spacetimedb_sdk.client.cache import ClientCache, TableCache
from spacetimedb_sdk.errors import DisconnectedError, ProtocolError
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.codec import encode_server_message
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_client_frame,
)
from spacetimedb_sdk.sats import AlgebraicType, bsatn
from spacetimedb_sdk.sats.values import ConnectionId, Identity, Timestamp
from spacetimedb_sdk.schema import ModuleSchema

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FRAMES = FIXTURES / "protocol" / "frames"
SCHEMA = ModuleSchema.from_json((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())
ALICE = Identity.from_hex("c2000000000000000000000000000000000000000000000000000000000a11ce")
BOB = Identity.from_hex("c200000000000000000000000000000000000000000000000000000000000b0b")
STRING = AlgebraicType.STRING


class Chat:
    """A core with the quickstart-chat tables, recording every callback in order."""

    def __init__(self, protocol: str = SUBPROTOCOL_V2) -> None:
        self.bindings = ModuleBindings.from_schema(SCHEMA)
        self.cache = ClientCache()
        self.tables: dict[str, TableCache[Any]] = {}
        for tb in self.bindings.tables.values():
            t: TableCache[Any] = TableCache(
                tb.name, tb.codec.decode, primary_key=tb.primary_key or None, indexes=tb.indexes
            )
            self.cache.add_table(t)
            self.tables[tb.name] = t
        self.core = c.ClientCore(self.cache)
        self.core.connection_opened(protocol)
        self.log: list[tuple[Any, ...]] = []
        for name, t in self.tables.items():
            t.on_insert(lambda ctx, row, n=name: self.log.append(("insert", n, ctx, row)))
            t.on_delete(lambda ctx, row, n=name: self.log.append(("delete", n, ctx, row)))
            if t.has_primary_key:
                t.on_update(
                    lambda ctx, old, new, n=name: self.log.append(("update", n, ctx, old, new))
                )

    def row(self, table: str, **values: Any) -> bytes:
        tb = self.bindings.table(table)
        assert tb.row_class is not None
        return tb.codec.encode(tb.row_class(**values))

    def User(self, identity: Identity, name: str | None, online: bool) -> Any:
        return self.bindings.table("user").row_class(identity, name, online)  # type: ignore[misc]

    def Message(self, sender: Identity, sent: Timestamp, text: str) -> Any:
        return self.bindings.table("message").row_class(sender, sent, text)  # type: ignore[misc]

    def feed(self, *msgs: object) -> list[c.Event]:
        """Feed messages as v2 frames; fire each event's changes with the event as context."""
        events: list[c.Event] = []
        for msg in msgs:
            got = self.core.receive_frame(b"\x00" + encode_server_message(msg))
            for ev in got:
                changes = getattr(ev, "changes", None)
                if changes is not None:
                    changes.fire(lambda ev=ev: type(ev).__name__)
            events.extend(got)
        return events

    def connect(self) -> None:
        self.core.receive_frame((FRAMES / "v2_none_InitialConnection.bin").read_bytes())


def rows(table: str, *data: bytes) -> m.SingleTableRows:
    return m.SingleTableRows(table, m.BsatnRowList.from_rows(list(data)))


def tx(
    query_set_id: int, table: str, inserts: list[bytes], deletes: list[bytes]
) -> m.QuerySetUpdate:
    return m.QuerySetUpdate(
        query_set_id,
        [
            m.TableUpdate(
                table,
                [
                    m.PersistentTableRows(
                        m.BsatnRowList.from_rows(inserts), m.BsatnRowList.from_rows(deletes)
                    )
                ],
            )
        ],
    )


def test_initial_connection_from_fixture_frame() -> None:
    chat = Chat()
    events = chat.core.receive_frame((FRAMES / "v2_none_InitialConnection.bin").read_bytes())
    assert events == [
        c.Connected(
            ALICE, ConnectionId.from_hex("0102030405060708090a0b0c0d0e0f10"), chat.core.token or ""
        )
    ]
    assert chat.core.state is c.State.CONNECTED
    assert chat.core.identity == ALICE
    assert "eyJ" not in repr(events[0])  # tokens never in reprs


def test_calls_before_initial_connection_are_queued_then_sent_in_order_v2() -> None:
    chat = Chat(SUBPROTOCOL_V2)
    qs = chat.core.subscribe(["SELECT * FROM user"])
    rid = chat.core.call_reducer(
        "set_name", bsatn.encode(AlgebraicType.product({"name": STRING}), {"name": "A"})
    )
    assert chat.core.data_to_send() == []
    chat.connect()
    frames = chat.core.data_to_send()
    assert len(frames) == 2  # v2: one message per frame
    sent = [decode_client_frame(f, SUBPROTOCOL_V2)[0] for f in frames]
    assert isinstance(sent[0], m.Subscribe) and sent[0].query_set_id == qs
    assert (
        isinstance(sent[1], m.CallReducer)
        and sent[1].request_id == rid
        and sent[1].reducer == "set_name"
    )


def test_v3_batches_queued_messages_into_one_frame() -> None:
    chat = Chat(SUBPROTOCOL_V3)
    chat.core.subscribe(["SELECT * FROM user", "SELECT * FROM message"])
    chat.core.call_reducer("set_name", b"\x05\x00\x00\x00Alice")
    chat.connect()
    frames = chat.core.data_to_send()
    assert len(frames) == 1
    assert [type(x).__name__ for x in decode_client_frame(frames[0], SUBPROTOCOL_V3)] == [
        "Subscribe",
        "CallReducer",
    ]
    # Identical in shape to the official client's v3 frame of the same two messages.
    official = decode_client_frame(
        (FRAMES / "v3_client_2_messages.bin").read_bytes(), SUBPROTOCOL_V3
    )
    assert [type(x) for x in official] == [m.Subscribe, m.CallReducer]


def test_v3_frames_are_capped() -> None:
    chat = Chat(SUBPROTOCOL_V3)
    chat.connect()
    chat.core.data_to_send()
    big = b"x" * 100_000
    for _ in range(6):
        chat.core._queued.append(m.CallReducer(0, 0, "r", big))
    chat.core._flush()
    frames = chat.core.data_to_send()
    assert len(frames) == 3 and all(len(f) <= c.MAX_V3_FRAME_BYTES for f in frames)


def test_quickstart_chat_stream_cache_and_callback_order() -> None:
    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM user", "SELECT * FROM message"])
    rid_sub = chat.core._next_request_id - 1
    alice0 = chat.row("user", identity=ALICE, name=None, online=True)
    bob = chat.row("user", identity=BOB, name="Bob", online=True)
    hello = chat.row("message", sender=BOB, sent=Timestamp(1_700_000_000_000_000), text="hello")

    # 1. The subscription's initial rows: Alice (no name yet), Bob, one message.
    ev = chat.feed(
        m.SubscribeApplied(
            rid_sub, qs, m.QueryRows([rows("user", alice0, bob), rows("message", hello)])
        )
    )
    assert isinstance(ev[0], c.SubscriptionApplied) and ev[0].query_set_id == qs
    assert [e[:2] for e in chat.log] == [
        ("insert", "user"),
        ("insert", "user"),
        ("insert", "message"),
    ]
    assert chat.tables["user"].count() == 2
    chat.log.clear()

    # 2. Alice's set_name succeeds: an update (delete + insert of the same primary key).
    set_name = chat.core.call_reducer("set_name", bsatn.encode(STRING, "Alice"))
    alice1 = chat.row("user", identity=ALICE, name="Alice", online=True)
    ok = m.ReducerOk(b"", m.TransactionUpdate([tx(qs, "user", [alice1], [alice0])]))
    ev = chat.feed(m.ReducerResult(set_name, Timestamp(1_700_000_000_000_001), ok))
    assert [type(e).__name__ for e in ev] == ["ReducerFinished"]
    assert chat.log == [
        (
            "update",
            "user",
            "ReducerFinished",
            chat.User(ALICE, None, True),
            chat.User(ALICE, "Alice", True),
        )
    ]
    assert chat.tables["user"].index("identity").find(ALICE).name == "Alice"
    chat.log.clear()

    # 3. A failing set_name: the caller learns the error, nothing changes, no row callbacks.
    bad = chat.core.call_reducer("set_name", bsatn.encode(STRING, ""))
    ev = chat.feed(
        m.ReducerResult(
            bad,
            Timestamp(1_700_000_000_000_002),
            m.ReducerErr(bsatn.encode(STRING, "name cannot be empty")),
        )
    )
    assert isinstance(ev[0], c.ReducerFinished) and isinstance(ev[0].outcome, m.ReducerErr)
    assert bsatn.decode(STRING, ev[0].outcome.error) == "name cannot be empty"
    assert ev[0].changes is None and chat.log == []

    # 4. Bob sends a message: a Transaction for us.
    hi = chat.row("message", sender=BOB, sent=Timestamp(1_700_000_000_000_003), text="hi Alice")
    ev = chat.feed(m.TransactionUpdate([tx(qs, "message", [hi], [])]))
    assert [e[:3] for e in chat.log] == [("insert", "message", "TransactionApplied")]
    assert chat.tables["message"].count() == 2
    chat.log.clear()

    # 5. Unsubscribe: every row leaves the cache with on_delete.
    assert chat.core.unsubscribe(qs) == []
    chat.core.data_to_send()
    ev = chat.feed(m.UnsubscribeApplied(chat.core._next_request_id - 1, qs, None))
    assert isinstance(ev[0], c.SubscriptionEnded)
    assert sorted(e[1] for e in chat.log if e[0] == "delete") == [
        "message",
        "message",
        "user",
        "user",
    ]
    assert chat.tables["user"].count() == 0 and chat.tables["message"].count() == 0
    assert qs not in chat.core.subscriptions


@pytest.mark.parametrize(
    "name", ["v3_none_3_messages.bin", "v3_gzip_3_messages.bin", "v3_brotli_3_messages.bin"]
)
def test_recorded_v3_frames_apply_in_order(name: str) -> None:
    chat = Chat(SUBPROTOCOL_V3)
    chat.connect()
    # The recorded frame updates query sets 1 and 7, answers reducer request 7 and procedure
    # request 10.
    chat.core.subscriptions[1] = c._Subscription(1, ["q"], c.SubState.APPLIED)
    chat.core.subscriptions[7] = c._Subscription(7, ["q"], c.SubState.APPLIED)
    chat.core._next_request_id = 7
    chat.core.call_reducer("set_name", b"")
    chat.core._next_request_id = 10
    chat.core.call_procedure("return_primitive", b"")
    events = chat.core.receive_frame((FRAMES / name).read_bytes())
    assert [type(e).__name__ for e in events] == [
        "TransactionApplied",
        "ReducerFinished",
        "ProcedureFinished",
    ]
    proc = events[2]
    assert isinstance(proc, c.ProcedureFinished) and isinstance(proc.status, m.ProcedureReturned)
    assert bsatn.decode(AlgebraicType.U32, proc.status.value) == 5
    assert chat.tables["user"].count() + chat.tables["message"].count() > 0


@pytest.mark.parametrize("name", ["v2_gzip_SubscribeApplied.bin", "v2_brotli_SubscribeApplied.bin"])
def test_recorded_compressed_subscribe_applied(name: str) -> None:
    chat = Chat()
    chat.connect()
    chat.core.subscriptions[1] = c._Subscription(1, ["q"], c.SubState.SENT)
    events = chat.core.receive_frame((FRAMES / name).read_bytes())
    assert isinstance(events[0], c.SubscriptionApplied)
    # The recorded message lists three user rows (two share Bob's key) and two messages.
    assert sorted(u.name or "" for u in chat.tables["user"].iter()) == ["", "Alice", "Bob"]
    texts = sorted(x.text for x in chat.tables["message"].iter())
    assert texts[0] == "Hello, Bob!" and texts[1].startswith("h\u00e9llo")


def test_reference_counting_across_query_sets() -> None:
    """TS table_cache: the same row from two sets is one insert; it leaves with the last set."""
    chat = Chat()
    chat.connect()
    a = chat.core.subscribe(["SELECT * FROM message"])
    b = chat.core.subscribe(["SELECT * FROM message WHERE text = 'x'"])
    x = chat.row("message", sender=BOB, sent=Timestamp(1), text="x")
    chat.feed(m.SubscribeApplied(0, a, m.QueryRows([rows("message", x)])))
    chat.feed(m.SubscribeApplied(1, b, m.QueryRows([rows("message", x)])))
    assert [e[0] for e in chat.log] == ["insert"]
    chat.core.unsubscribe(a)
    chat.feed(m.UnsubscribeApplied(2, a, None))
    assert [e[0] for e in chat.log] == ["insert"] and chat.tables["message"].count() == 1
    chat.core.unsubscribe(b)
    chat.feed(m.UnsubscribeApplied(3, b, None))
    assert [e[0] for e in chat.log] == ["insert", "delete"] and chat.tables["message"].count() == 0


def test_subscription_error_without_request_id_drops_only_that_set() -> None:
    chat = Chat()
    chat.connect()
    a = chat.core.subscribe(["SELECT * FROM message"])
    b = chat.core.subscribe(["SELECT * FROM user"])
    x = chat.row("message", sender=BOB, sent=Timestamp(1), text="x")
    u = chat.row("user", identity=BOB, name=None, online=True)
    chat.feed(m.SubscribeApplied(0, a, m.QueryRows([rows("message", x)])))
    chat.feed(m.SubscribeApplied(1, b, m.QueryRows([rows("user", u)])))
    ev = chat.feed(m.SubscriptionError(None, a, "subscription invalidated"))
    assert isinstance(ev[0], c.SubscriptionFailed) and ev[0].request_id is None
    assert chat.tables["message"].count() == 0 and chat.tables["user"].count() == 1
    assert a not in chat.core.subscriptions and b in chat.core.subscriptions


def test_subscription_error_with_request_id_for_pending_set() -> None:
    chat = Chat()
    chat.connect()
    a = chat.core.subscribe(["SELEcCT * FROM user"])
    ev = chat.feed(m.SubscriptionError(0, a, "sql parser error"))
    assert isinstance(ev[0], c.SubscriptionFailed) and ev[0].error == "sql parser error"
    assert ev[0].changes is None and a not in chat.core.subscriptions


def test_cancel_before_sent_and_while_pending() -> None:
    chat = Chat()
    queued = chat.core.subscribe(["SELECT * FROM user"])
    ended = chat.core.unsubscribe(queued)  # never sent: ends at once
    assert [type(e) for e in ended] == [c.SubscriptionEnded]
    chat.connect()
    assert chat.core.data_to_send() == []  # the cancelled Subscribe was not sent
    sent = chat.core.subscribe(["SELECT * FROM user"])
    chat.core.data_to_send()
    assert chat.core.unsubscribe(sent) == []
    ev = chat.feed(m.SubscribeApplied(1, sent, m.QueryRows([])))
    assert isinstance(ev[0], c.SubscriptionApplied) and ev[0].cancelled
    out = [decode_client_frame(f, SUBPROTOCOL_V2)[0] for f in chat.core.data_to_send()]
    assert isinstance(out[0], m.Unsubscribe) and out[0].query_set_id == sent


def test_unexpected_messages_are_protocol_errors() -> None:
    chat = Chat()
    with pytest.raises(ProtocolError, match="first message"):
        chat.core.receive_frame(b"\x00" + encode_server_message(m.TransactionUpdate([])))
    assert chat.core.state is c.State.CLOSED
    chat = Chat()
    chat.connect()
    with pytest.raises(ProtocolError, match="unknown request id 99"):
        chat.feed(m.ReducerResult(99, Timestamp(0), m.ReducerOkEmpty()))
    chat = Chat()
    chat.connect()
    with pytest.raises(ProtocolError, match="unknown ServerMessage tag"):
        chat.core.receive_frame(b"\x00\x63")
    chat = Chat()
    chat.connect()
    with pytest.raises(ProtocolError, match="compression"):
        chat.core.receive_frame(b"\x07abc")


def test_malformed_row_leaves_cache_untouched() -> None:
    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM user"])
    good = chat.row("user", identity=BOB, name=None, online=True)
    bad = good[:-1] + b"\x02"  # bool byte 2
    with pytest.raises(Exception, match=r"(?i)invalid bool byte 0x02.*user\.online"):
        chat.feed(m.SubscribeApplied(0, qs, m.QueryRows([rows("user", good, bad)])))
    assert chat.tables["user"].count() == 0


def test_connection_closed_reports_pending_calls() -> None:
    chat = Chat()
    chat.connect()
    r = chat.core.call_reducer("set_name", b"")
    p = chat.core.call_procedure("p", b"")
    q = chat.core.one_off_query("SELECT * FROM user")
    s = chat.core.subscribe(["SELECT * FROM user"])
    assert chat.core.connection_closed() == ([r], [p], [q], [s])
    with pytest.raises(DisconnectedError):
        chat.core.call_reducer("set_name", b"")


def test_reconnect_resubscribes_and_reconciles_without_spurious_callbacks() -> None:
    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM user"])
    u1 = chat.row("user", identity=BOB, name="Bob", online=True)
    u2 = chat.row("user", identity=ALICE, name=None, online=True)
    chat.feed(m.SubscribeApplied(0, qs, m.QueryRows([rows("user", u1, u2)])))
    chat.log.clear()
    pending = chat.core.call_reducer("set_name", b"")
    reducers, _, _, ended = chat.core.reset_for_reconnect()
    assert reducers == [pending] and ended == []
    chat.core.connection_opened(SUBPROTOCOL_V2)
    chat.connect()
    resent = [decode_client_frame(f, SUBPROTOCOL_V2)[0] for f in chat.core.data_to_send()]
    assert [(type(x), x.query_set_id) for x in resent] == [(m.Subscribe, qs)]  # type: ignore[union-attr]
    # Bob unchanged, Alice renamed while we were away, Carol new.
    carol = Identity(7)
    u2b = chat.row("user", identity=ALICE, name="Alice", online=True)
    u3 = chat.row("user", identity=carol, name=None, online=False)
    chat.feed(
        m.SubscribeApplied(resent[0].request_id, qs, m.QueryRows([rows("user", u1, u2b, u3)]))
    )
    kinds = sorted((e[0], e[1]) for e in chat.log)
    assert kinds == [("insert", "user"), ("update", "user")]
    assert chat.tables["user"].count() == 3


def test_a_second_drop_before_the_resubscription_is_applied_still_replaces_the_rows() -> None:
    """Found by the fault-injection test: dropped again while the re-sent set awaited its
    SubscribeApplied, the client must still replace the old rows, not add the new ones."""
    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM user"])
    chat.core.data_to_send()
    u1 = chat.row("user", identity=BOB, name="Bob", online=True)
    u2 = chat.row("user", identity=ALICE, name=None, online=True)
    chat.feed(m.SubscribeApplied(0, qs, m.QueryRows([rows("user", u1, u2)])))
    for _ in range(2):  # dropped, reconnected, the Subscribe sent, dropped again
        chat.core.reset_for_reconnect()
        chat.core.connection_opened(SUBPROTOCOL_V2)
        chat.connect()
        resent = [decode_client_frame(f, SUBPROTOCOL_V2)[0] for f in chat.core.data_to_send()]
    chat.log.clear()
    u2b = chat.row("user", identity=ALICE, name="Alice", online=True)
    chat.feed(m.SubscribeApplied(resent[0].request_id, qs, m.QueryRows([rows("user", u1, u2b)])))  # type: ignore[union-attr]
    assert sorted((e[0], e[1]) for e in chat.log) == [("update", "user")]
    assert chat.tables["user"].count() == 2


# ---- rows for query sets the client does not hold (issue 12) ------------------------------


def test_transaction_update_for_a_never_subscribed_set_is_a_protocol_error() -> None:
    chat = Chat()
    chat.connect()
    x = chat.row("message", sender=BOB, sent=Timestamp(1), text="x")
    with pytest.raises(ProtocolError, match=r"TransactionUpdate.*query set 42.*never subscribed"):
        chat.feed(m.TransactionUpdate([tx(42, "message", [x], [])]))
    assert chat.tables["message"].count() == 0  # nothing applied
    assert chat.core.state is c.State.CLOSED


def test_transaction_update_after_unsubscribe_is_a_protocol_error() -> None:
    """Rows for an ended set would stay in the cache forever: no unsubscribe removes them."""
    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM message"])
    chat.feed(m.SubscribeApplied(0, qs, m.QueryRows([])))
    chat.core.unsubscribe(qs)
    x = chat.row("message", sender=BOB, sent=Timestamp(1), text="x")
    # Until UnsubscribeApplied the server may still send updates for the set: they apply.
    chat.feed(m.TransactionUpdate([tx(qs, "message", [x], [])]))
    assert chat.tables["message"].count() == 1
    chat.feed(m.UnsubscribeApplied(1, qs, None))
    assert chat.tables["message"].count() == 0
    y = chat.row("message", sender=BOB, sent=Timestamp(2), text="y")
    with pytest.raises(ProtocolError, match=rf"query set {qs}, which has already ended"):
        chat.feed(m.TransactionUpdate([tx(qs, "message", [y], [])]))
    assert chat.tables["message"].count() == 0


def test_reducer_result_for_an_unknown_set_is_a_protocol_error() -> None:
    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM user"])
    chat.feed(m.SubscribeApplied(0, qs, m.QueryRows([])))
    rid = chat.core.call_reducer("set_name", b"")
    u = chat.row("user", identity=BOB, name=None, online=True)
    ok = m.ReducerOk(b"", m.TransactionUpdate([tx(qs, "user", [], []), tx(9, "user", [u], [])]))
    with pytest.raises(ProtocolError, match=r"ReducerResult of set_name.*query set 9"):
        chat.feed(m.ReducerResult(rid, Timestamp(0), ok))
    assert chat.tables["user"].count() == 0


def test_recorded_transaction_update_naming_a_set_not_held() -> None:
    """The official client's recorded frame updates sets 1 and 7; holding only 1 is an error."""
    chat = Chat()
    chat.connect()
    chat.core.subscriptions[1] = c._Subscription(1, ["q"], c.SubState.APPLIED)
    with pytest.raises(ProtocolError, match="query set 7"):
        chat.core.receive_frame((FRAMES / "v2_none_TransactionUpdate.bin").read_bytes())
    assert chat.tables["user"].count() == 0 and chat.tables["message"].count() == 0


def test_undecodable_row_is_a_protocol_error_naming_table_and_offset() -> None:
    from spacetimedb_sdk.errors import BsatnDecodeError, RowDecodeError

    chat = Chat()
    chat.connect()
    qs = chat.core.subscribe(["SELECT * FROM user"])
    good = chat.row("user", identity=BOB, name=None, online=True)
    bad = good[:-1] + b"\x02"  # bool byte 2
    with pytest.raises(ProtocolError) as info:
        chat.feed(m.SubscribeApplied(0, qs, m.QueryRows([rows("user", good, bad)])))
    e = info.value
    assert isinstance(e, RowDecodeError) and isinstance(e, BsatnDecodeError)
    assert e.table == "user" and e.path == "user.online" and e.offset == len(good) - 1
    assert str(e).startswith("a row of table 'user' does not decode: invalid Bool byte 0x02")
    assert f"at offset {e.offset} of the row (at user.online)" in str(e)
    assert chat.core.state is c.State.CLOSED
