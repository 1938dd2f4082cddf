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

import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from harness import Db
from targets import LOOPBACK_HTTP, REAL, Bindings, port_module, publish

from spacetimedb_sdk.server.local import LocalServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_server_control: the test restarts or reconfigures the server; "
        "skipped against a real SpacetimeDB",
    )


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
    # read_my_schema fetches this server's own schema: loopback HTTP must be allowed (it is
    # refused by default, as on SpacetimeDB).
    async with LocalServer(port_module(port), allow_loopback_http=port in LOOPBACK_HTTP) as srv:
        target = Db(srv.url, srv.database, package, server=srv)
        try:
            yield target
        finally:
            await target.close()
