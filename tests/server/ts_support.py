"""What the TypeScript host tests share: the host-test module and reading its ``result`` table.

``tests/modules_ts/host-test`` is a TypeScript module that reaches every part of the host; its
reducers store what they computed in ``result`` (name -> JSON).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from node_support import TS_MODULES, load_once, requires_node
from spacetimedb_sdk.server.host import Database
from spacetimedb_sdk.server.tsmodule import TsModule

HOST_TEST = TS_MODULES / "host-test"


def host_module() -> TsModule:
    """The host-test module, bundled and described once per session."""
    module = load_once(HOST_TEST)
    assert isinstance(module, TsModule)
    return module


def results(db: Database) -> dict[str, Any]:
    """The ``result`` table: what the module's reducers computed, by name."""
    return {r.name: json.loads(r.value) for r in db.rows("result")}


def logged(db: Database) -> list[tuple[str, str | None, str]]:
    """The database's module log as ``(level, function, message)``, oldest first."""
    lines = (json.loads(line) for line in db.log.tail(None))
    return [(r["level"], r.get("function"), r["message"]) for r in lines]


def needs_node() -> pytest.MarkDecorator:
    """The mark of every TypeScript host test (they run Node)."""
    return requires_node()
