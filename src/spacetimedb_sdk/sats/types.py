"""The SATS type model: :class:`AlgebraicType` and :class:`Typespace`.

A SpacetimeDB type is a tree of products (structs), sums (tagged unions),
arrays, primitives and references into a :class:`Typespace`.  This module holds
the immutable model, its SATS-JSON form (as served by ``/schema``) and its BSATN
meta-encoding (as inside ``RawModuleDef``).  Values of these types are encoded by
:mod:`spacetimedb_sdk.sats.bsatn` and :mod:`spacetimedb_sdk.sats.sats_json`.

Example::

    >>> t = AlgebraicType.from_json({"Array": {"U8": []}})
    >>> t
    ArrayType(elem=PrimitiveType(kind='U8'))
    >>> t.to_json()
    {'Array': {'U8': []}}
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import BsatnDecodeError, SchemaError

# Tag order of the AlgebraicType sum in BSATN (protocol.md §1.5).
_META_TAGS: tuple[str, ...] = (
    "Ref", "Sum", "Product", "Array", "String", "Bool",
    "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64",
    "I128", "U128", "I256", "U256", "F32", "F64",
)  # fmt: skip
PRIMITIVE_KINDS: tuple[str, ...] = _META_TAGS[4:]
_META_TAG_OF = {name: i for i, name in enumerate(_META_TAGS)}

# Field names of the special single-field products (protocol.md §1.4).
IDENTITY_TAG = "__identity__"
CONNECTION_ID_TAG = "__connection_id__"
TIMESTAMP_TAG = "__timestamp_micros_since_unix_epoch__"
TIME_DURATION_TAG = "__time_duration_micros__"
UUID_TAG = "__uuid__"
_SPECIAL_INNER = {
    IDENTITY_TAG: "U256",
    CONNECTION_ID_TAG: "U128",
    TIMESTAMP_TAG: "I64",
    TIME_DURATION_TAG: "I64",
    UUID_TAG: "U128",
}


class AlgebraicType:
    """Base class of every SATS type.  Instances are immutable and hashable.

    Class attributes ``AlgebraicType.BOOL``, ``U8`` … ``F64``, ``STRING`` are the
    primitive singletons; the static constructors build the conventional types.

    Example::

        >>> AlgebraicType.option(AlgebraicType.U32).is_option()
        True
    """

    __slots__ = ()

    BOOL: ClassVar[PrimitiveType]
    I8: ClassVar[PrimitiveType]
    U8: ClassVar[PrimitiveType]
    I16: ClassVar[PrimitiveType]
    U16: ClassVar[PrimitiveType]
    I32: ClassVar[PrimitiveType]
    U32: ClassVar[PrimitiveType]
    I64: ClassVar[PrimitiveType]
    U64: ClassVar[PrimitiveType]
    I128: ClassVar[PrimitiveType]
    U128: ClassVar[PrimitiveType]
    I256: ClassVar[PrimitiveType]
    U256: ClassVar[PrimitiveType]
    F32: ClassVar[PrimitiveType]
    F64: ClassVar[PrimitiveType]
    STRING: ClassVar[PrimitiveType]

    # ---- construction -------------------------------------------------------------

    @staticmethod
    def from_json(obj: Any) -> AlgebraicType:
        """Parse the SATS-JSON form of a type (``{"U32": []}``, ``{"Ref": 3}``, ...)."""
        return _type_from_json(obj, "<type>")

    @staticmethod
    def product(
        elements: Mapping[str, AlgebraicType] | Iterable[tuple[str | None, AlgebraicType]],
    ) -> ProductType:
        """A product type from ``{name: type}`` or ``[(name, type), ...]`` in column order."""
        items = elements.items() if isinstance(elements, Mapping) else elements
        return ProductType(tuple(ProductTypeElement(n, t) for n, t in items))

    @staticmethod
    def sum(
        variants: Mapping[str, AlgebraicType] | Iterable[tuple[str | None, AlgebraicType]],
    ) -> SumType:
        """A sum type from ``{name: payload_type}`` or ``[(name, type), ...]`` in tag order."""
        items = variants.items() if isinstance(variants, Mapping) else variants
        return SumType(tuple(SumTypeVariant(n, t) for n, t in items))

    @staticmethod
    def unit() -> ProductType:
        """The empty product ``()``; the payload of unit enum variants."""
        return _UNIT

    @staticmethod
    def array(elem: AlgebraicType) -> ArrayType:
        return ArrayType(elem)

    @staticmethod
    def ref(index: int) -> RefType:
        return RefType(index)

    @staticmethod
    def option(inner: AlgebraicType) -> SumType:
        """``Option<T>``: tag 0 ``some(T)``, tag 1 ``none(())``."""
        return SumType((SumTypeVariant("some", inner), SumTypeVariant("none", _UNIT)))

    @staticmethod
    def result(ok: AlgebraicType, err: AlgebraicType) -> SumType:
        """``Result<T, E>``: tag 0 ``ok(T)``, tag 1 ``err(E)``."""
        return SumType((SumTypeVariant("ok", ok), SumTypeVariant("err", err)))

    @staticmethod
    def identity() -> ProductType:
        return _special(IDENTITY_TAG)

    @staticmethod
    def connection_id() -> ProductType:
        return _special(CONNECTION_ID_TAG)

    @staticmethod
    def timestamp() -> ProductType:
        return _special(TIMESTAMP_TAG)

    @staticmethod
    def time_duration() -> ProductType:
        return _special(TIME_DURATION_TAG)

    @staticmethod
    def uuid() -> ProductType:
        return _special(UUID_TAG)

    @staticmethod
    def schedule_at() -> SumType:
        """``ScheduleAt``: tag 0 ``Interval(TimeDuration)``, tag 1 ``Time(Timestamp)``."""
        return SumType(
            (
                SumTypeVariant("Interval", _special(TIME_DURATION_TAG)),
                SumTypeVariant("Time", _special(TIMESTAMP_TAG)),
            )
        )

    # ---- inspection (overridden where meaningful) ---------------------------------

    def to_json(self) -> dict[str, Any]:
        """The SATS-JSON form, as the server writes it."""
        raise NotImplementedError

    def is_option(self) -> bool:
        return False

    def is_result(self) -> bool:
        return False

    def is_schedule_at(self) -> bool:
        return False

    def is_unit(self) -> bool:
        return False

    def special_kind(self) -> str | None:
        """For the special products, their field tag (``"__identity__"``, ...); else ``None``."""
        return None

    # ---- BSATN meta-encoding ---------------------------------------------------------

    def to_bsatn(self) -> bytes:
        """The BSATN meta-encoding of this type (as inside ``RawModuleDef``)."""
        out = bytearray()
        write_algebraic_type(out, self)
        return bytes(out)

    @staticmethod
    def from_bsatn(data: bytes) -> AlgebraicType:
        """Decode the BSATN meta-encoding of a type; rejects trailing bytes."""
        ty, off = read_algebraic_type(memoryview(data), 0)
        if off != len(data):
            raise BsatnDecodeError(
                f"{len(data) - off} trailing bytes after AlgebraicType", offset=off
            )
        return ty


@dataclass(frozen=True, slots=True)
class PrimitiveType(AlgebraicType):
    """``Bool``, the integer widths, ``F32``/``F64`` or ``String``."""

    kind: str

    def to_json(self) -> dict[str, Any]:
        return {self.kind: []}


@dataclass(frozen=True, slots=True)
class RefType(AlgebraicType):
    """A reference to ``typespace.types[ref]``; may be recursive."""

    index: int

    def to_json(self) -> dict[str, Any]:
        return {"Ref": self.index}


@dataclass(frozen=True, slots=True)
class ArrayType(AlgebraicType):
    """``Array<elem>``; ``Array<U8>`` is bytes."""

    elem: AlgebraicType

    def to_json(self) -> dict[str, Any]:
        return {"Array": self.elem.to_json()}

    def is_bytes(self) -> bool:
        return self.elem == AlgebraicType.U8


@dataclass(frozen=True, slots=True)
class ProductTypeElement:
    """One field of a product: optional name and type."""

    name: str | None
    algebraic_type: AlgebraicType

    def to_json(self) -> dict[str, Any]:
        return {"name": _opt_json(self.name), "algebraic_type": self.algebraic_type.to_json()}


@dataclass(frozen=True, slots=True)
class SumTypeVariant:
    """One variant of a sum: optional name and payload type (unit for plain enums)."""

    name: str | None
    algebraic_type: AlgebraicType

    def to_json(self) -> dict[str, Any]:
        return {"name": _opt_json(self.name), "algebraic_type": self.algebraic_type.to_json()}


@dataclass(frozen=True, slots=True)
class ProductType(AlgebraicType):
    """A struct/tuple: elements encoded back to back in order."""

    elements: tuple[ProductTypeElement, ...]

    def to_json(self) -> dict[str, Any]:
        return {"Product": {"elements": [e.to_json() for e in self.elements]}}

    def is_unit(self) -> bool:
        return not self.elements

    def special_kind(self) -> str | None:
        if len(self.elements) != 1:
            return None
        e = self.elements[0]
        inner = _SPECIAL_INNER.get(e.name or "")
        if (
            inner is not None
            and isinstance(e.algebraic_type, PrimitiveType)
            and e.algebraic_type.kind == inner
        ):
            return e.name
        return None

    def names(self) -> list[str]:
        """Element names, with ``"{i}"`` for unnamed elements."""
        return [e.name if e.name is not None else str(i) for i, e in enumerate(self.elements)]


@dataclass(frozen=True, slots=True)
class SumType(AlgebraicType):
    """A tagged union: one ``u8`` tag (the variant index) then the payload."""

    variants: tuple[SumTypeVariant, ...]

    def to_json(self) -> dict[str, Any]:
        return {"Sum": {"variants": [v.to_json() for v in self.variants]}}

    def _names(self) -> tuple[str | None, ...]:
        return tuple(v.name for v in self.variants)

    def is_option(self) -> bool:
        return (
            len(self.variants) == 2
            and self._names() == ("some", "none")
            and self.variants[1].algebraic_type.is_unit()
        )

    def is_result(self) -> bool:
        return len(self.variants) == 2 and self._names() == ("ok", "err")

    def is_schedule_at(self) -> bool:
        return (
            len(self.variants) == 2
            and self._names() == ("Interval", "Time")
            and self.variants[0].algebraic_type.special_kind() == TIME_DURATION_TAG
            and self.variants[1].algebraic_type.special_kind() == TIMESTAMP_TAG
        )

    def is_plain_enum(self) -> bool:
        """Every variant is a unit variant (a C-style enum)."""
        return all(v.algebraic_type.is_unit() for v in self.variants)

    def variant_index(self, name: str) -> int:
        for i, v in enumerate(self.variants):
            if v.name == name:
                return i
        raise KeyError(name)


_UNIT = ProductType(())


def _special(tag: str) -> ProductType:
    return ProductType((ProductTypeElement(tag, PrimitiveType(_SPECIAL_INNER[tag])),))


for _kind in PRIMITIVE_KINDS:
    setattr(AlgebraicType, _kind.upper(), PrimitiveType(_kind))


@dataclass(frozen=True, slots=True)
class Typespace:
    """The list of types that :class:`RefType` indexes into.

    Example::

        >>> ts = Typespace.from_json({"types": [{"U8": []}]})
        >>> ts.resolve(AlgebraicType.ref(0))
        PrimitiveType(kind='U8')
    """

    types: tuple[AlgebraicType, ...] = ()

    @staticmethod
    def from_json(obj: Any) -> Typespace:
        """Parse ``{"types": [...]}`` (or a bare list of SATS-JSON types)."""
        items = obj["types"] if isinstance(obj, Mapping) else obj
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise SchemaError(
                f"Typespace JSON must be a list or {{'types': [...]}}, got {type(obj).__name__}"
            )
        return Typespace(tuple(_type_from_json(t, f"typespace[{i}]") for i, t in enumerate(items)))

    def to_json(self) -> dict[str, Any]:
        return {"types": [t.to_json() for t in self.types]}

    def __getitem__(self, index: int) -> AlgebraicType:
        try:
            return self.types[index]
        except IndexError:
            raise SchemaError(
                f"Ref({index}) is outside the typespace of {len(self.types)} types"
            ) from None

    def __len__(self) -> int:
        return len(self.types)

    def resolve(self, ty: AlgebraicType) -> AlgebraicType:
        """Follow ``Ref``s until a non-ref type; detects ``Ref`` cycles."""
        seen: set[int] = set()
        while isinstance(ty, RefType):
            if ty.index in seen:
                raise SchemaError(f"Ref({ty.index}) refers to itself through a cycle of refs")
            seen.add(ty.index)
            ty = self[ty.index]
        return ty

    def inline(self, ty: AlgebraicType) -> AlgebraicType:
        """``ty`` with every ``Ref`` replaced by its type, recursively (a self-contained type).

        This is how upstream's table schemas carry column types (and so ``/sql`` result
        schemas).  A recursive type cannot be inlined: :class:`SchemaError`.

        Example::

            >>> ts = Typespace((AlgebraicType.U8,))
            >>> ts.inline(AlgebraicType.array(AlgebraicType.ref(0)))
            ArrayType(elem=PrimitiveType(kind='U8'))
        """
        return self._inline(ty, ())

    def _inline(self, ty: AlgebraicType, active: tuple[int, ...]) -> AlgebraicType:
        if isinstance(ty, RefType):
            if ty.index in active:
                raise SchemaError(f"Ref({ty.index}) is recursive and cannot be inlined")
            return self._inline(self[ty.index], (*active, ty.index))
        if isinstance(ty, ArrayType):
            return ArrayType(self._inline(ty.elem, active))
        if isinstance(ty, ProductType):
            return ProductType(
                tuple(
                    ProductTypeElement(e.name, self._inline(e.algebraic_type, active))
                    for e in ty.elements
                )
            )
        if isinstance(ty, SumType):
            return SumType(
                tuple(
                    SumTypeVariant(v.name, self._inline(v.algebraic_type, active))
                    for v in ty.variants
                )
            )
        return ty


EMPTY_TYPESPACE = Typespace()


def refs_in(ty: AlgebraicType) -> Iterator[int]:
    """The typespace indices ``ty`` refers to directly (its ``Ref``s, not through them).

    Example::

        >>> list(refs_in(AlgebraicType.array(AlgebraicType.option(AlgebraicType.ref(3)))))
        [3]
    """
    if isinstance(ty, RefType):
        yield ty.index
    elif isinstance(ty, ArrayType):
        yield from refs_in(ty.elem)
    elif isinstance(ty, ProductType):
        for e in ty.elements:
            yield from refs_in(e.algebraic_type)
    elif isinstance(ty, SumType):
        for v in ty.variants:
            yield from refs_in(v.algebraic_type)


# ---- SATS-JSON of types ----------------------------------------------------------------


def _opt_json(name: str | None) -> dict[str, Any]:
    return {"some": name} if name is not None else {"none": []}


def _opt_from_json(obj: Any, where: str) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Mapping) and len(obj) == 1:
        ((k, v),) = obj.items()
        if k == "some" and isinstance(v, str):
            return v
        if k == "none":
            return None
    raise SchemaError(
        f"{where}: expected an optional name {{'some': str}} or {{'none': []}}, got {obj!r}"
    )


def _type_from_json(obj: Any, where: str) -> AlgebraicType:
    if not isinstance(obj, Mapping) or len(obj) != 1:
        raise SchemaError(
            f"{where}: expected a one-key object like {{'U32': []}}, got {obj!r:.200}"
        )
    ((tag, payload),) = obj.items()
    if tag in _PRIMITIVES:
        return _PRIMITIVES[tag]
    if tag == "Ref":
        if not isinstance(payload, int) or payload < 0:
            raise SchemaError(
                f"{where}: Ref payload must be a non-negative integer, got {payload!r}"
            )
        return RefType(payload)
    if tag == "Array":
        return ArrayType(_type_from_json(payload, f"{where}.Array"))
    if tag == "Product":
        elems = _members(payload, "elements", where)
        return ProductType(
            tuple(
                ProductTypeElement(
                    _opt_from_json(e.get("name"), f"{where}.elements[{i}]"),
                    _type_from_json(e.get("algebraic_type"), f"{where}.elements[{i}]"),
                )
                for i, e in enumerate(elems)
            )
        )
    if tag == "Sum":
        vars_ = _members(payload, "variants", where)
        return SumType(
            tuple(
                SumTypeVariant(
                    _opt_from_json(v.get("name"), f"{where}.variants[{i}]"),
                    _type_from_json(v.get("algebraic_type"), f"{where}.variants[{i}]"),
                )
                for i, v in enumerate(vars_)
            )
        )
    raise SchemaError(f"{where}: unknown AlgebraicType variant {tag!r}")


def _members(payload: Any, key: str, where: str) -> list[Mapping[str, Any]]:
    items = payload.get(key) if isinstance(payload, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items):
        raise SchemaError(f"{where}: expected {{'{key}': [...]}}, got {payload!r:.200}")
    return items


_PRIMITIVES: dict[str, PrimitiveType] = {
    k: getattr(AlgebraicType, k.upper()) for k in PRIMITIVE_KINDS
}


# ---- BSATN meta-encoding of types --------------------------------------------------------

_U32 = struct.Struct("<I")


def _write_str(out: bytearray, s: str) -> None:
    b = s.encode()
    out += _U32.pack(len(b))
    out += b


def _write_opt_name(out: bytearray, name: str | None) -> None:
    if name is None:
        out.append(1)
    else:
        out.append(0)
        _write_str(out, name)


def write_algebraic_type(out: bytearray, ty: AlgebraicType) -> None:
    """Append the BSATN meta-encoding of ``ty`` to ``out``."""
    if isinstance(ty, PrimitiveType):
        out.append(_META_TAG_OF[ty.kind])
    elif isinstance(ty, RefType):
        out.append(0)
        out += _U32.pack(ty.index)
    elif isinstance(ty, SumType):
        out.append(1)
        out += _U32.pack(len(ty.variants))
        for v in ty.variants:
            _write_opt_name(out, v.name)
            write_algebraic_type(out, v.algebraic_type)
    elif isinstance(ty, ProductType):
        out.append(2)
        out += _U32.pack(len(ty.elements))
        for e in ty.elements:
            _write_opt_name(out, e.name)
            write_algebraic_type(out, e.algebraic_type)
    elif isinstance(ty, ArrayType):
        out.append(3)
        write_algebraic_type(out, ty.elem)
    else:  # pragma: no cover - exhaustive
        raise TypeError(f"not an AlgebraicType: {ty!r}")


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


def read_algebraic_type(buf: memoryview, off: int, depth: int = 0) -> tuple[AlgebraicType, int]:
    """Decode one meta-encoded type at ``off``; returns ``(type, new_offset)``."""
    if depth > 256:
        raise BsatnDecodeError(
            "type nesting deeper than 256 levels", path="AlgebraicType", offset=off
        )
    _need(buf, off, 1, "AlgebraicType tag")
    tag = buf[off]
    off += 1
    if tag >= len(_META_TAGS):
        raise BsatnDecodeError(
            f"unknown AlgebraicType tag {tag}", path="AlgebraicType", offset=off - 1
        )
    if tag >= 4:
        return _PRIMITIVES[_META_TAGS[tag]], off
    if tag == 0:
        ref, off = _read_u32(buf, off, "Ref")
        return RefType(ref), off
    if tag == 3:
        elem, off = read_algebraic_type(buf, off, depth + 1)
        return ArrayType(elem), off
    count, off = _read_u32(buf, off, "member count")
    members: list[tuple[str | None, AlgebraicType]] = []
    for _ in range(count):
        name, off = _read_opt_name(buf, off)
        t, off = read_algebraic_type(buf, off, depth + 1)
        members.append((name, t))
    if tag == 1:
        return SumType(tuple(SumTypeVariant(n, t) for n, t in members)), off
    return ProductType(tuple(ProductTypeElement(n, t) for n, t in members)), off


__all__ = [
    "CONNECTION_ID_TAG",
    "EMPTY_TYPESPACE",
    "IDENTITY_TAG",
    "PRIMITIVE_KINDS",
    "TIMESTAMP_TAG",
    "TIME_DURATION_TAG",
    "UUID_TAG",
    "AlgebraicType",
    "ArrayType",
    "PrimitiveType",
    "ProductType",
    "ProductTypeElement",
    "RefType",
    "SumType",
    "SumTypeVariant",
    "Typespace",
    "read_algebraic_type",
    "refs_in",
    "write_algebraic_type",
]
