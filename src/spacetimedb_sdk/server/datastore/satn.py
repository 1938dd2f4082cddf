"""SATN: the server's text form of values, as upstream's untyped ``AlgebraicValue::to_satn``.

Only error messages use it (a unique-constraint violation quotes the duplicate value), so it is
a formatter of its own rather than part of the storage.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping
from typing import Any

from ...sats.ordering import SPECIAL_VALUES
from ...sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    RefType,
    SumType,
    Typespace,
)
from ...sats.values import Ok, ScheduleAt, SumValue

_F32 = struct.Struct("<f")


def _rust_float(x: float, kind: str) -> str:
    """Rust's ``Display`` of a float: shortest round-trip digits, never an exponent."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if kind == "F32":
        digits = next(
            s
            for p in range(1, 10)
            if _F32.unpack(_F32.pack(float(s := f"{x:.{p}g}")))[0] == _F32.unpack(_F32.pack(x))[0]
        )
    else:
        digits = repr(x)
    import decimal

    text = format(decimal.Decimal(digits), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def satn(ty: AlgebraicType, value: Any, typespace: Typespace, classes: Mapping[int, type]) -> str:
    """Format ``value`` like upstream's untyped ``AlgebraicValue::to_satn``.

    Products are ``(0 = a, 1 = b)`` (element indices, not names), sums ``( = payload)``,
    arrays ``[a, b]``, bytes ``0x…``, strings quoted without escaping.

    Example::

        >>> from spacetimedb_sdk.sats import Identity
        >>> satn(AlgebraicType.identity(), Identity(5), Typespace(()), {})
        '(0 = 5)'
    """
    cls: type | None = None
    if isinstance(ty, RefType):
        cls = classes.get(ty.index)
        ty = typespace.resolve(ty)
    if isinstance(ty, PrimitiveType):
        if ty.kind == "Bool":
            return "true" if value else "false"
        if ty.kind == "String":
            return f'"{value}"'
        if ty.kind in ("F32", "F64"):
            return _rust_float(float(value), ty.kind)
        return str(int(value))
    if isinstance(ty, ArrayType):
        if ty.is_bytes():
            return "0x" + bytes(value).hex()
        return "[" + ", ".join(satn(ty.elem, x, typespace, classes) for x in value) + "]"
    if isinstance(ty, ProductType):
        special = ty.special_kind()
        if special is not None:
            return f"(0 = {SPECIAL_VALUES[special][1](value)})"
        names = ty.names()
        items = []
        for i, (e, n) in enumerate(zip(ty.elements, names, strict=True)):
            v = value[n] if isinstance(value, Mapping) else getattr(value, n)
            items.append(f"{i} = {satn(e.algebraic_type, v, typespace, classes)}")
        return "(" + ", ".join(items) + ")"
    assert isinstance(ty, SumType)
    tag, payload = _sum_parts(ty, value, typespace, cls)
    return f"( = {satn(ty.variants[tag].algebraic_type, payload, typespace, classes)})"


def _sum_parts(ty: SumType, value: Any, typespace: Typespace, cls: type | None) -> tuple[int, Any]:
    if ty.is_option():
        if value is None:
            return 1, {}
        if typespace.resolve(ty.variants[0].algebraic_type).is_option():
            return 0, value.value
        return 0, value
    if ty.is_schedule_at():
        if isinstance(value, ScheduleAt.Interval):
            return 0, value.duration
        return 1, value.time
    if ty.is_result():
        return (0, value.value) if isinstance(value, Ok) else (1, value.error)
    if isinstance(value, enum.Enum):
        return list(type(value)).index(value), {}
    if isinstance(value, SumValue):
        return ty.variant_index(value.tag), {} if value.value is None else value.value
    assert cls is not None
    tag = list(cls.__dict__["__sats_variants__"]).index(type(value))
    if ty.variants[tag].algebraic_type.is_unit():
        return tag, {}
    return tag, value.value
