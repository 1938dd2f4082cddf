"""``ctx.http``: the HTTP client of procedures (upstream ``HttpClient``, TS ``ctx.http.fetch``).

A procedure may call out over HTTP between its transactions (never inside one: that raises
:class:`WouldBlockTransaction`, as upstream refuses a blocking call while a transaction is open).
The model follows upstream's ``spacetimedb_lib::http``: a request has a method, a URL, headers,
a body and an optional total timeout (default 30 s, at most 180 s); a response has a status,
headers, a version and the whole body.  Every status is a response; :class:`HttpError` is raised
only when no response could be had, with upstream's message: reqwest's error and its causes joined
by ``": "``, the URL's query removed (it may hold secrets), e.g.
``error sending request for url (http://foo.invalid/): client error (Connect): dns error: failed
to lookup address information: Name or service not known``.

Addresses are filtered like upstream's (:mod:`.http_policy`): a URL naming a blocked IP literal is
refused at once; a host name is resolved here and only its allowed addresses are tried (the
connection goes to the checked address, with the original name in ``Host`` and TLS SNI, so DNS
cannot change the answer in between); redirects are followed by hand (at most 10) and checked the
same way.  A fresh ``httpx`` client per request, as upstream builds one per request, so pooled
connections never cross host names.  No proxy from the environment is used (a proxy would bypass
the address filter).

Example::

    @module.procedure
    def fetch_schema(ctx: ProcedureContext, url: str) -> str:
        response = ctx.http.get(url)
        return response.text()
"""

from __future__ import annotations

import datetime as _dt
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ...errors import SpacetimeDBError
from ...sats.values import TimeDuration
from .http_policy import BLOCKED_ADDRESS_ERROR, HttpPolicy, ip_literal

__all__ = [
    "HttpClient",
    "HttpError",
    "HttpHeaders",
    "HttpRequest",
    "HttpResponse",
    "WouldBlockTransaction",
]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SENSITIVE = frozenset({"authorization", "cookie", "proxy-authorization", "www-authenticate"})


