"""0.7's JSON shapes of values, to and from the SDK's values.

The 0.7 SDK spoke a JSON protocol.  The ``module_bindings`` its CLI generated build rows from
that JSON (``User(data)`` reads ``data[0][0]`` as the identity's hex) and decode reducer
arguments from it (``_decode_args``); 0.7 apps passed reducer arguments in it.  Those shapes:

* a product is a list of its fields in order (0.7 apps also passed dicts by field name);
* a sum is ``{"<variant index>": payload}`` with ``[]`` as the unit payload; an option is
  ``{"0": value}`` (some) or ``{"1": []}`` (none);
* ``Array<U8>`` is lowercase hex; other arrays are lists;
* ``Identity`` and ``Address`` (the 2.x ``ConnectionId``) are ``[hex]`` (a one-field product
  of bytes);
* numbers, booleans and strings are themselves.

Types that 0.7 did not have take the nearest shape: ``Timestamp`` and ``TimeDuration`` are
their integer of microseconds (what a 0.7 module kept in a ``u64``), ``Uuid`` its string.

:func:`to_json07` writes these shapes from the SDK's generic values; :func:`from_json07`
reads them, leniently, into the generic values (and also accepts what 0.7 apps passed
instead: ``Identity`` objects, ``None`` for an empty option, enum members, 0.7 row
objects with ``.data``, dicts and lists for structs, the 2.x values themselves).

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T, Identity
    >>> row = T.product({"who": T.identity(), "name": T.option(T.STRING), "n": T.U32})
    >>> to_json07(row, {"who": Identity(1), "name": None, "n": 7})
    [['0000000000000000000000000000000000000000000000000000000000000001'], {'1': []}, 7]
    >>> from_json07(row, {"who": Identity(1), "name": {"0": "Ada"}, "n": 7})
    {'who': Identity('0000000000000000000000000000000000000000000000000000000000000001'), 'name': 'Ada', 'n': 7}
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..client.bindings import py_name
from ..sats.plain import product_fields
from ..sats.sats_json import SatsJsonError, from_json
from ..sats.types import (
    CONNECTION_ID_TAG,
    EMPTY_TYPESPACE,
    IDENTITY_TAG,
    TIME_DURATION_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    SumType,
    Typespace,
)
from ..sats.values import (
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

__all__ = ["from_json07", "to_json07"]


# ---- writing -----------------------------------------------------------------------------------


def to_json07(ty: AlgebraicType, value: Any, typespace: Typespace | None = None) -> Any:
    """``value`` (a generic SDK value of type ``ty``) in 0.7's JSON shape (module docs).

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T, SumValue
        >>> to_json07(T.sum({"Red": T.unit(), "Green": T.unit()}), SumValue("Green", None))
        {'1': []}
    """
    ts = typespace or EMPTY_TYPESPACE
    ty = ts.resolve(ty)
    if isinstance(ty, PrimitiveType):
        return value
    if isinstance(ty, ArrayType):
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).hex()
        return [to_json07(ty.elem, v, ts) for v in value]
    if isinstance(ty, ProductType):
        kind = ty.special_kind()
        if kind is not None:
            return _special_to_json07(value)
        return [
            to_json07(e.algebraic_type, v, ts)
            for e, v in zip(ty.elements, product_fields(ty, value), strict=True)
        ]
    assert isinstance(ty, SumType)
    tag, payload = _sum_parts(ty, value)
    payload_ty = ts.resolve(ty.variants[tag].algebraic_type)
    return {str(tag): [] if payload_ty.is_unit() else to_json07(payload_ty, payload, ts)}


def _special_to_json07(value: Any) -> Any:
    if isinstance(value, Identity | ConnectionId):
        return [value.to_hex()]
    if isinstance(value, Timestamp | TimeDuration):
        return value.micros
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _sum_parts(ty: SumType, value: Any) -> tuple[int, Any]:
    """The variant index and payload of a generic sum value."""
    if ty.is_option():
        if value is None:
            return 1, None
        return 0, value.value if isinstance(value, Some) else value
    if isinstance(value, Ok | Err):
        return (0, value.value) if isinstance(value, Ok) else (1, value.error)
    if isinstance(value, ScheduleAt):
        duration = getattr(value, "duration", None)
        return (0, duration) if duration is not None else (1, getattr(value, "time", None))
    if isinstance(value, SumValue):
        tag = value.tag
    elif isinstance(value, enum.Enum):  # generated enums carry the variant name as value
        tag = value.value if isinstance(value.value, str) else value.name
    else:  # a generated variant class: its name is the variant's (Shape.circle)
        tag = type(value).__qualname__.rpartition(".")[2]
    for i, variant in enumerate(ty.variants):
        if (variant.name if variant.name is not None else str(i)) == tag:
            return i, getattr(value, "value", None)
    raise SatsJsonError(f"{value!r} is not a variant of {[v.name for v in ty.variants]}")


# ---- reading -----------------------------------------------------------------------------------


def from_json07(ty: AlgebraicType, obj: Any, typespace: Typespace | None = None) -> Any:
    """Read a 0.7-shaped value (or what 0.7 apps passed instead) into the generic SDK value.

    Raises :class:`~spacetimedb_sdk.sats.sats_json.SatsJsonError` naming the path of a part
    that fits nowhere.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> point = T.product({"x": T.I32, "y": T.I32})
        >>> from_json07(T.array(point), [[1, 2], {"x": 3, "y": 4}])
        [{'x': 1, 'y': 2}, {'x': 3, 'y': 4}]
    """
    ts = typespace or EMPTY_TYPESPACE
    return from_json(ty, _sats(ty, obj, ts, "<root>"), ts)


def _sats(ty: AlgebraicType, v: Any, ts: Typespace, path: str) -> Any:
    """Rewrite a 0.7 shape into the SATS-JSON that ``sats_json.from_json`` reads."""
    ty = ts.resolve(ty)
    if isinstance(ty, PrimitiveType):
        if ty.kind in ("U256", "I256") and isinstance(v, int) and not isinstance(v, bool):
            return ("-" if v < 0 else "") + hex(abs(v))  # SATS-JSON spells them in hex
        return v
    if isinstance(ty, ArrayType):
        if isinstance(v, bytes | bytearray | memoryview):
            return bytes(v).hex()
        if isinstance(v, Sequence) and not isinstance(v, str):
            return [_sats(ty.elem, x, ts, f"{path}[{i}]") for i, x in enumerate(v)]
        return v
    if isinstance(ty, ProductType):
        kind = ty.special_kind()
        if kind is not None:
            return {kind: _special(kind, v)}
        return _product(ty, v, ts, path)
    assert isinstance(ty, SumType)
    return _sum(ty, v, ts, path)


def _product(ty: ProductType, v: Any, ts: Typespace, path: str) -> Any:
    names = ty.names()
    data = getattr(v, "data", None)
    if isinstance(data, Mapping) and not isinstance(v, Mapping):
        # A 0.7 row or struct object: its fields are in .data, by Python name.
        v = [data.get(py_name(n), data.get(n)) for n in names]
    if isinstance(v, Mapping):
        return {
            k: _sats(ty.elements[names.index(k)].algebraic_type, x, ts, f"{path}.{k}")
            if k in names
            else x
            for k, x in v.items()
        }
    if isinstance(v, Sequence) and not isinstance(v, str | bytes):
        return [
            _sats(e.algebraic_type, x, ts, f"{path}.{n}")
            for e, n, x in zip(ty.elements, names, v, strict=False)
        ] + list(v[len(names) :])
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _product(ty, product_fields(ty, v), ts, path)
    return v


def _special(kind: str, v: Any) -> Any:
    if isinstance(v, Sequence) and not isinstance(v, str | bytes) and len(v) == 1:
        v = v[0]  # 0.7's one-field product: [hex]
    if isinstance(v, Mapping) and len(v) == 1:
        v = next(iter(v.values()))  # {"__identity_bytes": hex} and the like
    if isinstance(v, Identity | ConnectionId):
        return v.value if kind == CONNECTION_ID_TAG else "0x" + v.to_hex()
    if isinstance(v, Timestamp | TimeDuration):
        return v.micros
    if isinstance(v, uuid.UUID):
        return v.int
    if v is None and kind == CONNECTION_ID_TAG:
        return 0  # 0.7's Address.from_string gave None for the all-zero address
    if isinstance(v, str):
        if kind == IDENTITY_TAG:
            return "0x" + v.removeprefix("0x")
        if kind == CONNECTION_ID_TAG:
            try:
                return int(v.removeprefix("0x"), 16)
            except ValueError:
                return v
        if kind == UUID_TAG:
            try:
                return uuid.UUID(v).int
            except ValueError:
                return v
    if kind in (TIMESTAMP_TAG, TIME_DURATION_TAG) and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _sum(ty: SumType, v: Any, ts: Typespace, path: str) -> Any:
    names = [var.name if var.name is not None else str(i) for i, var in enumerate(ty.variants)]
    if ty.is_option():
        inner = ty.variants[0].algebraic_type
        if v is None or v == {} or (isinstance(v, Mapping) and set(v) <= {"1", "none"}):
            return {"none": []}
        if isinstance(v, Some):
            return {"some": _sats(inner, v.value, ts, path)}
        if isinstance(v, Mapping) and len(v) == 1 and next(iter(v)) in ("0", "some"):
            payload = next(iter(v.values()))
            if _one_element_wrap(inner, payload, ts):
                payload = payload[0]  # 0.7 rows' encode() wrote {'0': [value]}
            return {"some": _sats(inner, payload, ts, path)}
        return {"some": _sats(inner, v, ts, path)}  # a plain value: 0.7 apps passed those too
    if isinstance(v, SumValue):
        v = {v.tag: [] if v.value is None else v.value}
    elif isinstance(v, Ok | Err | ScheduleAt):
        tag, payload = _sum_parts(ty, v)
        v = {names[tag]: payload}
    if isinstance(v, enum.Enum):
        return {_variant_of_enum(v, names, path): []}
    if isinstance(v, str) and v in names:
        return {v: []}
    if isinstance(v, Mapping) and len(v) == 1:
        ((key, payload),) = v.items()
        name = key
        if isinstance(key, str) and key.isdigit() and int(key) < len(names):
            name = names[int(key)]  # 0.7 keyed variants by index
        if name in names:
            var_ty = ty.variants[names.index(name)].algebraic_type
            if ts.resolve(var_ty).is_unit():
                return {name: []}
            return {name: _sats(var_ty, payload, ts, f"{path}.{name}")}
    variant = type(v).__name__.rpartition("_")[2]  # a generated variant class, Shape_circle
    if variant in names and dataclasses.is_dataclass(v):
        return _sum(ty, {variant: getattr(v, "value", [])}, ts, path)
    return v


def _variant_of_enum(member: enum.Enum, names: list[str], path: str) -> str:
    # 0.7's enums numbered members from 1; 2.x enums carry the variant name as value.
    for candidate in (member.value, member.name):
        if isinstance(candidate, str) and candidate in names:
            return candidate
    wanted = member.name.replace("_", "").lower()
    matches = [n for n in names if n.replace("_", "").lower() == wanted]
    if len(matches) == 1:
        return matches[0]
    if isinstance(member.value, int) and 1 <= member.value <= len(names):
        return names[member.value - 1]
    raise SatsJsonError(f"enum member {member!r} matches none of {names}", path=path)


def _one_element_wrap(inner: AlgebraicType, payload: Any, ts: Typespace) -> bool:
    resolved = ts.resolve(inner)
    return (
        isinstance(payload, list)
        and len(payload) == 1
        and not isinstance(resolved, ArrayType)
        and not (isinstance(resolved, ProductType) and len(resolved.elements) == 1)
    )
