"""The cache fed with server messages encoded by the official TypeScript SDK.

Messages come from ``tests/fixtures/protocol/v2_server_messages.jsonl`` (quickstart-chat
``user`` and ``message`` rows); the expected row values are the fixture's own ``row_values``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from cache_test_rows import Recorder

from spacetimedb_sdk.client.cache import ClientCache, Insert, TableCache
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol.codec import decode_server_message
from spacetimedb_sdk.sats.values import Identity, Timestamp

FIXTURES = (
    Path(__file__).resolve().parents[1] / "fixtures" / "protocol" / "v2_server_messages.jsonl"
)
LINES = {
    d["name"]: d for d in map(json.loads, FIXTURES.read_text(encoding="utf-8").splitlines()) if d
}


def message(name: str) -> Any:
    msg, _ = decode_server_message(bytes.fromhex(LINES[name]["hex"]))
    return msg


def _string(b: bytes, o: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", b, o)
    return b[o + 4 : o + 4 + n].decode(), o + 4 + n


def decode_user(b: bytes) -> dict[str, Any]:
    identity = Identity.from_bytes(b[:32])
    name: str | None = None
    o = 33
    if b[32] == 0:
        name, o = _string(b, 33)
    assert o + 1 == len(b)
    return {"identity": identity, "name": name, "online": b[o] == 1}


def decode_message(b: bytes) -> dict[str, Any]:
    sender = Identity.from_bytes(b[:32])
    (sent,) = struct.unpack_from("<q", b, 32)
    text, o = _string(b, 40)
    assert o == len(b)
    return {"sender": sender, "sent": Timestamp(sent), "text": text}


def expected(name: str, index: int) -> dict[str, Any]:
    """A fixture row value, converted from the fixture JSON convention."""
    v = LINES[name]["row_values"][index]["value"]
    if "identity" in v:
        opt = v["name"]
        return {
            "identity": Identity.from_hex(v["identity"]["__identity__"]),
            "name": opt.get("some"),
            "online": v["online"],
        }
    return {
        "sender": Identity.from_hex(v["sender"]["__identity__"]),
        "sent": Timestamp(int(v["sent"]["__timestamp_micros_since_unix_epoch__"])),
        "text": v["text"],
    }


def test_chat_message_stream() -> None:
    user = TableCache("user", decode_user, primary_key="identity", btree=["online"])
    msgs = TableCache("message", decode_message, btree=["sender"])
    cache = ClientCache([user, msgs])
    rec = Recorder(user, msgs)
    alice_none, bob_none = (
        expected("SubscribeApplied/FixedSize_user", 0),
        expected("SubscribeApplied/FixedSize_user", 1),
    )

    sub = message("SubscribeApplied/FixedSize_user")
    assert isinstance(sub, m.SubscribeApplied)
    cache.apply_subscribe_applied(sub).fire(lambda: "sub")
    assert rec.take() == [("insert", "user", alice_none), ("insert", "user", bob_none)]
    assert user.unique_index("identity").find(bob_none["identity"]) == bob_none

    # Set 1: alice gets a name (update); a message from bob arrives through sets 1 and 7 (one
    # row, count 2) and the EventTable entry delivers two event rows for "message".
    name = "TransactionUpdate/two_query_sets"
    alice_named, bob_msg, alice_msg = expected(name, 0), expected(name, 2), expected(name, 3)
    assert expected(name, 1) == alice_none
    cache.apply_transaction(message(name)).fire(lambda: "tx")
    # Tables in order of first appearance (user, then message); event rows before stored rows.
    assert rec.take() == [
        ("update", "user", alice_none, alice_named),
        ("insert", "message", alice_msg),
        ("insert", "message", bob_msg),
        ("insert", "message", bob_msg),
    ]
    assert (
        msgs.count() == 1
        and list(msgs) == [bob_msg]
        and msgs.multiplicity(bytes.fromhex(LINES[name]["row_values"][2]["hex"])) == 2
    )
    assert list(msgs.btree_index("sender").filter(bob_msg["sender"])) == [bob_msg]
    assert user.count() == 2
    assert list(user.btree_index("online").filter(True)) == [
        bob_none,
        alice_named,
    ]  # key, then arrival

    # Unsubscribing set 1 (the server's list does not match what set 1 holds, the cache's own
    # bookkeeping wins): both users go, bob's message stays, held by set 7.
    unsub = message("UnsubscribeApplied/rows_some")
    assert unsub.query_set_id == 1
    cache.apply_unsubscribe_applied(unsub).fire(lambda: "unsub")
    assert sorted(map(repr, rec.take())) == sorted(
        map(repr, [("delete", "user", alice_named), ("delete", "user", bob_none)])
    )
    assert user.count() == 0 and msgs.count() == 1 and cache.query_set_ids() == {7}

    cache.drop_query_set(7).fire(lambda: "error")
    assert rec.take() == [("delete", "message", bob_msg)]
    assert cache.query_set_ids() == set() and msgs.count() == 0


def test_reducer_result_transaction_update_applies_like_a_transaction() -> None:
    user = TableCache("user", decode_user, primary_key="identity")
    cache = ClientCache([user])
    rec = Recorder(user)
    cache.apply_subscribe_applied(message("SubscribeApplied/FixedSize_user")).fire(lambda: None)
    rec.take()
    result = message("ReducerResult/Ok_with_transaction_update")
    assert isinstance(result.result, m.ReducerOk)
    cache.apply_transaction(result.result.transaction_update).fire(lambda: None)
    name = "ReducerResult/Ok_with_transaction_update"
    assert rec.take() == [("update", "user", expected(name, 1), expected(name, 0))]


def test_row_offsets_fixture_and_empty_messages() -> None:
    user = TableCache("user", decode_user)
    msgs = TableCache("message", decode_message)
    cache = ClientCache([user, msgs])
    changes = cache.apply_subscribe_applied(message("SubscribeApplied/RowOffsets_user_and_message"))
    name = "SubscribeApplied/RowOffsets_user_and_message"
    values = [expected(name, i) for i in range(len(LINES[name]["row_values"]))]
    assert [c.row for c in changes if isinstance(c, Insert)] == values
    assert len(changes) == len(values)
    assert user.count() == 3 and msgs.count() == 2
    assert not cache.apply_subscribe_applied(message("SubscribeApplied/empty_row_lists"))
    assert not cache.apply_subscribe_applied(message("SubscribeApplied/no_tables"))
    assert not cache.apply_transaction(message("TransactionUpdate/empty"))
