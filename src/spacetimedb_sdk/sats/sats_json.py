"""SATS-JSON: the JSON form of SATS values used by the HTTP API and the schema endpoint.

Two output flavours exist on the server (``crates/sats/src/ser/serde.rs``):

* **typed** (:func:`to_json`), what the server writes for values whose Rust type
  is known (schemas, HTTP responses of derived structs): products are objects keyed
  by field name, sums are ``{"Variant": payload}``, a unit payload is ``[]``;
* **untyped** (:func:`to_json_untyped`), what it writes for bare ``AlgebraicValue``s
  (``/sql`` rows, procedure results over HTTP): products are arrays ``[v0, v1, …]``
  and sums ``[tag, payload]``.

In both, integers up to 128 bits are JSON numbers, ``u256``/``i256`` are hex
strings ``"0x2a"`` / ``"-0x2a"`` (no leading zeros, from the ``ethnum`` crate),
``Array<U8>`` is a lowercase hex string without ``0x``, non-finite floats are
``null``.  The special types are ordinary one-field products, so an
:class:`Identity` is ``{"__identity__": "0xc200…"}`` (u256 hex, leading zeros
dropped) typed or ``["0xc200…"]`` untyped; a :class:`ConnectionId` is
``{"__connection_id__": <u128 number>}``; a :class:`Timestamp` is
``{"__timestamp_micros_since_unix_epoch__": <i64>}``; a :class:`TimeDuration`
``{"__time_duration_micros__": <i64>}``; a ``uuid.UUID`` ``{"__uuid__": <u128>}``.
(The bare hex string without ``0x`` seen in ``/v1/identity`` responses is a
different, non-SATS serialization and is not produced here.)

One divergence is deliberate: the server writes the unit value of a *dynamically*
typed product as ``{}`` but a derived Rust ``()`` as ``[]``; this module always
writes ``[]`` (the schema form) and reads both.  ``F32`` values are written as the
Python float they hold, not re-rounded to the shortest ``f32`` decimal.

:func:`from_json` is the lenient reader of ``crates/sats/src/de/serde.rs``:
products from arrays or objects, sums from ``{"name": v}``, ``{"<decimal tag>": v}``
or ``[tag_or_name, v]``, ``null`` for an option's ``none``, bytes from hex or a list
of numbers, ``u256``/``i256`` from ``"0x…"`` strings.  Values follow the generic
conventions of :mod:`spacetimedb_sdk.sats` (products → ``dict``, sums →
:class:`SumValue`, options → ``None``/value, …).

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T
    >>> ty = T.product({"id": T.U64, "name": T.option(T.STRING)})
    >>> to_json(ty, {"id": 1, "name": None})
    {'id': 1, 'name': {'none': []}}
    >>> to_json_untyped(ty, {"id": 1, "name": "Bob"})
    [1, [0, 'Bob']]
    >>> from_json(ty, [1, None])
    {'id': 1, 'name': None}
"""

from __future__ import annotations

import math
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import SchemaError, SpacetimeDBError
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

__all__ = ["SatsJsonError", "from_json", "to_json", "to_json_untyped"]


class SatsJsonError(SpacetimeDBError, ValueError):
    """A value does not match its type in SATS-JSON (either direction).

    ``path`` locates the offending part, e.g. ``<root>.sender.__identity__``.

    Example::

        >>> try:
        ...     from_json(AlgebraicType.U8, 300)
        ... except SatsJsonError as e:
        ...     print(e.path)
        <root>
    """

    def __init__(self, reason: str, *, path: str = "<root>") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{reason} (at {path})")


_INT_BITS = {
    "U8": (False, 8), "U16": (False, 16), "U32": (False, 32), "U64": (False, 64),
    "U128": (False, 128), "U256": (False, 256),
    "I8": (True, 8), "I16": (True, 16), "I32": (True, 32), "I64": (True, 64),
    "I128": (True, 128), "I256": (True, 256),
}  # fmt: skip
_INT_RANGE = {
    k: ((-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1))
    for k, (signed, bits) in _INT_BITS.items()
}
_HEX_BYTES = re.compile(r"(?:[0-9a-fA-F]{2})*")
_HEX_256 = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]+)")


