"""The 0.7 Python SDK API over the 2.x core.

The bindings 0.7 clients import (``module_bindings.user.User`` with ``filter_by_identity``,
``module_bindings.send_message_reducer`` with ``send_message`` and
``register_on_send_message``, ...), whether the 0.7 CLI wrote them or
``spacetimedb-py generate --compat-07`` did, call the 0.7 client's internals on the current
client, ``SpacetimeDBClient.instance`` (created by ``SpacetimeDBAsyncClient(module_bindings)``
or ``SpacetimeDBClient.init(...)``): ``_register_row_update``, ``_get_table_cache``,
``_reducer_call``, ``_register_reducer``.  The functions below act on that client too.
Table and reducer names may be the 0.7 module's (``User``) or the canonical ones (``user``);
rows and arguments travel in 0.7's JSON shapes (:mod:`.json07`).

Example::

    from spacetimedb_sdk import compat

    compat.register_row_update("user", lambda op, old, new, reducer_event: print(op, new))
    compat.call_reducer("send_message", "hello")
    me = compat.find_by("user", "identity", compat.current().identity)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..client.bindings import py_name
from ..errors import SpacetimeDBError
from ..sats.types import ProductType
from ..schema import ModuleSchema
from ._client import SpacetimeDBClient
from ._events import ReducerEvent, TransactionUpdateMessage
from .json07 import from_json07, to_json07

__all__ = [
    "ReducerEvent",
    "SpacetimeDBClient",
    "TransactionUpdateMessage",
    "arg_from_json07",
    "call_reducer",
    "current",
    "encode07",
    "field_from_json07",
    "filter_by",
    "find_by",
    "from_json07",
    "iter_rows",
    "register_on_reducer",
    "register_row_update",
    "to_json07",
]


def current() -> SpacetimeDBClient:
    """The current 0.7 client; raises if none was created yet.

    Example::

        client = current()
        client.identity
    """
    return SpacetimeDBClient.instance  # raises, saying what to create, when there is none


def register_row_update(
    table: str, callback: Callable[[str, Any, Any, ReducerEvent | None], object]
) -> None:
    """Call ``callback(op, old, new, reducer_event)`` on each change to ``table``.

    ``op`` is ``"insert"`` (``old`` is ``None``), ``"delete"`` (``new`` is ``None``) or
    ``"update"`` (same primary key, new value).  ``reducer_event`` is ``None`` for rows
    arriving with a subscription.

    Example::

        register_row_update("user", lambda op, old, new, ev: print(op, new))
    """
    current().register_row_update(table, callback)


def iter_rows(table: str) -> Iterator[Any]:
    """The cached rows of ``table``.

    Example::

        names = [u.name for u in iter_rows("user")]
    """
    return current().iter_rows(table)


def filter_by(table: str, column: str, value: Any) -> list[Any]:
    """The cached rows of ``table`` whose ``column`` attribute equals ``value``.

    Example::

        online = filter_by("user", "online", True)
    """
    return current().filter_by(table, column, value)


def find_by(table: str, column: str, value: Any) -> Any:
    """The cached row of ``table`` whose unique ``column`` equals ``value``, or ``None``.

    Example::

        me = find_by("user", "identity", current().identity)
    """
    return current().find_by(table, column, value)


def call_reducer(reducer: str, *args: Any) -> None:
    """Call ``reducer`` with its arguments in parameter order; results reach the callbacks.

    Example::

        call_reducer("set_name", "Alice")
    """
    current().call_reducer(reducer, *args)


def register_on_reducer(
    reducer: str,
    callback: Callable[..., object],
) -> None:
    """Call ``callback(caller_identity, caller_address, status, message, *args)`` when one of
    this client's calls of ``reducer`` finishes (``status`` is ``"committed"`` or ``"failed"``).

    Example::

        register_on_reducer("set_name", lambda who, addr, status, msg, name: print(status, msg))
    """
    current().register_on_reducer(reducer, callback)


# ---- what the modules of `generate --compat-07` call for fields 0.7 could not convert inline ----


def field_from_json07(schema: ModuleSchema, ref: int, index: int, value: Any) -> Any:
    """Field ``index`` of the product type ``ref`` of ``schema``, read from 0.7's JSON shape.

    Example::

        self.data["shape"] = compat.field_from_json07(SCHEMA, 3, 2, data[2])
    """
    product = schema.typespace[ref]
    assert isinstance(product, ProductType)
    return from_json07(product.elements[index].algebraic_type, value, schema.typespace)


def arg_from_json07(schema: ModuleSchema, reducer: str, index: int, value: Any) -> Any:
    """Argument ``index`` of reducer ``reducer`` of ``schema``, read from 0.7's JSON shape.

    Example::

        return [compat.arg_from_json07(SCHEMA, "add_shape", 0, data[0])]
    """
    found = next((r for r in schema.reducers if r.name == reducer), None)
    if found is None:
        raise SpacetimeDBError(f"the schema has no reducer named {reducer!r}")
    return from_json07(found.params.elements[index].algebraic_type, value, schema.typespace)


def encode07(schema: ModuleSchema, ref: int, data: Mapping[str, Any]) -> list[Any]:
    """A 0.7 row's ``data`` (fields by Python name) as 0.7's JSON list: its ``encode()``.

    Example::

        User(["c200...", {"1": []}, True]).encode()   # calls encode07(SCHEMA, ref, data)
    """
    product = schema.typespace[ref]
    assert isinstance(product, ProductType)
    values = [data.get(py_name(n), data.get(n)) for n in product.names()]
    generic = from_json07(product, values, schema.typespace)
    encoded: list[Any] = to_json07(product, generic, schema.typespace)
    return encoded
