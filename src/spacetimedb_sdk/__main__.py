"""``python -m spacetimedb_sdk``: the ``spacetimedb-py`` command line.

Example::

    $ python -m spacetimedb_sdk sql -d quickstart-chat "SELECT * FROM user"
"""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
