"""Each ported module serves exactly upstream's schema, compared by canonical names.

The served schema (``GET /v1/database/:name/schema?version=10`` from a local server running the
port) is summarized (:mod:`schema_summary`) and compared with:

- for modules with a TypeScript twin, the module definition the official TypeScript module
  library produced from that twin (``tests/fixtures/moduledefs/<module>-ts.v10.bsatn``, see
  ``tests/fixtures/PROVENANCE.md``), after applying the differences between upstream's Rust
  module (the original, which the ports follow) and its TypeScript twin, listed below with the
  upstream source that shows each;
- for modules without one, the summary written from upstream's Rust source in
  ``tests/modules/expected/`` (see ``expected/PROVENANCE.md``).

A failure names the first difference: ``tables.pk_uuid.columns[1]: expected 'data: I32', got ...``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from schema_summary import first_difference, summarize

from node_support import TS_MODULES, chat_module, load_once, requires_node
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server.local import LocalServer

HERE = Path(__file__).resolve().parent
MODULEDEFS = HERE.parent / "fixtures" / "moduledefs"
EXPECTED = HERE / "expected"


def _sdk_test(summary: dict[str, Any]) -> None:
    # modules/sdk-test/src/lib.rs: `define_tables!` gives every one_*, vec_*, option_*,
    # unique_* and pk_* table a `delete_all <reducer>` op taking all its columns (none for
    # OneConnectionId and VecConnectionId, nor the result_* tables and PkSimpleEnum);
    # modules/sdk-test-ts/src/index.ts declares no delete_all reducers.
    for name, table in list(summary["tables"].items()):
        prefix = name.split("_")[0]
        if prefix not in ("one", "vec", "option", "unique", "pk") or name in (
            "one_connection_id",
            "vec_connection_id",
            "pk_simple_enum",
        ):
            continue
        summary["reducers"][f"delete_all_{name}"] = {
            "params": table["columns"],
            "lifecycle": None,
            "visibility": "ClientCallable",
        }
    summary["reducers"] = dict(sorted(summary["reducers"].items()))


def _sdk_test_procedure(summary: dict[str, Any]) -> None:
    # modules/sdk-test-procedure/src/lib.rs: `struct PkUuid { u: Uuid, data: u8 }`, with no
    # primary key; modules/sdk-test-procedure-ts/src/index.ts: `u: t.uuid().primaryKey(),
    # data: t.i32()`.
    table = summary["tables"]["pk_uuid"]
    table.update(
        columns=["u: __uuid__", "data: U8"], primary_key=[], indexes=[], unique=[], sequences=[]
    )
    summary["types"]["PkUuid"] = "{u: __uuid__, data: U8}"


def _sdk_test_case_conversion(summary: dict[str, Any]) -> None:
    # modules/sdk-test-case-conversion/src/lib.rs: the row struct of `Player1Canonical` is
    # `Player1` (the TypeScript twin names its row `PlayerRow`), and `level2_person` takes an
    # `AnonymousViewContext` (the twin declares it with `spacetimedb.view`, per caller).
    summary["tables"]["Player1Canonical"]["row_type"] = "Player1"
    summary["types"]["Player1"] = summary["types"].pop("PlayerRow")
    summary["types"] = dict(sorted(summary["types"].items()))
    summary["views"]["Level2Person"]["is_anonymous"] = True


#: port file -> (TypeScript twin's moduledef or None, Rust-versus-twin differences)
MODULES: dict[str, tuple[str | None, Callable[[dict[str, Any]], None] | None]] = {
    "sdk_test": ("sdk-test-ts", _sdk_test),
    "sdk_test_connect_disconnect": ("sdk-test-connect-disconnect-ts", None),
    "sdk_test_procedure": ("sdk-test-procedure-ts", _sdk_test_procedure),
    "sdk_test_procedure_concurrency": (None, None),
    "sdk_test_view": (None, None),
    "sdk_test_view_pk": ("sdk-test-view-pk-ts", None),
    "sdk_test_procedural_view_pk": ("sdk-test-procedural-view-pk-ts", None),
    "sdk_test_event_table": (None, None),
    "sdk_test_case_conversion": ("sdk-test-case-conversion-ts", _sdk_test_case_conversion),
}


def expected_summary(port: str) -> dict[str, Any]:
    twin, differences = MODULES[port]
    if twin is None:
        summary: dict[str, Any] = json.loads(
            (EXPECTED / (port.replace("_", "-") + ".json")).read_text()
        )
        return summary
    summary = summarize(ModuleSchema.from_bsatn((MODULEDEFS / f"{twin}.v10.bsatn").read_bytes()))
    if differences is not None:
        differences(summary)
    return summary


def served_summary(port: str | Any) -> dict[str, Any]:
    """The served schema of a port (by name), or of a module or module path."""
    module = HERE / f"{port}.py" if isinstance(port, str) else port
    with LocalServer(module) as srv:
        response = httpx.get(
            f"{srv.url}/v1/database/{srv.database}/schema", params={"version": 10}, timeout=10
        )
    response.raise_for_status()
    return summarize(ModuleSchema.from_json(response.text))


@pytest.mark.parametrize("port", sorted(MODULES))
def test_port_serves_upstreams_schema(port: str) -> None:
    difference = first_difference(expected_summary(port), served_summary(port))
    assert difference is None, f"{port}: {difference}"


def test_every_port_is_compared() -> None:
    ports = {p.stem for p in HERE.glob("sdk_test*.py")}
    assert ports == set(MODULES)


def test_comparison_names_the_first_difference() -> None:
    expected = expected_summary("sdk_test_event_table")
    changed = copy.deepcopy(expected)
    changed["tables"]["test_event"]["columns"][1] = "value: U32"
    assert first_difference(expected, changed) == (
        "tables.test_event.columns[1]: expected 'value: U64', got 'value: U32'"
    )
    changed = copy.deepcopy(expected)
    del changed["reducers"]["noop"]
    assert first_difference(expected, changed) == (
        "reducers: missing 'noop' (expected 3 entries, got 2; 1 missing)"
    )


def test_summary_ignores_type_order_but_not_names() -> None:
    # The same module described by the TypeScript library and served by the port: typespace
    # refs differ, the summaries agree.  Renaming one named type is a difference.
    ts = ModuleSchema.from_bsatn((MODULEDEFS / "sdk-test-view-pk-ts.v10.bsatn").read_bytes())
    assert [t.ty for t in ts.types][:3] == [0, 1, 2]
    summary = summarize(ts)
    assert "ViewPkPlayer" in summary["types"]
    assert "InsertViewPkPlayer" not in summary["types"]  # the library's parameter structs
    renamed = json.loads(json.dumps(summary).replace("ViewPkMembershipSecondary", "Other"))
    assert first_difference(summary, renamed) is not None


# ---- the TypeScript ports -----------------------------------------------------------------


@requires_node()
def test_the_typescript_port_of_sdk_test_serves_its_twins_schema() -> None:
    # tests/modules_ts/sdk-test follows the TypeScript twin itself: no differences to apply.
    expected = summarize(
        ModuleSchema.from_bsatn((MODULEDEFS / "sdk-test-ts.v10.bsatn").read_bytes())
    )
    served = served_summary(load_once(TS_MODULES / "sdk-test"))
    difference = first_difference(expected, served)
    assert difference is None, difference


@requires_node()
def test_the_typescript_chat_serves_the_python_chats_schema() -> None:
    difference = first_difference(
        served_summary(chat_module("py")), served_summary(chat_module("ts"))
    )
    assert difference is None, difference
