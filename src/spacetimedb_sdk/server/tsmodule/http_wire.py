"""``procedure_http_request``: a TypeScript procedure's ``ctx.http.fetch`` through the local server.

The module library sends upstream's ``HttpRequest`` as BSATN (method, headers, timeout, URI,
version) with the body beside it, and expects an ``HttpResponse`` (headers, version, status code)
and the response body back.  :func:`http_request` decodes the request, sends it with the same
:class:`~..module.HttpClient` Python procedures use (its address policy, redirects, timeouts and
upstream's error texts), and encodes the answer; a failure is :class:`~..module.HttpError`,
which becomes the ``HttpError`` errno with its message.

Example::

    response, body = http_request(request_bsatn, b"", HttpPolicy())
"""

from __future__ import annotations

from typing import Any

from ...sats import bsatn
from ...sats.types import AlgebraicType as T
from ...sats.values import SumValue, TimeDuration
from ..module import HttpClient, HttpPolicy, HttpRequest

_HEADERS = T.product({"entries": T.array(T.product({"name": T.STRING, "value": T.array(T.U8)}))})
_VERSION = T.sum([(v, T.unit()) for v in ("Http09", "Http10", "Http11", "Http2", "Http3")])
_METHODS = ("Get", "Head", "Post", "Put", "Delete", "Connect", "Options", "Trace", "Patch")
_METHOD = T.sum([*((m, T.unit()) for m in _METHODS), ("Extension", T.STRING)])
REQUEST = bsatn.codec_for(
    T.product(
        {
            "method": _METHOD,
            "headers": _HEADERS,
            "timeout": T.option(T.time_duration()),
            "uri": T.STRING,
            "version": _VERSION,
        }
    )
)
RESPONSE = bsatn.codec_for(T.product({"headers": _HEADERS, "version": _VERSION, "code": T.U16}))
_VERSION_TAGS = {"HTTP/0.9": "Http09", "HTTP/1.0": "Http10", "HTTP/2": "Http2", "HTTP/3": "Http3"}


def http_request(request: bytes, body: bytes, policy: HttpPolicy) -> tuple[bytes, bytes]:
    """Send the request a module built; ``(HttpResponse BSATN, body)``; raises ``HttpError``."""
    value: dict[str, Any] = REQUEST.decode(request)
    method: SumValue = value["method"]
    verb = method.value if method.tag == "Extension" else method.tag.upper()
    headers = [
        (h["name"], bytes(h["value"]).decode("latin-1")) for h in value["headers"]["entries"]
    ]
    timeout: TimeDuration | None = value["timeout"]
    response = HttpClient(policy).send(HttpRequest(verb, value["uri"], headers, body, timeout))
    encoded = RESPONSE.encode(
        {
            "headers": {
                "entries": [
                    {"name": k, "value": v.encode("latin-1", errors="replace")}
                    for k, v in response.headers
                ]
            },
            "version": SumValue(_VERSION_TAGS.get(response.version, "Http11"), None),
            "code": response.status,
        }
    )
    return encoded, response.body
