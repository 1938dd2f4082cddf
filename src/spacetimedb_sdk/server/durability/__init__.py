"""A durable database: the data directory, its commit log and snapshots (``serve --data-dir``).

Without a data directory the local server keeps everything in memory, as before.  With one,
every commit is written to an append-only commit log before any client hears of it, synced in
groups, and periodically folded into a snapshot; a restart loads the newest snapshot and replays
the log after it through the datastore (no reducer runs).  docs/local-server.md describes the
policy and the layout for users.  The package, each file importing only those above it:

- :mod:`.errors`: :class:`DataDirError` and its kinds, each saying what to do next;
- :mod:`.files`: atomic writes, directory syncs, the directory lock;
- :mod:`.records`: the bytes: change sets, framed log records, segment and snapshot headers;
- :mod:`.commitlog`: :class:`CommitLog`, segments of records, torn tails truncated;
- :mod:`.snapshots`: snapshot files;
- :mod:`.compat`: reading stored rows with the module served now (schema changes);
- :mod:`.state`: commits and states as change sets, and applying them back;
- :mod:`.durability`: :class:`Durability`, group commit, durable offsets, snapshot timing;
- :mod:`.storage`: :class:`DatabaseStorage`, one database's folder, what the host calls;
- :mod:`.datadir`: :class:`DataDir`, the directory: key, owner, databases.

Example::

    >>> import tempfile
    >>> with DataDir.open(tempfile.mkdtemp()) as data:
    ...     data.owner_identity == data.issuer.validate(data.owner_token()).identity
    True
"""

from .datadir import DataDir
from .durability import SNAPSHOT_BYTES, Durability
from .errors import (
    CLEAR_HINT,
    CorruptDataError,
    DataDirError,
    DataDirLocked,
    DurabilityFailed,
    SchemaChangedError,
)
from .storage import DatabaseStorage

__all__ = [
    "CLEAR_HINT",
    "SNAPSHOT_BYTES",
    "CorruptDataError",
    "DataDir",
    "DataDirError",
    "DataDirLocked",
    "DatabaseStorage",
    "Durability",
    "DurabilityFailed",
    "SchemaChangedError",
]
