"""The quickstart-chat example module: definition, served schema, reducer behaviour."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from spacetimedb_sdk import Identity, Timestamp

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def _load_example() -> ModuleType:
    path = ROOT / "examples" / "quickstart-chat" / "module.py"
    spec = importlib.util.spec_from_file_location("quickstart_chat_example", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


chat = _load_example()
module = chat.module
ALICE = Identity(0x0A11CE)


def _sections(doc: dict) -> dict:  # type: ignore[type-arg]
    return {next(iter(s)): next(iter(s.values())) for s in doc["sections"]}


def test_row_types_match_the_official_module() -> None:
    """The TS quickstart-chat module (fixture) describes the same two row types."""
    fixture = json.loads((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())
    official = _sections(fixture["V10"])["Typespace"]["types"]
    ours = module.describe_v10()["sections"][0]["Typespace"]["types"]
    assert ours == official[:2]


def test_v9_schema() -> None:
    v9 = module.describe_v9()
    assert [t["name"] for t in v9["tables"]] == ["message", "user"]
    user = v9["tables"][1]
    assert user == {
        "name": "user",
        "product_type_ref": 0,
        "primary_key": [0],
        "indexes": [
            {
                "name": {"some": "user_identity_idx_btree"},
                "accessor_name": {"some": "identity"},
                "algorithm": {"BTree": [0]},
            }
        ],
        "constraints": [
            {"name": {"some": "user_identity_key"}, "data": {"Unique": {"columns": [0]}}}
        ],
        "sequences": [],
        "schedule": {"none": []},
        "table_type": {"User": []},
        "table_access": {"Public": []},
    }
    assert [(r["name"], r["lifecycle"]) for r in v9["reducers"]] == [
        ("set_name", {"none": []}),
        ("send_message", {"none": []}),
        ("init", {"some": {"Init": []}}),
        ("identity_connected", {"some": {"OnConnect": []}}),
        ("identity_disconnected", {"some": {"OnDisconnect": []}}),
    ]
    assert v9["types"] == [
        {"name": {"scope": [], "name": "Message"}, "ty": 1, "custom_ordering": True},
        {"name": {"scope": [], "name": "User"}, "ty": 0, "custom_ordering": True},
    ]
    assert v9["misc_exports"] == [] and v9["row_level_security"] == []


def test_v10_schema() -> None:
    v10 = module.describe_v10()
    assert [next(iter(s)) for s in v10["sections"]] == [
        "Typespace", "Types", "Tables", "Reducers", "LifeCycleReducers", "ExplicitNames",
    ]  # fmt: skip
    sec = _sections(v10)
    fixture = _sections(
        json.loads((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())["V10"]
    )
    # Same table definitions as the official module, except the server names the
    # unique constraint (the module leaves it unnamed) — as From<TableDef> does.
    official_user = dict(fixture["Tables"][0])
    official_user["constraints"] = [
        {"source_name": {"some": "user_identity_key"}, "data": {"Unique": {"columns": [0]}}}
    ]
    assert sec["Tables"] == [official_user, fixture["Tables"][1]]
    assert [r["source_name"] for r in sec["Reducers"]] == [
        "set_name", "send_message", "init", "identity_connected", "identity_disconnected",
    ]  # fmt: skip
    assert [r["visibility"] for r in sec["Reducers"]] == [
        {"ClientCallable": []}, {"ClientCallable": []}, {"Private": []}, {"Private": []}, {"Private": []},
    ]  # fmt: skip
    assert sec["LifeCycleReducers"] == [
        {"lifecycle_spec": {"Init": []}, "function_name": "init"},
        {"lifecycle_spec": {"OnConnect": []}, "function_name": "identity_connected"},
        {"lifecycle_spec": {"OnDisconnect": []}, "function_name": "identity_disconnected"},
    ]
    entries = sec["ExplicitNames"]["entries"]
    assert entries[:2] == [
        {"Table": {"source_name": "user", "canonical_name": "user"}},
        {"Table": {"source_name": "message", "canonical_name": "message"}},
    ]
    assert len(entries) == 7 and all("Function" in e for e in entries[2:])


def test_chat_flow() -> None:
    ds = module.new_datastore()
    ts = Timestamp(1_718_487_775_346_381)
    r = module.call_reducer(ds, "identity_connected", (), sender=ALICE, timestamp=ts)
    assert r.ok and r.tx is not None
    assert r.tx.inserts == {"user": [chat.User(identity=ALICE, name=None, online=True)]}

    r = module.call_reducer(ds, "set_name", {"name": ""}, sender=ALICE)
    assert (r.status, r.message) == ("err", "Names must not be empty")
    r = module.call_reducer(ds, "set_name", {"name": "Alice"}, sender=ALICE)
    assert r.ok and r.tx is not None
    assert r.tx.deletes == {"user": [chat.User(ALICE, None, True)]}
    assert r.tx.inserts == {"user": [chat.User(ALICE, "Alice", True)]}

    r = module.call_reducer(ds, "send_message", ("",), sender=ALICE)
    assert (r.status, r.message) == ("err", "Messages must not be empty")
    r = module.call_reducer(ds, "send_message", ("hello",), sender=ALICE, timestamp=ts)
    assert r.ok and r.tx is not None
    assert r.tx.inserts == {"message": [chat.Message(sender=ALICE, sent=ts, text="hello")]}

    r = module.call_reducer(ds, "identity_disconnected", (), sender=ALICE)
    assert r.ok and ds.read_view().user.identity.find(ALICE) == chat.User(ALICE, "Alice", False)
    r = module.call_reducer(ds, "identity_connected", (), sender=ALICE)
    assert r.ok and ds.read_view().user.identity.find(ALICE) == chat.User(ALICE, "Alice", True)


def test_set_name_for_unknown_user() -> None:
    ds = module.new_datastore()
    r = module.call_reducer(ds, "set_name", ("Bob",), sender=Identity(1))
    assert (r.status, r.message) == ("err", "Cannot set name for unknown user")


def test_rows_encode_like_the_official_fixture() -> None:
    bsatn = pytest.importorskip("spacetimedb_sdk.sats.bsatn")
    lines = [json.loads(x) for x in (FIXTURES / "bsatn" / "values.jsonl").read_text().splitlines()]
    cases = {c["name"]: c["hex"] for c in lines if c["name"].startswith("quickstart_")}
    ts, classes = module.typespace, module.classes
    from spacetimedb_sdk.sats.types import RefType

    def codec(table: str):  # type: ignore[no-untyped-def]
        ref = module.table_schema(table).product_type_ref
        return bsatn.codec_for(RefType(ref), ts, classes=classes)

    expected = {
        "quickstart_user/alice_no_name_online": ("user", chat.User(ALICE, None, True)),
        "quickstart_user/alice_named_offline": ("user", chat.User(ALICE, "Alice", False)),
        "quickstart_message/hello": (
            "message",
            chat.Message(ALICE, Timestamp(1718487775346381), "Hello, A!"),
        ),
    }
    assert set(expected) <= set(cases)
    for name, (table, row) in expected.items():
        assert codec(table).encode(row).hex() == cases[name]
        assert codec(table).decode(bytes.fromhex(cases[name])) == row
