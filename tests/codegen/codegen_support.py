"""Support for the codegen tests: bindings generated once per session, one package per schema.

Every schema's bindings go to ``<tmp>/<package>/`` with a distinct package name (the
generated code imports its own modules relatively, so the directory name is free),
and that root is put on ``sys.path``.  The static checks (mypy, ruff) run once over
all of them.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from spacetimedb_sdk.codegen import generate, load_schema, load_schema_from_server
from spacetimedb_sdk.schema import ModuleSchema

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
HERE = Path(__file__).resolve().parent
CHAT_MODULE = ROOT / "examples" / "quickstart-chat" / "module.py"

#: package name -> (schema file, include_private)
SCHEMA_FILES: dict[str, tuple[Path, bool]] = {
    "bindings_chat_maincloud": (FIXTURES / "schemas" / "quickstart-chat.maincloud.v9.json", False),
    "bindings_escaping": (HERE / "schemas" / "escaping.v9.json", True),
    **{
        "bindings_" + p.name.split(".")[0].replace("-", "_"): (p, False)
        for p in sorted((FIXTURES / "moduledefs").glob("*.v10.json"))
    },
}
SERVER_PACKAGE = "bindings_chat_server"
COMPAT_PACKAGE = "bindings_chat_compat07"


@dataclass
class Generated:
    """Where the session's bindings are, and the schemas they came from."""

    root: Path
    schemas: dict[str, ModuleSchema]
    include_private: dict[str, bool]

    @property
    def packages(self) -> list[str]:
        return sorted(self.schemas)

    def load(self, package: str) -> ModuleType:
        return importlib.import_module(package)


def _server_schema() -> ModuleSchema:
    from spacetimedb_sdk.server.local import LocalServer, load_module

    srv = LocalServer(load_module(CHAT_MODULE), database="quickstart-chat").start(timeout=30)
    try:
        return load_schema_from_server(srv.url, srv.database, timeout=10)
    finally:
        srv.stop(timeout=30)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    root = tmp_path_factory.mktemp("bindings")
    schemas: dict[str, ModuleSchema] = {}
    private: dict[str, bool] = {}
    with warnings.catch_warnings():
        # The maincloud schema carries a `database` field that the loader reports.
        warnings.simplefilter("ignore", UserWarning)
        for package, (path, include_private) in SCHEMA_FILES.items():
            schemas[package] = load_schema(path)
            private[package] = include_private
    schemas[SERVER_PACKAGE] = _server_schema()
    private[SERVER_PACKAGE] = False
    for package, schema in schemas.items():
        generate(schema, root / package, include_private=private[package])
    # The 0.7 shapes sit beside the 2.x bindings; not listed in `schemas` because they need
    # the `spacetimedb_sdk.compat` runtime to import.
    generate(schemas["bindings_quickstart_chat"], root / COMPAT_PACKAGE, compat_07=True)
    sys.path.insert(0, str(root))
    try:
        yield Generated(root, schemas, private)
    finally:
        sys.path.remove(str(root))
