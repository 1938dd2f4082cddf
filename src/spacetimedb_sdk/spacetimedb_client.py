"""The 0.7 module path of the synchronous client, kept for 0.7 code (python-api.md §10).

``SpacetimeDBClient`` is the 0.7 client over one 2.x connection (see
:mod:`spacetimedb_sdk.compat`); ``Identity`` is the 2.x identity class and
``Address`` the 2.x ``ConnectionId`` (0.7's name for it).  ``ReducerEvent`` and
``TransactionUpdateMessage`` keep their 0.7 attributes.

Example::

    from spacetimedb_sdk.spacetimedb_client import SpacetimeDBClient

    SpacetimeDBClient.init(None, "localhost:3000", "quickstart-chat", False, module_bindings,
                           on_identity=lambda token, identity, address: print(identity))
    while True:
        SpacetimeDBClient.instance.update()
"""

from __future__ import annotations

from .compat._client import SpacetimeDBClient
from .compat._events import ReducerEvent, TransactionUpdateMessage
from .sats.values import ConnectionId, Identity

#: 0.7 called a connection's id its address.
Address = ConnectionId

__all__ = [
    "Address",
    "Identity",
    "ReducerEvent",
    "SpacetimeDBClient",
    "TransactionUpdateMessage",
]