def to_json(ty: AlgebraicType, value: Any, typespace: Typespace | None = None) -> Any:
    """The server's *typed* SATS-JSON of ``value`` (products as objects, sums by name).

    Example::

        >>> to_json(AlgebraicType.identity(), Identity(0x2a))
        {'__identity__': '0x2a'}
    """
    return _Writer(typespace, typed=True).write(ty, value, "<root>")


def to_json_untyped(ty: AlgebraicType, value: Any, typespace: Typespace | None = None) -> Any:
    """The server's *untyped* SATS-JSON (products as arrays, sums as ``[tag, payload]``).

    Example::

        >>> to_json_untyped(AlgebraicType.option(AlgebraicType.U8), None)
        [1, []]
    """
    return _Writer(typespace, typed=False).write(ty, value, "<root>")


def from_json(
    ty: AlgebraicType, obj: Any, typespace: Typespace | None = None, *, tolerant: bool = False
) -> Any:
    """Read SATS-JSON (either flavour, leniently) into the generic Python value.

    With ``tolerant=True`` (used for module schemas from other server versions) an
    object key that is not a field is ignored with a :class:`UserWarning`, and a
    missing field whose type has an obvious empty value (array, option, bool, unit)
    takes it; otherwise both are errors, as on the server.

    Example::

        >>> from_json(AlgebraicType.result(AlgebraicType.U32, AlgebraicType.STRING), {"ok": 7})
        Ok(value=7)
    """
    return _Reader(typespace, tolerant).read(ty, obj, "<root>")


def _resolve(ty: AlgebraicType, typespace: Typespace | None, path: str) -> AlgebraicType:
    if not isinstance(ty, RefType):
        return ty
    if typespace is None:
        raise SatsJsonError(f"type Ref({ty.index}) needs a typespace", path=path)
    try:
        return typespace.resolve(ty)
    except SchemaError as e:
        raise SatsJsonError(str(e), path=path) from None


