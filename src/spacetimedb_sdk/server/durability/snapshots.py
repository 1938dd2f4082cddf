"""Snapshot files: the whole state of a database at a transaction offset, self-describing.

``snapshots/<tx offset, 20 digits>.stsnap`` holds the module schema its rows follow (the
``RawModuleDefV10`` JSON) and the state as one change set of inserts
(:func:`~.records.encode_snapshot`).  A snapshot is written atomically (a temporary file, synced,
then renamed), so a crash leaves either the whole file or none.  The newest :data:`KEEP`
snapshots are kept: when the newest one is damaged, loading falls back to the one before it and
replays more of the log.

Example::

    write_snapshot(folder, 120, schema_json, state_bytes)
    offset, schema, state = read_snapshot(folder / snapshot_name(120))
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .errors import CorruptDataError
from .files import atomic_write, fsync_dir, numbered_files
from .records import decode_snapshot, encode_snapshot

SNAPSHOT_SUFFIX = ".stsnap"
KEEP = 2
"""How many snapshots are kept (the newest, and one to fall back on)."""


def snapshot_name(tx_offset: int) -> str:
    """The file name of the snapshot taken after ``tx_offset`` transactions."""
    return f"{tx_offset:020d}{SNAPSHOT_SUFFIX}"


def list_snapshots(folder: Path) -> list[int]:
    """The offsets of the snapshots in ``folder``, oldest first."""
    return numbered_files(folder, SNAPSHOT_SUFFIX)


def write_snapshot(folder: Path, tx_offset: int, schema: bytes, state: bytes) -> int:
    """Write a snapshot atomically; returns its size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    data = encode_snapshot(tx_offset, schema, state)
    atomic_write(folder / snapshot_name(tx_offset), data, mode=0o600)
    return len(data)


def read_snapshot(path: Path) -> tuple[int, bytes, bytes]:
    """``(tx offset, schema JSON, encoded state)``; :class:`~.errors.CorruptDataError` if damaged."""
    where = f"{path.parent.name}/{path.name}"
    offset, schema, state = decode_snapshot(path.read_bytes(), where)
    if snapshot_name(offset) != path.name:
        raise CorruptDataError(
            where, f"holds the state after {offset} transactions, not what its name says"
        )
    return offset, schema, state


def prune_snapshots(folder: Path, keep: int = KEEP) -> int | None:
    """Delete all but the newest ``keep`` snapshots; returns the oldest kept offset."""
    offsets = list_snapshots(folder)
    doomed, kept = offsets[:-keep], offsets[-keep:]
    for offset in doomed:
        with contextlib.suppress(FileNotFoundError):
            (folder / snapshot_name(offset)).unlink()
    if doomed:
        fsync_dir(folder)
    return kept[0] if kept else None


__all__ = [
    "KEEP",
    "list_snapshots",
    "prune_snapshots",
    "read_snapshot",
    "snapshot_name",
    "write_snapshot",
]
