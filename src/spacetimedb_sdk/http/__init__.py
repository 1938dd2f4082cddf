"""The SpacetimeDB HTTP API client: ``spacetimedb_sdk.http``.

:class:`HttpClient` (blocking) and :class:`AsyncHttpClient` (asyncio) mirror each
other method for method; the implementation is in :mod:`.client`.

Example::

    from spacetimedb_sdk.http import HttpClient

    with HttpClient("http://127.0.0.1:3000") as http:
        identity, token = http.create_identity()
"""

from .client import AsyncHttpClient, HttpClient, HttpError, http_base
from .results import SqlResult

__all__ = ["AsyncHttpClient", "HttpClient", "HttpError", "SqlResult", "http_base"]
