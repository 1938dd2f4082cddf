"""The errors of a data directory: each names the file at fault and what to do next.

Example::

    >>> str(CorruptDataError("clog/00000000000000000000.stlog", "record 7: checksum mismatch"))
    'clog/00000000000000000000.stlog: record 7: checksum mismatch'
"""

from __future__ import annotations

from ...errors import SpacetimeDBError

CLEAR_HINT = (
    "run `spacetimedb-py serve --clear` (LocalServer(..., clear=True)) to start the database "
    "empty, deleting its data"
)
"""What every refusal to open a database's data suggests (``LocalServer(..., clear=True)``)."""


class DataDirError(SpacetimeDBError):
    """The data directory cannot be used (locked, unreadable, or its data cannot be loaded)."""


class DataDirLocked(DataDirError):
    """Another server process uses the data directory."""


class CorruptDataError(DataDirError):
    """A commit log segment or snapshot fails its checks somewhere other than a torn tail.

    ``path`` is the file, relative to the database's folder where possible.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class SchemaChangedError(DataDirError):
    """The module's tables changed in a way the stored data cannot follow."""


class DurabilityFailed(DataDirError):
    """Writing or syncing the commit log failed: nothing more is acknowledged."""


__all__ = [
    "CLEAR_HINT",
    "CorruptDataError",
    "DataDirError",
    "DataDirLocked",
    "DurabilityFailed",
    "SchemaChangedError",
]
