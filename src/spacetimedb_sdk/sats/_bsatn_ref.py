"""The reference BSATN walker: slow, but tracks the type path and byte offset.

The compiled codecs of :mod:`.bsatn` keep their fast path lean and, when it
fails, re-run this walker over the same input to raise the precise
:class:`BsatnDecodeError` / :class:`BsatnEncodeError`.  It is also the naive
baseline the benchmarks compare against, and the oracle the property tests
check the compiled code with.  It implements the same value conventions and
the same ``classes`` contract as the compiled codecs (see :mod:`.bsatn`).

Example::

    >>> ctx = Ctx(None, {})
    >>> decode_value(ctx, AlgebraicType.U16, b"\\x02\\x01")
    258
"""

from __future__ import annotations

import enum
import operator
import struct
import uuid
from collections.abc import Mapping
from typing import Any, cast

from ..errors import BsatnDecodeError, BsatnEncodeError, SchemaError
from .types import (
    CONNECTION_ID_TAG,
    IDENTITY_TAG,
    TIME_DURATION_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)
from .values import (
    ConnectionId,
    Err,
    Identity,
    Ok,
    ScheduleAt,
    Some,
    SumValue,
    TimeDuration,
    Timestamp,
)

# Struct code, byte size, min, max of the fixed-width primitives (None for floats/bool).
PRIM_INFO: dict[str, tuple[str, int, int | None, int | None]] = {
    "Bool": ("B", 1, None, None),
    "I8": ("b", 1, -(1 << 7), (1 << 7) - 1),
    "U8": ("B", 1, 0, (1 << 8) - 1),
    "I16": ("h", 2, -(1 << 15), (1 << 15) - 1),
    "U16": ("H", 2, 0, (1 << 16) - 1),
    "I32": ("i", 4, -(1 << 31), (1 << 31) - 1),
    "U32": ("I", 4, 0, (1 << 32) - 1),
    "I64": ("q", 8, -(1 << 63), (1 << 63) - 1),
    "U64": ("Q", 8, 0, (1 << 64) - 1),
    "I128": ("16s", 16, -(1 << 127), (1 << 127) - 1),
    "U128": ("16s", 16, 0, (1 << 128) - 1),
    "I256": ("32s", 32, -(1 << 255), (1 << 255) - 1),
    "U256": ("32s", 32, 0, (1 << 256) - 1),
    "F32": ("f", 4, None, None),
    "F64": ("d", 8, None, None),
}
SIGNED_BIG = frozenset({"I128", "I256"})
U32_MAX = (1 << 32) - 1
# Elements that encode to no bytes (units, empty structs) are not bounded by the input
# size, so a hostile length prefix could make us build billions of them: cap the count.
MAX_ZERO_SIZE_ELEMENTS = 1 << 16
_U32 = struct.Struct("<I")

SPECIAL_CLASSES: dict[str, type] = {
    IDENTITY_TAG: Identity,
    CONNECTION_ID_TAG: ConnectionId,
    TIMESTAMP_TAG: Timestamp,
    TIME_DURATION_TAG: TimeDuration,
    UUID_TAG: uuid.UUID,
}


def kind_of(t: AlgebraicType) -> str:
    """Classify a resolved (non-Ref) type by how its values look in Python."""
    if isinstance(t, PrimitiveType):
        return "string" if t.kind == "String" else "prim"
    if isinstance(t, ArrayType):
        return "bytes" if t.is_bytes() else "array"
    if isinstance(t, ProductType):
        return "special" if t.special_kind() is not None else "product"
    if isinstance(t, SumType):
        if t.is_option():
            return "option"
        if t.is_result():
            return "result"
        if t.is_schedule_at():
            return "schedule"
        return "enum" if t.is_plain_enum() else "sum"
    raise TypeError(f"not an AlgebraicType: {t!r}")


