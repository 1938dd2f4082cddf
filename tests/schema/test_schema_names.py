"""Canonical names: ``convert_case`` word splitting and the host's v10 naming rules.

The expected canonical names come from upstream artifacts that a real server
produced, not from our own reading of the rules:
- ``upstream_sdk_test_names.json``: every table and reducer name of ``sdk-test`` in
  the Rust test client's generated bindings (see the file's provenance note);
- the TypeScript case-conversion test client's generated bindings
  (``crates/bindings-typescript/case-conversion-test-client/src/module_bindings/index.ts``):
  table ``Player1Canonical`` (explicit) with index ``Player1Canonical_player_1_id_idx_btree``
  and constraint ``Player1Canonical_player_1_id_key``, table ``person_2`` with indexes
  ``person_2_person_2_id_idx_btree``/``person_2_player_ref_idx_btree``, view ``Level2Person``
  (explicit), reducers ``add_person_2``, ``banPlayer1`` (explicit), ``create_player_1``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spacetimedb_sdk.sats import AlgebraicType, Typespace
from spacetimedb_sdk.schema import CaseConversionPolicy, ModuleSchema
from spacetimedb_sdk.schema.load import canonicalize_typespace
from spacetimedb_sdk.schema.names import (
    split_words,
    to_camel_case,
    to_pascal_case,
    to_snake_case,
)

HERE = Path(__file__).resolve().parent
MODULEDEFS = HERE.parent / "fixtures" / "moduledefs"
T = AlgebraicType


def load(module: str) -> ModuleSchema:
    return ModuleSchema.from_bsatn((MODULEDEFS / f"{module}.v10.bsatn").read_bytes())


@pytest.mark.parametrize(
    ("source", "snake"),
    [
        ("oneU8", "one_u_8"),
        ("pkU32Two", "pk_u_32_two"),
        ("vecI128", "vec_i_128"),
        ("optionVecOptionI32", "option_vec_option_i_32"),
        ("uniqueConnectionId", "unique_connection_id"),
        ("largeTable", "large_table"),
        ("Player1", "player_1"),
        ("person_2", "person_2"),
        ("currentLevel2", "current_level_2"),
        ("Player1Id", "player_1_id"),
        ("insert_one_u8", "insert_one_u_8"),
        ("onConnect", "on_connect"),
        # From the upstream test `test_case_conversion_snake_case_policy`.
        ("FruitBasket", "fruit_basket"),
        ("deliveryRecord", "delivery_record"),
        ("basketId", "basket_id"),
        # Runs of capitals: the last capital before a lower-case letter starts a word.
        ("HTTPServer", "http_server"),
        ("XMLHttpRequest", "xml_http_request"),
        ("ABC", "abc"),
        ("a1b2", "a_1_b_2"),
        ("__leading--and  spaces__", "leading_and_spaces"),
        ("already_snake_case", "already_snake_case"),
        ("", ""),
    ],
)
def test_snake_case(source: str, snake: str) -> None:
    assert to_snake_case(source) == snake
    assert to_snake_case(snake) == snake  # idempotent: server output re-validates unchanged


@pytest.mark.parametrize(
    ("source", "camel", "pascal"),
    [
        ("Active1", "active1", "Active1"),
        ("BannedUntil", "bannedUntil", "BannedUntil"),
        ("U8", "u8", "U8"),
        ("EveryPrimitiveStruct", "everyPrimitiveStruct", "EveryPrimitiveStruct"),
        ("player_status", "playerStatus", "PlayerStatus"),
        ("HTTPServer", "httpServer", "HttpServer"),
    ],
)
def test_camel_and_pascal_case(source: str, camel: str, pascal: str) -> None:
    assert to_camel_case(source) == camel
    assert to_pascal_case(source) == pascal


def test_split_words_on_every_default_boundary() -> None:
    assert split_words("HTTPServer2go_x-y z") == ["HTTP", "Server", "2", "go", "x", "y", "z"]


def test_typespace_conversion_skips_special_types() -> None:
    row = T.product(
        {
            "playerId": T.identity(),
            "maybeName": T.option(T.product({"firstName": T.STRING})),
            "kind": T.sum({"BigOne": T.unit()}),
        }
    )
    (got,) = canonicalize_typespace(Typespace((row,)), CaseConversionPolicy.SNAKE_CASE).types
    assert got == T.product(
        {
            "player_id": T.identity(),  # `__identity__` inside is untouched
            # An option is special: the host leaves it, and what it contains, as written.
            "maybe_name": T.option(T.product({"firstName": T.STRING})),
            "kind": T.sum({"bigOne": T.unit()}),
        }
    )
    assert canonicalize_typespace(Typespace((row,)), CaseConversionPolicy.NONE).types == (row,)


def test_sdk_test_ts_names_match_upstream_generated_bindings() -> None:
    upstream = json.loads((HERE / "upstream_sdk_test_names.json").read_text())
    s = load("sdk-test-ts")
    assert len(s.tables) == 109
    assert sorted(t.name for t in s.tables) == sorted(upstream["tables"])
    assert sorted(r.name for r in s.reducers) == sorted(upstream["reducers"])
    names = {t.name for t in s.tables}
    assert {
        "one_u_8",
        "vec_i_128",
        "pk_u_32_two",
        "option_vec_option_i_32",
        "unique_connection_id",
        "large_table",
        "indexed_table_2",
        "btree_u_32",
    } <= names
    # Reducers follow the same rule as tables: `insert_one_u8` → `insert_one_u_8`.
    assert s.reducer("insert_one_u8").name == "insert_one_u_8"
    assert s.table("oneU8").name == "one_u_8"
    assert s.table("oneU8").accessor_name == "oneU8"


def test_sdk_test_ts_generated_index_and_constraint_names() -> None:
    s = load("sdk-test-ts")
    t = s.table("pk_u_32_two")
    assert [i.name for i in t.indexes] == ["pk_u_32_two_n_idx_btree"]
    assert [i.source_name for i in t.indexes] == ["pkU32Two_n_idx_btree"]  # the module's name
    assert [c.name for c in t.constraints] == ["pk_u_32_two_n_key"]
    two = s.table("indexed_table_2")
    assert [(i.name, i.accessor_name, i.columns) for i in two.indexes] == [
        ("indexed_table_2_player_id_player_snazz_idx_btree", "player_id_snazz_index", (0, 1))
    ]


def test_case_conversion_module_matches_upstream_generated_bindings() -> None:
    s = load("sdk-test-case-conversion-ts")
    player = s.table("Player1")
    assert player.name == "Player1Canonical"  # ExplicitNames wins over the policy
    assert [(c.name, c.accessor_name) for c in player.columns] == [
        ("player_1_id", "Player1Id"),
        ("player_name", "player_name"),
        ("current_level_2", "currentLevel2"),
        ("status_3_field", "status3Field"),
    ]
    assert [(i.name, i.accessor_name) for i in player.indexes] == [
        ("Player1Canonical_player_1_id_idx_btree", "Player1Id")
    ]
    assert [c.name for c in player.constraints] == ["Player1Canonical_player_1_id_key"]
    person = s.table("person_2")
    assert person.accessor_name == "Person2"
    assert [i.name for i in person.indexes] == [
        "person_2_person_2_id_idx_btree",
        "person_2_player_ref_idx_btree",
    ]
    assert [r.name for r in s.reducers] == ["add_person_2", "banPlayer1", "create_player_1"]
    # Parameters keep the names the module declared (the host does not convert them).
    assert s.reducer("banPlayer1").params.names() == ["Player1Id", "BanUntil6"]
    view = s.view("Level2Person")
    assert view.accessor_name == "PersonAtLevel2"
    assert view.primary_key == (0,)  # ViewPrimaryKeys names the source column `Person2Id`
    # Enum variants become camelCase in the canonical typespace; type names stay Pascal.
    status_ref = next(t.ty for t in s.types if t.name.name == "Player2Status")
    status = s.typespace[status_ref]
    assert [v.name for v in status.variants] == ["active1", "bannedUntil"]  # type: ignore[attr-defined]
    assert s.type_def("Person3Info").ty == 3
