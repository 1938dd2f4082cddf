"""The datastore syscalls of ``spacetime:sys@2.x``, served by the local server's datastore.

A TypeScript module's reads and writes arrive from its Node process as syscall frames
(``host.mjs``); :class:`Syscalls` answers them on the database's own
:class:`~..datastore.Datastore`, in the transaction of the running call, with upstream's
semantics (``crates/core/src/host/instance_env.rs``):

* rows travel as BSATN; a scan answers with every matching row at once (their lengths, then the
  bytes), so iterating needs no further round trip;
* ``insert`` and ``update`` answer with the values the sequences generated, a BSATN product of
  the auto-increment columns that held the trigger value 0, in column order (the library writes
  them back into the row it returns);
* index scans decode a point (every column of the index) or a prefix plus a ``Bound`` pair on
  the next column, compare in ``AlgebraicValue`` order, and refuse ranges on hash indexes;
* failures are upstream's errnos (:class:`Errno`): the module sees its library's error class
  with the errno's fixed text, e.g. ``UniqueAlreadyExists``; a failure upstream does not map to
  an errno ends the call (:class:`Trap`).

Example::

    syscalls = Syscalls(definition, datastore)
    reply = syscalls.handle(env, payload)      # payload: a K_SYSCALL frame's bytes
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..._log import get_logger
from ...errors import BsatnDecodeError, BsatnEncodeError
from ...sats import bsatn
from ...sats.types import RefType
from ..datastore import (
    AutoIncOverflow,
    Datastore,
    DatastoreError,
    IndexSchema,
    NoSuchRow,
    Range,
    TableStore,
    Transaction,
    UniqueConstraintViolation,
)
from ..module import AuthCtx
from .definition import TsDefinition
from .process import K_REPLY, frame
from .rows import cached_bsatn, remember_bsatn

log = get_logger("spacetimedb_sdk.server")

# Syscall numbers (the first byte of a K_SYSCALL payload; host.mjs has the same table).
S_ROW_COUNT = 1
S_TABLE_SCAN = 2
S_SCAN_POINT = 3
S_SCAN_RANGE = 4
S_INSERT = 5
S_UPDATE = 6
S_DELETE_POINT = 7
S_DELETE_RANGE = 8
S_DELETE_BY_EQ = 9
S_CLEAR = 10
S_JWT = 11
S_START_TX = 12
S_COMMIT_TX = 13
S_ABORT_TX = 14
S_HTTP = 15

# Upstream errnos (crates/primitives/src/errno.rs).
NOT_IN_TRANSACTION = 2
BSATN_DECODE_ERROR = 3
NO_SUCH_TABLE = 4
NO_SUCH_INDEX = 5
WRONG_INDEX_ALGO = 10
UNIQUE_ALREADY_EXISTS = 12
INDEX_NOT_UNIQUE = 14
NO_SUCH_ROW = 15
WOULD_BLOCK_TRANSACTION = 17
TRANSACTION_NOT_ANONYMOUS = 18
TRANSACTION_IS_READ_ONLY = 19
HTTP_ERROR = 21

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_RANGE_HEAD = struct.Struct("<IHIII")


class Errno(Exception):
    """A syscall failed with upstream errno ``code`` (``message`` replaces its fixed text)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class Trap(Exception):
    """A syscall failed in a way that ends the call (upstream terminates the instance's call)."""


@dataclass
class CallEnv:
    """One call as its syscalls see it: the transaction (``None`` outside one), whether writes
    are allowed, who called, and the function's name (for its log lines)."""

    tx: Transaction | None
    read_only: bool = False
    procedure: bool = False
    auth: AuthCtx | None = None
    connection_id: int = 0
    function: str | None = None


def ok(payload: bytes = b"") -> bytes:
    """A successful reply frame."""
    return frame(K_REPLY, b"\x00" + payload)


def errno_reply(code: int, message: str | None = None) -> bytes:
    """A reply frame carrying errno ``code`` (and a message replacing its text)."""
    return frame(K_REPLY, b"\x01" + _U16.pack(code) + (message or "").encode())


def trap_reply(message: str) -> bytes:
    """A reply frame that ends the call with ``message``."""
    return frame(K_REPLY, b"\x02" + message.encode())


def rows_payload(rows: Sequence[bytes]) -> bytes:
    """Rows as a scan reply: count, each length, then the bytes."""
    n = len(rows)
    return _U32.pack(n) + struct.pack(f"<{n}I", *map(len, rows)) + b"".join(rows)


