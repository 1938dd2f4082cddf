"""``python -m spacetimedb_sdk.cli``: the same command line as ``python -m spacetimedb_sdk``.

Example::

    $ python -m spacetimedb_sdk.cli serve --example quickstart-chat --port 0
"""

from __future__ import annotations

from .parser import main

if __name__ == "__main__":
    raise SystemExit(main())
