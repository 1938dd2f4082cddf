"""Load tests/fixtures/protocol and turn its JSON convention into our message dataclasses.

The convention is described in tests/fixtures/README.md §1 and §3: u64/i64 as decimal
strings, bytes as hex, sums as ``{"Variant": payload}``, options as ``{"some": v}`` /
``{"none": []}``, special types as their one-field products.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.sats.values import ConnectionId, Err, Identity, Ok, TimeDuration, Timestamp

PROTOCOL_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"
FRAMES_DIR = PROTOCOL_DIR / "frames"


def _load(name: str) -> list[dict[str, Any]]:
    with (PROTOCOL_DIR / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CLIENT_LINES = _load("v2_client_messages.jsonl")
SERVER_LINES = _load("v2_server_messages.jsonl")
FRAME_LINES = [json.loads(x) for x in (FRAMES_DIR / "index.jsonl").read_text().splitlines() if x]
CLIENT_BY_NAME = {line["name"]: line for line in CLIENT_LINES}
SERVER_BY_NAME = {line["name"]: line for line in SERVER_LINES}


def _variant(obj: dict[str, Any]) -> tuple[str, Any]:
    assert len(obj) == 1, obj
    ((name, payload),) = obj.items()
    return name, payload


def _option(obj: dict[str, Any]) -> Any:
    name, payload = _variant(obj)
    return payload if name == "some" else None


# ---- client ----------------------------------------------------------------------------


def client_message(obj: dict[str, Any]) -> Any:
    """The fixture's ``{"Variant": {fields}}`` as a ClientMessage dataclass."""
    name, f = _variant(obj)
    if name == "Subscribe":
        return m.Subscribe(f["request_id"], f["query_set_id"]["id"], list(f["query_strings"]))
    if name == "Unsubscribe":
        flag, _ = _variant(f["flags"])
        flags = {
            "Default": m.UnsubscribeFlags.DEFAULT,
            "SendDroppedRows": m.UnsubscribeFlags.SEND_DROPPED_ROWS,
        }
        return m.Unsubscribe(f["request_id"], f["query_set_id"]["id"], flags[flag])
    if name == "OneOffQuery":
        return m.OneOffQuery(f["request_id"], f["query_string"])
    if name == "CallReducer":
        return m.CallReducer(f["request_id"], f["flags"], f["reducer"], bytes.fromhex(f["args"]))
    if name == "CallProcedure":
        return m.CallProcedure(
            f["request_id"], f["flags"], f["procedure"], bytes.fromhex(f["args"])
        )
    raise AssertionError(f"unknown ClientMessage variant {name}")


# ---- server ----------------------------------------------------------------------------


def row_list(obj: dict[str, Any]) -> m.BsatnRowList:
    kind, payload = _variant(obj["size_hint"])
    hint: m.FixedSize | m.RowOffsets
    if kind == "FixedSize":
        hint = m.FixedSize(payload)
    else:
        assert kind == "RowOffsets"
        hint = m.RowOffsets(tuple(int(x) for x in payload))
    return m.BsatnRowList(hint, bytes.fromhex(obj["rows_data"]))


def query_rows(obj: dict[str, Any]) -> m.QueryRows:
    return m.QueryRows([m.SingleTableRows(t["table"], row_list(t["rows"])) for t in obj["tables"]])


def _table_update_rows(obj: dict[str, Any]) -> m.PersistentTableRows | m.EventTableRows:
    kind, p = _variant(obj)
    if kind == "PersistentTable":
        return m.PersistentTableRows(row_list(p["inserts"]), row_list(p["deletes"]))
    assert kind == "EventTable"
    return m.EventTableRows(row_list(p["events"]))


def transaction_update(obj: dict[str, Any]) -> m.TransactionUpdate:
    return m.TransactionUpdate(
        [
            m.QuerySetUpdate(
                qs["query_set_id"]["id"],
                [
                    m.TableUpdate(t["table_name"], [_table_update_rows(r) for r in t["rows"]])
                    for t in qs["tables"]
                ],
            )
            for qs in obj["query_sets"]
        ]
    )


def _timestamp(obj: dict[str, Any]) -> Timestamp:
    return Timestamp(int(obj["__timestamp_micros_since_unix_epoch__"]))


def _reducer_outcome(obj: dict[str, Any]) -> Any:
    kind, p = _variant(obj)
    if kind == "Ok":
        return m.ReducerOk(
            bytes.fromhex(p["ret_value"]), transaction_update(p["transaction_update"])
        )
    if kind == "OkEmpty":
        return m.ReducerOkEmpty()
    if kind == "Err":
        return m.ReducerErr(bytes.fromhex(p))
    assert kind == "InternalError"
    return m.ReducerInternalError(p)


def server_message(obj: dict[str, Any]) -> Any:
    """The fixture's ``{"Variant": {fields}}`` as a ServerMessage dataclass."""
    name, f = _variant(obj)
    if name == "InitialConnection":
        return m.InitialConnection(
            Identity.from_hex(f["identity"]["__identity__"]),
            ConnectionId.from_hex(f["connection_id"]["__connection_id__"]),
            f["token"],
        )
    if name == "SubscribeApplied":
        return m.SubscribeApplied(f["request_id"], f["query_set_id"]["id"], query_rows(f["rows"]))
    if name == "UnsubscribeApplied":
        rows = _option(f["rows"])
        return m.UnsubscribeApplied(
            f["request_id"], f["query_set_id"]["id"], None if rows is None else query_rows(rows)
        )
    if name == "SubscriptionError":
        return m.SubscriptionError(_option(f["request_id"]), f["query_set_id"]["id"], f["error"])
    if name == "TransactionUpdate":
        return transaction_update(f)
    if name == "OneOffQueryResult":
        kind, p = _variant(f["result"])
        result = Ok(query_rows(p)) if kind == "ok" else Err(p)
        return m.OneOffQueryResult(f["request_id"], result)
    if name == "ReducerResult":
        return m.ReducerResult(
            f["request_id"], _timestamp(f["timestamp"]), _reducer_outcome(f["result"])
        )
    if name == "ProcedureResult":
        kind, p = _variant(f["status"])
        status = (
            m.ProcedureReturned(bytes.fromhex(p))
            if kind == "Returned"
            else m.ProcedureInternalError(p)
        )
        return m.ProcedureResult(
            status,
            _timestamp(f["timestamp"]),
            TimeDuration(int(f["total_host_execution_duration"]["__time_duration_micros__"])),
            f["request_id"],
        )
    raise AssertionError(f"unknown ServerMessage variant {name}")


# ---- row lists, in document order ------------------------------------------------------


def json_row_lists(obj: Any) -> list[dict[str, Any]]:
    """Every BsatnRowList object in the fixture JSON, depth first, in key order."""
    if isinstance(obj, dict):
        if "size_hint" in obj and "rows_data" in obj:
            return [obj]
        return [rl for v in obj.values() for rl in json_row_lists(v)]
    if isinstance(obj, list):
        return [rl for v in obj for rl in json_row_lists(v)]
    return []


def message_row_lists(obj: Any) -> list[m.BsatnRowList]:
    """Every BsatnRowList in a decoded message, depth first, in field order."""
    if isinstance(obj, m.BsatnRowList):
        return [obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return [rl for fl in fields(obj) for rl in message_row_lists(getattr(obj, fl.name))]
    if isinstance(obj, list):
        return [rl for v in obj for rl in message_row_lists(v)]
    return []