def class_kind(t: AlgebraicType, cls: type) -> str:
    """How a user class bound through ``classes`` maps onto the resolved type ``t``."""
    if isinstance(t, ProductType):
        return "cls_product"
    if isinstance(t, SumType):
        if isinstance(cls, type) and issubclass(cls, enum.Enum):
            if not t.is_plain_enum():
                raise TypeError(
                    f"{cls.__name__} is an Enum but the sum type has payload variants; "
                    "bind a class with __sats_variants__ instead"
                )
            if len(cls) != len(t.variants):
                raise TypeError(
                    f"enum {cls.__name__} has {len(cls)} members, the sum type has "
                    f"{len(t.variants)} variants"
                )
            return "cls_enum"
        variants = getattr(cls, "__sats_variants__", None)
        if not isinstance(variants, tuple) or len(variants) != len(t.variants):
            raise TypeError(
                f"{getattr(cls, '__name__', cls)!r} must have __sats_variants__, a tuple of "
                f"{len(t.variants)} classes in tag order"
            )
        return "cls_sum"
    raise TypeError(f"classes can bind only product or sum types, not {t!r}")


def class_fields(t: ProductType, cls: type) -> list[str]:
    """Attribute names read when encoding an instance of the product class ``cls``."""
    names = getattr(cls, "__sats_fields__", None)
    if names is None:
        return t.names()
    names = list(names)
    if len(names) != len(t.elements):
        raise TypeError(
            f"{cls.__name__}.__sats_fields__ has {len(names)} names, the product type has "
            f"{len(t.elements)} elements"
        )
    return names


class Ctx:
    """A typespace plus the ``classes`` binding: resolves refs and finds bound classes."""

    __slots__ = ("classes", "typespace")

    def __init__(self, typespace: Typespace | None, classes: Mapping[int, type]) -> None:
        self.typespace = typespace
        self.classes = classes

    def resolve(self, ty: AlgebraicType) -> tuple[AlgebraicType, type | None]:
        """Follow refs; also return the class bound to the first bound ref of the chain."""
        cls: type | None = None
        seen: set[int] = set()
        while isinstance(ty, RefType):
            if self.typespace is None:
                raise SchemaError(f"Ref({ty.index}) needs a typespace, but none was given")
            if ty.index in seen:
                raise SchemaError(f"Ref({ty.index}) refers to itself through a cycle of refs")
            seen.add(ty.index)
            if cls is None:
                cls = self.classes.get(ty.index)
            ty = self.typespace[ty.index]
        return ty, cls

    def is_option(self, ty: AlgebraicType) -> bool:
        """Would values of ``ty`` be decoded as an option (so an outer option needs ``Some``)?"""
        t, cls = self.resolve(ty)
        return cls is None and kind_of(t) == "option"


def variant_name(t: SumType, i: int) -> str:
    name = t.variants[i].name
    return name if name is not None else str(i)


def join(path: str, seg: str) -> str:
    if seg.startswith("["):
        return path + seg
    return f"{path}.{seg}" if path else seg


def _where(path: str) -> str:
    return path or "<root>"


# ---- decoding -----------------------------------------------------------------------------


