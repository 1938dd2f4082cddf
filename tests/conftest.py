"""Options of the whole suite.

``--module-lang=py|ts|both`` (``python`` is ``py``) chooses which port of upstream's test modules the upstream scenario
suite (``tests/upstream``) runs against: the Python ports in ``tests/modules`` (``py``), the
TypeScript ports in ``tests/modules_ts``, run in Node by the local server (``ts``), or each
scenario on both (``both``, the default where Node and the npm packages are installed).  A
scenario whose module has no TypeScript port runs on the Python port only.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--module-lang",
        choices=("py", "python", "ts", "both"),
        default=os.environ.get("SPACETIMEDB_MODULE_LANG") or None,
        help="run the upstream scenarios on the Python ports, the TypeScript ports or both "
        "(default: both where Node can run the TypeScript ports, else py; env "
        "SPACETIMEDB_MODULE_LANG)",
    )
