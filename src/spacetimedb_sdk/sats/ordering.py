"""SATS value ordering: per-type compiled *keys*, shared by the client cache and the local server.

:class:`KeyCompiler` turns an :class:`AlgebraicType` into a function mapping a Python value
of that type to a *key*: hashable, equal exactly when the values are equal in SATS (the same
BSATN bytes), and ordered as SpacetimeDB orders ``AlgebraicValue``s.  The local server uses
keys for row identity, unique constraints and btree indexes; the client cache uses them for
its btree indexes (:func:`spacetimedb_sdk.client.indexes.order_key_for_type`), so a range
query returns the same rows in the same order on both sides.

The order, type by type:

- integers, ``bool``, strings (code points, which is UTF-8 byte order) and ``bytes`` by value;
  they are their own keys, so sorting compares plain Python objects;
- the special products by their integer: ``Identity`` (u256), ``ConnectionId`` (u128),
  ``Timestamp`` and ``TimeDuration`` (micros), ``uuid.UUID`` (u128);
- floats by IEEE-754 ``totalOrder`` of their bits:
  ``-NaN < -inf < … < -0.0 < +0.0 < … < +inf < +NaN``.  This is the one rule on both sides,
  and it keeps keys equal iff the BSATN bytes are equal (upstream rows are compared bytewise
  too).  Upstream's index order (``decorum::Total``) differs only for zeros, which it
  equates, and negative NaNs, which it puts last with the others: a ``float('nan')`` from
  Python is positive, so NaNs sort after every number, as upstream;
- sums by variant tag, then payload; an enum whose variants are all units by tag alone;
- ``Option``: ``some(x)`` (tag 0) before ``none`` (tag 1), as ``AlgebraicValue`` does (not
  as Rust's ``Option``).  ``none`` is :data:`NONE_KEY`, which sorts after every other key;
  ``some(x)`` is ``x``'s own key, wrapped in a 1-tuple only for ``Option<Option<T>>``;
- ``Result``: ``Ok`` (tag 0) before ``Err``; ``ScheduleAt``: ``Interval`` before ``Time``;
- products element by element, arrays lexicographically (a prefix first).

Values may be generic (``dict``, :class:`SumValue`, ``Some``/``Ok``/``Err``, ``ScheduleAt``,
the special classes) or, through ``classes`` (the contract of
:mod:`spacetimedb_sdk.sats.bsatn`), instances of bound classes: product classes are read
through ``__sats_fields__`` when defined (generated and runtime row classes whose attribute
names escape keywords, ``from`` → ``from_``), else by element name; ``enum.Enum`` members in
definition (tag) order; sum classes through ``__sats_variants__`` and the variant's
``.value``.

With ``validate=True`` (the server) a key function also checks the value against the type
and raises :class:`~spacetimedb_sdk.errors.BsatnEncodeError` naming where it was wrong;
``validate=False`` (the client, whose rows come from our own decoder) skips the checks that
cost time on the hot path: integers, strings and booleans are then returned unchecked.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T
    >>> key = KeyCompiler().key(T.option(T.I32))
    >>> sorted([None, 3, -1], key=key)
    [-1, 3, None]
"""

from __future__ import annotations

import enum
import struct
import uuid
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from ..errors import BsatnEncodeError
from .types import AlgebraicType, ArrayType, PrimitiveType, ProductType, RefType, SumType, Typespace
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

KeyFn = Callable[[Any], Hashable]
"""A compiled key function: value → hashable, totally ordered key."""

INT_RANGES: dict[str, tuple[int, int]] = {
    "U8": (0, (1 << 8) - 1),
    "U16": (0, (1 << 16) - 1),
    "U32": (0, (1 << 32) - 1),
    "U64": (0, (1 << 64) - 1),
    "U128": (0, (1 << 128) - 1),
    "U256": (0, (1 << 256) - 1),
    "I8": (-(1 << 7), (1 << 7) - 1),
    "I16": (-(1 << 15), (1 << 15) - 1),
    "I32": (-(1 << 31), (1 << 31) - 1),
    "I64": (-(1 << 63), (1 << 63) - 1),
    "I128": (-(1 << 127), (1 << 127) - 1),
    "I256": (-(1 << 255), (1 << 255) - 1),
}
"""Inclusive value range of each integer kind."""

SPECIAL_VALUES: dict[str, tuple[type, Callable[[Any], int]]] = {
    "__identity__": (Identity, lambda v: v.value),
    "__connection_id__": (ConnectionId, lambda v: v.value),
    "__timestamp_micros_since_unix_epoch__": (Timestamp, lambda v: v.micros),
    "__time_duration_micros__": (TimeDuration, lambda v: v.micros),
    "__uuid__": (uuid.UUID, lambda v: v.int),
}
"""Special product tag → (its Python class, the integer it is compared by)."""