class _Reader:
    __slots__ = ("buf", "ctx")

    def __init__(self, ctx: Ctx, buf: bytes) -> None:
        self.ctx = ctx
        self.buf = buf

    def fail(self, reason: str, path: str, off: int) -> BsatnDecodeError:
        return BsatnDecodeError(reason, path=_where(path), offset=off)

    def need(self, off: int, n: int, what: str, path: str) -> None:
        left = len(self.buf) - off
        if n > left:
            raise self.fail(f"truncated input: {what} needs {n} bytes, {left} left", path, off)

    def length(self, off: int, what: str, path: str) -> tuple[int, int]:
        self.need(off, 4, f"{what} length prefix", path)
        return _U32.unpack_from(self.buf, off)[0], off + 4

    def check_length(self, n: int, unit: int, start: int, off: int, what: str, path: str) -> None:
        if unit == 0 and n > MAX_ZERO_SIZE_ELEMENTS:
            raise self.fail(
                f"{what} of {n} zero-size elements exceeds the limit of {MAX_ZERO_SIZE_ELEMENTS}",
                path,
                off,
            )
        left = len(self.buf) - start
        if n * unit > left:
            need = f"{n} bytes" if unit == 1 else f"at least {n * unit} bytes"
            raise self.fail(f"{what} length prefix {n} needs {need}, only {left} left", path, off)

    def min_size(self, ty: AlgebraicType, stack: set[int]) -> int:
        """A lower bound of the encoded size of any value of ``ty``."""
        if isinstance(ty, RefType):
            if ty.index in stack:
                return 0
            stack = stack | {ty.index}
        t, _cls = self.ctx.resolve(ty)
        if isinstance(t, PrimitiveType):
            return 4 if t.kind == "String" else PRIM_INFO[t.kind][1]
        if isinstance(t, ArrayType):
            return 4
        if isinstance(t, ProductType):
            return sum(self.min_size(e.algebraic_type, stack) for e in t.elements)
        assert isinstance(t, SumType)
        return 1 + min((self.min_size(v.algebraic_type, stack) for v in t.variants), default=0)

    def tag(self, t: SumType, off: int, what: str, path: str) -> tuple[int, int]:
        self.need(off, 1, f"{what} tag", path)
        tag = self.buf[off]
        if tag >= len(t.variants):
            names = ", ".join(variant_name(t, i) for i in range(len(t.variants)))
            raise self.fail(f"unknown {what} tag {tag} (variants: {names})", path, off)
        return tag, off + 1

    def read(self, ty: AlgebraicType, off: int, path: str) -> tuple[Any, int]:
        t, _cls = self.ctx.resolve(ty)
        k = kind_of(t)
        if k == "prim":
            assert isinstance(t, PrimitiveType)
            return self.prim(t.kind, off, path)
        if k == "string":
            n, start = self.length(off, "String", path)
            self.check_length(n, 1, start, off, "String", path)
            try:
                return str(self.buf[start : start + n], "utf-8"), start + n
            except UnicodeDecodeError as e:
                raise self.fail(
                    f"invalid UTF-8 in String: {e.reason}", path, start + e.start
                ) from None
        if k == "bytes":
            n, start = self.length(off, "Array<U8>", path)
            self.check_length(n, 1, start, off, "Array<U8>", path)
            return self.buf[start : start + n], start + n
        if k == "array":
            assert isinstance(t, ArrayType)
            n, start = self.length(off, "Array", path)
            self.check_length(n, self.min_size(t.elem, set()), start, off, "Array", path)
            off = start
            out: list[Any] = []
            for i in range(n):
                v, off = self.read(t.elem, off, f"{path}[{i}]")
                out.append(v)
            return out, off
        if k == "special":
            assert isinstance(t, ProductType)
            only = t.elements[0]
            assert isinstance(only.algebraic_type, PrimitiveType) and only.name is not None
            raw, off = self.prim(only.algebraic_type.kind, off, join(path, only.name))
            return make_special(only.name, raw), off
        if k == "product":
            assert isinstance(t, ProductType)
            obj: dict[str, Any] = {}
            for name, elem in zip(t.names(), t.elements, strict=True):
                obj[name], off = self.read(elem.algebraic_type, off, join(path, name))
            return obj, off
        assert isinstance(t, SumType)
        what = {"option": "Option", "result": "Result", "schedule": "ScheduleAt"}.get(k, "sum")
        tag, off = self.tag(t, off, what, path)
        name = variant_name(t, tag)
        payload_ty = t.variants[tag].algebraic_type
        if k == "option" and tag == 1:
            return None, off
        v, off = self.read(payload_ty, off, join(path, name))
        if k == "option":
            return (Some(v) if self.ctx.is_option(payload_ty) else v), off
        if k == "result":
            return (Ok(v) if tag == 0 else Err(v)), off
        if k == "schedule":
            return (ScheduleAt.Interval(v) if tag == 0 else ScheduleAt.Time(v)), off
        if self.ctx.resolve(payload_ty)[0].is_unit():
            v = None
        return SumValue(name, v), off

    def prim(self, kind: str, off: int, path: str) -> tuple[Any, int]:
        code, size, _lo, _hi = PRIM_INFO[kind]
        self.need(off, size, kind, path)
        if kind == "Bool":
            b = self.buf[off]
            if b > 1:
                raise self.fail(f"invalid Bool byte 0x{b:02x} (must be 0 or 1)", path, off)
            return b == 1, off + 1
        if size >= 16:
            raw = self.buf[off : off + size]
            return int.from_bytes(raw, "little", signed=kind in SIGNED_BIG), off + size
        return struct.unpack_from("<" + code, self.buf, off)[0], off + size


