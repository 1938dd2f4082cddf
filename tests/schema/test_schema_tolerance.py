"""Schemas from newer or older servers: unknown parts are skipped with a warning."""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk.schema import CaseConversionPolicy, ModuleSchema, RawModuleDef

MODULEDEFS = Path(__file__).resolve().parents[1] / "fixtures" / "moduledefs"


def chat_doc() -> dict[str, Any]:
    doc: dict[str, dict[str, Any]] = json.loads(
        (MODULEDEFS / "quickstart-chat.v10.json").read_text()
    )
    return doc["V10"]


def chat() -> ModuleSchema:
    return ModuleSchema.from_json(chat_doc())


@pytest.mark.parametrize(
    "section", [{"FutureSection": {"anything": [1, 2]}}, [99, {"x": 1}], {"42": []}]
)
def test_unknown_json_section_is_ignored_with_a_warning(section: Any) -> None:
    doc = chat_doc()
    doc["sections"].insert(3, section)
    with pytest.warns(UserWarning, match="unknown RawModuleDefV10 section"):
        s = ModuleSchema.from_json(doc)
    assert s == chat()
    assert s.raw is not None and len(s.raw.dropped) == 1


def test_unknown_json_field_is_ignored_with_a_warning() -> None:
    doc = chat_doc()
    tables = next(sec["Tables"] for sec in doc["sections"] if "Tables" in sec)
    tables[0]["future_flag"] = True
    with pytest.warns(UserWarning, match="ignoring unknown field 'future_flag'"):
        s = ModuleSchema.from_json(doc)
    assert s == chat()


def test_missing_field_with_an_empty_default_is_filled() -> None:
    doc = chat_doc()
    tables = next(sec["Tables"] for sec in doc["sections"] if "Tables" in sec)
    for t in tables:  # as an older v10 writer without event tables would emit
        del t["is_event"], t["default_values"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ModuleSchema.from_json(doc) == chat()


def test_unknown_bsatn_section_stops_reading_with_a_warning() -> None:
    data = (MODULEDEFS / "quickstart-chat.v10.bsatn").read_bytes()
    (count,) = struct.unpack_from("<I", data, 1)
    # One more section with an unknown tag: BSATN has no lengths, so reading stops there.
    patched = data[:1] + struct.pack("<I", count + 1) + data[5:] + b"\xc8\x01\x02\x03"
    with pytest.warns(UserWarning, match=r"unknown RawModuleDefV10 section tag 200"):
        raw = RawModuleDef.from_bsatn(patched)
    assert raw.dropped == ("tag 200 (and 0 later sections)",)
    assert ModuleSchema.from_raw(raw) == ModuleSchema.from_bsatn(data)


def test_default_policy_is_snake_case_and_none_keeps_names() -> None:
    doc = chat_doc()
    doc["sections"] = [s for s in doc["sections"] if "CaseConversionPolicy" not in s]
    s = ModuleSchema.from_json(doc)
    assert s.case_conversion_policy is CaseConversionPolicy.SNAKE_CASE
    assert s.reducer("onConnect").name == "on_connect"
    doc["sections"].append({"CaseConversionPolicy": {"None": []}})
    s = ModuleSchema.from_json(doc)
    assert s.case_conversion_policy is CaseConversionPolicy.NONE
    assert s.reducer("onConnect").name == "onConnect"


def test_inconsistent_definitions_raise_schema_errors() -> None:
    doc = chat_doc()
    lifecycles = next(s["LifeCycleReducers"] for s in doc["sections"] if "LifeCycleReducers" in s)
    lifecycles[0]["function_name"] = "nope"
    with pytest.raises(ValueError, match="lifecycle Init names reducer 'nope'"):
        ModuleSchema.from_json(doc)
    doc = chat_doc()
    tables = next(s["Tables"] for s in doc["sections"] if "Tables" in s)
    tables[0]["primary_key"] = [7]
    with pytest.raises(ValueError, match="table 'user': primary_key refers to column 7"):
        ModuleSchema.from_json(doc)
    doc = chat_doc()
    doc["sections"] = [s for s in doc["sections"] if "Typespace" not in s]
    with pytest.raises(ValueError, match="product_type_ref 0 is outside the typespace"):
        ModuleSchema.from_json(doc)
    with pytest.raises(ValueError, match=r"malformed RawModuleDefV10 JSON: missing field"):
        ModuleSchema.from_json({"sections": [{"Tables": [{"source_name": "x"}]}]})
