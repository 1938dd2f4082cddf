"""Which database a ``/v1/database/{name_or_identity}`` request means, with upstream's refusals.

Upstream reads the path segment as a ``NameOrIdentity`` (an identity in hex, else a database
name) and resolves it:

* an unknown *name* is 404 `` `name` not found``;
* an identity (given, or a name's) with no database is 404 ``No such database.``;
* a segment that is neither an identity nor a valid database name is 400 ``Invalid URL: …``
  with the name rule it breaks (names the server started with are accepted as they are).

Routes that need an existing database resolve it before doing anything (the body of a refused
request is read and dropped first, as upstream's middleware does); ``DELETE``, ``/identity``,
publishing and the MCP endpoint resolve on their own terms.

Example::

    db = await resolved_database(request)
"""

from __future__ import annotations

from aiohttp import web

from ...sats.values import Identity
from ..control import database_name_problem, parse_identity
from ..host import Database
from .bodies import drain
from .requests import _Refused, _text
from .state import _STATE

NO_SUCH_DATABASE = "No such database."


def name_or_identity(request: web.Request) -> str:
    """The raw ``{db}`` path segment."""
    return request.match_info["db"]


def check_segment(request: web.Request, text: str) -> None:
    """400 ``Invalid URL: …`` for a segment that is neither an identity nor a valid name."""
    if parse_identity(text) is not None or request.app[_STATE].control.lookup(text) is not None:
        return
    problem = database_name_problem(text)
    if problem is not None:
        raise _Refused(_text(400, f"Invalid URL: {problem}"))


def try_resolve(request: web.Request, text: str) -> Identity | None:
    """The identity ``text`` means, or ``None`` for a name nobody registered."""
    check_segment(request, text)
    identity = parse_identity(text)
    if identity is not None:
        return identity
    return request.app[_STATE].control.lookup(text)


def resolve_identity(request: web.Request, text: str) -> Identity:
    """The identity ``text`` means; 404 `` `name` not found`` for an unknown name."""
    identity = try_resolve(request, text)
    if identity is None:
        raise _Refused(_text(404, f"`{text}` not found"))
    return identity


def lookup_database(request: web.Request, text: str) -> tuple[Database | None, str]:
    """The database ``text`` means, or ``None`` and upstream's 404 text (no refusal raised)."""
    try:
        identity = resolve_identity(request, text)
    except _Refused as e:
        return None, str(e.response.text)
    db = request.app[_STATE].control.by_identity(identity)
    return (db, "") if db is not None else (None, NO_SUCH_DATABASE)


async def resolved_database(request: web.Request) -> Database:
    """The existing database of the request's path; refused (body drained) otherwise."""
    text = name_or_identity(request)
    try:
        identity = resolve_identity(request, text)
        db = request.app[_STATE].control.by_identity(identity)
        if db is None:
            raise _Refused(_text(404, NO_SUCH_DATABASE))
    except _Refused:
        await drain(request)
        raise
    return db
