"""Where the upstream scenarios run: a local server per test, or a real SpacetimeDB.

The machinery behind ``conftest.py``'s fixtures (see its docstring): the ports and the upstream
modules they stand for, the real-server settings read from the environment, upstream's
``spacetime publish`` invocation, and the generated bindings of each module.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from node_support import use_repo_node_modules
from spacetimedb_sdk.cli import main as cli_main
from spacetimedb_sdk.server import Module
from spacetimedb_sdk.server.local import LocalServer, load_module

MODULES_DIR = Path(__file__).resolve().parents[1] / "modules"
TS_MODULES_DIR = Path(__file__).resolve().parents[1] / "modules_ts"

#: port -> the folder of its TypeScript port in tests/modules_ts (run in Node by the server)
TS_PORTS: dict[str, str] = {"sdk_test": "sdk-test"}

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


#: Ports whose procedures call this machine over HTTP (the local server refuses by default).
LOOPBACK_HTTP = frozenset({"sdk_test_procedure"})


VARIANTS = ("", "-ts", "-cs", "-cpp")


@dataclass(frozen=True)
class RealServer:
    """``SPACETIMEDB_TEST_SERVER`` and ``SPACETIMEDB_TEST_MODULES``, when both are set, and
    ``SPACETIMEDB_TEST_MODULE_VARIANT`` (``-ts``, ``-cs`` or ``-cpp``: run against upstream's
    twins of the modules, where a module has that twin; default: the Rust modules)."""

    url: str
    modules: Path
    cli: str
    variant: str = ""

    def module_dir(self, port: str) -> Path:
        """The upstream module folder a port stands for (its variant's, if there is one)."""
        folder, _ = UPSTREAM_MODULES[port]
        twin = self.modules / (folder + self.variant)
        return twin if self.variant and twin.is_dir() else self.modules / folder

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
        variant = env.get("SPACETIMEDB_TEST_MODULE_VARIANT", "")
        if variant not in VARIANTS:
            raise pytest.UsageError(
                f"SPACETIMEDB_TEST_MODULE_VARIANT must be one of {VARIANTS[1:]}, got {variant!r}"
            )
        return RealServer(url.rstrip("/"), Path(modules), cli, variant)


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
    name = random_database_name()
    cmd = publish_command(real.cli, real.url, real.module_dir(port), name)
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


_PORTS: dict[tuple[str, str], Module] = {}


def port_module(port: str, lang: str = "py") -> Module:
    """The port's :class:`Module` in ``lang`` (``py``, or ``ts`` for its TypeScript port),
    loaded once (each server gets its own empty database)."""
    found = _PORTS.get((port, lang))
    if found is None:
        if lang == "ts":
            use_repo_node_modules()
            path = TS_MODULES_DIR / TS_PORTS[port]
        else:
            path = MODULES_DIR / f"{port}.py"
        found = _PORTS[(port, lang)] = load_module(path)
    return found


class Bindings:
    """The generated bindings of each module, made on first use in this session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loaded: dict[tuple[str, str], ModuleType] = {}

    def get(self, port: str, lang: str = "py") -> ModuleType:
        found = self._loaded.get((port, lang))
        if found is not None:
            return found
        package = f"bindings_{port}" + ("" if lang == "py" else f"_{lang}")
        _, include_private = UPSTREAM_MODULES[port]
        if REAL is not None:
            generate_bindings(REAL.url, publish(REAL, port), self.root / package, include_private)
        else:
            with LocalServer(port_module(port, lang)) as srv:
                generate_bindings(srv.url, srv.database, self.root / package, include_private)
        found = self._loaded[(port, lang)] = importlib.import_module(package)
        return found
