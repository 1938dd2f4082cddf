"""The SpacetimeDB HTTP API: identities, schemas, SQL and reducer calls.

:class:`HttpClient` (blocking) and :class:`AsyncHttpClient` (asyncio) mirror
each other method for method, as ``httpx.Client`` and ``httpx.AsyncClient`` do;
both build requests and read responses with the same functions, so they cannot
drift apart.  TLS certificates are verified unless ``verify=False`` is passed
(``verify=`` also takes an :class:`ssl.SSLContext`, for a private CA).  A request
that gets no answer within ``timeout`` seconds raises
:class:`~spacetimedb_sdk.errors.ConnectTimeoutError` (a builtin ``TimeoutError``).

Example::

    with HttpClient("http://127.0.0.1:3000") as http:
        identity, token = http.create_identity()
        rows = http.sql("quickstart-chat", "SELECT * FROM user")[0].rows
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from .._log import protect_third_party_loggers
from ..errors import (
    ConnectError,
    ConnectTimeoutError,
    InternalError,
    ReducerError,
    SpacetimeDBError,
)
from ..sats.types import AlgebraicType, ProductType
from ..sats.values import Identity
from ..schema import ModuleSchema
from .results import SqlResult


class HttpError(SpacetimeDBError):
    """An HTTP call returned an error status; ``status`` and ``body`` say which and why.

    Example::

        try:
            http.sql("quickstart-chat", "SELEC oops")
        except HttpError as e:
            print(e.status, e.body)   # 400 and the SQL error
    """

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        detail = body.strip() or httpx.codes.get_reason_phrase(status)
        super().__init__(f"{method} {url} failed with HTTP {status}: {detail}")


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The certificate-verifying TLS context shared by every client not given one: building
    it reads the whole CA bundle (about 45 ms), which each connect's schema fetch paid."""
    return httpx.create_ssl_context()


def _tls(verify: bool | ssl.SSLContext) -> bool | ssl.SSLContext:
    return _default_tls() if verify is True else verify


def http_base(uri: str) -> str:
    """Normalize ``ws(s)://`` / ``http(s)://`` / bare ``host:port`` to an ``http(s)://`` base URL.

    Example::

        >>> http_base("wss://example.com/"), http_base("localhost:3000")
        ('https://example.com', 'http://localhost:3000')
    """
    if "://" not in uri:
        uri = "http://" + uri
    parts = urlsplit(uri)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https"):
        raise ValueError(
            f"unsupported URI scheme {parts.scheme!r} in {uri!r}: use http, https, ws or wss"
        )
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _db_path(database: str, *rest: str) -> str:
    return "/v1/database/" + "/".join(quote(p, safe="") for p in (database, *rest))


# ---- request builders and response readers shared by both clients ----------------------------


