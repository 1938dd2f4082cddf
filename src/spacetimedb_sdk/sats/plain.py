"""Plain JSON: SATS values as the ``spacetimedb-py`` command line prints and reads them.

Plain JSON is made for people and ``jq``, not for the server.  :func:`to_plain` writes it
(``sql --json``, ``subscribe``, a procedure's result from ``call``) and :func:`from_plain`
reads it back (``call`` arguments):

* integers are exact JSON numbers at every width, ``u256``/``i256`` included; ``Bool`` and
  ``String`` are themselves; NaN and infinities are ``null``;
* ``Array<U8>`` (held as ``bytes``) is a lowercase hex string without ``0x``; other arrays
  are lists;
* a product is an object keyed by field name (``"0"``, ``"1"``, … for unnamed fields);
* ``Identity`` and ``ConnectionId`` are full-width big-endian hex without ``0x`` (as
  ``/v1/identity`` prints them); ``Timestamp`` an RFC 3339 string with microseconds
  (``"2024-01-01T00:00:00.000000Z"``; outside years 1..9999 the integer of microseconds);
  ``TimeDuration`` an integer of microseconds; ``Uuid`` its canonical string;
* ``Option`` is ``null`` or the value itself; ``Result`` ``{"ok": v}`` or ``{"err": e}``;
  ``ScheduleAt`` ``{"Interval": µs}`` or ``{"Time": "…Z"}``; any other sum is the variant's
  name when its payload is unit, else ``{"Name": payload}``.

How it differs from SATS-JSON (:mod:`.sats_json`, what the HTTP API speaks): SATS-JSON
wraps the special types in one-field objects (``{"__identity__": "0xc200…"}``,
``{"__timestamp_micros_since_unix_epoch__": 0}``), writes options as ``{"some": v}`` /
``{"none": []}``, unit variants as ``{"Name": []}`` and 256-bit integers as ``"0x…"``
strings.  Plain JSON drops that wrapping, so two things cannot be said in it: a
non-finite float (it prints ``null``, which does not read back as a float) and
``Some(None)`` in a nested option (it prints ``null``, which reads back as ``None``).

:func:`from_plain` rewrites the spots where plain JSON differs into SATS-JSON and reads
the result with the lenient :func:`.sats_json.from_json`.  Besides what :func:`to_plain`
writes it accepts a few other forms: hex with or without ``0x`` for ``Identity`` and
``ConnectionId``; for ``Timestamp`` any time :meth:`datetime.datetime.fromisoformat` reads
(``Z`` allowed, one without a zone is UTC) or an integer of microseconds; the special
types' SATS-JSON objects (``{"__identity__": "0x…"}``); ``"0x…"`` strings for 256-bit
integers; a product as a list of its fields in order.  Input that fits nowhere raises
:class:`.sats_json.SatsJsonError`.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T, Identity
    >>> row = T.product({"who": T.identity(), "n": T.option(T.U8)})
    >>> to_plain(row, {"who": Identity(1), "n": 7})
    {'who': '0000000000000000000000000000000000000000000000000000000000000001', 'n': 7}
    >>> from_plain(T.array(T.option(T.U256)), [None, 1 << 200])
    [None, 1606938044258990275541962092341162602522202993782792835301376]
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import uuid
from collections.abc import Mapping
from typing import Any

from .sats_json import SatsJsonError, _hex_256, _is_int, from_json
from .types import (
    CONNECTION_ID_TAG,
    EMPTY_TYPESPACE,
    IDENTITY_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
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
    TimeDuration,
    Timestamp,
)

__all__ = ["from_plain", "product_fields", "to_plain"]


def to_plain(ty: AlgebraicType, value: Any, typespace: Typespace | None = None) -> Any:
    """``value`` (of type ``ty``) as plain JSON: what the command line prints, made for ``jq``.

    ``value`` is in the generic representation (products as dicts, dataclasses or tuples;
    sums as :class:`.SumValue`; options as ``None``/value); the result is made of dicts,
    lists, strings, numbers, booleans and ``None``, ready for :func:`json.dumps`.  The forms
    are listed in the module docstring.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T, SumValue, Timestamp
        >>> to_plain(T.product({"id": T.U32, "nick": T.option(T.STRING)}), {"id": 1, "nick": None})
        {'id': 1, 'nick': None}
        >>> to_plain(T.sum({"Circle": T.U32, "Empty": T.unit()}), SumValue("Circle", 3))
        {'Circle': 3}
        >>> to_plain(T.timestamp(), Timestamp(0))
        '1970-01-01T00:00:00.000000Z'
    """
    ts = typespace or EMPTY_TYPESPACE
    ty = ts.resolve(ty)
    if isinstance(ty, PrimitiveType):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value
    if isinstance(ty, ArrayType):
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).hex()
        return [to_plain(ty.elem, v, ts) for v in value]
    if isinstance(ty, ProductType):
        kind = ty.special_kind()
        if kind is not None:
            return _plain_special(kind, value)
        fields = product_fields(ty, value)
        return {
            name: to_plain(e.algebraic_type, v, ts)
            for name, e, v in zip(ty.names(), ty.elements, fields, strict=True)
        }
    assert isinstance(ty, SumType)
    return _plain_sum(ty, value, ts)


def from_plain(ty: AlgebraicType, obj: Any, typespace: Typespace | None = None) -> Any:
    """Read plain JSON (see :func:`to_plain`) back into the generic value of type ``ty``.

    The inverse of :func:`to_plain` (except for the two things plain JSON cannot say, see
    the module docstring); SATS-JSON is accepted too.  Raises
    :class:`.sats_json.SatsJsonError` on input that does not fit ``ty``, with the path
    of the offending part.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> shape = T.sum({"Empty": T.unit(), "Circle": T.U32})
        >>> row = T.product({"at": T.timestamp(), "shape": shape})
        >>> from_plain(row, {"at": "2024-01-01T00:00:00Z", "shape": "Empty"})
        {'at': Timestamp(micros=1704067200000000), 'shape': SumValue(tag='Empty', value=None)}
    """
    ts = typespace or EMPTY_TYPESPACE
    return from_json(ty, _sats_from_plain(ty, obj, ts), ts)


# ---- writing -----------------------------------------------------------------------------------


def _plain_special(kind: str, value: Any) -> Any:
    if isinstance(value, Identity | ConnectionId):
        return value.to_hex()
    if isinstance(value, Timestamp):
        try:
            return value.to_iso()
        except OverflowError:  # outside years 1..9999: the number is still exact
            return value.micros
    if isinstance(value, TimeDuration):
        return value.micros
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def product_fields(ty: ProductType, value: Any) -> list[Any]:
    """The field values of a product value, in ``ty``'s order: from a dict (by name), a
    generated or run-time row class (``__sats_fields__``), any dataclass, or a sequence.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType as T
        >>> product_fields(T.product({"a": T.U8, "b": T.U8}), {"b": 2, "a": 1})
        [1, 2]
    """
    if isinstance(value, Mapping):
        return [value.get(name) for name in ty.names()]
    names = getattr(value, "__sats_fields__", None)
    if names is None and dataclasses.is_dataclass(value):
        names = [f.name for f in dataclasses.fields(value)]
    if names is not None:
        return [getattr(value, n) for n in names]
    return list(value)


def _plain_sum(ty: SumType, value: Any, ts: Typespace) -> Any:
    if ty.is_option():
        if value is None:
            return None
        inner = value.value if isinstance(value, Some) else value
        return to_plain(ty.variants[0].algebraic_type, inner, ts)
    if ty.is_result():
        if isinstance(value, Err):
            return {"err": to_plain(ty.variants[1].algebraic_type, value.error, ts)}
        ok = value.value if isinstance(value, Ok) else value
        return {"ok": to_plain(ty.variants[0].algebraic_type, ok, ts)}
    if isinstance(value, ScheduleAt):
        duration = getattr(value, "duration", None)
        if isinstance(duration, TimeDuration):
            return {"Interval": duration.micros}
        return {"Time": _plain_special(TIMESTAMP_TAG, getattr(value, "time", None))}
    tag = getattr(value, "tag", None)
    for i, variant in enumerate(ty.variants):
        if (variant.name if variant.name is not None else str(i)) == tag:
            payload_type = ts.resolve(variant.algebraic_type)
            if payload_type.is_unit():
                return tag
            return {tag: to_plain(payload_type, value.value, ts)}
    return str(value)


# ---- reading -----------------------------------------------------------------------------------


def _sats_from_plain(ty: AlgebraicType, v: Any, ts: Typespace) -> Any:
    """Rewrite plain JSON (see :func:`to_plain`) into SATS-JSON for ``sats_json.from_json``.

    Only the spots where the two forms differ are rewritten; everything else passes
    through, so ``from_json`` reports type mismatches with their path.
    """
    ty = ts.resolve(ty)
    if isinstance(ty, ProductType):
        kind = ty.special_kind()
        if kind is not None:
            return {kind: _special_from_plain(kind, v)} if not isinstance(v, Mapping) else v
        elements = dict(zip(ty.names(), ty.elements, strict=True))
        if isinstance(v, Mapping):
            return {
                k: _sats_from_plain(elements[k].algebraic_type, x, ts) if k in elements else x
                for k, x in v.items()
            }
        if isinstance(v, list) and len(v) == len(ty.elements):
            return [
                _sats_from_plain(e.algebraic_type, x, ts)
                for e, x in zip(ty.elements, v, strict=True)
            ]
        return v
    if isinstance(ty, ArrayType) and isinstance(v, list):
        return [_sats_from_plain(ty.elem, x, ts) for x in v]
    if isinstance(ty, SumType):
        return _sum_from_plain(ty, v, ts)
    if isinstance(ty, PrimitiveType) and ty.kind in ("U256", "I256") and _is_int(v):
        return _hex_256(v)  # SATS-JSON spells 256-bit ints in hex
    return v


def _sum_from_plain(ty: SumType, v: Any, ts: Typespace) -> Any:
    if ty.is_option():
        if v is None:
            return {"none": []}
        return {"some": _sats_from_plain(ty.variants[0].algebraic_type, v, ts)}
    variants = {
        var.name if var.name is not None else str(i): var for i, var in enumerate(ty.variants)
    }
    if isinstance(v, str):
        if v not in variants:
            raise SatsJsonError(f"unknown variant {v!r}; expected one of {', '.join(variants)}")
        return {v: []}
    if isinstance(v, Mapping) and len(v) == 1:
        ((name, payload),) = v.items()
        if name in variants:
            return {name: _sats_from_plain(variants[name].algebraic_type, payload, ts)}
    return v


def _special_from_plain(kind: str, v: Any) -> Any:
    if kind == IDENTITY_TAG and isinstance(v, str):
        return "0x" + v.removeprefix("0x")
    if kind == CONNECTION_ID_TAG and isinstance(v, str):
        try:
            return int(v.removeprefix("0x"), 16)
        except ValueError:
            return v
    if kind == TIMESTAMP_TAG and isinstance(v, str):
        try:
            when = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return v
        return Timestamp.from_datetime(when).micros
    if kind == UUID_TAG and isinstance(v, str):
        try:
            return uuid.UUID(v).int
        except ValueError:
            return v
    return v
