"""How the upstream scenarios get a database: a local server, or a real SpacetimeDB.

Upstream's harness (``crates/testing/src/sdk.rs``) publishes the module to a fresh database for
every test, generates the client's bindings once per module, and runs the client against it.
These fixtures do the same:

- **local** (default): each test gets a fresh :class:`LocalServer` running the Python port of the
  module (``tests/modules/<port>.py``) or its TypeScript port (``tests/modules_ts/``, run in
  Node), as ``--module-lang`` chooses (see ``tests/conftest.py``): a test whose module has a
  TypeScript port is parametrized ``[py]``/``[ts]``; a fresh server costs ~15 ms (Python) or a
  Node start (TypeScript), so no two tests share rows.
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

import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from harness import Db
from targets import LOOPBACK_HTTP, REAL, TS_PORTS, Bindings, port_module, publish

from node_support import module_langs
from spacetimedb_sdk.server.local import LocalServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_server_control: the test restarts or reconfigures the server; "
        "skipped against a real SpacetimeDB",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test on a module with a TypeScript port runs once per module language."""
    if "db" not in metafunc.fixturenames or REAL is not None:
        return
    port = getattr(metafunc.module, "MODULE", None)
    langs = ("py", "ts") if port in TS_PORTS else ("py",)
    metafunc.parametrize("module_lang", langs, indirect=True, scope="function")


@pytest.fixture
def module_lang(request: pytest.FixtureRequest) -> str:
    """The language of the module port a test runs on (``py`` unless parametrized)."""
    return getattr(request, "param", "py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the runs in a language ``--module-lang`` did not choose."""
    chosen = module_langs(config)
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        lang = callspec.params.get("module_lang") if callspec is not None else None
        (drop if lang is not None and lang not in chosen else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def bindings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bindings]:
    root = tmp_path_factory.mktemp("upstream_bindings")
    sys.path.insert(0, str(root))
    try:
        yield Bindings(root)
    finally:
        sys.path.remove(str(root))


@pytest.fixture
async def db(
    request: pytest.FixtureRequest, bindings: Bindings, module_lang: str
) -> AsyncIterator[Db]:
    """A fresh database running the test module's ``MODULE`` port (in the test's module
    language), with its bindings."""
    port: str = request.module.MODULE
    lang = module_lang if REAL is None else "py"
    package = bindings.get(port, lang)
    if REAL is not None:
        if request.node.get_closest_marker("needs_server_control") is not None:
            pytest.skip("needs control of the server, which a real SpacetimeDB test run lacks")
        target = Db(REAL.url, publish(REAL, port), package)
        try:
            yield target
        finally:
            await target.close()
        return
    # read_my_schema fetches this server's own schema: loopback HTTP must be allowed (it is
    # refused by default, as on SpacetimeDB).
    module = port_module(port, lang)
    async with LocalServer(module, allow_loopback_http=port in LOOPBACK_HTTP) as srv:
        target = Db(srv.url, srv.database, package, server=srv)
        try:
            yield target
        finally:
            await target.close()
