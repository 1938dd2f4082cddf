"""How the upstream scenarios get a database: a local server, or a real SpacetimeDB.

Upstream's harness (``crates/testing/src/sdk.rs``) publishes the module to a fresh database for
every test, generates the client's bindings once per module, and runs the client against it.
These fixtures do the same:

- **local** (default): each test gets a fresh :class:`LocalServer` running the Python port of the
  module (``tests/modules/<port>.py``); a fresh server costs ~15 ms, so no two tests share rows.
- **real**: with ``SPACETIMEDB_TEST_SERVER=<url>`` and ``SPACETIMEDB_TEST_MODULES=<upstream
  checkout>/modules``, each test publishes upstream's module source to a fresh, randomly named
  database with the official ``spacetime`` CLI (:func:`publish_command`), as upstream's harness
  does.  Tests marked ``needs_server_control`` skip there.

Bindings are generated once per module per session with ``spacetimedb-py generate`` from the
running module (``--include-private`` where upstream's test generates private items), into a
temporary folder, as ``bindings_<port>``, and imported.  A test module names its port with
``MODULE = "<port>"``.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from harness import Db

from spacetimedb_sdk.cli import main as cli_main
from spacetimedb_sdk.server import Module
from spacetimedb_sdk.server.local import LocalServer, load_module

MODULES_DIR = Path(__file__).resolve().parents[1] / "modules"

#: port -> (upstream module folder, generate private items, as upstream's test.rs does)
UPSTREAM_MODULES: dict[str, tuple[str, bool]] = {
    "sdk_test": ("sdk-test", True),
    "sdk_test_connect_disconnect": ("sdk-test-connect-disconnect", True),
    "sdk_test_procedure": ("sdk-test-procedure", True),
    "sdk_test_procedure_concurrency": ("sdk-test-procedure-concurrency", True),
    "sdk_test_view": ("sdk-test-view", True),
    "sdk_test_view_pk": ("sdk-test-view-pk", False),
    "sdk_test_procedural_view_pk": ("sdk-test-procedural-view-pk", False),
    "sdk_test_event_table": ("sdk-test-event-table", False),
    "sdk_test_case_conversion": ("sdk-test-case-conversion", False),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_server_control: the test restarts or reconfigures the server; "
        "skipped against a real SpacetimeDB",
    )


@dataclass(frozen=True)
class RealServer:
    """``SPACETIMEDB_TEST_SERVER`` and ``SPACETIMEDB_TEST_MODULES``, when both are set."""

    url: str
    modules: Path
    cli: str

    @staticmethod
    def from_env(env: dict[str, str] | os._Environ[str] = os.environ) -> RealServer | None:
        url = env.get("SPACETIMEDB_TEST_SERVER")
        if not url:
            return None
        modules = env.get("SPACETIMEDB_TEST_MODULES")
        if not modules:
            raise pytest.UsageError(
                "SPACETIMEDB_TEST_SERVER is set: also set SPACETIMEDB_TEST_MODULES to the "
                "modules/ folder of an upstream SpacetimeDB checkout"
            )
        cli = shutil.which("spacetime")
        if cli is None:
            raise pytest.UsageError(
                "SPACETIMEDB_TEST_SERVER is set but the official `spacetime` CLI is not on PATH"
            )
        return RealServer(url.rstrip("/"), Path(modules), cli)


def publish_command(cli: str, server_url: str, module_dir: Path, database: str) -> list[str]:
    """The ``spacetime publish`` that gives one test its own fresh database.

    As upstream's harness (``publish_module`` in ``crates/testing/src/sdk.rs``): an anonymous
    identity, the server by URL, a new random database name; from the module's source folder
    (``--module-path``, built by the CLI) instead of a prebuilt binary; ``--clear-database``
    (upstream's alias of ``--delete-data``) so a reused name never keeps rows, and ``--yes``
    so it never prompts.
    """
    return [
        cli,
        "publish",
        "--anonymous",
        "--server",
        server_url,
        "--module-path",
        str(module_dir),
        "--clear-database",
        "--yes",
        database,
    ]


def random_database_name() -> str:
    """A fresh database name, like upstream's ``random_module_name``."""
    return "py-sdk-test-" + secrets.token_hex(8)


REAL = RealServer.from_env()


def publish(real: RealServer, port: str) -> str:
    folder, _ = UPSTREAM_MODULES[port]
    name = random_database_name()
    cmd = publish_command(real.cli, real.url, real.modules / folder, name)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return name


def generate_bindings(url: str, database: str, out_dir: Path, include_private: bool) -> None:
    args = ["generate", "--server", url, "--database", database, "--out-dir", str(out_dir)]
    if include_private:
        args.append("--include-private")
    status = cli_main(args)
    if status != 0:
        raise RuntimeError(f"spacetimedb-py {' '.join(args)} exited with {status}")


_PORTS: dict[str, Module] = {}


def port_module(port: str) -> Module:
    """The port's :class:`Module`, loaded once (each server gets its own empty database)."""
    found = _PORTS.get(port)
    if found is None:
        found = _PORTS[port] = load_module(MODULES_DIR / f"{port}.py")
    return found


class Bindings:
    """The generated bindings of each module, made on first use in this session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[str, ModuleType] = {}

    def get(self, port: str) -> ModuleType:
        found = self._loaded.get(port)
        if found is not None:
            return found
        package = f"bindings_{port}"
        _, include_private = UPSTREAM_MODULES[port]
        if REAL is not None:
            generate_bindings(REAL.url, publish(REAL, port), self.root / package, include_private)
        else:
            with LocalServer(port_module(port)) as srv:
                generate_bindings(srv.url, srv.database, self.root / package, include_private)
        found = self._loaded[port] = importlib.import_module(package)
        return found


@pytest.fixture(scope="session")
def bindings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bindings]:
    root = tmp_path_factory.mktemp("upstream_bindings")
    sys.path.insert(0, str(root))
    try:
        yield Bindings(root)
    finally:
        sys.path.remove(str(root))


@pytest.fixture
async def db(request: pytest.FixtureRequest, bindings: Bindings) -> AsyncIterator[Db]:
    """A fresh database running the test module's ``MODULE`` port, with its bindings."""
    port: str = request.module.MODULE
    package = bindings.get(port)
    if REAL is not None:
        if request.node.get_closest_marker("needs_server_control") is not None:
            pytest.skip("needs control of the server, which a real SpacetimeDB test run lacks")
        target = Db(REAL.url, publish(REAL, port), package)
        try:
            yield target
        finally:
            await target.close()
        return
    async with LocalServer(port_module(port)) as srv:
        target = Db(srv.url, srv.database, package, server=srv)
        try:
            yield target
        finally:
            await target.close()
