"""Module definitions made by the official module library (fixtures README §4).

Each ``.v10.bsatn`` must decode, re-encode to the same bytes, and normalize to the
same :class:`ModuleSchema` as its ``.v10.json`` twin; the JSON we write back must be
the twin itself (so our typed SATS-JSON matches the server's rules field for field).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spacetimedb_sdk.sats import AlgebraicType
from spacetimedb_sdk.schema import (
    IndexAlgorithm,
    Lifecycle,
    ModuleSchema,
    RawModuleDef,
    TableAccess,
    Visibility,
)

MODULEDEFS = Path(__file__).resolve().parents[1] / "fixtures" / "moduledefs"
MODULES = sorted(p.name.removesuffix(".v10.bsatn") for p in MODULEDEFS.glob("*.v10.bsatn"))


def load(module: str) -> ModuleSchema:
    return ModuleSchema.from_bsatn((MODULEDEFS / f"{module}.v10.bsatn").read_bytes())


def test_all_eight_modules_are_present() -> None:
    assert len(MODULES) == 8


@pytest.mark.parametrize("module", MODULES)
def test_bsatn_and_json_twins_agree(module: str) -> None:
    data = (MODULEDEFS / f"{module}.v10.bsatn").read_bytes()
    text = (MODULEDEFS / f"{module}.v10.json").read_text()
    assert data[0] == 2  # RawModuleDef::V10
    from_bsatn = ModuleSchema.from_bsatn(data)
    from_json = ModuleSchema.from_json(text)
    assert from_bsatn == from_json
    assert from_bsatn.raw_to_bsatn() == data
    assert from_json.raw_to_bsatn() == data
    assert from_bsatn.raw_to_json() == json.loads(text)["V10"]


@pytest.mark.parametrize("module", MODULES)
def test_bare_and_wrapped_json_agree(module: str) -> None:
    doc = json.loads((MODULEDEFS / f"{module}.v10.json").read_text())
    assert ModuleSchema.from_json(doc["V10"]) == ModuleSchema.from_json(doc)


def test_fixture_counts_match_the_fixture_readme() -> None:
    # README §4 table: tables / reducers / procedures / views / typespace entries.
    expected = {
        "quickstart-chat": (2, 5, 0, 0, 7),
        "sdk-test-ts": (109, 198, 0, 0, 313),
        "sdk-test-connect-disconnect-ts": (2, 2, 0, 0, 4),
        "sdk-test-procedure-ts": (4, 1, 11, 0, 7),
        "sdk-test-view-pk-ts": (3, 4, 0, 3, 10),
        "module-test-ts": (14, 17, 2, 1, 36),
        "sdk-test-case-conversion-ts": (2, 3, 0, 1, 8),
        "sdk-test-procedural-view-pk-ts": (2, 3, 0, 2, 7),
    }
    for module, counts in expected.items():
        s = load(module)
        got = (len(s.tables), len(s.reducers), len(s.procedures), len(s.views), len(s.typespace))
        assert got == counts, module


def test_quickstart_chat() -> None:
    s = load("quickstart-chat")
    assert [t.name for t in s.tables] == ["user", "message"]
    user = s.table("user")
    assert [c.name for c in user.columns] == ["identity", "name", "online"]
    assert user.columns[0].algebraic_type == AlgebraicType.identity()
    assert user.columns[1].algebraic_type == AlgebraicType.option(AlgebraicType.STRING)
    assert user.primary_key == (0,)
    assert user.primary_key_column is not None
    assert user.primary_key_column.name == "identity"
    assert [(i.name, i.accessor_name, i.algorithm, i.columns) for i in user.indexes] == [
        ("user_identity_idx_btree", "identity", IndexAlgorithm.BTREE, (0,))
    ]
    assert [(c.name, c.columns) for c in user.constraints] == [("user_identity_key", (0,))]
    assert user.access is TableAccess.PUBLIC and not user.is_event
    message = s.table("message")
    assert [c.name for c in message.columns] == ["sender", "sent", "text"]
    assert message.primary_key == () and message.primary_key_column is None
    assert message.row_type == s.typespace[message.product_type_ref]

    # Reducers are declared onConnect/onDisconnect in TypeScript; canonical names are snake.
    assert [r.name for r in s.reducers] == [
        "init",
        "on_connect",
        "on_disconnect",
        "send_message",
        "set_name",
    ]
    assert s.reducer("onConnect").name == "on_connect"
    assert s.lifecycle_reducer(Lifecycle.INIT) == s.reducer("init")
    assert s.reducer("on_connect").lifecycle is Lifecycle.ON_CONNECT
    assert s.reducer("on_disconnect").lifecycle is Lifecycle.ON_DISCONNECT
    # The host makes lifecycle reducers private.
    assert s.reducer("on_connect").visibility is Visibility.PRIVATE
    send = s.reducer("send_message")
    assert send.params.names() == ["text"]
    assert send.lifecycle is None and send.is_client_callable
    assert send.ok_return_type == AlgebraicType.unit()
    assert send.err_return_type == AlgebraicType.STRING
    assert s.reducer("set_name").params == AlgebraicType.product({"name": AlgebraicType.STRING})
    assert [str(t.name) for t in s.types][:2] == ["User", "Message"]
    assert s.type_name_of(user.product_type_ref) is not None
    assert str(s.type_name_of(user.product_type_ref)) == "User"


def test_scheduled_table_and_sequence() -> None:
    s = load("sdk-test-ts")
    t = s.table("scheduled_table")
    assert t.accessor_name == "scheduledTable"
    assert t.schedule is not None
    assert (t.schedule.name, t.schedule.function_name, t.schedule.at_column) == (
        "scheduled_table_sched",
        "send_scheduled_message",
        1,
    )
    assert t.schedule.id_column == 0
    assert t.auto_inc_columns == (0,)
    assert t.sequences[0].name == "scheduled_table_scheduled_id_seq"
    assert t.sequences[0].increment == 1 and t.sequences[0].start is None
    assert s.reducer("send_scheduled_message").visibility is Visibility.PRIVATE
    assert s.table("indexed_table").access is TableAccess.PRIVATE
    assert s.row_level_security == (
        "SELECT * FROM one_u_8",
        "SELECT * FROM users WHERE identity = :sender",
    )


def test_procedures() -> None:
    s = load("sdk-test-procedure-ts")
    names = [p.name for p in s.procedures]
    assert "return_primitive" in names
    p = s.procedure("return_primitive")
    assert p.params.names() == ["lhs", "rhs"]
    assert p.return_type == AlgebraicType.U32
    assert p.visibility is Visibility.CLIENT_CALLABLE


def test_view_primary_keys() -> None:
    s = load("sdk-test-view-pk-ts")
    assert [v.name for v in s.views] == [
        "all_view_pk_players",
        "sender_view_pk_players_a",
        "sender_view_pk_players_b",
    ]
    v = s.view("all_view_pk_players")
    assert v.product_type_ref == s.table("view_pk_player").product_type_ref
    assert v.row_type == s.table("view_pk_player").row_type
    assert v.primary_key == (0,) and v.columns[0].name == "id"
    assert v.is_public and not v.is_anonymous and not v.is_query
    assert s.table_or_view("sender_view_pk_players_a") == s.view("sender_view_pk_players_a")


def test_submodules_are_normalized_separately() -> None:
    s = load("module-test-ts")
    ((namespace, lib),) = s.submodules
    assert namespace == "lib"
    assert [t.name for t in lib.tables] == ["libData"]  # explicit name in the submodule
    assert [r.name for r in lib.reducers] == ["lib_insert"]
    assert [p.name for p in lib.procedures] == ["lib_count"]


def test_unknown_names_list_close_matches() -> None:
    s = load("sdk-test-ts")
    with pytest.raises(ValueError, match=r"unknown table 'one_u8'; did you mean 'one_u_8'"):
        s.table("one_u8")
    # Accessor names are suggested too: both are accepted.
    with pytest.raises(ValueError, match="unknown reducer 'insert_one_u_8x'; did you mean") as e:
        s.reducer("insert_one_u_8x")
    assert "'insert_one_u_8'" in str(e.value)
    assert s.reducer("insert_one_u8") is s.reducer("insert_one_u_8")
    with pytest.raises(ValueError, match="unknown column"):
        s.table("one_u_8").column("m")


def test_schema_is_immutable_and_hashable() -> None:
    s = load("quickstart-chat")
    with pytest.raises(AttributeError):
        s.tables = ()  # type: ignore[misc]
    assert hash(s) == hash(load("quickstart-chat"))


def test_raw_module_def_rejects_v8_and_garbage() -> None:
    with pytest.raises(ValueError, match="V8BackCompat"):
        RawModuleDef.from_bsatn(b"\x00")
    with pytest.raises(ValueError, match="unknown RawModuleDef tag 7"):
        RawModuleDef.from_bsatn(b"\x07")
    with pytest.raises(ValueError, match="malformed RawModuleDef BSATN"):
        RawModuleDef.from_bsatn((MODULEDEFS / "quickstart-chat.v10.bsatn").read_bytes()[:-3])
    with pytest.raises(ValueError, match="not a module schema"):
        ModuleSchema.from_json({"hello": 1})
    with pytest.raises(ValueError, match="not valid JSON"):
        ModuleSchema.from_json("{")
