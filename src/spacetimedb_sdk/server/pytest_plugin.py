"""A pytest plugin: the ``spacetimedb_server`` fixture, a :class:`~.local.LocalServer` per test.

Choose the module with indirect parametrization or a marker (a :class:`Module`
or the path of a Python file defining ``module``)::

    @pytest.mark.parametrize("spacetimedb_server", ["examples/quickstart-chat/module.py"],
                             indirect=True)
    def test_chat(spacetimedb_server):
        assert spacetimedb_server.db.rows("user") == []

    @pytest.mark.spacetimedb_module(chat_module, database="chat")
    def test_chat_again(spacetimedb_server): ...

The server runs its own event loop in a thread, so the fixture serves sync and
async tests alike.  Enable the plugin with ``pytest -p
spacetimedb_sdk.server.pytest_plugin``, with ``pytest_plugins = [...]`` in a
top-level ``conftest.py``, or through the package's ``pytest11`` entry point.

The entry point loads this plugin wherever the package is installed, so it imports nothing
of the ``[server]`` extra: without the extra, only the tests that use the fixture fail, with
one line saying what to install.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .extra import ServerExtraMissing

if TYPE_CHECKING:
    from .local import LocalServer

__all__ = ["pytest_configure", "spacetimedb_server"]

_MARKER = "spacetimedb_module"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``spacetimedb_module`` marker."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(module, database=None): the Module (or module file) that the "
        "spacetimedb_server fixture serves",
    )


def _target(request: pytest.FixtureRequest) -> tuple[Any, dict[str, Any]]:
    param = getattr(request, "param", None)
    if param is not None:
        if isinstance(param, dict):
            options = dict(param)
            return options.pop("module", None), options
        return param, {}
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None and marker.args:
        return marker.args[0], dict(marker.kwargs)
    return None, {}


@pytest.fixture
def spacetimedb_server(request: pytest.FixtureRequest) -> Iterator[LocalServer]:
    """A started :class:`LocalServer` for the test's module; stopped after the test.

    Example::

        @pytest.mark.spacetimedb_module("examples/quickstart-chat/module.py")
        def test_sql(spacetimedb_server):
            assert spacetimedb_server.db.sql("SELECT * FROM user")[0]["rows"] == []
    """
    missing = None
    try:
        from .local import LocalServer
    except ServerExtraMissing as e:  # its message says what to install
        missing = str(e)
    if missing is not None:  # outside the except: one line, without a chained traceback
        pytest.fail(missing, pytrace=False)

    module, options = _target(request)
    if module is None:
        raise pytest.UsageError(
            "spacetimedb_server needs a module: parametrize it indirectly "
            "(@pytest.mark.parametrize('spacetimedb_server', [module], indirect=True)) "
            f"or mark the test with @pytest.mark.{_MARKER}(module)"
        )
    server = LocalServer(module, **options).start()
    try:
        yield server
    finally:
        server.stop()
