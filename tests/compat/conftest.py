"""Fixtures of the 0.7-API tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from compat_support import EXAMPLE


@pytest.fixture(scope="package", autouse=True)
def forget_example_bindings() -> Iterator[None]:
    """Leave no ``module_bindings`` behind: other tests generate and import their own."""
    yield
    for name in [
        n for n in sys.modules if n == "module_bindings" or n.startswith("module_bindings.")
    ]:
        del sys.modules[name]
    while str(EXAMPLE) in sys.path:
        sys.path.remove(str(EXAMPLE))
