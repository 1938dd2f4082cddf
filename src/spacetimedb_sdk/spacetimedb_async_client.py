"""The 0.7 module path of the asyncio client, kept for 0.7 code (python-api.md §10).

The implementation lives in :mod:`spacetimedb_sdk.compat.async_client`.

Example::

    from spacetimedb_sdk.spacetimedb_async_client import SpacetimeDBAsyncClient

    client = SpacetimeDBAsyncClient(module_bindings)
"""

from .compat.async_client import SpacetimeDBAsyncClient, SpacetimeDBException

__all__ = ["SpacetimeDBAsyncClient", "SpacetimeDBException"]