def make_special(tag: str, raw: int) -> Any:
    """The Python value of a special product from its inner integer."""
    if tag == UUID_TAG:
        return uuid.UUID(int=raw)
    return SPECIAL_CLASSES[tag](raw)


def decode_value(ctx: Ctx, ty: AlgebraicType, buf: bytes, path: str = "") -> Any:
    """Decode exactly one value filling ``buf`` (generic representation)."""
    v, off = read_value(ctx, ty, buf, 0, path)
    check_trailing(buf, off)
    return v


def read_value(
    ctx: Ctx, ty: AlgebraicType, buf: bytes, off: int, path: str = ""
) -> tuple[Any, int]:
    """Decode one value at ``off``; returns ``(value, new_offset)``."""
    try:
        return _Reader(ctx, buf).read(ty, off, path)
    except RecursionError:
        raise BsatnDecodeError("value nested too deeply to decode", path=_where(path)) from None


def decode_rows(ctx: Ctx, ty: AlgebraicType, buf: bytes) -> list[Any]:
    """Decode back-to-back values until the end of ``buf``; paths start with ``[row]``."""
    r = _Reader(ctx, buf)
    out: list[Any] = []
    off = 0
    try:
        while off < len(buf):
            v, new = r.read(ty, off, f"[{len(out)}]")
            if new == off:
                raise BsatnDecodeError(
                    f"{len(buf) - off} trailing bytes: rows of this type are 0 bytes long",
                    path=f"[{len(out)}]",
                    offset=off,
                )
            out.append(v)
            off = new
    except RecursionError:
        raise BsatnDecodeError(
            "value nested too deeply to decode", path=f"[{len(out)}]", offset=off
        ) from None
    return out


def check_trailing(buf: bytes, off: int) -> None:
    if off != len(buf):
        raise BsatnDecodeError(
            f"{len(buf) - off} trailing bytes after the value", path="<root>", offset=off
        )


