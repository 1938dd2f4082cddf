"""spacetimedb-sdk: the Python SDK for SpacetimeDB 2.x.

Example::

    >>> import spacetimedb_sdk
    >>> spacetimedb_sdk.Identity.from_hex("00" * 32)
    Identity('0000000000000000000000000000000000000000000000000000000000000000')
"""

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    BsatnDecodeError,
    BsatnEncodeError,
    ConnectError,
    ConnectionRejectedError,
    ConnectTimeoutError,
    DisconnectedError,
    InternalError,
    ProcedureError,
    ProtocolError,
    ReducerError,
    RowDecodeError,
    SchemaError,
    ServerClosedError,
    SpacetimeDBError,
    SubscriptionError,
)
from .sats.values import (
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

if TYPE_CHECKING:
    from .client.indexes import Range
    from .connection import DbConnection


# Imported on first use: the connection pulls in websockets and httpx, which code that
# only needs values and types (the local server's modules, codecs) should not pay for.
_LAZY = {"DbConnection": ".connection", "Range": ".client.indexes"}


def __getattr__(name: str) -> Any:
    """``spacetimedb_sdk.DbConnection`` and ``spacetimedb_sdk.Range``, imported when first used."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BsatnDecodeError",
    "BsatnEncodeError",
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectionId",
    "ConnectionRejectedError",
    "DbConnection",
    "DisconnectedError",
    "Err",
    "Identity",
    "InternalError",
    "Ok",
    "ProcedureError",
    "ProtocolError",
    "Range",
    "ReducerError",
    "RowDecodeError",
    "ScheduleAt",
    "SchemaError",
    "ServerClosedError",
    "Some",
    "SpacetimeDBError",
    "SubscriptionError",
    "SumValue",
    "TimeDuration",
    "Timestamp",
    "__version__",
]
