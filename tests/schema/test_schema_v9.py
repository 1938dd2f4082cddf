"""v9 schemas as servers (and the docs) publish them (fixtures README §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spacetimedb_sdk.sats import AlgebraicType
from spacetimedb_sdk.schema import (
    CaseConversionPolicy,
    Lifecycle,
    ModuleSchema,
    RawModuleDef,
    TableAccess,
    Visibility,
)

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "schemas"


def test_person_docs_schema() -> None:
    text = (SCHEMAS / "person.docs.v9.json").read_text()
    s = ModuleSchema.from_json(text)
    assert s.version == 9 and s.case_conversion_policy is CaseConversionPolicy.NONE
    (person,) = s.tables
    assert person.name == person.accessor_name == "person"
    assert [c.name for c in person.columns] == ["name"]
    assert person.primary_key == () and person.access is TableAccess.PRIVATE
    assert [r.name for r in s.reducers] == [
        "add",
        "identity_connected",
        "identity_disconnected",
        "init",
        "say_hello",
    ]
    assert s.lifecycle_reducer(Lifecycle.INIT) == s.reducer("init")
    assert s.lifecycle_reducer(Lifecycle.ON_CONNECT) == s.reducer("identity_connected")
    assert s.lifecycle_reducer(Lifecycle.ON_DISCONNECT) == s.reducer("identity_disconnected")
    assert s.reducer("add").params == AlgebraicType.product({"name": AlgebraicType.STRING})
    assert s.reducer("add").visibility is Visibility.CLIENT_CALLABLE
    assert [(str(t.name), t.ty) for t in s.types] == [("Person", 0)]
    # The typed SATS-JSON we write is the document itself.
    assert s.raw_to_json() == json.loads(text)
    # v9 BSATN round-trips too (tag 1 = V9).
    data = s.raw_to_bsatn()
    assert data[0] == 1
    assert ModuleSchema.from_bsatn(data) == s
    assert ModuleSchema.from_json({"V9": json.loads(text)}) == s


def test_abridged_maincloud_quickstart_chat_schema() -> None:
    text = (SCHEMAS / "quickstart-chat.maincloud.v9.json").read_text()
    # Extra top-level "database" key; no types, misc_exports, row_level_security.
    with pytest.warns(UserWarning, match="ignoring unknown field 'database'"):
        s = ModuleSchema.from_json(text)
    assert [t.name for t in s.tables] == ["message", "user"]
    user = s.table("user")
    assert [c.name for c in user.columns] == ["identity", "name", "online"]
    assert user.primary_key_column is not None
    assert user.primary_key_column.name == "identity"
    assert user.indexes == () and user.constraints == ()  # abridged: absent in the document
    message = s.table("message")
    assert [c.name for c in message.columns] == ["sender", "sent", "text"]
    assert message.columns[1].algebraic_type == AlgebraicType.timestamp()
    assert [r.name for r in s.reducers] == [
        "client_connected",
        "identity_disconnected",
        "send_message",
        "set_name",
    ]
    assert s.reducer("client_connected").lifecycle is Lifecycle.ON_CONNECT
    assert s.reducer("identity_disconnected").lifecycle is Lifecycle.ON_DISCONNECT
    assert s.lifecycle_reducer(Lifecycle.INIT) is None
    assert s.reducer("set_name").params.names() == ["name"]
    assert s.types == () and s.row_level_security == () and s.procedures == ()


def test_v9_generated_names_and_misc_exports() -> None:
    row = AlgebraicType.product({"id": AlgebraicType.U64, "at": AlgebraicType.schedule_at()})
    doc = {
        "typespace": {"types": [row.to_json()]},
        "tables": [
            {
                "name": "tick",
                "product_type_ref": 0,
                "primary_key": [0],
                "indexes": [{"name": {"none": []}, "accessor_name": {"none": []},
                             "algorithm": {"BTree": [0]}}],
                "constraints": [{"name": {"none": []}, "data": {"Unique": {"columns": [0]}}}],
                "sequences": [{"name": {"none": []}, "column": 0, "start": {"none": []},
                               "min_value": {"none": []}, "max_value": {"none": []},
                               "increment": 1}],
                "schedule": {"some": {"name": {"none": []}, "reducer_name": "on_tick",
                                      "scheduled_at_column": 1}},
                "table_type": {"User": []},
                "table_access": {"Public": []},
            }
        ],
        "reducers": [{"name": "on_tick", "params": {"elements": []}, "lifecycle": {"none": []}}],
        "types": [],
        "misc_exports": [
            {"ColumnDefaultValue": {"table": "tick", "col_id": 1, "value": "00"}},
            {"Procedure": {"name": "now", "params": {"elements": []},
                           "return_type": {"U64": []}}},
            {"View": {"name": "ticks", "index": 0, "is_public": True, "is_anonymous": True,
                      "params": {"elements": []}, "return_type": {"Array": {"Ref": 0}}}},
        ],
        "row_level_security": [{"sql": "SELECT * FROM tick"}],
    }  # fmt: skip
    s = ModuleSchema.from_json(doc)
    t = s.table("tick")
    assert t.indexes[0].name == "tick_id_idx_btree"
    assert t.constraints[0].name == "tick_id_key"
    assert t.sequences[0].name == "tick_id_seq"
    assert t.schedule is not None
    assert (t.schedule.name, t.schedule.function_name, t.schedule.at_column) == (
        "tick_sched",
        "on_tick",
        1,
    )
    assert t.columns[1].default_value == b"\x00"
    assert s.procedure("now").return_type == AlgebraicType.U64
    assert s.view("ticks").row_type == row and s.view("ticks").is_anonymous
    assert s.row_level_security == ("SELECT * FROM tick",)
    assert RawModuleDef.from_bsatn(s.raw_to_bsatn()).value == s.raw.value  # type: ignore[union-attr]
