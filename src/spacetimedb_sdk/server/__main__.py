"""``python -m spacetimedb_sdk.server PATH [...]`` is ``spacetimedb-py serve PATH [...]``."""

from __future__ import annotations

import sys

from ..cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve", *sys.argv[1:]]))
