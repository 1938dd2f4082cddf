"""The SATS-JSON form of types, as served by ``/schema`` (``{"U32": []}``, ``{"Ref": 3}``, ...).

:func:`type_from_json` checks the JSON and builds the type with the constructors it is
given (:class:`TypeBuilders`), so this module does not import the classes it builds:
:mod:`.types` imports it and hands it its own (``AlgebraicType.from_json`` is the public
entry point).  The types write their JSON themselves (``to_json``), with
:func:`opt_name_json` for the names of fields and variants.

Example::

    >>> build = TypeBuilders({"U8": "u8"}, "ref{}".format, "[{}]".format, str, str)
    >>> type_from_json({"Array": {"Ref": 2}}, "<type>", build)
    '[ref2]'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..errors import SchemaError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TypeBuilders(Generic[T]):
    """The constructors a reader of types calls: one per kind of type.

    ``product`` and ``sum`` get the members as ``[(name or None, type), ...]`` in order.

    Example::

        >>> build = TypeBuilders({"Bool": "bool"}, "ref{}".format, "[{}]".format, str, str)
        >>> build.array(build.primitives["Bool"])
        '[bool]'
    """

    primitives: Mapping[str, T]
    ref: Callable[[int], T]
    array: Callable[[T], T]
    product: Callable[[list[tuple[str | None, T]]], T]
    sum: Callable[[list[tuple[str | None, T]]], T]


def opt_name_json(name: str | None) -> dict[str, Any]:
    """The SATS-JSON ``Option<String>`` of a field's or variant's name.

    Example::

        >>> opt_name_json("x"), opt_name_json(None)
        ({'some': 'x'}, {'none': []})
    """
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


def type_from_json(obj: Any, where: str, build: TypeBuilders[T]) -> T:
    """Parse the SATS-JSON form of a type; ``where`` starts the path in error messages.

    Raises :class:`SchemaError` naming the path of the bad part.

    Example::

        >>> build = TypeBuilders({"U8": "u8"}, "ref{}".format, "[{}]".format, str, str)
        >>> type_from_json({"Array": {"U7": []}}, "typespace[0]", build)
        Traceback (most recent call last):
        ...
        spacetimedb_sdk.errors.SchemaError: typespace[0].Array: unknown AlgebraicType variant 'U7'
    """
    if not isinstance(obj, Mapping) or len(obj) != 1:
        raise SchemaError(
            f"{where}: expected a one-key object like {{'U32': []}}, got {obj!r:.200}"
        )
    ((tag, payload),) = obj.items()
    if tag in build.primitives:
        return build.primitives[tag]
    if tag == "Ref":
        if not isinstance(payload, int) or payload < 0:
            raise SchemaError(
                f"{where}: Ref payload must be a non-negative integer, got {payload!r}"
            )
        return build.ref(payload)
    if tag == "Array":
        return build.array(type_from_json(payload, f"{where}.Array", build))
    if tag in ("Product", "Sum"):
        key = "elements" if tag == "Product" else "variants"
        members = [
            (
                _opt_from_json(m.get("name"), f"{where}.{key}[{i}]"),
                type_from_json(m.get("algebraic_type"), f"{where}.{key}[{i}]", build),
            )
            for i, m in enumerate(_members(payload, key, where))
        ]
        return build.product(members) if tag == "Product" else build.sum(members)
    raise SchemaError(f"{where}: unknown AlgebraicType variant {tag!r}")


def types_from_json(obj: Any, build: TypeBuilders[T]) -> list[T]:
    """The types of a typespace's SATS-JSON: ``{"types": [...]}`` or a bare list of types.

    Example::

        >>> build = TypeBuilders({"U8": "u8"}, "ref{}".format, "[{}]".format, str, str)
        >>> types_from_json({"types": [{"U8": []}, {"Ref": 0}]}, build)
        ['u8', 'ref0']
    """
    items = obj["types"] if isinstance(obj, Mapping) else obj
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise SchemaError(
            f"Typespace JSON must be a list or {{'types': [...]}}, got {type(obj).__name__}"
        )
    return [type_from_json(t, f"typespace[{i}]", build) for i, t in enumerate(items)]


def _members(payload: Any, key: str, where: str) -> list[Mapping[str, Any]]:
    items = payload.get(key) if isinstance(payload, Mapping) else None
    if not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items):
        raise SchemaError(f"{where}: expected {{'{key}': [...]}}, got {payload!r:.200}")
    return items


__all__ = ["TypeBuilders", "opt_name_json", "type_from_json", "types_from_json"]
