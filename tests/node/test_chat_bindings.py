"""node/src/chat_bindings.mjs (hand-written) declares exactly the quickstart chat module.

The reference is the module definition the official module library produced for the chat module
(tests/fixtures/moduledefs/quickstart-chat.v10.json): same tables, row types, primary key and
reducer parameter types, so the TypeScript client encodes and decodes the real module's bytes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from node_support import requires_node

ROOT = Path(__file__).resolve().parents[2]
MODULEDEF = ROOT / "tests" / "fixtures" / "moduledefs" / "quickstart-chat.v10.json"

pytestmark = requires_node()

DUMP_BINDINGS = """
import { REMOTE_MODULE } from './src/chat_bindings.mjs';
const tables = Object.values(REMOTE_MODULE.tables).map(t => ({
  name: t.sourceName,
  rowType: t.rowType,
  primaryKey: Object.entries(t.columns)
    .filter(([, c]) => c.columnMetadata.isPrimaryKey)
    .map(([name]) => name),
}));
const reducers = REMOTE_MODULE.reducers.map(r => ({ name: r.name, params: r.paramsType }));
console.log(JSON.stringify({ tables, reducers }));
"""


def ts_type(sats: Any) -> Any:
    """SATS-JSON type → the package's AlgebraicType object, as JSON."""
    ((tag, payload),) = sats.items()
    if tag in ("Product", "Sum"):
        key = "elements" if tag == "Product" else "variants"
        return {"tag": tag, "value": {key: [ts_member(m) for m in payload[key]]}}
    if tag == "Array":
        return {"tag": "Array", "value": ts_type(payload)}
    if tag == "Ref":
        return {"tag": "Ref", "value": payload}
    return {"tag": tag}


def ts_member(member: Any) -> Any:
    return {"name": member["name"].get("some"), "algebraicType": ts_type(member["algebraic_type"])}


def moduledef() -> tuple[list[Any], dict[str, Any]]:
    sections = {
        k: v for s in json.loads(MODULEDEF.read_text())["V10"]["sections"] for k, v in s.items()
    }
    return sections["Typespace"]["types"], sections


@pytest.fixture(scope="module")
def bindings() -> Any:
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", DUMP_BINDINGS],
        cwd=ROOT / "node",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_tables_match_the_chat_module(bindings: Any) -> None:
    types, sections = moduledef()
    expected = {}
    for table in sections["Tables"]:
        row = types[table["product_type_ref"]]
        names = [e["name"]["some"] for e in row["Product"]["elements"]]
        expected[table["source_name"]] = {
            "rowType": ts_type(row)["value"],
            "primaryKey": [names[i] for i in table["primary_key"]],
        }
    got = {
        t["name"]: {"rowType": t["rowType"], "primaryKey": t["primaryKey"]}
        for t in bindings["tables"]
    }
    assert got == expected


def test_reducers_match_the_chat_module(bindings: Any) -> None:
    _, sections = moduledef()
    lifecycle = {r["function_name"] for r in sections.get("LifeCycleReducers", [])}
    expected = {
        r["source_name"]: ts_type({"Product": r["params"]})["value"]
        for r in sections["Reducers"]
        if r["source_name"] not in lifecycle
    }
    got = {r["name"]: r["params"] for r in bindings["reducers"]}
    assert got == expected
