"""Row classes for a TypeScript module's tables and views.

The datastore keeps rows as Python objects of the table's row class (compared, keyed and indexed
through :class:`~...sats.ordering.KeyCompiler`, encoded by the bound BSATN codecs), whatever
language the module is written in.  A Python module declares its classes; for a TypeScript module
they are made here from the row types it describes: frozen, slotted dataclasses whose fields are
the columns (a column whose name is no Python identifier gets an escaped attribute, and
``__sats_fields__`` maps attributes to columns, as generated bindings do).

Each class also carries the row's BSATN once known (:func:`cached_bsatn`): rows inserted by the
module arrive as BSATN, and scans send them back as BSATN, so a row read many times is encoded
once.

Example::

    >>> from spacetimedb_sdk.sats import AlgebraicType as T
    >>> Person = row_class("Person", T.product({"name": T.STRING, "from": T.U8}))
    >>> Person("Ada", 3)
    Person(name='Ada', from_=3)
    >>> Person.__sats_fields__
    ('name', 'from_')
"""

from __future__ import annotations

import dataclasses
import keyword
import re
from collections.abc import Callable
from typing import Any

from ...sats.types import ProductType

_NOT_IDENT = re.compile(r"\W")


class TsRow:
    """The base of every row class made here: a slot for the row's cached BSATN."""

    __slots__ = ("_bsatn",)


def _attr(name: str | None, index: int, taken: set[str]) -> str:
    attr = name if name else f"_{index}"
    attr = _NOT_IDENT.sub("_", attr)
    if attr[0].isdigit():
        attr = "_" + attr
    if keyword.iskeyword(attr) or attr.startswith("__"):
        attr += "_"
    while attr in taken:
        attr += "_"
    taken.add(attr)
    return attr


def _class_name(name: str) -> str:
    clean = _NOT_IDENT.sub("_", name) or "Row"
    return "_" + clean if clean[0].isdigit() else clean


def row_class(name: str, row_type: ProductType) -> type:
    """A frozen dataclass for rows of ``row_type`` (see the module docstring)."""
    taken: set[str] = set()
    attrs = tuple(_attr(e.name, i, taken) for i, e in enumerate(row_type.elements))
    cls: type = dataclasses.make_dataclass(
        _class_name(name),
        [(a, Any) for a in attrs],
        bases=(TsRow,),
        frozen=True,
        slots=True,
        namespace={"__sats_fields__": attrs, "__module__": __name__},
    )
    return cls


def cached_bsatn(row: Any, encode: Callable[[Any], bytes]) -> bytes:
    """The BSATN of ``row``: cached on it if it is a :class:`TsRow`, else ``encode(row)``."""
    try:
        data: bytes = row._bsatn
        return data
    except AttributeError:
        pass
    data = encode(row)
    if isinstance(row, TsRow):
        object.__setattr__(row, "_bsatn", data)
    return data


def remember_bsatn(row: Any, data: bytes) -> Any:
    """Record that ``row`` (just decoded from ``data``) encodes as ``data``; returns ``row``."""
    if isinstance(row, TsRow):
        object.__setattr__(row, "_bsatn", data)
    return row