# ---- encoding -----------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Writer:
    __slots__ = ("ctx", "out")

    def __init__(self, ctx: Ctx, out: bytearray) -> None:
        self.ctx = ctx
        self.out = out

    def fail(self, reason: str, path: str) -> BsatnEncodeError:
        return BsatnEncodeError(reason, path=_where(path))

    def expected(self, what: str, value: Any, path: str) -> BsatnEncodeError:
        return self.fail(f"expected {what}, got {type(value).__name__} {_show(value)}", path)

    def length(self, n: int, what: str, path: str) -> None:
        if n > U32_MAX:
            raise self.fail(f"{what} of length {n} exceeds the u32 length limit", path)
        self.out += _U32.pack(n)

    def write(self, ty: AlgebraicType, value: Any, path: str) -> None:
        t, cls = self.ctx.resolve(ty)
        if cls is not None:
            self.write_class(t, cls, value, path)
            return
        k = kind_of(t)
        out = self.out
        if k == "prim":
            assert isinstance(t, PrimitiveType)
            self.prim(t.kind, value, path)
        elif k == "string":
            if not isinstance(value, str):
                raise self.expected("str for String", value, path)
            try:
                b = value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise self.fail(f"string cannot be encoded as UTF-8: {e.reason}", path) from None
            self.length(len(b), "String", path)
            out += b
        elif k == "bytes":
            if isinstance(value, memoryview):
                value = value.tobytes()
            if not isinstance(value, (bytes, bytearray)):
                raise self.expected("bytes for Array<U8>", value, path)
            self.length(len(value), "Array<U8>", path)
            out += value
        elif k == "array":
            assert isinstance(t, ArrayType)
            if not isinstance(value, (list, tuple)):
                raise self.expected("list or tuple for Array", value, path)
            self.length(len(value), "Array", path)
            for i, v in enumerate(value):
                self.write(t.elem, v, f"{path}[{i}]")
        elif k == "special":
            assert isinstance(t, ProductType)
            self.special(t, value, path)
        elif k == "product":
            assert isinstance(t, ProductType)
            self.product(t, value, path)
        else:
            assert isinstance(t, SumType)
            self.sum(t, k, value, path)

    def prim(self, kind: str, value: Any, path: str) -> None:
        code, size, lo, hi = PRIM_INFO[kind]
        if kind == "Bool":
            if not isinstance(value, bool):
                raise self.expected("bool for Bool", value, path)
            self.out.append(1 if value else 0)
            return
        if lo is None:
            if isinstance(value, bool) or not hasattr(type(value), "__float__"):
                raise self.expected(f"float for {kind}", value, path)
            f = float(value)
            try:
                self.out += struct.pack("<" + code, f)
            except OverflowError:
                raise self.fail(f"value {f!r} out of range for {kind}", path) from None
            return
        if isinstance(value, bool):
            raise self.expected(f"int for {kind}", value, path)
        try:
            n = operator.index(value)
        except TypeError:
            raise self.expected(f"int for {kind}", value, path) from None
        assert hi is not None
        if not lo <= n <= hi:
            raise self.fail(f"value {n} out of range for {kind}", path)
        self.out += n.to_bytes(size, "little", signed=lo < 0)

    def special(self, t: ProductType, value: Any, path: str) -> None:
        e = t.elements[0]
        assert e.name is not None and isinstance(e.algebraic_type, PrimitiveType)
        cls = SPECIAL_CLASSES[e.name]
        if not isinstance(value, cls):
            raise self.expected(cls.__name__, value, path)
        raw = value.int if isinstance(value, uuid.UUID) else int(cast(Any, value))
        self.prim(e.algebraic_type.kind, raw, join(path, e.name))

    def product(self, t: ProductType, value: Any, path: str) -> None:
        names = t.names()
        if not isinstance(value, Mapping):
            if value is None and not names:
                return
            raise self.expected(f"dict with fields {names}", value, path)
        missing = [n for n in names if n not in value]
        if missing:
            raise self.fail(f"missing field(s) {', '.join(map(repr, missing))}", path)
        if len(value) != len(names):
            extra = [k for k in value if k not in names]
            raise self.fail(
                f"unexpected field(s) {', '.join(map(repr, extra))} (fields are {names})", path
            )
        for name, e in zip(names, t.elements, strict=True):
            self.write(e.algebraic_type, value[name], join(path, name))

    def sum(self, t: SumType, k: str, value: Any, path: str) -> None:
        if k == "option":
            if value is None:
                self.out.append(1)
                return
            inner = t.variants[0].algebraic_type
            if isinstance(value, Some):
                value = value.value
            elif self.ctx.is_option(inner):
                raise self.expected("None or Some(...) for a nested Option", value, path)
            self.out.append(0)
            self.write(inner, value, join(path, "some"))
        elif k == "result":
            if isinstance(value, Ok):
                self.out.append(0)
                self.write(t.variants[0].algebraic_type, value.value, join(path, "ok"))
            elif isinstance(value, Err):
                self.out.append(1)
                self.write(t.variants[1].algebraic_type, value.error, join(path, "err"))
            else:
                raise self.expected("Ok(...) or Err(...) for Result", value, path)
        elif k == "schedule":
            if isinstance(value, ScheduleAt.Interval):
                self.out.append(0)
                self.write(t.variants[0].algebraic_type, value.duration, join(path, "Interval"))
            elif isinstance(value, ScheduleAt.Time):
                self.out.append(1)
                self.write(t.variants[1].algebraic_type, value.time, join(path, "Time"))
            else:
                raise self.expected("ScheduleAt.Interval or ScheduleAt.Time", value, path)
        else:
            if not isinstance(value, SumValue):
                raise self.expected("SumValue(tag, value)", value, path)
            tag = self.sum_tag(t, value.tag, path)
            self.out.append(tag)
            self.payload(t, tag, value.value, path)

    def sum_tag(self, t: SumType, tag: object, path: str) -> int:
        for i in range(len(t.variants)):
            if variant_name(t, i) == tag:
                return i
        names = ", ".join(variant_name(t, i) for i in range(len(t.variants)))
        raise self.fail(f"unknown variant {tag!r} (variants: {names})", path)

    def payload(self, t: SumType, tag: int, value: Any, path: str) -> None:
        pt = t.variants[tag].algebraic_type
        sub = join(path, variant_name(t, tag))
        if self.ctx.resolve(pt)[0].is_unit():
            if value is not None and value != {}:
                raise self.fail(f"unit variant takes no payload, got {_show(value)}", sub)
            return
        self.write(pt, value, sub)

    def write_class(self, t: AlgebraicType, cls: type, value: Any, path: str) -> None:
        ck = class_kind(t, cls)
        if ck == "cls_product":
            assert isinstance(t, ProductType)
            if not isinstance(value, cls):
                raise self.expected(cls.__name__, value, path)
            for attr, e in zip(class_fields(t, cls), t.elements, strict=True):
                try:
                    v = getattr(value, attr)
                except AttributeError:
                    raise self.fail(f"{cls.__name__} has no attribute {attr!r}", path) from None
                self.write(e.algebraic_type, v, join(path, attr))
            return
        assert isinstance(t, SumType)
        if ck == "cls_enum":
            members: list[Any] = list(cast(Any, cls))
            if value not in members or not isinstance(value, cls):
                raise self.expected(f"a member of {cls.__name__}", value, path)
            self.out.append(members.index(value))
            return
        variants: tuple[type, ...] = cls.__sats_variants__  # type: ignore[attr-defined]
        tag = next((i for i, vcls in enumerate(variants) if isinstance(value, vcls)), None)
        if tag is None:
            raise self.expected(f"one of the {cls.__name__} variant classes", value, path)
        self.out.append(tag)
        pt = t.variants[tag].algebraic_type
        if self.ctx.resolve(pt)[0].is_unit():
            return
        try:
            payload = cast(Any, value).value
        except AttributeError:
            raise self.fail(f"{type(value).__name__} has no attribute 'value'", path) from None
        self.write(pt, payload, join(path, variant_name(t, tag)))


def encode_into(ctx: Ctx, ty: AlgebraicType, value: Any, out: bytearray) -> None:
    """Append the encoding of ``value``; raises :class:`BsatnEncodeError` naming the path."""
    try:
        _Writer(ctx, out).write(ty, value, "")
    except RecursionError:
        raise BsatnEncodeError("value nested too deeply to encode") from None


__all__ = [
    "MAX_ZERO_SIZE_ELEMENTS",
    "PRIM_INFO",
    "SPECIAL_CLASSES",
    "Ctx",
    "check_trailing",
    "class_fields",
    "class_kind",
    "decode_rows",
    "decode_value",
    "encode_into",
    "kind_of",
    "make_special",
    "read_value",
]
