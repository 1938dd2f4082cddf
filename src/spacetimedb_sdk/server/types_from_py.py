"""Python annotations → SATS types, and the naming rules of a module.

A local-server module is written with ordinary annotations (``str``, ``bool``,
``list[T]``, ``T | None``, dataclasses, ``enum.Enum``, the width aliases of
:mod:`spacetimedb_sdk.sats.widths`, ``Identity`` …).  :class:`TypespaceBuilder`
turns them into :class:`AlgebraicType` s and collects the named types (dataclasses,
enums, :func:`sum_type` classes) in a :class:`Typespace`, as a module would publish
it (source names, before the server's case conversion).

Mapping decisions (documented in the module API too):

- ``int`` is ``I64`` and ``float`` is ``F64``; other widths need the aliases
  ``U8 … U256, I8 … I256, F32`` (``typing.Annotated``), e.g. ``id: U64``;
- ``bytes`` is ``Array<U8>``; ``list[T]`` is ``Array<T>``; ``T | None`` is ``Option<T>``;
  ``Ok[T] | Err[E]`` is ``Result<T, E>`` (the classes values of that type are made of);
- a dataclass is a named product (a ``Ref`` into the typespace); an ``enum.Enum``
  subclass is a named plain sum whose variants are its members in definition order;
- a :func:`sum_type` class is a named sum with payloads.

Naming (``crates/schema/src/def/validate``): under the default snake-case policy the
server's canonical names are ``convert_case`` 0.6 ``Case::Snake`` of the source names
for tables, columns and functions, ``Case::Camel`` for enum variants and
``Case::Pascal`` for type names.  :func:`to_snake_case` & co. reproduce that crate's
word splitting.

Example::

    >>> from spacetimedb_sdk.sats import U32
    >>> b = TypespaceBuilder()
    >>> b.type_of(list[U32] | None, where="example").to_json()["Sum"]["variants"][0]
    {'name': {'some': 'some'}, 'algebraic_type': {'Array': {'U32': []}}}
    >>> to_snake_case("oneU8"), to_camel_case("RedApple"), to_pascal_case("metaInfo")
    ('one_u_8', 'redApple', 'MetaInfo')
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import sys
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_args, get_origin

from ..errors import SchemaError
from ..sats.types import (
    AlgebraicType,
    ArrayType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    SumTypeVariant,
    Typespace,
)
from ..sats.values import ConnectionId, Err, Identity, Ok, ScheduleAt, TimeDuration, Timestamp
from ..sats.widths import type_of_annotation
from ..schema.names import split_words, to_camel_case, to_pascal_case, to_snake_case

_T = TypeVar("_T")

# ---- naming: convert_case 0.6 -------------------------------------------------------------


# The word splitting is shared with the schema loader, which canonicalizes names the same way.


def class_to_table_name(class_name: str) -> str:
    """The default table accessor for a row class: snake case of the class name (``ChatMessage`` → ``chat_message``)."""
    return to_snake_case(class_name)


# ---- sum types with payloads -------------------------------------------------------------------


class SumTypeBase:
    """Base of the classes made by :func:`sum_type`; its variants are nested subclasses."""

    __slots__ = ()
    __sats_variants__: typing.ClassVar[tuple[type, ...]] = ()
    __sats_variant_names__: typing.ClassVar[tuple[str, ...]] = ()
    __sats_variant_annotations__: typing.ClassVar[dict[str, Any]] = {}


def sum_type(cls: type[_T]) -> type[_T]:
    """Turn a class whose annotations list variants into a SATS sum with payloads.

    Each annotation ``Name: T`` becomes a variant in declaration order; ``T = None``
    makes a unit variant.  ``cls.Name`` is then a frozen dataclass subclass of ``cls``
    holding the payload in ``.value`` (no field for unit variants), usable in ``match``.
    ``cls.__sats_variants__`` lists the variant classes in tag order.

    Example::

        >>> @sum_type
        ... class Shape:
        ...     Circle: float
        ...     Empty: None
        >>> Shape.Circle(2.5)
        Shape.Circle(value=2.5)
        >>> isinstance(Shape.Empty(), Shape), [v.__name__ for v in Shape.__sats_variants__]
        (True, ['Circle', 'Empty'])
    """
    raw = dict(inspect.get_annotations(cls))
    if not raw:
        raise SchemaError(f"sum_type {cls.__qualname__}: declare at least one variant annotation")
    variants: list[type] = []
    for name, ann in raw.items():
        unit = ann is None or ann == "None" or ann is type(None)
        fields: list[tuple[str, Any]] = [] if unit else [("value", ann)]
        var_cls = dataclasses.make_dataclass(
            name, fields, bases=(cls,), frozen=True, eq=True, slots=True
        )
        var_cls.__qualname__ = f"{cls.__qualname__}.{name}"
        var_cls.__module__ = cls.__module__
        setattr(var_cls, "__repr__", _variant_repr)  # noqa: B010
        setattr(cls, name, var_cls)
        variants.append(var_cls)
    setattr(cls, "__sats_variants__", tuple(variants))  # noqa: B010
    setattr(cls, "__sats_variant_names__", tuple(raw))  # noqa: B010
    setattr(cls, "__sats_variant_annotations__", raw)  # noqa: B010
    return cls


def _variant_repr(self: Any) -> str:
    fields = dataclasses.fields(self)
    inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields)
    return f"{type(self).__qualname__}({inner})"


def is_sum_class(obj: Any) -> bool:
    """Whether ``obj`` is a class made by :func:`sum_type`."""
    return isinstance(obj, type) and bool(obj.__dict__.get("__sats_variants__"))


# ---- annotations → types ----------------------------------------------------------------------

_SPECIALS: dict[Any, Callable[[], AlgebraicType]] = {
    Identity: AlgebraicType.identity,
    ConnectionId: AlgebraicType.connection_id,
    Timestamp: AlgebraicType.timestamp,
    TimeDuration: AlgebraicType.time_duration,
    uuid.UUID: AlgebraicType.uuid,
    ScheduleAt: AlgebraicType.schedule_at,
}
_PLAIN: dict[Any, AlgebraicType] = {
    bool: AlgebraicType.BOOL,
    int: AlgebraicType.I64,
    float: AlgebraicType.F64,
    str: AlgebraicType.STRING,
    bytes: ArrayType(AlgebraicType.U8),
}


@dataclasses.dataclass(frozen=True)
class NamedType:
    """A named entry of the typespace: source name, ref, and the Python class behind it."""

    name: str
    ref: int
    cls: type


def type_hints(obj: Any, where: str, localns: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``typing.get_type_hints`` with extras, failing with a message naming ``where``.

    ``localns`` adds names (the module's own classes) for string annotations that
    refer to classes not at module level, e.g. in a module declared inside a function.
    """
    try:
        return typing.get_type_hints(
            obj, localns=dict(localns) if localns else None, include_extras=True
        )
    except Exception as e:  # NameError for unresolvable forward references, mostly
        raise SchemaError(f"{where}: cannot resolve annotations: {e}") from e


