"""A ``BsatnRowList``'s rows, cut by its size hint and checked or decoded by a row codec.

What the client cache needs from a row list, in one call each (the compiled extension runs
them in C when it is built, see :mod:`spacetimedb_sdk._speedups`):

- :func:`split_rows`: the rows' bytes, each checked to be exactly one row of the table's
  type (tags, bools, UTF-8, lengths), without building any value: what lazy rows keep;
- :func:`decode_rows`: the rows decoded, in order.

Both raise for the first bad row exactly what ``codec.decode(row)`` raises for it (a
:class:`~spacetimedb_sdk.errors.BsatnDecodeError` naming the path and offset within the row),
so a cache that checks rows at once and decodes them later reports the same errors as one
that decodes at once.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T, bsatn
    >>> from spacetimedb_sdk.protocol.messages import BsatnRowList
    >>> codec = bsatn.codec_for(T.product({"id": T.U16}))
    >>> rl = BsatnRowList.from_rows([b"\\x01\\x00", b"\\x02\\x00"])
    >>> split_rows(codec, rl), decode_rows(codec, rl)
    ([b'\\x01\\x00', b'\\x02\\x00'], [{'id': 1}, {'id': 2}])
"""

from __future__ import annotations

from typing import Any

from ..sats.bsatn import Codec
from .messages import BsatnRowList


def split_rows(codec: Codec, rows: BsatnRowList) -> list[bytes]:
    """The rows' bytes, each checked as ``codec.decode`` would check it, nothing built.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T, bsatn
        >>> split_rows(bsatn.codec_for(T.BOOL), BsatnRowList.from_rows([b"\\x01", b"\\x00"]))
        [b'\\x01', b'\\x00']
    """
    data = rows.rows()
    codec.validate_rows(data)
    return data


def decode_rows(codec: Codec, rows: BsatnRowList) -> list[Any]:
    """``[codec.decode(row) for row in rows.rows()]``, in one call.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T, bsatn
        >>> decode_rows(bsatn.codec_for(T.U8), BsatnRowList.from_rows([b"\\x07"]))
        [7]
    """
    return codec.decode_each(rows.rows())


__all__ = ["decode_rows", "split_rows"]
