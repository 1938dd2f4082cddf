"""The 0.7 Python SDK API over the 2.x core: the runtime of ``--compat-07`` bindings.

``spacetimedb-py generate --compat-07`` writes, beside the 2.x bindings, the modules
0.7 clients import (``module_bindings.user.User`` with ``filter_by_identity``,
``module_bindings.send_message_reducer`` with ``send_message`` and
``register_on_send_message``, ...).  They call the functions below, which act on
the current client, ``SpacetimeDBClient.instance`` (created by
``SpacetimeDBAsyncClient(module_bindings)`` or ``SpacetimeDBClient.init(...)``).
Table and reducer names are the canonical (wire) names.

Example::

    from spacetimedb_sdk import compat

    compat.register_row_update("user", lambda op, old, new, reducer_event: print(op, new))
    compat.call_reducer("send_message", "hello")
    me = compat.find_by("user", "identity", compat.current().identity)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import SpacetimeDBError
from ._client import SpacetimeDBClient
from ._events import ReducerEvent, TransactionUpdateMessage

__all__ = [
    "ReducerEvent",
    "SpacetimeDBClient",
    "TransactionUpdateMessage",
    "call_reducer",
    "current",
    "filter_by",
    "find_by",
    "iter_rows",
    "register_on_reducer",
    "register_row_update",
]


def current() -> SpacetimeDBClient:
    """The current 0.7 client; raises if none was created yet.

    Example::

        client = current()
        client.identity
    """
    client = SpacetimeDBClient.instance
    if client is None:
        raise SpacetimeDBError(
            "no SpacetimeDB client yet: create SpacetimeDBAsyncClient(module_bindings) or call "
            "SpacetimeDBClient.init(...) before using the module_bindings functions"
        )
    return client


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
