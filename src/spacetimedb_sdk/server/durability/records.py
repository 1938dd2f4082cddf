"""The bytes of the data directory: change sets, commit-log records, segment and snapshot headers.

Pure: bytes in, values out (no files, no module).  Rows stay BSATN bytes here; the module's
codecs turn them into rows (:mod:`.state`).  All integers are little-endian, as in BSATN.

A **change set** (:class:`Changes`) is what one commit did, or (in a snapshot) the whole state:

.. code-block:: text

    changes  := i64 timestamp_micros, section*
    section  := u8 tag, payload
      1 table     := str name, u32 n_deletes, u32 len, rows, u32 n_inserts, u32 len, rows
                     (rows: back-to-back BSATN of the table's row type)
      2 sequence  := str table, str column, i136 next value (17 bytes, signed)
      3 var set   := str name, u32 len, BSATN of the StVarValue
      4 var unset := str name
      5 client connected    := u256 identity, u128 connection id
      6 client disconnected := u256 identity, u128 connection id
    str := u32 len, UTF-8

A **commit-log record** frames one change set with its transaction offset and two checksums:

.. code-block:: text

    record := u32 body_len, u64 tx_offset, u32 crc32(previous 12 bytes), body, u32 crc32(header+body)

The header's own checksum lets a reader trust ``body_len`` before reading the body, so a flipped
bit in the middle of the log is an error rather than a reason to cut the log short.

Example::

    >>> body = encode_changes(Changes(timestamp=5, vars_deleted=["row_limit"]))
    >>> scan_records(frame_record(0, body), 0, 0, "log").records[0][1] == body
    True
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from .errors import CorruptDataError

_HEADER = struct.Struct("<IQI")
_TRAILER = struct.Struct("<I")
_U8 = struct.Struct("<B")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_TWO_U32 = struct.Struct("<II")

RECORD_OVERHEAD = _HEADER.size + _TRAILER.size
"""Bytes a record adds to its body."""

TAG_TABLE, TAG_SEQUENCE, TAG_VAR_SET, TAG_VAR_UNSET, TAG_CONNECTED, TAG_DISCONNECTED = range(1, 7)

SEGMENT_MAGIC = b"STDBPYLG"
SNAPSHOT_MAGIC = b"STDBPYSN"
FORMAT_VERSION = 1
SCHEMA_HASH_SIZE = 8

# magic, format version, first tx offset, schema hash, crc32 of the previous fields
_SEGMENT_HEADER = struct.Struct(f"<8sIQ{SCHEMA_HASH_SIZE}sI")
SEGMENT_HEADER_SIZE = _SEGMENT_HEADER.size
# magic, format version, tx offset (transactions it contains), schema length, state length
_SNAPSHOT_HEADER = struct.Struct("<8sIQQQ")


@dataclass
class TableChanges:
    """The rows one table lost and gained, each as back-to-back BSATN rows."""

    name: str
    deletes: bytes = b""
    delete_count: int = 0
    inserts: bytes = b""
    insert_count: int = 0


Client = tuple[int, int]
"""A connected client: (identity as u256, connection id as u128)."""


@dataclass
class Changes:
    """One commit's changes (a log record), or a whole state (a snapshot).

    Example::

        >>> decode_changes(encode_changes(Changes(timestamp=1, sequences=[("t", "id", 7)])))
        Changes(timestamp=1, tables=[], sequences=[('t', 'id', 7)], vars_set=[], vars_deleted=[], clients_connected=[], clients_disconnected=[])
    """

    timestamp: int = 0
    tables: list[TableChanges] = field(default_factory=list)
    sequences: list[tuple[str, str, int]] = field(default_factory=list)
    vars_set: list[tuple[str, bytes]] = field(default_factory=list)
    vars_deleted: list[str] = field(default_factory=list)
    clients_connected: list[Client] = field(default_factory=list)
    clients_disconnected: list[Client] = field(default_factory=list)

    def is_empty(self) -> bool:
        """Whether there is nothing to record."""
        return not (
            self.tables
            or self.sequences
            or self.vars_set
            or self.vars_deleted
            or self.clients_connected
            or self.clients_disconnected
        )


# ---- change sets --------------------------------------------------------------------------------


def _str(out: bytearray, text: str) -> None:
    data = text.encode()
    out += _U32.pack(len(data))
    out += data


def _client(out: bytearray, tag: int, client: Client) -> None:
    out.append(tag)
    out += client[0].to_bytes(32, "little")
    out += client[1].to_bytes(16, "little")


def encode_changes(changes: Changes) -> bytes:
    """The bytes of a change set (see the module docstring)."""
    out = bytearray(_I64.pack(changes.timestamp))
    for t in changes.tables:
        out.append(TAG_TABLE)
        _str(out, t.name)
        out += _TWO_U32.pack(t.delete_count, len(t.deletes))
        out += t.deletes
        out += _TWO_U32.pack(t.insert_count, len(t.inserts))
        out += t.inserts
    for table, column, value in changes.sequences:
        out.append(TAG_SEQUENCE)
        _str(out, table)
        _str(out, column)
        out += value.to_bytes(17, "little", signed=True)
    for name, value_bytes in changes.vars_set:
        out.append(TAG_VAR_SET)
        _str(out, name)
        out += _U32.pack(len(value_bytes))
        out += value_bytes
    for name in changes.vars_deleted:
        out.append(TAG_VAR_UNSET)
        _str(out, name)
    for client in changes.clients_connected:
        _client(out, TAG_CONNECTED, client)
    for client in changes.clients_disconnected:
        _client(out, TAG_DISCONNECTED, client)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ValueError(
                f"needs {n} bytes at byte {self.pos}, only {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def str(self) -> str:
        return self.take(self.u32()).decode()

    def client(self) -> Client:
        identity = int.from_bytes(self.take(32), "little")
        return identity, int.from_bytes(self.take(16), "little")


def decode_changes(body: bytes) -> Changes:
    """The change set in ``body``; ``ValueError`` saying where if the bytes do not parse.

    (Bodies come from records whose checksums held, so a failure here means a bug or a file
    written by another format, not a torn write.)
    """
    r = _Reader(body)
    changes = Changes(timestamp=_I64.unpack(r.take(8))[0])
    while r.pos < len(body):
        tag = r.take(1)[0]
        if tag == TAG_TABLE:
            name = r.str()
            n_del, deletes = r.u32(), r.take(r.u32())
            n_ins, inserts = r.u32(), r.take(r.u32())
            changes.tables.append(TableChanges(name, deletes, n_del, inserts, n_ins))
        elif tag == TAG_SEQUENCE:
            table, column = r.str(), r.str()
            changes.sequences.append(
                (table, column, int.from_bytes(r.take(17), "little", signed=True))
            )
        elif tag == TAG_VAR_SET:
            name = r.str()
            changes.vars_set.append((name, r.take(r.u32())))
        elif tag == TAG_VAR_UNSET:
            changes.vars_deleted.append(r.str())
        elif tag == TAG_CONNECTED:
            changes.clients_connected.append(r.client())
        elif tag == TAG_DISCONNECTED:
            changes.clients_disconnected.append(r.client())
        else:
            raise ValueError(f"unknown section tag {tag} at byte {r.pos - 1}")
    return changes


# ---- commit-log records -------------------------------------------------------------------------


def frame_record(tx_offset: int, body: bytes) -> bytes:
    """One commit-log record holding ``body`` (an encoded change set) at ``tx_offset``."""
    head = struct.pack("<IQ", len(body), tx_offset)
    header = head + _U32.pack(zlib.crc32(head))
    crc = zlib.crc32(body, zlib.crc32(header))
    return header + body + _TRAILER.pack(crc)


@dataclass
class Scan:
    """What :func:`scan_records` found: records, where the valid data ends, and why it ends there.

    ``torn`` is ``None`` when the data ended cleanly, else why the bytes after ``end`` are a
    torn tail (an interrupted write: only a log's last segment may have one).
    """

    records: list[tuple[int, bytes]]
    end: int
    torn: str | None = None


def scan_records(data: bytes, start: int, first_offset: int, where: str) -> Scan:
    """Read the records in ``data[start:]``, which must begin at transaction ``first_offset``.

    A tail that an interrupted append can leave (a partial header or record, zeros where a
    record should be, the last record failing its checksum) ends the scan with ``torn`` set.
    Anything else (a header or middle record failing its checksum, an offset out of sequence)
    raises :class:`CorruptDataError` naming ``where`` and the record.
    """
    records: list[tuple[int, bytes]] = []
    pos, expected, n = start, first_offset, len(data)
    while pos < n:
        rest = n - pos
        if rest < _HEADER.size:
            return Scan(records, pos, f"a partial record header ({rest} bytes) at byte {pos}")
        if not any(data[pos : pos + _HEADER.size]):
            if any(data[pos:]):
                raise CorruptDataError(where, f"zeros at byte {pos}, then data again")
            return Scan(records, pos, f"zeros from byte {pos}")
        body_len, offset, header_crc = _HEADER.unpack_from(data, pos)
        if zlib.crc32(data[pos : pos + 12]) != header_crc:
            raise CorruptDataError(
                where, f"the header of the record at byte {pos} fails its checksum"
            )
        if offset != expected:
            raise CorruptDataError(
                where,
                f"the record at byte {pos} has transaction offset {offset}, expected {expected}",
            )
        end = pos + _HEADER.size + body_len + _TRAILER.size
        if end > n:
            return Scan(records, pos, f"transaction {offset} is cut short at byte {n}")
        body_end = end - _TRAILER.size
        (crc,) = _TRAILER.unpack_from(data, body_end)
        if zlib.crc32(data[pos:body_end]) != crc:
            if end == n:
                return Scan(
                    records, pos, f"the last record (transaction {offset}) fails its checksum"
                )
            raise CorruptDataError(
                where,
                f"transaction {offset} (byte {pos}) fails its checksum; later records follow it",
            )
        records.append((offset, data[pos + _HEADER.size : body_end]))
        pos, expected = end, expected + 1
    return Scan(records, pos)


# ---- segment and snapshot headers --------------------------------------------------------------


def segment_header(first_offset: int, schema_hash: bytes) -> bytes:
    """The header of a commit-log segment whose first record is ``first_offset``."""
    head = struct.pack(
        f"<8sIQ{SCHEMA_HASH_SIZE}s", SEGMENT_MAGIC, FORMAT_VERSION, first_offset, schema_hash
    )
    return head + _U32.pack(zlib.crc32(head))


def read_segment_header(data: bytes, where: str) -> tuple[int, bytes] | None:
    """``(first offset, schema hash)`` of a segment, or ``None`` if the header is torn
    (shorter than a header, or zeros); :class:`CorruptDataError` if it is not one of ours."""
    if len(data) < SEGMENT_HEADER_SIZE or not any(data[:SEGMENT_HEADER_SIZE]):
        return None
    magic, version, first, schema_hash, crc = _SEGMENT_HEADER.unpack_from(data, 0)
    if magic != SEGMENT_MAGIC:
        raise CorruptDataError(where, "not a commit-log segment of spacetimedb-py (bad magic)")
    if zlib.crc32(data[: SEGMENT_HEADER_SIZE - 4]) != crc:
        raise CorruptDataError(where, "the segment header fails its checksum")
    if version != FORMAT_VERSION:
        raise CorruptDataError(
            where, f"format version {version}; this version reads {FORMAT_VERSION}"
        )
    return first, schema_hash


def encode_snapshot(tx_offset: int, schema: bytes, state: bytes) -> bytes:
    """A snapshot file: header, the module schema (JSON) the rows follow, the state, a crc32."""
    head = _SNAPSHOT_HEADER.pack(SNAPSHOT_MAGIC, FORMAT_VERSION, tx_offset, len(schema), len(state))
    crc = zlib.crc32(state, zlib.crc32(schema, zlib.crc32(head)))
    return head + schema + state + _U32.pack(crc)


def decode_snapshot(data: bytes, where: str) -> tuple[int, bytes, bytes]:
    """``(tx offset, schema JSON, encoded state)`` of a snapshot file; :class:`CorruptDataError`
    if it is truncated, not ours or fails its checksum."""
    if len(data) < _SNAPSHOT_HEADER.size + 4:
        raise CorruptDataError(where, f"truncated snapshot ({len(data)} bytes)")
    magic, version, offset, schema_len, state_len = _SNAPSHOT_HEADER.unpack_from(data, 0)
    if magic != SNAPSHOT_MAGIC:
        raise CorruptDataError(where, "not a snapshot of spacetimedb-py (bad magic)")
    if version != FORMAT_VERSION:
        raise CorruptDataError(
            where, f"format version {version}; this version reads {FORMAT_VERSION}"
        )
    end = _SNAPSHOT_HEADER.size + schema_len + state_len
    if end + 4 != len(data):
        raise CorruptDataError(where, f"snapshot of {len(data)} bytes, its header says {end + 4}")
    (crc,) = _U32.unpack_from(data, end)
    if zlib.crc32(data[:end]) != crc:
        raise CorruptDataError(where, "the snapshot fails its checksum")
    schema_end = _SNAPSHOT_HEADER.size + schema_len
    return offset, data[_SNAPSHOT_HEADER.size : schema_end], data[schema_end:end]


__all__ = [
    "RECORD_OVERHEAD",
    "SEGMENT_HEADER_SIZE",
    "Changes",
    "Scan",
    "TableChanges",
    "decode_changes",
    "decode_snapshot",
    "encode_changes",
    "encode_snapshot",
    "frame_record",
    "read_segment_header",
    "scan_records",
    "segment_header",
]