_F64 = struct.Struct("<d")
_F32 = struct.Struct("<f")
_I64 = struct.Struct("<q")
_I32 = struct.Struct("<i")


# ---- sentinels ---------------------------------------------------------------------------------


class _Sentinel:
    """A key above every non-sentinel key; sentinels order among themselves by rank."""

    __slots__ = ("_name", "_rank")

    def __init__(self, name: str, rank: int) -> None:
        self._name = name
        self._rank = rank

    def _cmp(self, other: object) -> int:
        if other is self:
            return 0
        if isinstance(other, _Sentinel):
            return -1 if self._rank < other._rank else 1
        return 1

    def __lt__(self, other: object) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: object) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash(self._name)

    def __repr__(self) -> str:
        return f"<{self._name}>"

    def __reduce__(self) -> str:
        # Pickle by module-level name, so the sentinel stays a singleton.
        return self._name.upper()


NONE_KEY: Any = _Sentinel("none_key", 0)
"""The key of an empty option: after every value key (``none`` is tag 1, after ``some``)."""

KEY_MAX: Any = _Sentinel("key_max", 1)
"""Above every key, :data:`NONE_KEY` included; closes prefix and range probes (``(a, KEY_MAX)``
follows every ``(a, …)``).  Never the key of a value."""


# ---- leaves ------------------------------------------------------------------------------------


def _bad(where: str, expected: str, v: Any) -> BsatnEncodeError:
    return BsatnEncodeError(f"expected {expected}, got {type(v).__name__} {v!r:.80}", path=where)


def _same(v: Any) -> Any:
    return v


def float_key(v: float, kind: str = "F64") -> int:
    """The total-order key of a float: its bits, negatives' magnitude bits flipped.

    Example::

        >>> sorted([1.0, float("nan"), -0.0, 0.0, float("-inf")], key=float_key)
        [-inf, -0.0, 0.0, 1.0, nan]
    """
    packer, unpacker, mask = (
        (_F64, _I64, 0x7FFF_FFFF_FFFF_FFFF) if kind == "F64" else (_F32, _I32, 0x7FFF_FFFF)
    )
    bits: int = unpacker.unpack(packer.pack(v))[0]
    # Flipping the magnitude bits of negatives makes signed-integer order IEEE totalOrder.
    return bits ^ mask if bits < 0 else bits


def _float_key(kind: str, where: str) -> KeyFn:
    pack, unpack = (_F64.pack, _I64.unpack) if kind == "F64" else (_F32.pack, _I32.unpack)
    mask = 0x7FFF_FFFF_FFFF_FFFF if kind == "F64" else 0x7FFF_FFFF

    def key(v: Any) -> Hashable:
        # Always checked: struct would raise a struct.error, far from the culprit.
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _bad(where, kind, v)
        bits: int = unpack(pack(v))[0]
        return bits ^ mask if bits < 0 else bits

    return key


def _int_key(kind: str, where: str) -> KeyFn:
    lo, hi = INT_RANGES[kind]

    def key(v: Any) -> Hashable:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _bad(where, kind, v)
        if not lo <= v <= hi:
            raise BsatnEncodeError(f"{v} is out of range for {kind}", path=where)
        return v

    return key


def _checked(expected: str, accept: type | tuple[type, ...], where: str) -> KeyFn:
    def key(v: Any) -> Hashable:
        if not isinstance(v, accept):
            raise _bad(where, expected, v)
        return v

    return key


def _primitive_key(kind: str, where: str, validate: bool) -> KeyFn:
    if kind in ("F32", "F64"):
        return _float_key(kind, where)
    if not validate:
        return _same
    if kind in INT_RANGES:
        return _int_key(kind, where)
    if kind == "Bool":
        return _checked("Bool", bool, where)
    return _checked("String", str, where)


def _special_key(special: str, where: str, validate: bool) -> KeyFn:
    cls, get = SPECIAL_VALUES[special]
    if not validate:
        return get

    def key(v: Any) -> Hashable:
        if not isinstance(v, cls):
            raise _bad(where, cls.__name__, v)
        return get(v)

    return key


def _schedule_at_key(where: str) -> KeyFn:
    def key(v: Any) -> Hashable:
        if isinstance(v, ScheduleAt.Interval):
            return (0, v.duration.micros)
        if isinstance(v, ScheduleAt.Time):
            return (1, v.time.micros)
        raise _bad(where, "ScheduleAt.Interval or ScheduleAt.Time", v)

    return key


# ---- the compiler ------------------------------------------------------------------------------