@dataclass
class _Table:
    name: str
    store: TableStore
    codec: bsatn.Codec
    sequences: list[tuple[int, str, bsatn.Codec]]


@dataclass
class _Index:
    table: _Table
    schema: IndexSchema
    codecs: list[bsatn.Codec]


class Syscalls:
    """Answers a module's datastore syscalls on ``datastore`` (see the module docstring)."""

    def __init__(self, definition: TsDefinition, datastore: Datastore) -> None:
        self.datastore = datastore
        ts, classes = definition.typespace, definition.classes
        self.tables: list[_Table] = []
        for name in definition.table_ids:
            store = datastore.store(name)
            schema = store.schema
            codec = bsatn.codec_for(RefType(schema.product_type_ref), ts, classes=classes)
            sequences = [
                (
                    s.col_id,
                    schema.columns[s.col_id].attr,
                    bsatn.codec_for(schema.columns[s.col_id].algebraic_type, ts, classes=classes),
                )
                for s in sorted(schema.sequences, key=lambda s: s.col_id)
            ]
            self.tables.append(_Table(name, store, codec, sequences))
        by_name = {t.name: t for t in self.tables}
        self.indexes: list[_Index] = []
        for table_name, ix in definition.index_ids:
            table = by_name[table_name]
            cols = table.store.schema.columns
            codecs = [
                bsatn.codec_for(cols[c].algebraic_type, ts, classes=classes) for c in ix.columns
            ]
            self.indexes.append(_Index(table, ix, codecs))
        self._handlers: dict[int, Callable[[CallEnv, memoryview], bytes]] = {
            S_ROW_COUNT: self._row_count,
            S_TABLE_SCAN: self._table_scan,
            S_SCAN_POINT: self._scan_point,
            S_SCAN_RANGE: self._scan_range,
            S_INSERT: self._insert,
            S_UPDATE: self._update,
            S_DELETE_POINT: self._delete_point,
            S_DELETE_RANGE: self._delete_range,
            S_DELETE_BY_EQ: self._delete_by_eq,
            S_CLEAR: self._clear,
            S_JWT: self._jwt,
            # A reducer or view holds its transaction for the whole call (a procedure's runner
            # answers these itself).
            S_START_TX: _refuse(WOULD_BLOCK_TRANSACTION),
            S_HTTP: _refuse(WOULD_BLOCK_TRANSACTION),
            S_COMMIT_TX: _refuse(TRANSACTION_NOT_ANONYMOUS),
            S_ABORT_TX: _refuse(TRANSACTION_NOT_ANONYMOUS),
        }

    def handle(self, env: CallEnv, payload: bytes) -> bytes:
        """The reply frame to one syscall (``payload``: op byte, then its arguments)."""
        handler = self._handlers.get(payload[0])
        if handler is None:
            return trap_reply(f"the local server does not serve syscall {payload[0]} here")
        try:
            return handler(env, memoryview(payload)[1:])
        except Errno as e:
            return errno_reply(e.code, e.message)
        except Trap as e:
            return trap_reply(str(e))
        except (struct.error, IndexError, ValueError) as e:  # a malformed frame: a host bug
            log.exception("serving syscall %d failed", payload[0])
            return trap_reply(f"the local server could not serve syscall {payload[0]}: {e}")

    # -- lookups

    def _table(self, table_id: int) -> _Table:
        try:
            return self.tables[table_id]
        except IndexError:
            raise Errno(NO_SUCH_TABLE) from None

    def _index(self, index_id: int) -> _Index:
        try:
            return self.indexes[index_id]
        except IndexError:
            raise Errno(NO_SUCH_INDEX) from None

    @staticmethod
    def _writable(env: CallEnv) -> Transaction:
        if env.tx is None:
            raise Errno(TRANSACTION_IS_READ_ONLY if env.read_only else NOT_IN_TRANSACTION)
        if env.read_only:
            raise Errno(TRANSACTION_IS_READ_ONLY)
        return env.tx

    @staticmethod
    def _readable(env: CallEnv) -> None:
        if env.tx is None and not env.read_only:
            raise Errno(NOT_IN_TRANSACTION)

    # -- decoding arguments

    @staticmethod
    def _point(index: _Index, data: memoryview) -> list[Any]:
        values = []
        offset = 0
        try:
            for codec in index.codecs:
                value, offset = codec.read(data, offset)
                values.append(value)
        except BsatnDecodeError:
            raise Errno(BSATN_DECODE_ERROR) from None
        if offset != len(data):
            raise Errno(BSATN_DECODE_ERROR)
        return values

    def _range(self, data: memoryview) -> tuple[_Index, list[Any], Range]:
        index_id, prefix_elems, prefix_len, rstart_len, rend_len = _RANGE_HEAD.unpack_from(data)
        index = self._index(index_id)
        if index.schema.algorithm == "hash":
            raise Errno(WRONG_INDEX_ALGO)
        if prefix_elems >= len(index.codecs):
            raise Errno(BSATN_DECODE_ERROR)
        body = data[_RANGE_HEAD.size :]
        prefix: list[Any] = []
        offset = 0
        try:
            for codec in index.codecs[:prefix_elems]:
                value, offset = codec.read(body, offset)
                prefix.append(value)
            if prefix_elems and offset != prefix_len:
                raise Errno(BSATN_DECODE_ERROR)
            start = body[prefix_len : prefix_len + rstart_len]
            end = (
                body[prefix_len + rstart_len : prefix_len + rstart_len + rend_len]
                if rend_len
                else start
            )
            codec = index.codecs[prefix_elems]
            lo = _bound(codec, start)
            hi = _bound(codec, end)
        except BsatnDecodeError:
            raise Errno(BSATN_DECODE_ERROR) from None
        rng = Range(
            lo[1] if lo is not None else None,
            hi[1] if hi is not None else None,
            start_inclusive=lo is None or lo[0],
            stop_inclusive=hi is None or hi[0],
        )
        return index, prefix, rng

    # -- reads

    def _encode(self, table: _Table, rows: Sequence[Any]) -> bytes:
        encode = table.codec.encode
        return rows_payload([cached_bsatn(r, encode) for r in rows])

    def _row_count(self, env: CallEnv, data: memoryview) -> bytes:
        self._readable(env)
        table = self._table(_U32.unpack_from(data)[0])
        return ok(_U64.pack(table.store.count()))

    def _table_scan(self, env: CallEnv, data: memoryview) -> bytes:
        self._readable(env)
        table = self._table(_U32.unpack_from(data)[0])
        return ok(self._encode(table, list(table.store.rows.values())))

    def _scan_point(self, env: CallEnv, data: memoryview) -> bytes:
        self._readable(env)
        index = self._index(_U32.unpack_from(data)[0])
        values = self._point(index, data[4:])
        rows = index.table.store.scan(index.schema, values, None)
        return ok(self._encode(index.table, rows))

    def _scan_range(self, env: CallEnv, data: memoryview) -> bytes:
        self._readable(env)
        index, prefix, rng = self._range(data)
        return ok(self._encode(index.table, _range_rows(index, prefix, rng)))

    def _jwt(self, env: CallEnv, data: memoryview) -> bytes:
        connection = int.from_bytes(data[:16], "little")
        auth = env.auth
        if auth is None or auth.jwt is None or connection != env.connection_id or connection == 0:
            return ok(b"")
        return ok(auth.jwt.raw_payload.encode())

    # -- writes

    def _decode_row(self, table: _Table, data: memoryview) -> Any:
        raw = bytes(data)
        try:
            return remember_bsatn(table.codec.decode(raw), raw)
        except BsatnDecodeError:
            raise Errno(BSATN_DECODE_ERROR) from None

    def _write(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except UniqueConstraintViolation:
            raise Errno(UNIQUE_ALREADY_EXISTS) from None
        except NoSuchRow:
            raise Errno(NO_SUCH_ROW) from None
        except AutoIncOverflow as e:
            raise Trap(str(e)) from None
        except BsatnEncodeError as e:
            raise Errno(BSATN_DECODE_ERROR, str(e)) from None
        except DatastoreError as e:
            raise Trap(str(e)) from None

    @staticmethod
    def _generated(table: _Table, given: Any, stored: Any, skip: tuple[int, ...] = ()) -> bytes:
        out = bytearray()
        for col_id, attr, codec in table.sequences:
            if col_id not in skip and getattr(given, attr) == 0:
                codec.write(out, getattr(stored, attr))
        return bytes(out)

    def _insert(self, env: CallEnv, data: memoryview) -> bytes:
        tx = self._writable(env)
        table = self._table(_U32.unpack_from(data)[0])
        row = self._decode_row(table, data[4:])
        stored = self._write(lambda: tx.insert(table.name, row))
        return ok(self._generated(table, row, stored) if table.sequences else b"")

    def _update(self, env: CallEnv, data: memoryview) -> bytes:
        tx = self._writable(env)
        table_id, index_id = struct.unpack_from("<II", data)
        table = self._table(table_id)
        index = self._index(index_id)
        if index.table is not table:
            raise Errno(NO_SUCH_INDEX)
        if not index.schema.unique:
            raise Errno(INDEX_NOT_UNIQUE)
        row = self._decode_row(table, data[8:])
        stored = self._write(lambda: tx.update(table.name, index.schema.name, row))
        if not table.sequences:
            return ok(b"")
        return ok(self._generated(table, row, stored, index.schema.columns))

    def _delete_point(self, env: CallEnv, data: memoryview) -> bytes:
        tx = self._writable(env)
        index = self._index(_U32.unpack_from(data)[0])
        values = self._point(index, data[4:])
        rows = index.table.store.scan(index.schema, values, None)
        return ok(_U32.pack(self._delete_rows(tx, index.table, rows)))

    def _delete_range(self, env: CallEnv, data: memoryview) -> bytes:
        tx = self._writable(env)
        index, prefix, rng = self._range(data)
        rows = _range_rows(index, prefix, rng)
        return ok(_U32.pack(self._delete_rows(tx, index.table, rows)))

    def _delete_rows(self, tx: Transaction, table: _Table, rows: Sequence[Any]) -> int:
        deleted: int = self._write(lambda: sum(tx.delete(table.name, r) for r in rows))
        return deleted

    def _delete_by_eq(self, env: CallEnv, data: memoryview) -> bytes:
        tx = self._writable(env)
        table = self._table(_U32.unpack_from(data)[0])
        (count,) = _U32.unpack_from(data, 4)
        rows = []
        offset = 8
        try:
            for _ in range(count):
                row, offset = table.codec.read(data, offset)
                rows.append(row)
        except BsatnDecodeError:
            raise Errno(BSATN_DECODE_ERROR) from None
        return ok(_U32.pack(self._delete_rows(tx, table, rows)))

    def _clear(self, env: CallEnv, data: memoryview) -> bytes:
        tx = self._writable(env)
        table = self._table(_U32.unpack_from(data)[0])
        return ok(_U64.pack(self._write(lambda: tx.clear(table.name))))


def _refuse(code: int) -> Callable[[CallEnv, memoryview], bytes]:
    def refuse(env: CallEnv, data: memoryview) -> bytes:
        raise Errno(code)

    return refuse


def _bound(codec: bsatn.Codec, data: memoryview) -> tuple[bool, Any] | None:
    """A BSATN ``Bound``: ``(inclusive, value)``, or ``None`` for ``Unbounded``."""
    if not data:
        raise BsatnDecodeError("empty bound", path="<bound>", offset=0)
    tag = data[0]
    if tag == 2:
        if len(data) != 1:
            raise BsatnDecodeError(
                "trailing bytes after an unbounded bound", path="<bound>", offset=1
            )
        return None
    if tag not in (0, 1):
        raise BsatnDecodeError(f"unknown Bound tag {tag}", path="<bound>", offset=0)
    value, end = codec.read(data, 1)
    if end != len(data):
        raise BsatnDecodeError("trailing bytes after a bound", path="<bound>", offset=end)
    return tag == 0, value


def _range_rows(index: _Index, prefix: list[Any], rng: Range) -> list[Any]:
    """The rows of a range scan, in index order (a unique index is scanned by sorting its rows,
    as the datastore's unique indexes answer points only)."""
    store, ix = index.table.store, index.schema
    if not ix.unique:
        return store.scan(ix, prefix, rng)
    n = len(prefix)
    want = store.value_key(ix, prefix)
    col_key = store.col_key[ix.columns[n]]
    lo = None if rng.start is None else col_key(rng.start)
    hi = None if rng.stop is None else col_key(rng.stop)
    out = []
    for row in store.rows.values():
        key = store.index_key(ix, row)
        if key[:n] != want:
            continue
        k = key[n]
        if lo is not None and (k < lo or (k == lo and not rng.start_inclusive)):
            continue
        if hi is not None and (k > hi or (k == hi and not rng.stop_inclusive)):
            continue
        out.append((key, row))
    out.sort(key=lambda kr: kr[0])
    return [row for _, row in out]
