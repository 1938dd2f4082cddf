"""spacetimedb-sdk: the Python SDK for SpacetimeDB 2.x.

Example::

    >>> import spacetimedb_sdk
    >>> spacetimedb_sdk.Identity.from_hex("00" * 32)
    Identity('0000000000000000000000000000000000000000000000000000000000000000')
"""

from .errors import (
    BsatnDecodeError,
    BsatnEncodeError,
    ConnectError,
    DisconnectedError,
    InternalError,
    ProcedureError,
    ProtocolError,
    ReducerError,
    SchemaError,
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

__version__ = "2.0.0.dev0"

__all__ = [
    "BsatnDecodeError",
    "BsatnEncodeError",
    "ConnectError",
    "ConnectionId",
    "DisconnectedError",
    "Err",
    "Identity",
    "InternalError",
    "Ok",
    "ProcedureError",
    "ProtocolError",
    "ReducerError",
    "ScheduleAt",
    "SchemaError",
    "Some",
    "SpacetimeDBError",
    "SubscriptionError",
    "SumValue",
    "TimeDuration",
    "Timestamp",
    "__version__",
]
