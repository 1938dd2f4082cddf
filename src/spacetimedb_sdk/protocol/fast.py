"""Fast decoding of the commonest server message: a transaction that touches one table.

Most ``TransactionUpdate`` messages a client receives carry one query set with one table
and one row-list entry (a chat message, a position update).  Decoded generically, each is
a tree of seven message objects; the client only needs the query set, the table name and
the rows.  :func:`decode_table_tx` reads exactly that shape into one :class:`TableTx`
(rows already split by the size hint) and returns ``None`` for anything else, including
anything malformed, so the generic decoder of :mod:`.server_messages` handles (and, for
bad bytes, reports) every other case.  It accepts only bytes the generic decoder accepts,
and yields the same rows.

Example::

    >>> from .messages import (BsatnRowList, PersistentTableRows, QuerySetUpdate,
    ...                        TableUpdate, TransactionUpdate)
    >>> from .server_messages import encode_server_message
    >>> rows = PersistentTableRows(BsatnRowList.from_rows([b"\\x01"]), BsatnRowList.empty())
    >>> data = encode_server_message(
    ...     TransactionUpdate([QuerySetUpdate(7, [TableUpdate("t", [rows])])]))
    >>> tx, end = decode_table_tx(data, 0)
    >>> tx.query_set_id, tx.table, tx.inserts, tx.deletes, end == len(data)
    (7, 't', [b'\\x01'], [], True)
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable

from .. import _speedups

__all__ = ["TableTx", "decode_table_tx"]

_HEAD = struct.Struct("<IIII").unpack_from  # query sets, set id, tables, name length
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U32_U32 = struct.Struct("<II").unpack_from
_ONE_ROW = struct.Struct("<BIQI").unpack_from  # RowOffsets([0]) then the data's length
_NO_ROWS = struct.Struct("<BII").unpack_from  # RowOffsets([]) then a length of 0
_ENTRY = struct.Struct("<IB").unpack_from  # entries (1), then the entry's tag
_TRANSACTION_UPDATE = 4
# Table names seen so far (their UTF-8 bytes -> str); a connection sees few distinct names.
_NAMES: dict[bytes, str] = {}
_MAX_NAMES = 4096


class TableTx:
    """A ``TransactionUpdate`` for one table of one query set, as the client cache needs it.

    ``inserts`` and ``deletes`` are the rows of a ``PersistentTableRows`` entry, or
    ``events`` (then ``inserts`` and ``deletes`` are empty) those of an ``EventTableRows``.

    Example::

        >>> TableTx(1, "message", [b"row"], [], None).table
        'message'
    """

    __slots__ = ("deletes", "events", "inserts", "query_set_id", "table")

    def __init__(
        self,
        query_set_id: int,
        table: str,
        inserts: list[bytes],
        deletes: list[bytes],
        events: list[bytes] | None,
    ) -> None:
        self.query_set_id = query_set_id
        self.table = table
        self.inserts = inserts
        self.deletes = deletes
        self.events = events

    def __repr__(self) -> str:
        return (
            f"TableTx(query_set_id={self.query_set_id}, table={self.table!r}, "
            f"inserts={len(self.inserts)}, deletes={len(self.deletes)}, "
            f"events={None if self.events is None else len(self.events)})"
        )


def _table_tx_py(d: bytes, o: int) -> tuple[TableTx, int] | None:
    """The one-table ``TransactionUpdate`` at ``o`` and the offset after it, or ``None``.

    ``None`` means "not this shape, or not well-formed": decode it generically.  This is
    the reference; the compiled extension, when loaded, does the same in C.
    """
    try:
        if d[o] != _TRANSACTION_UPDATE:
            return None
        n_sets, set_id, n_tables, n = _HEAD(d, o + 1)
        if n_sets != 1 or n_tables != 1:
            return None
        p = o + 17
        raw = d[p : p + n]
        if len(raw) != n:
            return None
        name = _NAMES.get(raw)
        if name is None:
            name = raw.decode()
            if len(_NAMES) < _MAX_NAMES:
                _NAMES[raw] = name
        p += n
        n_entries, tag = _ENTRY(d, p)
        if n_entries != 1:
            return None
        if tag == 0:
            got = _rows(d, p + 5)
            if got is None:
                return None
            inserts, p = got
            got = _rows(d, p)
            if got is None:
                return None
            deletes, p = got
            return TableTx(set_id, name, inserts, deletes, None), p
        if tag == 1:
            got = _rows(d, p + 5)
            if got is None:
                return None
            events, p = got
            return TableTx(set_id, name, [], [], events), p
        return None
    except (IndexError, struct.error, UnicodeDecodeError):
        return None


def _rows(d: bytes, o: int) -> tuple[list[bytes], int] | None:
    """A well-formed ``BsatnRowList`` at ``o``, split into rows (as ``BsatnRowList.rows``)."""
    tag = d[o]
    if tag == 1 and len(d) - o >= 17:  # the commonest lists first: one row, or none
        _, n, first, ln = _ONE_ROW(d, o)
        if n == 1 and first == 0:
            end = o + 17 + ln
            return ([d[o + 17 : end]], end) if end <= len(d) else None
        if n == 0:
            return ([], o + 9) if _NO_ROWS(d, o)[2] == 0 else None
    elif tag == 1 and len(d) - o >= 9 and _NO_ROWS(d, o) == (1, 0, 0):
        return [], o + 9
    if tag == 1:  # RowOffsets
        (n,) = _U32(d, o + 1)
        p = o + 5 + 8 * n
        (ln,) = _U32(d, p)
        start = p + 4
        end = start + ln
        if end > len(d):
            return None
        if n == 1:
            if _U32_U32(d, o + 5) != (0, 0):  # the one offset, a u64, must be 0
                return None
            return [d[start:end]], end
        if n == 0:
            return ([], end) if not ln else None
        offs = struct.unpack_from(f"<{n}Q", d, o + 5)
        if offs[0] != 0 or offs[-1] > ln or list(offs) != sorted(offs):
            return None
        ends = (*offs[1:], ln)
        return [d[start + s : start + e] for s, e in zip(offs, ends, strict=True)], end
    if tag == 0:  # FixedSize
        (size,) = _U16(d, o + 1)
        (ln,) = _U32(d, o + 3)
        start = o + 7
        end = start + ln
        if end > len(d):
            return None
        if not size:
            return ([], end) if not ln else None
        if ln % size:
            return None
        return [d[i : i + size] for i in range(start, end, size)], end
    return None


#: :func:`_table_tx_py`, in C when the compiled extension is loaded.
decode_table_tx: Callable[[bytes, int], tuple[TableTx, int] | None] = (
    _table_tx_py
    if _speedups.bsatn is None
    else functools.partial(_speedups.bsatn.table_tx, TableTx)
)
