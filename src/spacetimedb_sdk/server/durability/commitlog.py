"""The commit log of one database: append-only segment files of framed records.

The log is a folder of segments, ``clog/<first tx offset, 20 digits>.stlog``, each a header
(:func:`~.records.segment_header`: magic, format version, first offset, the hash of the module
schema its rows follow) and then records (:func:`~.records.frame_record`), offsets consecutive
across segments.  A new segment starts at each snapshot, so the segments before the oldest kept
snapshot can be deleted whole.

Opening reads every segment the replay needs, checks each header, record checksum and offset, and
truncates a **torn tail** (what an interrupted append leaves at the end of the last segment; see
:func:`~.records.scan_records`) with a warning.  Any other damage, a gap between segments, or a
segment written for another schema raises :class:`~.errors.CorruptDataError`.

Appends are ``os.write`` calls on an unbuffered descriptor: once :meth:`CommitLog.append`
returns, the record is in the operating system's hands and survives the death of this process.
:meth:`CommitLog.sync` (``fdatasync``) makes it survive a crash of the machine too.

Example::

    log, records = CommitLog.open(folder / "clog", schema_hash, from_offset=0)
    log.append(encode_changes(changes))
    log.sync()
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from ..._log import get_logger
from .errors import CorruptDataError, DurabilityFailed
from .files import fsync_dir, numbered_files
from .records import (
    SEGMENT_HEADER_SIZE,
    frame_record,
    read_segment_header,
    scan_records,
    segment_header,
)

log = get_logger("spacetimedb_sdk.server")

SEGMENT_SUFFIX = ".stlog"
_O_BINARY = getattr(os, "O_BINARY", 0)
_datasync = getattr(os, "fdatasync", os.fsync)


def segment_name(first_offset: int) -> str:
    """The file name of the segment starting at ``first_offset``."""
    return f"{first_offset:020d}{SEGMENT_SUFFIX}"


def list_segments(folder: Path) -> list[int]:
    """The first offsets of the segments in ``folder``, in order."""
    return numbered_files(folder, SEGMENT_SUFFIX)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class CommitLog:
    """The segments of one database's log, open for appending (see the module docstring).

    Only one thread appends (the database thread); :meth:`sync` may run on another thread at the
    same time, and waits while :meth:`start_segment` swaps the file it syncs.
    """

    def __init__(
        self, folder: Path, schema_hash: bytes, starts: list[int], next_offset: int
    ) -> None:
        self.folder = folder
        self.schema_hash = schema_hash
        self.next_offset = next_offset
        self._starts = starts
        self._lock = threading.Lock()
        self._fd = os.open(folder / segment_name(starts[-1]), os.O_WRONLY | os.O_APPEND | _O_BINARY)
        # What an earlier process wrote may still sit in the OS's cache (it was killed before
        # its sync): sync it now, so that everything read back at start counts as durable.
        os.fsync(self._fd)
        self.segment_bytes = os.fstat(self._fd).st_size

    # -- opening

    @classmethod
    def open(
        cls, folder: Path, schema_hash: bytes, from_offset: int
    ) -> tuple[CommitLog, list[tuple[int, bytes]]]:
        """Open (or create) the log; returns it and the records from ``from_offset`` on."""
        folder.mkdir(parents=True, exist_ok=True)
        starts = list_segments(folder)
        needed = [
            s for i, s in enumerate(starts) if i + 1 == len(starts) or starts[i + 1] > from_offset
        ]
        records: list[tuple[int, bytes]] = []
        end = from_offset
        if needed and needed[0] > from_offset:
            raise CorruptDataError(
                f"{folder.name}/{segment_name(needed[0])}",
                f"the log starts at transaction {needed[0]}, but the snapshot needs it from {from_offset}",
            )
        for i, start in enumerate(needed):
            last = i + 1 == len(needed)
            end = cls._read_segment(folder, start, schema_hash, last, records)
            if not last and end != needed[i + 1]:
                raise CorruptDataError(
                    f"{folder.name}/{segment_name(start)}",
                    f"ends at transaction {end}, but the next segment starts at {needed[i + 1]}",
                )
        if not needed or end < from_offset:
            # No segment yet, or the snapshot is ahead of the log: appends go to a new segment.
            cls._create_segment(folder, from_offset, schema_hash)
            starts.append(from_offset)
            end = from_offset
        records = [r for r in records if r[0] >= from_offset]
        return cls(folder, schema_hash, starts, end), records

    @staticmethod
    def _read_segment(
        folder: Path, start: int, schema_hash: bytes, last: bool, out: list[tuple[int, bytes]]
    ) -> int:
        path = folder / segment_name(start)
        name = f"{folder.name}/{path.name}"  # what errors name: relative to the database's folder
        data = path.read_bytes()
        header = read_segment_header(data, name)
        if header is None:
            if not last:
                raise CorruptDataError(name, "the segment header is missing or zeroed")
            log.warning(
                "commit log %s: a torn segment header; rewriting it (no records lost)", path
            )
            CommitLog._create_segment(folder, start, schema_hash)
            return start
        first, found_hash = header
        if first != start:
            raise CorruptDataError(name, f"the header says the segment starts at {first}")
        if found_hash != schema_hash:
            raise CorruptDataError(
                name,
                "written for another module schema than the snapshot it follows "
                "(a newer snapshot may be missing or damaged)",
            )
        scan = scan_records(data, SEGMENT_HEADER_SIZE, start, name)
        if scan.torn is not None:
            if not last:
                raise CorruptDataError(name, f"{scan.torn}, and later segments follow")
            log.warning(
                "commit log %s: truncating a torn tail of %d bytes (%s); it was never acknowledged",
                path,
                len(data) - scan.end,
                scan.torn,
            )
            with open(path, "r+b") as f:
                f.truncate(scan.end)
                f.flush()
                os.fsync(f.fileno())
        out.extend(scan.records)
        return start + len(scan.records)

    @staticmethod
    def _create_segment(folder: Path, start: int, schema_hash: bytes) -> None:
        path = folder / segment_name(start)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_BINARY, 0o600)
        try:
            _write_all(fd, segment_header(start, schema_hash))
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(folder)

    # -- writing

    def append(self, body: bytes) -> int:
        """Append a record holding ``body``; returns its transaction offset.

        On an OS error the partial record is cut off again (when possible) and
        :class:`DurabilityFailed` is raised.
        """
        offset = self.next_offset
        data = frame_record(offset, body)
        try:
            _write_all(self._fd, data)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.segment_bytes)
            raise DurabilityFailed(
                f"cannot append to the commit log in {str(self.folder)!r}: {e}"
            ) from e
        self.next_offset = offset + 1
        self.segment_bytes += len(data)
        return offset

    def sync(self) -> None:
        """Make every appended record survive a machine crash (``fdatasync``)."""
        with self._lock:
            if self._fd >= 0:
                _datasync(self._fd)

    def start_segment(self, schema_hash: bytes | None = None) -> None:
        """Sync the current segment and continue in a new one at :attr:`next_offset`.

        ``schema_hash`` changes the schema the new segment's rows follow (after a migration).
        A current segment without records is replaced rather than followed.
        """
        start = self.next_offset
        with self._lock:
            _datasync(self._fd)
            os.close(self._fd)
            self._fd = -1
            if schema_hash is not None:
                self.schema_hash = schema_hash
            self._create_segment(self.folder, start, self.schema_hash)
            self._fd = os.open(
                self.folder / segment_name(start), os.O_WRONLY | os.O_APPEND | _O_BINARY
            )
            self.segment_bytes = SEGMENT_HEADER_SIZE
            if self._starts[-1] != start:
                self._starts.append(start)

    def remove_segments_before(self, offset: int) -> None:
        """Delete the segments holding only transactions before ``offset``."""
        with self._lock:
            doomed = [s for i, s in enumerate(self._starts[:-1]) if self._starts[i + 1] <= offset]
            self._starts = [s for s in self._starts if s not in doomed]
        for start in doomed:
            with contextlib.suppress(FileNotFoundError):
                (self.folder / segment_name(start)).unlink()
        if doomed:
            fsync_dir(self.folder)

    def close(self) -> None:
        """Sync and close the current segment."""
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    _datasync(self._fd)
                os.close(self._fd)
                self._fd = -1


__all__ = ["CommitLog", "list_segments", "segment_name"]
