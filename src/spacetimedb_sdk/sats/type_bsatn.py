"""The BSATN meta-encoding of types, as inside ``RawModuleDef`` (protocol.md §1.5).

A type is the ``AlgebraicType`` sum: a ``u8`` tag in :data:`META_TAGS` order, then for
``Ref`` a ``u32`` index, for ``Array`` the element type, for ``Sum``/``Product`` a ``u32``
count of members, each an ``Option<String>`` name then a type.

:func:`write_type_json` writes a type from its SATS-JSON form (what every type's
``to_json`` gives) and :func:`read_type` builds one with the constructors it is given
(:class:`~.type_json.TypeBuilders`), so this module does not import the type classes:
:mod:`.types` imports it (``AlgebraicType.to_bsatn`` / ``from_bsatn`` are the public
entry points).

Example::

    >>> out = bytearray()
    >>> write_type_json(out, {"Array": {"U8": []}})
    >>> bytes(out)
    b'\\x03\\x07'
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, TypeVar

from ..errors import BsatnDecodeError
from .type_json import TypeBuilders

T = TypeVar("T")

#: Tag order of the AlgebraicType sum in BSATN: the compound kinds, then the primitives.
META_TAGS: tuple[str, ...] = (
    "Ref", "Sum", "Product", "Array", "String", "Bool",
    "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64",
    "I128", "U128", "I256", "U256", "F32", "F64",
)  # fmt: skip
_TAG_OF = {name: i for i, name in enumerate(META_TAGS)}
_MAX_DEPTH = 256

_U32 = struct.Struct("<I")


def write_type_json(out: bytearray, obj: Mapping[str, Any]) -> None:
    """Append the meta-encoding of the type whose SATS-JSON form is ``obj`` to ``out``.

    Example::

        >>> out = bytearray()
        >>> write_type_json(out, {"Product": {"elements": [
        ...     {"name": {"some": "x"}, "algebraic_type": {"Bool": []}}]}})
        >>> out.hex(" ")
        '02 01 00 00 00 00 01 00 00 00 78 05'
    """
    ((tag, payload),) = obj.items()
    out.append(_TAG_OF[tag])
    if tag == "Ref":
        out += _U32.pack(payload)
    elif tag == "Array":
        write_type_json(out, payload)
    elif tag in ("Product", "Sum"):
        members = payload["elements" if tag == "Product" else "variants"]
        out += _U32.pack(len(members))
        for m in members:
            name = m["name"].get("some")
            if name is None:
                out.append(1)
            else:
                b = name.encode()
                out.append(0)
                out += _U32.pack(len(b))
                out += b
            write_type_json(out, m["algebraic_type"])


def _need(buf: memoryview, off: int, n: int, what: str) -> None:
    if off + n > len(buf):
        raise BsatnDecodeError(
            f"truncated input: {what} needs {n} bytes, {len(buf) - off} left",
            path="AlgebraicType",
            offset=off,
        )


def _read_u32(buf: memoryview, off: int, what: str) -> tuple[int, int]:
    _need(buf, off, 4, what)
    return _U32.unpack_from(buf, off)[0], off + 4


def _read_str(buf: memoryview, off: int, what: str) -> tuple[str, int]:
    n, off = _read_u32(buf, off, what)
    _need(buf, off, n, what)
    try:
        return str(buf[off : off + n], "utf-8"), off + n
    except UnicodeDecodeError as e:
        raise BsatnDecodeError(
            f"invalid UTF-8 in {what}: {e.reason}", path="AlgebraicType", offset=off
        ) from None


def _read_opt_name(buf: memoryview, off: int) -> tuple[str | None, int]:
    _need(buf, off, 1, "name tag")
    tag = buf[off]
    if tag == 1:
        return None, off + 1
    if tag == 0:
        return _read_str(buf, off + 1, "name")
    raise BsatnDecodeError(f"unknown Option tag {tag}", path="AlgebraicType.name", offset=off)


def read_type(buf: memoryview, off: int, build: TypeBuilders[T], depth: int = 0) -> tuple[T, int]:
    """Decode one meta-encoded type at ``off``; returns ``(type, new_offset)``.

    Raises :class:`BsatnDecodeError` with the offset of the bad byte.

    Example::

        >>> build = TypeBuilders({"U8": "u8"}, "ref{}".format, "[{}]".format, str, str)
        >>> read_type(memoryview(b"\\x03\\x00\\x02\\x00\\x00\\x00"), 0, build)
        ('[ref2]', 6)
    """
    if depth > _MAX_DEPTH:
        raise BsatnDecodeError(
            f"type nesting deeper than {_MAX_DEPTH} levels", path="AlgebraicType", offset=off
        )
    _need(buf, off, 1, "AlgebraicType tag")
    tag = buf[off]
    off += 1
    if tag >= len(META_TAGS):
        raise BsatnDecodeError(
            f"unknown AlgebraicType tag {tag}", path="AlgebraicType", offset=off - 1
        )
    if tag >= 4:
        return build.primitives[META_TAGS[tag]], off
    if tag == 0:
        ref, off = _read_u32(buf, off, "Ref")
        return build.ref(ref), off
    if tag == 3:
        elem, off = read_type(buf, off, build, depth + 1)
        return build.array(elem), off
    count, off = _read_u32(buf, off, "member count")
    members: list[tuple[str | None, T]] = []
    for _ in range(count):
        name, off = _read_opt_name(buf, off)
        t, off = read_type(buf, off, build, depth + 1)
        members.append((name, t))
    return (build.sum(members) if tag == 1 else build.product(members)), off


__all__ = ["META_TAGS", "read_type", "write_type_json"]
