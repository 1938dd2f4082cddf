"""The local SpacetimeDB-compatible server, with modules written in Python.

Declare a module with :class:`Module` (tables, reducers, procedures, views), then
serve it (``spacetimedb-py serve module.py``) or use it in-process.  Needs the
``[server]`` extra for the HTTP/WebSocket part; this package itself imports only the
module API.

Example::

    >>> from spacetimedb_sdk.server import Module, ReducerContext, SenderError, column
    >>> from spacetimedb_sdk import Identity
    >>> module = Module("quickstart-chat")
    >>> @module.table(public=True)
    ... class User:
    ...     identity: Identity = column(primary_key=True)
    ...     name: str | None
    ...     online: bool
    >>> module.table_schema("user").primary_key
    0
"""

from typing import TYPE_CHECKING, Any

from .datastore import (
    AutoIncOverflow,
    Datastore,
    DatastoreError,
    NoSuchRow,
    Range,
    TableSchema,
    Transaction,
    TxResult,
    UniqueConstraintViolation,
)
from .limits import ServerLimits
from .module import (
    INTERNAL_ERROR_MESSAGE,
    AnonymousViewContext,
    CallResult,
    Module,
    ProcedureContext,
    Query,
    ReducerContext,
    SenderError,
    Table,
    ViewContext,
    column,
    index,
)
from .types_from_py import sum_type

if TYPE_CHECKING:
    from .local import LocalServer


def __getattr__(name: str) -> Any:
    # LocalServer needs aiohttp (the [server] extra); module authors importing only the
    # module API should not need it, so it is imported on first use.
    if name == "LocalServer":
        from .local import LocalServer

        return LocalServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "AnonymousViewContext",
    "AutoIncOverflow",
    "CallResult",
    "Datastore",
    "DatastoreError",
    "LocalServer",
    "Module",
    "NoSuchRow",
    "ProcedureContext",
    "Query",
    "Range",
    "ReducerContext",
    "SenderError",
    "ServerLimits",
    "Table",
    "TableSchema",
    "Transaction",
    "TxResult",
    "UniqueConstraintViolation",
    "ViewContext",
    "column",
    "index",
    "sum_type",
]
