"""Reading requests as upstream's axum extractors do: bodies with limits, JSON, query values.

Each helper refuses bad input (raises :class:`~.requests._Refused`) with the status and text of
the axum rejection it mirrors:

* a body over the limit (2 MiB for axum's default, more for programs): 413 ``Failed to buffer
  the request body: length limit exceeded`` (the rest of the body is read and dropped, so the
  client sees the answer rather than a reset connection);
* ``Json``: 415 ``Expected request with `Content-Type: application/json``` without that
  content type, 400 ``Failed to parse the request body as JSON: …`` for bad JSON, 422
  ``Failed to deserialize the JSON body into the target type: …`` for JSON of the wrong shape;
* ``String``: 400 ``Request body didn't contain valid UTF-8``;
* ``Query``: 400 ``Failed to deserialize query string: …`` (serde's wording for the value).

Example::

    names = await json_body(request, list)
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .requests import _Refused, _text

#: axum's default body limit (``DefaultBodyLimit``), which upstream's routes keep.
DEFAULT_BODY_LIMIT = 2 * 1024 * 1024
#: The largest program (module source) a publish accepts.  Upstream lifts the limit for
#: programs; a Python module's source is small, and memory is not unlimited.
PROGRAM_BODY_LIMIT = 64 * 1024 * 1024
_TOO_LARGE = "Failed to buffer the request body: length limit exceeded"


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The request body, or ``None`` once it passes ``limit`` bytes (the rest is drained)."""
    if request.content_length is not None and request.content_length > limit:
        await drain(request)
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            await drain(request)
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def drain(request: web.Request) -> None:
    """Read and drop the rest of a refused body, so the client sees the answer, not a reset."""
    async for _ in request.content.iter_chunked(64 * 1024):
        pass


async def body_bytes(request: web.Request, limit: int = DEFAULT_BODY_LIMIT) -> bytes:
    """The body (axum's ``Bytes``): 413 past ``limit``."""
    body = await read_limited(request, limit)
    if body is None:
        raise _Refused(_text(413, _TOO_LARGE))
    return body


async def body_text(request: web.Request, limit: int = DEFAULT_BODY_LIMIT) -> str:
    """The body as text (axum's ``String``): 413 past ``limit``, 400 if not UTF-8."""
    try:
        return (await body_bytes(request, limit)).decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(_text(400, "Request body didn't contain valid UTF-8")) from None


def is_json_content_type(value: str) -> bool:
    """Whether a ``Content-Type`` is JSON as axum accepts it (``application/json``, ``+json``)."""
    mime = value.split(";")[0].strip().lower()
    return mime == "application/json" or (
        mime.startswith("application/") and mime.endswith("+json")
    )


async def json_body(request: web.Request, shape: type, what: str = "") -> Any:
    """The body as JSON (axum's ``Json``) whose top level is a ``shape`` (``list``, ``dict``)."""
    if not is_json_content_type(request.headers.get("Content-Type", "")):
        await drain(request)
        raise _Refused(_text(415, "Expected request with `Content-Type: application/json`"))
    body = await body_bytes(request)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise _Refused(_text(400, f"Failed to parse the request body as JSON: {e}")) from None
    if not isinstance(value, shape):
        expected = what or ("a sequence" if shape is list else "a map" if shape is dict else "")
        raise _Refused(
            _text(
                422,
                "Failed to deserialize the JSON body into the target type: invalid type: "
                f"{_json_kind(value)}, expected {expected}",
            )
        )
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"number `{value}`"
    if isinstance(value, str):
        return f'string "{value}"'
    if value is None:
        return "null"
    return "map" if isinstance(value, dict) else "sequence"


def query_refused(detail: str) -> _Refused:
    """400 ``Failed to deserialize query string: <detail>``."""
    return _Refused(_text(400, f"Failed to deserialize query string: {detail}"))


def query_u32(request: web.Request, name: str) -> int | None:
    """An optional ``u32`` query value."""
    value = request.query.get(name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit():
        raise query_refused(f"{name}: invalid digit found in string")
    number = int(value)
    if number > 0xFFFF_FFFF:
        raise query_refused(f"{name}: number too large to fit in target type")
    return number


def query_choice(request: web.Request, name: str, choices: tuple[str, ...], default: str) -> str:
    """A query value that must be one of ``choices`` (a serde enum); ``default`` when absent."""
    value = request.query.get(name)
    if value is None:
        return default
    if value not in choices:
        expected = " or ".join(f"`{c}`" for c in choices)
        if len(choices) > 2:
            expected = "one of " + ", ".join(f"`{c}`" for c in choices)
        raise query_refused(f"unknown variant `{value}`, expected {expected}")
    return value