def _headers(token: str | None, content_type: str | None = None) -> dict[str, str]:
    h: dict[str, str] = {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    if content_type:
        h["Content-Type"] = content_type
    return h


def _check(resp: httpx.Response) -> httpx.Response:
    if resp.is_success:
        return resp
    raise HttpError(resp.request.method, _safe_url(resp.request.url), resp.status_code, resp.text)


def _safe_url(url: httpx.URL) -> str:
    # Never echo a token passed as a query parameter.
    return str(url.copy_with(query=None))


def _read_identity(resp: httpx.Response) -> tuple[Identity, str]:
    body = _check(resp).json()
    return Identity.from_hex(body["identity"]), str(body["token"])


def _read_sql(resp: httpx.Response) -> list[SqlResult]:
    out = []
    for stmt in _check(resp).json():
        schema = AlgebraicType.from_json({"Product": stmt["schema"]})
        assert isinstance(schema, ProductType)
        out.append(
            SqlResult(schema, stmt["rows"], stmt.get("total_duration_micros"), stmt.get("stats"))
        )
    return out


def _read_call(resp: httpx.Response, name: str) -> Any:
    if resp.status_code == 530:
        raise ReducerError(resp.text)
    if resp.status_code == 500:
        raise InternalError(f"{name}: {resp.text}")
    _check(resp)
    return resp.json() if resp.content else None


def _newest_schema(fetch: Callable[..., Any], database: str) -> Any:
    try:
        return fetch(database, version=10)
    except HttpError as e:
        if e.status != 400:  # 400: a server without v10 schemas
            raise
        return fetch(database, version=9)


def _call_body(args: Sequence[Any] | Mapping[str, Any]) -> bytes:
    return json.dumps(list(args) if not isinstance(args, Mapping) else dict(args)).encode()


def _transport_error(
    base: str, e: httpx.TransportError, method: str, path: str, timeout: float | None
) -> ConnectError:
    if isinstance(e, httpx.TimeoutException):
        # httpx's own message is often empty (``ReadTimeout('')``): say what timed out.
        after = f" after {timeout:g} s" if timeout is not None else ""
        return ConnectTimeoutError(f"timed out{after} waiting for {method} {base}{path}")
    return ConnectError(f"cannot reach SpacetimeDB at {base}: {e}. Is the server running?")


class HttpClient:
    """Blocking client for the HTTP API (see :class:`AsyncHttpClient` for the asyncio twin).

    Example::

        with HttpClient("http://127.0.0.1:3000", token=token) as http:
            http.call("quickstart-chat", "send_message", ["hello"])
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.base = http_base(uri)
        self.token = token
        self.timeout = timeout
        protect_third_party_loggers()  # httpcore logs response headers (tokens) at DEBUG
        self._client = httpx.Client(base_url=self.base, timeout=timeout, verify=_tls(verify))

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (``with HttpClient(...)`` does it for you).

        Example::

            http = HttpClient("http://127.0.0.1:3000")
            try:
                http.ping()
            finally:
                http.close()
        """
        self._client.close()

    def __repr__(self) -> str:
        return f"HttpClient({self.base!r}, token={'<redacted>' if self.token else None})"

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._client.request(method, path, **kw)
        except httpx.TransportError as e:
            raise _transport_error(self.base, e, method, path, self.timeout) from e

    def ping(self) -> bool:
        """``True`` when the server answers ``GET /v1/ping``.

        Example::

            assert HttpClient("http://127.0.0.1:3000").ping()
        """
        return self._send("GET", "/v1/ping", headers=_headers(self.token)).is_success

    def create_identity(self) -> tuple[Identity, str]:
        """Mint a new anonymous identity; returns ``(identity, token)``.

        Example::

            identity, token = http.create_identity()
        """
        return _read_identity(self._send("POST", "/v1/identity"))

    def websocket_token(self) -> str:
        """A short-lived (60 s) token for ``?token=`` on a WebSocket URL.

        Example::

            short = HttpClient(url, token=token).websocket_token()
        """
        resp = _check(
            self._send("POST", "/v1/identity/websocket-token", headers=_headers(self.token))
        )
        return str(resp.json()["token"])

    def schema_json(self, database: str, version: int = 9) -> Any:
        """The raw ``/schema?version=`` document (SATS-JSON of RawModuleDefV9 or V10).

        Example::

            doc = http.schema_json("quickstart-chat", version=10)
        """
        path = _db_path(database, "schema")
        resp = self._send(
            "GET", path, params={"version": str(version)}, headers=_headers(self.token)
        )
        return _check(resp).json()

    def schema(self, database: str) -> ModuleSchema:
        """The database's module schema (``?version=10``, or 9 from servers without 10).

        Example::

            schema = http.schema("quickstart-chat")
            print([t.name for t in schema.tables])   # ['message', 'user']
        """
        return ModuleSchema.from_json(_newest_schema(self.schema_json, database))

    def sql(self, database: str, query: str) -> list[SqlResult]:
        """Run one SQL statement; DML needs the database owner's token.

        Example::

            [result] = http.sql("quickstart-chat", "SELECT * FROM user")
            users = result.rows_as_dicts()   # decoded; result.rows is the raw form
        """
        resp = self._send(
            "POST",
            _db_path(database, "sql"),
            content=query.encode(),
            headers=_headers(self.token, "text/plain"),
        )
        return _read_sql(resp)

    def call(self, database: str, name: str, args: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """Call a reducer (returns ``None``) or procedure (returns its JSON value) with SATS-JSON args.

        Raises :class:`ReducerError` when the reducer fails, :class:`HttpError` otherwise.

        Example::

            http.call("quickstart-chat", "send_message", {"text": "hi"})   # or ["hi"]
        """
        resp = self._send(
            "POST",
            _db_path(database, "call", name),
            content=_call_body(args),
            headers=_headers(self.token, "application/json"),
        )
        return _read_call(resp, name)


class AsyncHttpClient:
    """The asyncio twin of :class:`HttpClient`; every method has the same name and meaning.

    Example::

        async with AsyncHttpClient("http://127.0.0.1:3000") as http:
            identity, token = await http.create_identity()
    """

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self.base = http_base(uri)
        self.token = token
        self.timeout = timeout
        protect_third_party_loggers()  # httpcore logs response headers (tokens) at DEBUG
        self._client = httpx.AsyncClient(base_url=self.base, timeout=timeout, verify=_tls(verify))

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (``async with AsyncHttpClient(...)`` does it for you).

        Example::

            http = AsyncHttpClient("http://127.0.0.1:3000")
            await http.aclose()
        """
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"AsyncHttpClient({self.base!r}, token={'<redacted>' if self.token else None})"

    async def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **kw)
        except httpx.TransportError as e:
            raise _transport_error(self.base, e, method, path, self.timeout) from e

    async def ping(self) -> bool:
        """``True`` when the server answers ``GET /v1/ping``.

        Example::

            assert await http.ping()
        """
        return (await self._send("GET", "/v1/ping", headers=_headers(self.token))).is_success

    async def create_identity(self) -> tuple[Identity, str]:
        """Mint a new anonymous identity; returns ``(identity, token)``.

        Example::

            identity, token = await http.create_identity()
        """
        return _read_identity(await self._send("POST", "/v1/identity"))

    async def websocket_token(self) -> str:
        """A short-lived (60 s) token for ``?token=`` on a WebSocket URL.

        Example::

            short = await http.websocket_token()
        """
        resp = _check(
            await self._send("POST", "/v1/identity/websocket-token", headers=_headers(self.token))
        )
        return str(resp.json()["token"])

    async def schema_json(self, database: str, version: int = 9) -> Any:
        """The raw ``/schema?version=`` document (SATS-JSON of RawModuleDefV9 or V10).

        Example::

            doc = await http.schema_json("quickstart-chat", version=10)
        """
        path = _db_path(database, "schema")
        resp = await self._send(
            "GET", path, params={"version": str(version)}, headers=_headers(self.token)
        )
        return _check(resp).json()

    async def schema(self, database: str) -> ModuleSchema:
        """The database's module schema (``?version=10``, or 9 from servers without 10).

        Example::

            schema = await http.schema("quickstart-chat")
        """
        try:
            return ModuleSchema.from_json(await self.schema_json(database, version=10))
        except HttpError as e:
            if e.status != 400:  # 400: a server without v10 schemas
                raise
        return ModuleSchema.from_json(await self.schema_json(database, version=9))

    async def sql(self, database: str, query: str) -> list[SqlResult]:
        """Run one SQL statement; DML needs the database owner's token.

        Example::

            [result] = await http.sql("quickstart-chat", "SELECT * FROM user")
            users = result.rows_as_dicts()
        """
        resp = await self._send(
            "POST",
            _db_path(database, "sql"),
            content=query.encode(),
            headers=_headers(self.token, "text/plain"),
        )
        return _read_sql(resp)

    async def call(
        self, database: str, name: str, args: Sequence[Any] | Mapping[str, Any] = ()
    ) -> Any:
        """Call a reducer (returns ``None``) or procedure (returns its JSON value) with SATS-JSON args.

        Raises :class:`ReducerError` when the reducer fails, :class:`HttpError` otherwise.

        Example::

            await http.call("quickstart-chat", "send_message", {"text": "hi"})
        """
        resp = await self._send(
            "POST",
            _db_path(database, "call", name),
            content=_call_body(args),
            headers=_headers(self.token, "application/json"),
        )
        return _read_call(resp, name)


__all__ = ["AsyncHttpClient", "HttpClient", "HttpError", "SqlResult", "http_base"]