def _check_int(kind: str, v: int, path: str) -> int:
    lo, hi = _INT_RANGE[kind]
    if not lo <= v <= hi:
        raise SatsJsonError(f"{v} is out of range for {kind} [{lo}, {hi}]", path=path)
    return v


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _hex_256(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


def _special_to_int(tag: str, value: Any, path: str) -> int:
    """The integer inside a special product, from its Python class or a plain int."""
    if isinstance(value, Mapping) and set(value) == {tag}:
        value = value[tag]
    expected: type[Any] = {
        IDENTITY_TAG: Identity,
        CONNECTION_ID_TAG: ConnectionId,
        TIMESTAMP_TAG: Timestamp,
        TIME_DURATION_TAG: TimeDuration,
        UUID_TAG: uuid.UUID,
    }[tag]
    if isinstance(value, expected):
        if isinstance(value, uuid.UUID):
            return value.int
        return int(value)
    if _is_int(value):
        return int(value)
    raise SatsJsonError(
        f"expected {expected.__name__} for {tag}, got {type(value).__name__}", path=path
    )


def _special_from_int(tag: str, v: int) -> Any:
    if tag == IDENTITY_TAG:
        return Identity(v)
    if tag == CONNECTION_ID_TAG:
        return ConnectionId(v)
    if tag == TIMESTAMP_TAG:
        return Timestamp(v)
    if tag == TIME_DURATION_TAG:
        return TimeDuration(v)
    return uuid.UUID(int=v)


def _is_unit_value(value: Any) -> bool:
    return value is None or (isinstance(value, (Mapping, tuple, list)) and len(value) == 0)


class _Writer:
    """Python value → SATS-JSON, walking the type alongside the value."""

    def __init__(self, typespace: Typespace | None, typed: bool) -> None:
        self.typespace = typespace
        self.typed = typed

    def write(self, ty: AlgebraicType, value: Any, path: str) -> Any:
        ty = _resolve(ty, self.typespace, path)
        if isinstance(ty, PrimitiveType):
            return self._primitive(ty.kind, value, path)
        if isinstance(ty, ArrayType):
            return self._array(ty, value, path)
        if isinstance(ty, ProductType):
            return self._product(ty, value, path)
        if isinstance(ty, SumType):
            return self._sum(ty, value, path)
        raise SatsJsonError(f"not an AlgebraicType: {ty!r}", path=path)

    def _primitive(self, kind: str, value: Any, path: str) -> Any:
        if kind == "Bool":
            if not isinstance(value, bool):
                raise SatsJsonError(f"expected bool, got {type(value).__name__}", path=path)
            return value
        if kind == "String":
            if not isinstance(value, str):
                raise SatsJsonError(f"expected str, got {type(value).__name__}", path=path)
            return value
        if kind in ("F32", "F64"):
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise SatsJsonError(
                    f"expected float for {kind}, got {type(value).__name__}", path=path
                )
            f = float(value)
            # serde_json has no NaN/inf; the server writes null for them.
            return f if math.isfinite(f) else None
        if not _is_int(value):
            raise SatsJsonError(f"expected int for {kind}, got {type(value).__name__}", path=path)
        v = _check_int(kind, int(value), path)
        return _hex_256(v) if kind in ("U256", "I256") else v

    def _array(self, ty: ArrayType, value: Any, path: str) -> Any:
        elem = _resolve(ty.elem, self.typespace, path)
        if elem == AlgebraicType.U8 and isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value).hex()
        if elem == AlgebraicType.U8 and not isinstance(value, (list, tuple)):
            raise SatsJsonError(f"expected bytes, got {type(value).__name__}", path=path)
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise SatsJsonError(f"expected a list, got {type(value).__name__}", path=path)
        if elem == AlgebraicType.U8:
            return bytes(
                self._primitive("U8", v, f"{path}[{i}]") for i, v in enumerate(value)
            ).hex()
        return [self.write(elem, v, f"{path}[{i}]") for i, v in enumerate(value)]

    def _product(self, ty: ProductType, value: Any, path: str) -> Any:
        tag = ty.special_kind()
        if tag is not None:
            inner_ty = ty.elements[0].algebraic_type
            assert isinstance(inner_ty, PrimitiveType)  # guaranteed by special_kind()
            inner = self._primitive(
                inner_ty.kind, _special_to_int(tag, value, path), f"{path}.{tag}"
            )
            return {tag: inner} if self.typed else [inner]
        if not ty.elements:
            if not _is_unit_value(value):
                raise SatsJsonError(f"expected the unit value {{}}, got {value!r:.80}", path=path)
            return []
        names = ty.names()
        items = self._product_items(ty, names, value, path)
        if self.typed and all(e.name is not None for e in ty.elements):
            return dict(zip(names, items, strict=True))
        # Unnamed fields cannot be object keys; the server would refuse, an array is readable.
        return items

    def _product_items(self, ty: ProductType, names: list[str], value: Any, path: str) -> list[Any]:
        if isinstance(value, Mapping):
            extra = set(value) - set(names)
            if extra:
                raise SatsJsonError(
                    f"unknown field(s) {sorted(map(str, extra))} for product with fields {names}",
                    path=path,
                )
            missing = [n for n in names if n not in value]
            if missing:
                raise SatsJsonError(f"missing field(s) {missing}", path=path)
            return [
                self.write(e.algebraic_type, value[n], f"{path}.{n}")
                for e, n in zip(ty.elements, names, strict=True)
            ]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise SatsJsonError(
                    f"expected {len(names)} fields, got a sequence of {len(value)}", path=path
                )
            return [
                self.write(e.algebraic_type, v, f"{path}.{n}")
                for e, n, v in zip(ty.elements, names, value, strict=True)
            ]
        raise SatsJsonError(f"expected a dict for a product, got {type(value).__name__}", path=path)

    def _variant(self, ty: SumType, tag: int, payload: Any, path: str) -> Any:
        var = ty.variants[tag]
        name = var.name if var.name is not None else str(tag)
        sub = f"{path}::{name}"
        if var.algebraic_type.is_unit() and payload is None:
            out: Any = []
        else:
            out = self.write(var.algebraic_type, payload, sub)
        if self.typed and var.name is not None:
            return {var.name: out}
        return [tag, out]

    def _sum(self, ty: SumType, value: Any, path: str) -> Any:
        if ty.is_option():
            if value is None:
                return self._variant(ty, 1, None, path)
            inner = value.value if isinstance(value, Some) else value
            return self._variant(ty, 0, inner, path)
        if isinstance(value, Ok) and ty.is_result():
            return self._variant(ty, 0, value.value, path)
        if isinstance(value, Err) and ty.is_result():
            return self._variant(ty, 1, value.error, path)
        if isinstance(value, ScheduleAt.Interval) and ty.is_schedule_at():
            return self._variant(ty, 0, value.duration, path)
        if isinstance(value, ScheduleAt.Time) and ty.is_schedule_at():
            return self._variant(ty, 1, value.time, path)
        if isinstance(value, SumValue):
            return self._variant(ty, self._tag_of(ty, value.tag, path), value.value, path)
        raise SatsJsonError(
            f"expected SumValue/Ok/Err/ScheduleAt for a sum, got {type(value).__name__}", path=path
        )

    @staticmethod
    def _tag_of(ty: SumType, name: str, path: str) -> int:
        for i, v in enumerate(ty.variants):
            if v.name == name or (v.name is None and str(i) == name):
                return i
        names = [v.name for v in ty.variants]
        raise SatsJsonError(f"unknown variant {name!r}; variants are {names}", path=path)


