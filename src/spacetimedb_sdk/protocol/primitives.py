"""BSATN building blocks that both message directions share.

The client and server message codecs (:mod:`.client_messages`, :mod:`.server_messages`)
are written by hand over ``struct``; this module holds what they have in common so that
neither depends on the other: the ``struct`` fast-path aliases, the decode failure that
collects its field path while it propagates (:class:`_Fail`), the primitive readers
(each returns the value and the new offset), ``Array<T>``, the two writers for
length-prefixed bytes and strings, and the tag dispatch that turns one message's
decoder/encoder table into the public entry points' behaviour (error texts included).

The names keep their leading underscore: they are internal to :mod:`spacetimedb_sdk.protocol`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import BsatnEncodeError, ProtocolError
from ..sats.values import ConnectionId, Identity, TimeDuration, Timestamp

Buffer = bytes | bytearray | memoryview
"""What the decoders accept.  Anything but ``bytes`` is copied once to ``bytes``."""

_T = TypeVar("_T")

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_unpack_u16 = _U16.unpack_from
_unpack_u32 = _U32.unpack_from
_unpack_i64 = _I64.unpack_from
_unpack_u64 = struct.Struct("<Q").unpack_from
_pack_u16 = _U16.pack
_pack_u32 = _U32.pack
_pack_i64 = _I64.pack

_OPTION_HELP = "(Option: 0 = some, 1 = none)"


# ---- decoding: failures ----------------------------------------------------------------


class _Fail(Exception):
    """A decode failure on its way up; each level adds its path segment.

    Leaf readers do not know where they are, so the path is assembled while the
    exception propagates; this keeps path bookkeeping off the success path.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail
        self.segments: list[str] = []

    def to_error(self) -> ProtocolError:
        path = "".join(reversed(self.segments))
        return ProtocolError(f"{self.kind} {path}{self.detail}")


def _short(need: int, off: int, size: int) -> _Fail:
    return _Fail("truncated", f": {need} bytes needed at offset {off}, {max(size - off, 0)} remain")


def _unknown_tag(tag: int, off: int, note: str = "") -> _Fail:
    suffix = f" {note}" if note else ""
    return _Fail("unknown", f" tag {tag} at offset {off}{suffix}")


# ---- decoding: primitives (each returns the value and the new offset) ------------------


def _u8(d: bytes, o: int) -> tuple[int, int]:
    if o >= len(d):
        raise _short(1, o, len(d))
    return d[o], o + 1


def _u16(d: bytes, o: int) -> tuple[int, int]:
    if o + 2 > len(d):
        raise _short(2, o, len(d))
    return _unpack_u16(d, o)[0], o + 2


def _u32(d: bytes, o: int) -> tuple[int, int]:
    if o + 4 > len(d):
        raise _short(4, o, len(d))
    return _unpack_u32(d, o)[0], o + 4


def _i64(d: bytes, o: int) -> tuple[int, int]:
    if o + 8 > len(d):
        raise _short(8, o, len(d))
    return _unpack_i64(d, o)[0], o + 8


def _blob(d: bytes, o: int) -> tuple[bytes, int]:
    n, p = _u32(d, o)
    e = p + n
    if e > len(d):
        raise _Fail(
            "truncated", f": length {n} at offset {o} exceeds the {len(d) - p} remaining bytes"
        )
    return d[p:e], e


def _str(d: bytes, o: int) -> tuple[str, int]:
    raw, e = _blob(d, o)
    try:
        return raw.decode("utf-8"), e
    except UnicodeDecodeError as x:
        raise _Fail("invalid UTF-8 in", f" at offset {o + 4 + x.start}: {x.reason}") from None


def _identity(d: bytes, o: int) -> tuple[Identity, int]:
    e = o + 32
    if e > len(d):
        raise _short(32, o, len(d))
    return Identity(int.from_bytes(d[o:e], "little")), e


def _connection_id(d: bytes, o: int) -> tuple[ConnectionId, int]:
    e = o + 16
    if e > len(d):
        raise _short(16, o, len(d))
    return ConnectionId(int.from_bytes(d[o:e], "little")), e


def _timestamp(d: bytes, o: int) -> tuple[Timestamp, int]:
    v, p = _i64(d, o)
    return Timestamp(v), p


def _duration(d: bytes, o: int) -> tuple[TimeDuration, int]:
    v, p = _i64(d, o)
    return TimeDuration(v), p


def _is_some(d: bytes, o: int) -> tuple[bool, int]:
    tag, p = _u8(d, o)
    if tag == 0:
        return True, p
    if tag == 1:
        return False, p
    raise _unknown_tag(tag, o, _OPTION_HELP)


def _array(
    d: bytes, o: int, item: Callable[[bytes, int], tuple[_T, int]], min_size: int
) -> tuple[list[_T], int]:
    """``Array<T>``; ``min_size`` (the smallest encoding of one item) rejects absurd counts early."""
    n, p = _u32(d, o)
    if n * min_size > len(d) - p:
        raise _Fail(
            "truncated",
            f": {n} elements at offset {o} need at least {n * min_size} bytes, {len(d) - p} remain",
        )
    out: list[_T] = []
    append = out.append
    i = 0
    try:
        for i in range(n):  # noqa: B007 - i names the failing element below
            v, p = item(d, p)
            append(v)
    except _Fail as e:
        e.segments.append(f"[{i}]")
        raise
    return out, p


# ---- decoding: dispatch on the message tag ---------------------------------------------


def _as_bytes(data: Buffer, offset: int) -> bytes:
    d = data if type(data) is bytes else bytes(data)
    if offset < 0 or offset > len(d):
        raise ValueError(f"offset {offset} is outside the {len(d)}-byte buffer")
    return d


def _decode(
    kind: str,
    table: tuple[tuple[str, Callable[[bytes, int], tuple[Any, int]]], ...],
    data: Buffer,
    offset: int,
) -> tuple[Any, int]:
    d = _as_bytes(data, offset)
    if offset >= len(d):
        raise ProtocolError(f"truncated {kind}: no tag byte at offset {offset}")
    tag = d[offset]
    if tag >= len(table):
        raise ProtocolError(f"unknown {kind} tag {tag} at offset {offset}")
    name, decode = table[tag]
    try:
        return decode(d, offset + 1)
    except _Fail as e:
        e.segments.append(name)
        raise e.to_error() from None


# ---- encoding: primitives and dispatch on the message type -----------------------------


def _w_blob(out: bytearray, b: bytes) -> None:
    out += _pack_u32(len(b))
    out += b


def _w_str(out: bytearray, s: str) -> None:
    _w_blob(out, s.encode("utf-8"))


_Encoder = Callable[[bytearray, Any], None]

# What a field of the wrong type or range raises inside the encoders above.
_ENCODE_FAILURES = (struct.error, OverflowError, TypeError, ValueError, AttributeError)


def _encode_into(
    out: bytearray, kind: str, table: dict[type, tuple[int, _Encoder]], msg: object
) -> None:
    entry = table.get(type(msg))
    if entry is None:
        raise TypeError(f"not a v2 {kind}: {type(msg).__name__}")
    tag, encode = entry
    start = len(out)
    out.append(tag)
    try:
        encode(out, msg)
    except _ENCODE_FAILURES as e:
        del out[start:]
        name = type(msg).__name__
        raise BsatnEncodeError(f"cannot encode {name}: {e}", path=name) from e
