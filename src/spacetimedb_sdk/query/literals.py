"""Python values as SQL literals, checked against the column type they are compared with.

Identifiers are always double-quoted (embedded ``"`` doubled), strings single-quoted
(embedded ``'`` doubled), ``Identity``/``ConnectionId``/``uuid.UUID``/``bytes`` as
``0x…`` hex, timestamps as quoted ISO-8601 with microseconds and ``Z``, booleans as
``TRUE``/``FALSE``, integers and floats exactly.  This is the only place where user
values become SQL text, so it is kept on its own: the expressions (:mod:`.expressions`)
call :func:`literal_sql` when a comparison is written, and codegen asks
:func:`literal_kind` which columns can be compared at all.

Example::

    >>> literal_sql("O'Brian", AlgebraicType.STRING), quote_identifier("user")
    ("'O''Brian'", '"user"')
"""

from __future__ import annotations

import datetime as _dt
import uuid
from decimal import Decimal

from ..sats.types import (
    CONNECTION_ID_TAG,
    IDENTITY_TAG,
    TIMESTAMP_TAG,
    UUID_TAG,
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
)
from ..sats.values import ConnectionId, Identity, Timestamp

__all__ = ["literal_kind", "literal_sql", "quote_identifier"]

_INT_RANGES = {
    "U8": (0, 2**8 - 1),
    "U16": (0, 2**16 - 1),
    "U32": (0, 2**32 - 1),
    "U64": (0, 2**64 - 1),
    "U128": (0, 2**128 - 1),
    "U256": (0, 2**256 - 1),
    "I8": (-(2**7), 2**7 - 1),
    "I16": (-(2**15), 2**15 - 1),
    "I32": (-(2**31), 2**31 - 1),
    "I64": (-(2**63), 2**63 - 1),
    "I128": (-(2**127), 2**127 - 1),
    "I256": (-(2**255), 2**255 - 1),
}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


# ---- rendering --------------------------------------------------------------------------------


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier, embedded quotes doubled.

    Example::

        >>> quote_identifier('My"Table')
        '"My""Table"'
    """
    return '"' + name.replace('"', '""') + '"'


def _quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _timestamp_sql(ts: Timestamp) -> str:
    try:
        m = _EPOCH + _dt.timedelta(microseconds=ts.micros)
    except OverflowError:
        raise ValueError(
            f"{ts!r} is outside the years 1-9999 that SQL timestamps can express"
        ) from None
    return (
        f"'{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond:06d}Z'"
    )


def _float_sql(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} has no SQL literal")
    # Fixed notation of the shortest repr: exact, and no exponent for parsers that lack it.
    text = format(Decimal(repr(float(value))), "f")
    return text


def literal_kind(ty: AlgebraicType) -> str | None:
    """What literal a column of (resolved) type ``ty`` takes, or ``None`` if SQL cannot compare it.

    Example::

        >>> literal_kind(AlgebraicType.STRING), literal_kind(AlgebraicType.option(AlgebraicType.U8))
        ('String', None)
    """
    if isinstance(ty, PrimitiveType):
        return ty.kind
    if isinstance(ty, ArrayType):
        elem = ty.elem
        return "Bytes" if isinstance(elem, PrimitiveType) and elem.kind == "U8" else None
    if isinstance(ty, ProductType):
        return ty.special_kind()
    return None


_DESCRIBE = {
    "Bytes": "bytes",
    IDENTITY_TAG: "Identity",
    CONNECTION_ID_TAG: "ConnectionId",
    TIMESTAMP_TAG: "Timestamp",
    UUID_TAG: "uuid.UUID",
}


def literal_sql(value: object, ty: AlgebraicType, *, what: str = "value") -> str:
    """The SQL literal for ``value`` compared with a column of (resolved) type ``ty``.

    Raises ``TypeError`` when the value does not fit the type and ``ValueError`` when it
    is out of range or the type has no SQL literal; ``what`` names the column in errors.

    Example::

        >>> literal_sql("O'Brian", AlgebraicType.STRING)
        "'O''Brian'"
        >>> literal_sql(True, AlgebraicType.BOOL), literal_sql(1.5, AlgebraicType.F64)
        ('TRUE', '1.5')
    """
    kind = literal_kind(ty)
    if value is None:
        raise TypeError(f"{what}: SQL has no NULL; options cannot be compared in subscriptions")
    if kind is None:
        raise TypeError(
            f"{what}: a column of type {ty!r} cannot be compared in SQL; the server compares "
            "booleans, integers, floats, strings, bytes, Identity, ConnectionId, Uuid and Timestamp"
        )
    expected = _DESCRIBE.get(kind, kind)
    if kind == "Bool":
        if not isinstance(value, bool):
            raise TypeError(f"{what} is Bool, got {type(value).__name__} {value!r}")
        return "TRUE" if value else "FALSE"
    if kind in _INT_RANGES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} is {kind}, got {type(value).__name__} {value!r}")
        lo, hi = _INT_RANGES[kind]
        if not lo <= value <= hi:
            raise ValueError(f"{what}: {value} is out of range for {kind} ({lo}..{hi})")
        return str(int(value))
    if kind in ("F32", "F64"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{what} is {kind}, got {type(value).__name__} {value!r}")
        return str(int(value)) if isinstance(value, int) else _float_sql(value)
    if kind == "String":
        if not isinstance(value, str):
            raise TypeError(f"{what} is String, got {type(value).__name__} {value!r}")
        return _quote_string(value)
    if kind == "Bytes" and isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if kind == IDENTITY_TAG and isinstance(value, Identity):
        return "0x" + value.to_hex()
    if kind == CONNECTION_ID_TAG and isinstance(value, ConnectionId):
        return "0x" + value.to_hex()
    if kind == UUID_TAG and isinstance(value, uuid.UUID):
        return "0x" + value.hex
    if kind == TIMESTAMP_TAG and isinstance(value, Timestamp):
        return _timestamp_sql(value)
    if kind in _DESCRIBE:
        raise TypeError(f"{what} is {expected}, got {type(value).__name__} {value!r}")
    raise TypeError(f"{what}: a column of type {kind} cannot be compared in SQL")