class _Reader:
    """SATS-JSON → Python value, as leniently as the server's deserializer."""

    def __init__(self, typespace: Typespace | None, tolerant: bool) -> None:
        self.typespace = typespace
        self.tolerant = tolerant

    def read(self, ty: AlgebraicType, obj: Any, path: str) -> Any:
        ty = _resolve(ty, self.typespace, path)
        if isinstance(ty, PrimitiveType):
            return self._primitive(ty.kind, obj, path)
        if isinstance(ty, ArrayType):
            return self._array(ty, obj, path)
        if isinstance(ty, ProductType):
            return self._product(ty, obj, path)
        if isinstance(ty, SumType):
            return self._sum(ty, obj, path)
        raise SatsJsonError(f"not an AlgebraicType: {ty!r}", path=path)

    def _primitive(self, kind: str, obj: Any, path: str) -> Any:
        if kind == "Bool":
            if not isinstance(obj, bool):
                raise SatsJsonError(f"expected true/false, got {obj!r:.80}", path=path)
            return obj
        if kind == "String":
            if not isinstance(obj, str):
                raise SatsJsonError(f"expected a string, got {obj!r:.80}", path=path)
            return obj
        if kind in ("F32", "F64"):
            if not isinstance(obj, (int, float)) or isinstance(obj, bool):
                raise SatsJsonError(f"expected a number for {kind}, got {obj!r:.80}", path=path)
            return float(obj)
        if kind in ("U256", "I256"):
            return _check_int(kind, self._hex_256(kind, obj, path), path)
        if not _is_int(obj):
            raise SatsJsonError(f"expected an integer for {kind}, got {obj!r:.80}", path=path)
        return _check_int(kind, int(obj), path)

    @staticmethod
    def _hex_256(kind: str, obj: Any, path: str) -> int:
        m = _HEX_256.fullmatch(obj) if isinstance(obj, str) else None
        if m is None:
            raise SatsJsonError(
                f"expected a 0x-prefixed hex string for {kind}, got {obj!r:.80}", path=path
            )
        v = int(m.group(2), 16)
        return -v if m.group(1) == "-" else v

    def _array(self, ty: ArrayType, obj: Any, path: str) -> Any:
        elem = _resolve(ty.elem, self.typespace, path)
        if elem == AlgebraicType.U8:
            if isinstance(obj, str):
                if _HEX_BYTES.fullmatch(obj) is None:
                    raise SatsJsonError(f"invalid hex string for bytes: {obj!r:.80}", path=path)
                return bytes.fromhex(obj)
            if isinstance(obj, list):
                return bytes(self._primitive("U8", v, f"{path}[{i}]") for i, v in enumerate(obj))
            raise SatsJsonError(
                f"expected a hex string or list for bytes, got {obj!r:.80}", path=path
            )
        if not isinstance(obj, list):
            raise SatsJsonError(f"expected an array, got {obj!r:.80}", path=path)
        return [self.read(elem, v, f"{path}[{i}]") for i, v in enumerate(obj)]

    def _product(self, ty: ProductType, obj: Any, path: str) -> Any:
        names = ty.names()
        if isinstance(obj, list):
            if len(obj) != len(names):
                raise SatsJsonError(
                    f"expected an array of {len(names)} fields {names}, got {len(obj)}", path=path
                )
            pairs = list(zip(names, obj, strict=True))
        elif isinstance(obj, Mapping):
            pairs = self._named_fields(ty, names, obj, path)
        else:
            raise SatsJsonError(
                f"expected an object or array for a product, got {obj!r:.80}", path=path
            )
        out = {
            n: self.read(e.algebraic_type, v, f"{path}.{n}")
            for e, (n, v) in zip(ty.elements, pairs, strict=True)
        }
        tag = ty.special_kind()
        if tag is not None:
            try:
                return _special_from_int(tag, out[tag])
            except (TypeError, ValueError) as e:
                raise SatsJsonError(str(e), path=path) from None
        return out

    def _named_fields(
        self, ty: ProductType, names: list[str], obj: Mapping[str, Any], path: str
    ) -> list[tuple[str, Any]]:
        extra = [k for k in obj if k not in names]
        if extra and not self.tolerant:
            raise SatsJsonError(f"unknown field(s) {extra}; expected {names}", path=path)
        for k in extra:
            warnings.warn(f"ignoring unknown field {k!r} at {path}", UserWarning, stacklevel=2)
        pairs: list[tuple[str, Any]] = []
        for e, n in zip(ty.elements, names, strict=True):
            if n in obj:
                pairs.append((n, obj[n]))
            elif self.tolerant and (default := self._empty_json(e.algebraic_type)) is not None:
                pairs.append((n, default[0]))
            else:
                raise SatsJsonError(f"missing field {n!r}; expected {names}", path=path)
        return pairs

    def _empty_json(self, ty: AlgebraicType) -> tuple[Any] | None:
        """The JSON of a natural empty value for a missing field, boxed; ``None`` if none."""
        ty = _resolve(ty, self.typespace, "<default>")
        if isinstance(ty, ArrayType):
            return ([],)
        if isinstance(ty, SumType) and ty.is_option():
            return (None,)
        if ty == AlgebraicType.BOOL:
            return (False,)
        if isinstance(ty, ProductType) and ty.is_unit():
            return ([],)
        return None

    def _sum(self, ty: SumType, obj: Any, path: str) -> Any:
        if obj is None and ty.is_option():
            return None
        tag, payload = self._tag_and_payload(ty, obj, path)
        var = ty.variants[tag]
        name = var.name if var.name is not None else str(tag)
        value = self.read(var.algebraic_type, payload, f"{path}::{name}")
        if ty.is_option():
            if tag == 1:
                return None
            inner = _resolve(var.algebraic_type, self.typespace, path)
            return Some(value) if isinstance(inner, SumType) and inner.is_option() else value
        if ty.is_result():
            return Ok(value) if tag == 0 else Err(value)
        if ty.is_schedule_at():
            return ScheduleAt.Interval(value) if tag == 0 else ScheduleAt.Time(value)
        unit = _resolve(var.algebraic_type, self.typespace, path)
        return SumValue(name, None if isinstance(unit, ProductType) and unit.is_unit() else value)

    def _tag_and_payload(self, ty: SumType, obj: Any, path: str) -> tuple[int, Any]:
        if isinstance(obj, Mapping) and len(obj) == 1:
            ((key, payload),) = obj.items()
            return self._tag(ty, key, path), payload
        if isinstance(obj, list) and len(obj) == 2:
            return self._tag(ty, obj[0], path), obj[1]
        names = [v.name for v in ty.variants]
        raise SatsJsonError(
            f"expected {{variant: payload}} or [tag, payload] for a sum with variants {names}, "
            f"got {obj!r:.80}",
            path=path,
        )

    @staticmethod
    def _tag(ty: SumType, key: Any, path: str) -> int:
        # Like the server: a key that parses as a u8 is a tag, anything else a name.
        if isinstance(key, str) and key.isascii() and key.isdigit() and int(key) < 256:
            key = int(key)
        if _is_int(key):
            if 0 <= key < len(ty.variants):
                return int(key)
            raise SatsJsonError(f"sum tag {key} out of range 0..{len(ty.variants) - 1}", path=path)
        if isinstance(key, str):
            for i, v in enumerate(ty.variants):
                if v.name == key:
                    return i
        names = [v.name for v in ty.variants]
        raise SatsJsonError(f"unknown variant {key!r}; variants are {names}", path=path)