class HttpError(SpacetimeDBError):
    """No HTTP response could be had (upstream ``http::Error``); ``message`` says why.

    Example::

        >>> HttpError("refusing to connect to private or special-purpose addresses").message
        'refusing to connect to private or special-purpose addresses'
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class WouldBlockTransaction(SpacetimeDBError):
    """A blocking operation (HTTP, ``sleep_until``, a nested transaction) inside ``with_tx``.

    Upstream's errno ``WOULD_BLOCK_TRANSACTION``, with its text.

    Example::

        >>> str(WouldBlockTransaction())
        'Attempted async or blocking op while holding open a transaction'
    """

    def __init__(self) -> None:
        super().__init__("Attempted async or blocking op while holding open a transaction")


class HttpHeaders(Sequence[tuple[str, str]]):
    """Header ``(name, value)`` pairs in order; lookups ignore the case of names.

    Example::

        >>> h = HttpHeaders([("Content-Type", "text/plain")])
        >>> h.get("content-type"), "CONTENT-TYPE" in h
        ('text/plain', True)
    """

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items = tuple((str(k), str(v)) for k, v in pairs)

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"HttpHeaders({list(self._items)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HttpHeaders) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name``, or ``default``.

        Example::

            >>> HttpHeaders({"Content-Type": "text/plain"}).get("content-type")
            'text/plain'
        """
        lower = name.lower()
        return next((v for k, v in self._items if k.lower() == lower), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, in order.

        Example::

            >>> HttpHeaders([("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]).get_all("set-cookie")
            ['a=1', 'b=2']
        """
        lower = name.lower()
        return [v for k, v in self._items if k.lower() == lower]


@dataclass(frozen=True)
class HttpRequest:
    """A request for :meth:`HttpClient.send` (upstream ``http::Request`` with its ``Timeout``).

    ``timeout`` is the total time allowed, from connecting to the end of the body: seconds,
    a :class:`TimeDuration` or a :class:`datetime.timedelta` (default 30 s, at most 180 s).

    Example::

        HttpRequest("POST", "https://example.com/upload", headers={"Content-Type": "text/plain"},
                    body="hello", timeout=5.0)
    """

    method: str
    url: str
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    body: bytes | str = b""
    timeout: float | TimeDuration | _dt.timedelta | None = None


@dataclass(frozen=True)
class HttpResponse:
    """A response: ``status``, ``headers``, ``body`` (all of it), ``version``, ``url``.

    Example::

        >>> r = HttpResponse(200, HttpHeaders(), b'{"a": 1}')
        >>> r.ok, r.json()
        (True, {'a': 1})
    """

    status: int
    headers: HttpHeaders = field(default_factory=HttpHeaders)
    body: bytes = b""
    version: str = "HTTP/1.1"
    url: str = ""

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx.

        Example::

            >>> HttpResponse(204).ok, HttpResponse(404).ok
            (True, False)
        """
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body as UTF-8, invalid bytes replaced (upstream ``into_string_lossy``).

        Example::

            >>> HttpResponse(200, body=bytes([104, 105, 255])).text() == "hi" + chr(0xFFFD)
            True
        """
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Example::

            >>> HttpResponse(200, body=b'[1, 2]').json()
            [1, 2]
        """
        return json.loads(self.body)


class HttpClient:
    """``ctx.http``: ``get``, ``fetch`` and ``send`` (see the module docstring).

    ``before_request`` runs first on every call (the procedure context refuses calls made
    inside a transaction with it).

    Example::

        response = ctx.http.fetch("https://example.com/api", method="POST", body=b"{}",
                                  headers={"Content-Type": "application/json"}, timeout=10)
        if response.ok:
            data = response.json()
    """

    __slots__ = ("_before", "policy")

    def __init__(
        self, policy: HttpPolicy | None = None, before_request: Callable[[], None] | None = None
    ) -> None:
        self.policy = policy or HttpPolicy()
        self._before = before_request

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        timeout: float | TimeDuration | _dt.timedelta | None = None,
    ) -> HttpResponse:
        """``GET url`` and wait for the whole response; raises :class:`HttpError`.

        Example::

            price = ctx.http.get("https://example.com/price", timeout=5).json()["usd"]
        """
        return self.send(HttpRequest("GET", url, headers, b"", timeout))

    def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        body: bytes | str | None = None,
        timeout: float | TimeDuration | _dt.timedelta | None = None,
    ) -> HttpResponse:
        """Any request, in the shape of the TypeScript module library's ``ctx.http.fetch``.

        Example::

            ctx.http.fetch("https://example.com/hook", method="POST", body='{"event": "signup"}',
                           headers={"Content-Type": "application/json"})
        """
        return self.send(HttpRequest(method, url, headers, body or b"", timeout))

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``, follow redirects, and return the response; raises :class:`HttpError`.

        Example::

            response = ctx.http.send(HttpRequest("PUT", "https://example.com/doc/1", body=b"v2", timeout=10))
        """
        if self._before is not None:
            self._before()
        deadline = time.monotonic() + self._timeout(request.timeout)
        method = request.method.upper()
        url = _parse_url(request.url)
        headers = list(HttpHeaders(request.headers))
        body = request.body.encode() if isinstance(request.body, str) else bytes(request.body)
        literal = ip_literal(url.host)
        if literal is not None and self.policy.is_blocked(literal):
            raise HttpError(BLOCKED_ADDRESS_ERROR)
        # As reqwest reports them: a failed request names the URL first asked for, a refused
        # redirect the URL that redirected.
        shown = _shown(url)
        for hop in range(self.policy.max_redirects + 1):
            response = _Exchange(self.policy, url, deadline, shown).run(method, headers, body)
            location = response.headers.get("location")
            if response.status not in _REDIRECTS or location is None:
                return response
            try:
                target = url.join(location)
            except httpx.InvalidURL as e:
                raise HttpError(f"builder error: {e}") from None
            refused = f"error following redirect for url ({_shown(url)})"
            if hop == self.policy.max_redirects:
                raise HttpError(f"{refused}: too many redirects")
            if target.scheme not in ("http", "https"):
                raise HttpError(
                    f"builder error for url ({_shown(target)}): URL scheme is not allowed"
                )
            literal = ip_literal(target.host)
            if literal is not None and self.policy.is_blocked(literal):
                raise HttpError(f"{refused}: {BLOCKED_ADDRESS_ERROR}")
            if response.status in (301, 302, 303) and method != "HEAD":
                method, body = "GET", b""
                headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
            if target.host != url.host or target.port != url.port:
                headers = [(k, v) for k, v in headers if k.lower() not in _SENSITIVE]
            url = target
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _timeout(self, value: float | TimeDuration | _dt.timedelta | None) -> float:
        if value is None:
            seconds = self.policy.default_timeout
        elif isinstance(value, TimeDuration):
            seconds = value.micros / 1e6
        elif isinstance(value, _dt.timedelta):
            seconds = value.total_seconds()
        else:
            seconds = float(value)
        return min(max(seconds, 0.0), self.policy.max_timeout)


_BODY_HEADERS = frozenset(
    {"content-length", "content-type", "content-encoding", "transfer-encoding"}
)


def _parse_url(text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise HttpError(f"builder error: {e}") from None
    if url.scheme not in ("http", "https"):
        if not url.scheme or not url.host:
            raise HttpError("builder error: relative URL without a base")
        raise HttpError(f"builder error for url ({_shown(url)}): URL scheme is not allowed")
    if not url.host:
        raise HttpError("builder error: empty host")
    return url


def _shown(url: httpx.URL) -> str:
    """The URL as upstream's errors show it: normalized, without its query."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    path = url.path or "/"
    fragment = f"#{url.fragment}" if url.fragment else ""
    return f"{url.scheme}://{host}{port}{path}{fragment}"


def _connect_failure(error: BaseException) -> str:
    """Why connecting failed, as hyper's connector words it (an OS error as Rust shows one)."""
    seen: BaseException | None = error
    found: OSError | None = None
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(seen.reason or seen)
        if isinstance(seen, OSError):
            found = seen
        seen = seen.__cause__ or seen.__context__
    if found is not None and found.errno is not None and found.strerror:
        return f"tcp connect error: {found.strerror} (os error {found.errno})"
    return f"tcp connect error: {found or error}"


class _Exchange:
    """One request/response over a connection to a checked address of ``url``'s host."""

    def __init__(self, policy: HttpPolicy, url: httpx.URL, deadline: float, shown: str) -> None:
        self.policy = policy
        self.url = url
        self.deadline = deadline
        self.shown = shown  # the URL errors name

    def _request_error(self, cause: str) -> HttpError:
        return HttpError(f"error sending request for url ({self.shown}): {cause}")

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._request_error("operation timed out")
        return remaining

    def _addresses(self) -> list[str]:
        host = self.url.host
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        port = self.url.port or (443 if self.url.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise self._request_error(
                "client error (Connect): dns error: "
                f"failed to lookup address information: {e.strerror or e}"
            ) from None
        except (UnicodeError, ValueError) as e:  # a name no resolver accepts
            raise self._request_error(f"client error (Connect): dns error: {e}") from None
        allowed = list(dict.fromkeys(str(info[4][0]) for info in infos))
        allowed = [a for a in allowed if not self.policy.is_blocked(a)]
        if not allowed:
            raise self._request_error(f"client error (Connect): dns error: {BLOCKED_ADDRESS_ERROR}")
        return allowed

    def run(self, method: str, headers: list[tuple[str, str]], body: bytes) -> HttpResponse:
        addresses = self._addresses()
        failure: HttpError | None = None
        for address in addresses:
            try:
                return self._send_to(address, method, headers, body)
            except _ConnectFailed as e:  # try the next address, as a connector would
                failure = self._request_error(f"client error (Connect): {e}")
        assert failure is not None
        raise failure

    def _send_to(
        self, address: str, method: str, headers: list[tuple[str, str]], body: bytes
    ) -> HttpResponse:
        url = self.url
        pinned = url.copy_with(host=address)
        host_header = f"[{url.host}]" if ":" in url.host else url.host
        if url.port is not None:
            host_header += f":{url.port}"
        with httpx.Client(trust_env=False, follow_redirects=False) as client:
            request = client.build_request(
                method,
                pinned,
                content=body if body or method not in ("GET", "HEAD") else None,
                extensions={"sni_hostname": url.host},
                timeout=httpx.Timeout(self._remaining()),
            )
            # No defaults upstream's client would not send (it sends no user agent and asks
            # for no compression); the caller's headers win.
            for name in ("user-agent", "accept-encoding", "connection"):
                del request.headers[name]
            request.headers["host"] = host_header
            for name, value in headers:
                if name.lower() == "host":
                    request.headers["host"] = value
                else:
                    request.headers[name] = value
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                raise self._request_error("operation timed out") from None
            except httpx.ConnectError as e:
                raise _ConnectFailed(_connect_failure(e)) from None
            except httpx.HTTPError as e:
                raise self._request_error(str(e) or type(e).__name__) from None
            try:
                data = b"".join(self._body(response))
            finally:
                response.close()
        return HttpResponse(
            response.status_code,
            HttpHeaders(
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
            ),
            data,
            response.http_version,
            str(url),
        )

    def _body(self, response: httpx.Response) -> Iterator[bytes]:
        try:
            for chunk in response.iter_raw():
                yield chunk
                if time.monotonic() > self.deadline:
                    raise HttpError("request or response body error: operation timed out")
        except httpx.TimeoutException:
            raise HttpError("request or response body error: operation timed out") from None
        except httpx.HTTPError as e:
            raise HttpError(f"request or response body error: {e}") from None


class _ConnectFailed(Exception):
    """Connecting to one address failed; the next may be tried."""