def class_fields(
    cls: type, where: str, localns: Mapping[str, Any] | None = None
) -> list[tuple[str, Any]]:
    """The ``(attribute, annotation)`` pairs of a product class, in declaration order."""
    hints = type_hints(cls, where, localns)
    if dataclasses.is_dataclass(cls):
        return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.name in hints]
    return [(n, t) for n, t in hints.items() if get_origin(t) is not typing.ClassVar]


class TypespaceBuilder:
    """Collects the module's typespace while mapping annotations to types.

    Named types (product classes, enums, sum classes) are added once, as a ``Ref``;
    a class referring to itself resolves to its own reserved slot.

    Example::

        >>> import dataclasses
        >>> @dataclasses.dataclass
        ... class Point:
        ...     x: float
        ...     y: float
        >>> b = TypespaceBuilder()
        >>> b.type_of(Point, where="param p")
        RefType(index=0)
        >>> b.named[0].name, b.typespace().types[0].names()
        ('Point', ['x', 'y'])
    """

    def __init__(self, localns: Mapping[str, Any] | None = None) -> None:
        self._types: list[AlgebraicType | None] = []
        self._ref_of: dict[type, int] = {}
        self.named: list[NamedType] = []
        self.localns: dict[str, Any] = dict(localns or {})

    # -- results

    def typespace(self) -> Typespace:
        """The typespace built so far; every reserved slot must be filled."""
        out: list[AlgebraicType] = []
        for i, t in enumerate(self._types):
            if t is None:
                raise SchemaError(f"typespace slot {i} was reserved but never defined")
            out.append(t)
        return Typespace(tuple(out))

    @property
    def classes(self) -> dict[int, type]:
        """Typespace ref → user class, for ``bsatn.codec_for(..., classes=...)``."""
        return {n.ref: n.cls for n in self.named}

    def ref_of(self, cls: type) -> int | None:
        """The typespace ref of an already added class."""
        return self._ref_of.get(cls)

    def typespace_slot(self, index: int) -> AlgebraicType | None:
        """The type at ``index`` so far (``None`` while reserved and undefined)."""
        return self._types[index]

    # -- mapping

    def type_of(self, annotation: Any, *, where: str) -> AlgebraicType:
        """The SATS type of one annotation; raises :class:`SchemaError` naming ``where``."""
        declared = type_of_annotation(annotation)
        if declared is not None:
            return declared
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            return self.type_of(get_args(annotation)[0], where=where)
        if annotation in _PLAIN:
            return _PLAIN[annotation]
        if annotation in _SPECIALS:
            return _SPECIALS[annotation]()
        if annotation is None or annotation is type(None):
            return AlgebraicType.unit()
        if isinstance(annotation, AlgebraicType):
            return annotation
        if origin is list:
            (elem,) = get_args(annotation) or (None,)
            if elem is None:
                raise SchemaError(f"{where}: a bare `list` needs an element type, e.g. list[str]")
            return ArrayType(self.type_of(elem, where=f"{where}[]"))
        if origin is typing.Union or origin is types.UnionType:
            return self._option(annotation, where)
        if isinstance(annotation, type):
            return self._named_class(annotation, where)
        if isinstance(annotation, str):
            raise SchemaError(
                f"{where}: unresolved forward reference {annotation!r}; "
                "define the class at module level before the module is described"
            )
        raise SchemaError(f"{where}: unsupported annotation {annotation!r}")

    def _option(self, annotation: Any, where: str) -> AlgebraicType:
        args = get_args(annotation)
        result = self._result(args, where)
        if result is not None:
            return result
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1 or len(args) != 2:
            raise SchemaError(
                f"{where}: only `T | None` (Option<T>) and `Ok[T] | Err[E]` (Result<T, E>) "
                f"unions are supported, got {annotation!r}"
            )
        return AlgebraicType.option(self.type_of(rest[0], where=f"{where}?"))

    def _result(self, args: tuple[Any, ...], where: str) -> AlgebraicType | None:
        """``Ok[T] | Err[E]`` (either order) as ``Result<T, E>``; ``None`` if not that union."""
        by_origin = {get_origin(a) or a: a for a in args}  # bare ``Ok`` is its own origin
        if len(args) != 2 or set(by_origin) != {Ok, Err}:
            return None
        (ok,) = get_args(by_origin[Ok]) or (None,)
        (err,) = get_args(by_origin[Err]) or (None,)
        if ok is None or err is None:
            raise SchemaError(f"{where}: write the payload types, e.g. Ok[int] | Err[str]")
        return AlgebraicType.result(
            self.type_of(ok, where=f"{where}.ok"), self.type_of(err, where=f"{where}.err")
        )

    def _named_class(self, cls: type, where: str) -> AlgebraicType:
        if cls in self._ref_of:
            return RefType(self._ref_of[cls])
        if issubclass(cls, enum.Enum):
            return self.add_enum(cls)
        if is_sum_class(cls):
            return self.add_sum(cls)
        if dataclasses.is_dataclass(cls) or getattr(cls, "__sats_fields__", None) is not None:
            return self.add_product(cls)
        if issubclass(cls, int | float | str | bytes | bool):
            raise SchemaError(
                f"{where}: {cls.__name__} subclasses a builtin; annotate with the builtin "
                "or a width alias (U32, F32, …) instead"
            )
        raise SchemaError(
            f"{where}: {cls.__qualname__} is not a dataclass, enum.Enum or @sum_type class; "
            "make it a @dataclass to use it as a product type"
        )

    def _reserve(self, cls: type, name: str | None) -> int:
        ref = len(self._types)
        self._types.append(None)
        self._ref_of[cls] = ref
        self.named.append(NamedType(name or cls.__name__, ref, cls))
        return ref

    def add_product(self, cls: type, *, name: str | None = None) -> RefType:
        """Add a product class (its fields in order) as a named type; returns its ref."""
        if cls in self._ref_of:
            return RefType(self._ref_of[cls])
        ref = self._reserve(cls, name)
        fields = class_fields(cls, f"type {cls.__qualname__}", self.localns)
        elems = tuple(
            ProductTypeElement(attr, self.type_of(ann, where=f"{cls.__qualname__}.{attr}"))
            for attr, ann in fields
        )
        self._types[ref] = ProductType(elems)
        return RefType(ref)

    def add_product_type(self, cls: type, product: ProductType, *, name: str) -> RefType:
        """Add an already-built product for ``cls`` (used for table rows)."""
        ref = self._reserve(cls, name)
        self._types[ref] = product
        return RefType(ref)

    def reserve_product(self, cls: type, *, name: str) -> int:
        """Reserve the slot of a product class before its fields are mapped (self-reference)."""
        return self._reserve(cls, name)

    def define(self, ref: int, ty: AlgebraicType) -> None:
        """Fill a slot reserved by :meth:`reserve_product`."""
        self._types[ref] = ty

    def add_enum(self, cls: type[enum.Enum]) -> RefType:
        """Add a plain enum: its members, in definition order, become unit variants."""
        if cls in self._ref_of:
            return RefType(self._ref_of[cls])
        members = list(cls)
        if not members:
            raise SchemaError(f"enum {cls.__qualname__} has no members")
        if len(members) > 256:
            raise SchemaError(f"enum {cls.__qualname__} has more than 256 members")
        ref = self._reserve(cls, None)
        self._types[ref] = SumType(
            tuple(SumTypeVariant(m.name, AlgebraicType.unit()) for m in members)
        )
        return RefType(ref)

    def add_sum(self, cls: type) -> RefType:
        """Add a :func:`sum_type` class: one variant per declared annotation."""
        if cls in self._ref_of:
            return RefType(self._ref_of[cls])
        ref = self._reserve(cls, None)
        names: tuple[str, ...] = cls.__dict__["__sats_variant_names__"]
        hints = _variant_hints(cls, self.localns)
        variants = tuple(
            SumTypeVariant(
                n,
                self.type_of(hints[n], where=f"{cls.__qualname__}.{n}")
                if hints[n] is not None
                else AlgebraicType.unit(),
            )
            for n in names
        )
        self._types[ref] = SumType(variants)
        return RefType(ref)


def _variant_hints(cls: type, extra: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = cls.__dict__["__sats_variant_annotations__"]
    module = sys.modules.get(cls.__module__)
    globalns = dict(vars(module)) if module is not None else {}
    # The variant classes are attributes of ``cls`` too; a variant named after its payload type
    # (``Identity: Identity``) must see the type, not itself.
    own = {k: v for k, v in vars(cls).items() if k not in raw}
    localns: Mapping[str, Any] = {**extra, **own}
    out: dict[str, Any] = {}
    for name, ann in raw.items():
        if ann is None or ann == "None":
            out[name] = None
            continue
        if isinstance(ann, str):
            try:
                ann = eval(ann, globalns, dict(localns))  # resolving a forward reference
            except Exception as e:
                raise SchemaError(
                    f"{cls.__qualname__}.{name}: cannot resolve annotation {ann!r}: {e}"
                ) from e
        out[name] = None if ann is type(None) else ann
    return out


__all__ = [
    "NamedType",
    "SumTypeBase",
    "TypespaceBuilder",
    "class_fields",
    "class_to_table_name",
    "is_sum_class",
    "split_words",
    "sum_type",
    "to_camel_case",
    "to_pascal_case",
    "to_snake_case",
    "type_hints",
]
