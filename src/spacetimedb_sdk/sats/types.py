"""The SATS type model: :class:`AlgebraicType` and :class:`Typespace`.

A SpacetimeDB type is a tree of products (structs), sums (tagged unions),
arrays, primitives and references into a :class:`Typespace`.  This module holds
the immutable model; the types' own SATS-JSON form (as served by ``/schema``) is
read by :mod:`.type_json` and their BSATN meta-encoding (as inside ``RawModuleDef``)
by :mod:`.type_bsatn`, both behind ``from_json``/``to_json``/``from_bsatn``/``to_bsatn``
here.  Values of these types are encoded by :mod:`spacetimedb_sdk.sats.bsatn` and
:mod:`spacetimedb_sdk.sats.sats_json`.

Example::

    >>> t = AlgebraicType.from_json({"Array": {"U8": []}})
    >>> t
    ArrayType(elem=PrimitiveType(kind='U8'))
    >>> t.to_json()
    {'Array': {'U8': []}}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import BsatnDecodeError, SchemaError
from .type_bsatn import META_TAGS, read_type, write_type_json
from .type_json import TypeBuilders, opt_name_json, type_from_json, types_from_json

PRIMITIVE_KINDS: tuple[str, ...] = META_TAGS[4:]

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
        """Parse the SATS-JSON form of a type (``{"U32": []}``, ``{"Ref": 3}``, ...).

        Example::

            >>> AlgebraicType.from_json({"Array": {"Ref": 3}})
            ArrayType(elem=RefType(index=3))
        """
        return type_from_json(obj, "<type>", _BUILD)

    @staticmethod
    def product(
        elements: Mapping[str, AlgebraicType] | Iterable[tuple[str | None, AlgebraicType]],
    ) -> ProductType:
        """A product type from ``{name: type}`` or ``[(name, type), ...]`` in column order.

        Example::

            >>> AlgebraicType.product({"id": AlgebraicType.U64}).elements
            (ProductTypeElement(name='id', algebraic_type=PrimitiveType(kind='U64')),)
        """
        items = elements.items() if isinstance(elements, Mapping) else elements
        return ProductType(tuple(ProductTypeElement(n, t) for n, t in items))

    @staticmethod
    def sum(
        variants: Mapping[str, AlgebraicType] | Iterable[tuple[str | None, AlgebraicType]],
    ) -> SumType:
        """A sum type from ``{name: payload_type}`` or ``[(name, type), ...]`` in tag order.

        Example::

            >>> shape = AlgebraicType.sum({"disc": AlgebraicType.F64, "dot": AlgebraicType.unit()})
            >>> shape.variant_index("dot"), shape.is_plain_enum()
            (1, False)
        """
        items = variants.items() if isinstance(variants, Mapping) else variants
        return SumType(tuple(SumTypeVariant(n, t) for n, t in items))

    @staticmethod
    def unit() -> ProductType:
        """The empty product ``()``; the payload of unit enum variants.

        Example::

            >>> AlgebraicType.unit(), AlgebraicType.unit().is_unit()
            (ProductType(elements=()), True)
        """
        return _UNIT

    @staticmethod
    def array(elem: AlgebraicType) -> ArrayType:
        """``Array<elem>``: a length-prefixed list of ``elem`` values.

        Example::

            >>> AlgebraicType.array(AlgebraicType.STRING)
            ArrayType(elem=PrimitiveType(kind='String'))
        """
        return ArrayType(elem)

    @staticmethod
    def ref(index: int) -> RefType:
        """A reference to the type at ``index`` in the :class:`Typespace`.

        Example::

            >>> Typespace((AlgebraicType.U8,)).resolve(AlgebraicType.ref(0))
            PrimitiveType(kind='U8')
        """
        return RefType(index)

    @staticmethod
    def option(inner: AlgebraicType) -> SumType:
        """``Option<T>``: tag 0 ``some(T)``, tag 1 ``none(())``.

        Example::

            >>> [v.name for v in AlgebraicType.option(AlgebraicType.U32).variants]
            ['some', 'none']
        """
        return SumType((SumTypeVariant("some", inner), SumTypeVariant("none", _UNIT)))

    @staticmethod
    def result(ok: AlgebraicType, err: AlgebraicType) -> SumType:
        """``Result<T, E>``: tag 0 ``ok(T)``, tag 1 ``err(E)``.

        Example::

            >>> AlgebraicType.result(AlgebraicType.U32, AlgebraicType.STRING).variant_index("err")
            1
        """
        return SumType((SumTypeVariant("ok", ok), SumTypeVariant("err", err)))

    @staticmethod
    def identity() -> ProductType:
        """``Identity``: a product of one ``U256`` field ``__identity__``.

        Example::

            >>> AlgebraicType.identity().to_json()["Product"]["elements"][0]["algebraic_type"]
            {'U256': []}
        """
        return _special(IDENTITY_TAG)

    @staticmethod
    def connection_id() -> ProductType:
        """``ConnectionId``: a product of one ``U128`` field ``__connection_id__``.

        Example::

            >>> AlgebraicType.connection_id().names()
            ['__connection_id__']
        """
        return _special(CONNECTION_ID_TAG)

    @staticmethod
    def timestamp() -> ProductType:
        """``Timestamp``: one ``I64`` field ``__timestamp_micros_since_unix_epoch__``.

        Example::

            >>> AlgebraicType.timestamp().special_kind() == TIMESTAMP_TAG
            True
        """
        return _special(TIMESTAMP_TAG)

    @staticmethod
    def time_duration() -> ProductType:
        """``TimeDuration``: a product of one ``I64`` field ``__time_duration_micros__``.

        Example::

            >>> AlgebraicType.time_duration().elements[0].algebraic_type
            PrimitiveType(kind='I64')
        """
        return _special(TIME_DURATION_TAG)

    @staticmethod
    def uuid() -> ProductType:
        """``Uuid``: a product of one ``U128`` field ``__uuid__``.

        Example::

            >>> AlgebraicType.uuid().special_kind()
            '__uuid__'
        """
        return _special(UUID_TAG)

    @staticmethod
    def schedule_at() -> SumType:
        """``ScheduleAt``: tag 0 ``Interval(TimeDuration)``, tag 1 ``Time(Timestamp)``.

        Example::

            >>> AlgebraicType.schedule_at().is_schedule_at()
            True
        """
        return SumType(
            (
                SumTypeVariant("Interval", _special(TIME_DURATION_TAG)),
                SumTypeVariant("Time", _special(TIMESTAMP_TAG)),
            )
        )

    # ---- inspection (overridden where meaningful) ---------------------------------

    def to_json(self) -> dict[str, Any]:
        """The SATS-JSON form, as the server writes it.

        Example::

            >>> AlgebraicType.array(AlgebraicType.ref(2)).to_json()
            {'Array': {'Ref': 2}}
        """
        raise NotImplementedError

    def is_option(self) -> bool:
        """Whether this is ``Option<T>`` (see :meth:`option`).

        Example::

            >>> AlgebraicType.option(AlgebraicType.U8).is_option(), AlgebraicType.U8.is_option()
            (True, False)
        """
        return False

    def is_result(self) -> bool:
        """Whether this is ``Result<T, E>`` (see :meth:`result`).

        Example::

            >>> AlgebraicType.result(AlgebraicType.U8, AlgebraicType.unit()).is_result()
            True
        """
        return False

    def is_schedule_at(self) -> bool:
        """Whether this is ``ScheduleAt`` (see :meth:`schedule_at`).

        Example::

            >>> AlgebraicType.schedule_at().is_schedule_at(), AlgebraicType.I64.is_schedule_at()
            (True, False)
        """
        return False

    def is_unit(self) -> bool:
        """Whether this is the empty product ``()``.

        Example::

            >>> AlgebraicType.product({}).is_unit(), AlgebraicType.identity().is_unit()
            (True, False)
        """
        return False

    def special_kind(self) -> str | None:
        """For the special products, their field tag (``"__identity__"``, ...); else ``None``.

        Example::

            >>> AlgebraicType.identity().special_kind(), AlgebraicType.U256.special_kind()
            ('__identity__', None)
        """
        return None

    # ---- BSATN meta-encoding ---------------------------------------------------------

    def to_bsatn(self) -> bytes:
        """The BSATN meta-encoding of this type (as inside ``RawModuleDef``).

        Example::

            >>> AlgebraicType.array(AlgebraicType.STRING).to_bsatn()
            b'\\x03\\x04'
        """
        out = bytearray()
        write_type_json(out, self.to_json())
        return bytes(out)

    @staticmethod
    def from_bsatn(data: bytes) -> AlgebraicType:
        """Decode the BSATN meta-encoding of a type; rejects trailing bytes.

        Example::

            >>> AlgebraicType.from_bsatn(b"\\x00\\x05\\x00\\x00\\x00")
            RefType(index=5)
        """
        ty, off = read_type(memoryview(data), 0, _BUILD)
        if off != len(data):
            raise BsatnDecodeError(
                f"{len(data) - off} trailing bytes after AlgebraicType", offset=off
            )
        return ty


@dataclass(frozen=True, slots=True)
class PrimitiveType(AlgebraicType):
    """``Bool``, the integer widths, ``F32``/``F64`` or ``String``.

    Example::

        >>> AlgebraicType.U64, AlgebraicType.U64.to_json()
        (PrimitiveType(kind='U64'), {'U64': []})
    """

    kind: str

    def to_json(self) -> dict[str, Any]:
        return {self.kind: []}


@dataclass(frozen=True, slots=True)
class RefType(AlgebraicType):
    """A reference to ``typespace.types[ref]``; may be recursive.

    Example::

        >>> RefType(3).to_json()
        {'Ref': 3}
    """

    index: int

    def to_json(self) -> dict[str, Any]:
        return {"Ref": self.index}


@dataclass(frozen=True, slots=True)
class ArrayType(AlgebraicType):
    """``Array<elem>``; ``Array<U8>`` is bytes.

    Example::

        >>> ArrayType(AlgebraicType.BOOL).to_json()
        {'Array': {'Bool': []}}
    """

    elem: AlgebraicType

    def to_json(self) -> dict[str, Any]:
        return {"Array": self.elem.to_json()}

    def is_bytes(self) -> bool:
        """Whether this is ``Array<U8>``, whose values are ``bytes``.

        Example::

            >>> ArrayType(AlgebraicType.U8).is_bytes(), ArrayType(AlgebraicType.I8).is_bytes()
            (True, False)
        """
        return self.elem == AlgebraicType.U8


@dataclass(frozen=True, slots=True)
class ProductTypeElement:
    """One field of a product: optional name and type.

    Example::

        >>> AlgebraicType.product({"x": AlgebraicType.F32}).elements[0]
        ProductTypeElement(name='x', algebraic_type=PrimitiveType(kind='F32'))
    """

    name: str | None
    algebraic_type: AlgebraicType

    def to_json(self) -> dict[str, Any]:
        """The SATS-JSON form, with the name as an ``Option<String>``.

        Example::

            >>> ProductTypeElement(None, AlgebraicType.U8).to_json()
            {'name': {'none': []}, 'algebraic_type': {'U8': []}}
        """
        return {"name": opt_name_json(self.name), "algebraic_type": self.algebraic_type.to_json()}


@dataclass(frozen=True, slots=True)
class SumTypeVariant:
    """One variant of a sum: optional name and payload type (unit for plain enums).

    Example::

        >>> AlgebraicType.option(AlgebraicType.U8).variants[0]
        SumTypeVariant(name='some', algebraic_type=PrimitiveType(kind='U8'))
    """

    name: str | None
    algebraic_type: AlgebraicType

    def to_json(self) -> dict[str, Any]:
        """The SATS-JSON form, with the name as an ``Option<String>``.

        Example::

            >>> SumTypeVariant("ok", AlgebraicType.U8).to_json()
            {'name': {'some': 'ok'}, 'algebraic_type': {'U8': []}}
        """
        return {"name": opt_name_json(self.name), "algebraic_type": self.algebraic_type.to_json()}


@dataclass(frozen=True, slots=True)
class ProductType(AlgebraicType):
    """A struct/tuple: elements encoded back to back in order.

    Example::

        >>> AlgebraicType.product({"x": AlgebraicType.I32}).to_json()
        {'Product': {'elements': [{'name': {'some': 'x'}, 'algebraic_type': {'I32': []}}]}}
    """

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
        """Element names, with ``"{i}"`` for unnamed elements.

        Example::

            >>> AlgebraicType.product([("a", AlgebraicType.U8), (None, AlgebraicType.U8)]).names()
            ['a', '1']
        """
        return [e.name if e.name is not None else str(i) for i, e in enumerate(self.elements)]


@dataclass(frozen=True, slots=True)
class SumType(AlgebraicType):
    """A tagged union: one ``u8`` tag (the variant index) then the payload.

    Example::

        >>> AlgebraicType.sum({"a": AlgebraicType.U8}).to_json()
        {'Sum': {'variants': [{'name': {'some': 'a'}, 'algebraic_type': {'U8': []}}]}}
    """

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
        """Every variant is a unit variant (a C-style enum).

        Example::

            >>> AlgebraicType.sum({"red": AlgebraicType.unit()}).is_plain_enum()
            True
        """
        return all(v.algebraic_type.is_unit() for v in self.variants)

    def variant_index(self, name: str) -> int:
        """The tag of the variant called ``name``; :class:`KeyError` if there is none.

        Example::

            >>> AlgebraicType.option(AlgebraicType.U8).variant_index("none")
            1
        """
        for i, v in enumerate(self.variants):
            if v.name == name:
                return i
        raise KeyError(name)


_UNIT = ProductType(())


def _special(tag: str) -> ProductType:
    return ProductType((ProductTypeElement(tag, PrimitiveType(_SPECIAL_INNER[tag])),))


_PRIMITIVES = {kind: PrimitiveType(kind) for kind in PRIMITIVE_KINDS}
for _kind, _ty in _PRIMITIVES.items():
    setattr(AlgebraicType, _kind.upper(), _ty)


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
        """Parse ``{"types": [...]}`` (or a bare list of SATS-JSON types).

        Example::

            >>> Typespace.from_json([{"Array": {"Ref": 0}}]).types
            (ArrayType(elem=RefType(index=0)),)
        """
        return Typespace(tuple(types_from_json(obj, _BUILD)))

    def to_json(self) -> dict[str, Any]:
        """The SATS-JSON form, ``{"types": [...]}``, as ``/schema`` serves it.

        Example::

            >>> Typespace((AlgebraicType.BOOL, AlgebraicType.ref(0))).to_json()
            {'types': [{'Bool': []}, {'Ref': 0}]}
        """
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
        """Follow ``Ref``s until a non-ref type; detects ``Ref`` cycles.

        Example::

            >>> Typespace((AlgebraicType.ref(1), AlgebraicType.STRING)).resolve(RefType(0))
            PrimitiveType(kind='String')
        """
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


# What the JSON and BSATN readers of types build with.
_BUILD: TypeBuilders[AlgebraicType] = TypeBuilders(
    _PRIMITIVES, RefType, ArrayType, AlgebraicType.product, AlgebraicType.sum
)


__all__ = [
    "CONNECTION_ID_TAG", "EMPTY_TYPESPACE", "IDENTITY_TAG", "PRIMITIVE_KINDS", "TIMESTAMP_TAG",
    "TIME_DURATION_TAG", "UUID_TAG", "AlgebraicType", "ArrayType", "PrimitiveType", "ProductType",
    "ProductTypeElement", "RefType", "SumType", "SumTypeVariant", "Typespace", "refs_in",
]  # fmt: skip