class KeyCompiler:
    """Compiles, once per type, functions mapping values of that type to keys (see module doc).

    ``classes`` maps typespace indexes to bound classes (the ``bsatn`` contract: the first
    bound ref of a chain wins, and a bound class takes precedence over the structural
    Option/Result/special recognition).  ``validate`` selects type-checked keys (errors
    name ``where``) or the lean ones for values known to match.  Compiled refs are cached,
    so one compiler per typespace is cheapest.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> kc = KeyCompiler()
        >>> kc.key(T.option(T.U8), "x")(7), kc.key(T.option(T.U8), "x")(None)
        (7, <none_key>)
    """

    def __init__(
        self,
        typespace: Typespace | None = None,
        classes: Mapping[int, type] | None = None,
        *,
        validate: bool = True,
    ) -> None:
        self.typespace = typespace if typespace is not None else Typespace(())
        self.classes: Mapping[int, type] = classes if classes is not None else {}
        self.validate = validate
        self._refs: dict[int, KeyFn] = {}

    def key(self, ty: AlgebraicType, where: str = "<root>") -> KeyFn:
        """The key function of ``ty``; ``where`` names the value in errors.

        Example::

            >>> from spacetimedb_sdk.sats import AlgebraicType as T
            >>> KeyCompiler().key(T.array(T.STRING))(["a", "b"])
            ('a', 'b')
        """
        if isinstance(ty, PrimitiveType):
            return _primitive_key(ty.kind, where, self.validate)
        if isinstance(ty, RefType):
            return self._ref_key(ty.index, where)
        if isinstance(ty, ArrayType):
            return self._array_key(ty, where)
        if isinstance(ty, ProductType):
            return self._product_key(ty, None, where)
        if isinstance(ty, SumType):
            return self._sum_key(ty, None, where)
        raise TypeError(f"not an AlgebraicType: {ty!r}")  # pragma: no cover

    def _resolve(self, ty: AlgebraicType) -> tuple[AlgebraicType, type | None]:
        cls: type | None = None
        while isinstance(ty, RefType):
            if cls is None:
                cls = self.classes.get(ty.index)
            ty = self.typespace[ty.index]
        return ty, cls

    def _ref_key(self, index: int, where: str) -> KeyFn:
        if index not in self._refs:
            cell: list[KeyFn] = []
            # Recursive types reach this ref again while compiling: defer through the cell.
            self._refs[index] = lambda v: cell[0](v)
            ty, cls = self._resolve(RefType(index))
            if isinstance(ty, ProductType):
                fn = self._product_key(ty, cls, where)
            elif isinstance(ty, SumType):
                fn = self._sum_key(ty, cls, where)
            else:
                fn = self.key(ty, where)
            cell.append(fn)
            self._refs[index] = fn
        return self._refs[index]

    def _array_key(self, ty: ArrayType, where: str) -> KeyFn:
        if ty.is_bytes():

            def key_bytes(v: Any) -> Hashable:
                if type(v) is bytes:
                    return v
                if not isinstance(v, bytes | bytearray | memoryview):
                    raise _bad(where, "bytes", v)
                return bytes(v)

            return key_bytes
        elem = self.key(ty.elem, f"{where}[]")
        validate = self.validate

        def key_array(v: Any) -> Hashable:
            if validate and not isinstance(v, list | tuple):
                raise _bad(where, "list", v)
            return tuple([elem(x) for x in v])

        return key_array

    def _product_key(self, ty: ProductType, cls: type | None, where: str) -> KeyFn:
        special = ty.special_kind()
        if special is not None and cls is None:
            return _special_key(special, where, self.validate)
        names = ty.names()
        attrs = list(getattr(cls, "__sats_fields__", names)) if cls is not None else None
        if attrs is not None and len(attrs) != len(names):
            raise TypeError(
                f"{getattr(cls, '__name__', cls)}.__sats_fields__ has {len(attrs)} names, "
                f"the product type has {len(names)} elements"
            )
        parts = [
            self.key(e.algebraic_type, f"{where}.{n}")
            for e, n in zip(ty.elements, names, strict=True)
        ]
        by_name = list(zip(names, parts, strict=True))
        by_attr = list(zip(attrs, parts, strict=True)) if attrs is not None else by_name
        validate = self.validate

        def key_product(v: Any) -> Hashable:
            if isinstance(v, Mapping):
                if validate and cls is not None:
                    raise _bad(where, cls.__qualname__, v)
                try:
                    return tuple([p(v[n]) for n, p in by_name])
                except KeyError as e:
                    raise BsatnEncodeError(f"missing field {e}", path=where) from None
            if cls is not None:
                if validate and not isinstance(v, cls):
                    raise _bad(where, cls.__qualname__, v)
                pairs = by_attr
            else:
                # An unbound product given as a row object (a generated class used without
                # ``classes``): its own ``__sats_fields__`` name the attributes.
                fields = getattr(type(v), "__sats_fields__", None)
                pairs = by_name if fields is None else list(zip(fields, parts, strict=True))
            try:
                return tuple([p(getattr(v, a)) for a, p in pairs])
            except AttributeError as e:
                raise BsatnEncodeError(str(e), path=where) from None

        return key_product

    def _sum_key(self, ty: SumType, cls: type | None, where: str) -> KeyFn:
        if cls is not None:
            if issubclass(cls, enum.Enum):
                return self._enum_class_key(cls, where)
            return self._sum_class_key(ty, cls, where)
        if ty.is_option():
            return self._option_key(ty, where)
        if ty.is_schedule_at():
            return _schedule_at_key(where)
        if ty.is_result():
            return self._result_key(ty, where)
        return self._generic_sum_key(ty, where)

    def _enum_class_key(self, cls: type[enum.Enum], where: str) -> KeyFn:
        tag_of_member = {m: i for i, m in enumerate(cls)}

        def key_enum(v: Any) -> Hashable:
            try:
                return tag_of_member[v]
            except (KeyError, TypeError):
                raise _bad(where, cls.__qualname__, v) from None

        return key_enum

    def _sum_class_key(self, ty: SumType, cls: type, where: str) -> KeyFn:
        variant_classes: tuple[type, ...] = getattr(cls, "__sats_variants__", ())
        tag_of_class = {c: i for i, c in enumerate(variant_classes)}
        if ty.is_plain_enum():

            def key_unit_variant(v: Any) -> Hashable:
                tag = tag_of_class.get(type(v))
                if tag is None:
                    raise _bad(where, f"a variant of {cls.__qualname__}", v)
                return tag

            return key_unit_variant
        payloads = self._payload_keys(ty, where)
        units = [var.algebraic_type.is_unit() for var in ty.variants]

        def key_variant(v: Any) -> Hashable:
            tag = tag_of_class.get(type(v))
            if tag is None:
                raise _bad(where, f"a variant of {cls.__qualname__}", v)
            return (tag, ()) if units[tag] else (tag, payloads[tag](v.value))

        return key_variant

    def _payload_keys(self, ty: SumType, where: str) -> list[KeyFn]:
        return [self.key(var.algebraic_type, f"{where}.{var.name}") for var in ty.variants]

    def _generic_sum_key(self, ty: SumType, where: str) -> KeyFn:
        names = [var.name if var.name is not None else str(i) for i, var in enumerate(ty.variants)]
        tag_of = {n: i for i, n in enumerate(names)}
        validate = self.validate

        def tag_of_value(v: Any) -> int:
            if isinstance(v, SumValue):
                tag = tag_of.get(v.tag)
                if tag is not None:
                    return tag
            elif not validate and isinstance(v, enum.Enum) and v.name in tag_of:
                # A typeless caller's enum member for an unbound sum: by variant name.
                return tag_of[v.name]
            raise _bad(where, f"SumValue with a tag in {names}", v)

        if ty.is_plain_enum():
            return tag_of_value
        payloads = self._payload_keys(ty, where)
        units = [var.algebraic_type.is_unit() for var in ty.variants]

        def key_sum(v: Any) -> Hashable:
            tag = tag_of_value(v)
            if units[tag]:
                return (tag, ())
            return (tag, payloads[tag](v.value))

        return key_sum

    def _result_key(self, ty: SumType, where: str) -> KeyFn:
        ok = self.key(ty.variants[0].algebraic_type, f"{where}.ok")
        err = self.key(ty.variants[1].algebraic_type, f"{where}.err")

        def key_result(v: Any) -> Hashable:
            if isinstance(v, Ok):
                return (0, ok(v.value))
            if isinstance(v, Err):
                return (1, err(v.error))
            raise _bad(where, "Ok or Err", v)

        return key_result

    def _option_key(self, ty: SumType, where: str) -> KeyFn:
        inner_ty = ty.variants[0].algebraic_type
        inner = self.key(inner_ty, f"{where}?")
        resolved, cls = self._resolve(inner_ty)
        none: Hashable = NONE_KEY
        if cls is None and isinstance(resolved, SumType) and resolved.is_option():
            # Option<Option<T>>: some(x) is Some(x); the 1-tuple keeps some(none) apart from
            # (and below) the outer none.
            def key_nested_option(v: Any) -> Hashable:
                if v is None:
                    return none
                if not isinstance(v, Some):
                    raise _bad(where, "Some(...) or None (nested option)", v)
                return (inner(v.value),)

            return key_nested_option

        def key_option(v: Any) -> Hashable:
            return none if v is None else inner(v)

        return key_option


__all__ = [
    "INT_RANGES",
    "KEY_MAX",
    "NONE_KEY",
    "SPECIAL_VALUES",
    "KeyCompiler",
    "KeyFn",
    "float_key",
]
