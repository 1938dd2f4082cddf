"""Database names: ``GET``, ``POST`` and ``PUT /v1/database/{db}/names``, as upstream serves them.

* ``GET`` lists the names (``{"names": [...]}``), for anyone;
* ``POST`` (body: one name, as text) adds a name: upstream's ``InsertDomainResult`` JSON,
  ``{"Success": {"domain", "database_identity"}}``; 401 ``{"PermissionDenied": {"domain"}}``
  when someone else owns the name; 500 when the name is taken.  Upstream asks no more of the
  caller than owning the name;
* ``PUT`` (body: a JSON array of names; what ``spacetime rename`` sends) replaces the names,
  owner only: 401 ``{"NotYourDatabase": {"database"}}`` for others, 400
  ``{"OtherError": "Cannot rename to NAME because it already is in use."}`` for a taken name,
  200 ``"Success"``.

A name that breaks upstream's rules is 400 with the rule (``Error parsing `NAME`: …`` for ``PUT``).

Example::

    PUT /v1/database/chat/names   ["chat-v2"]
"""

from __future__ import annotations

from aiohttp import web

from ..control import Control, database_name_problem
from .bodies import body_text, json_body
from .requests import _Auth, _json, _text, authenticated
from .resolve import resolved_database
from .state import _STATE


@authenticated
async def _get_names(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    control: Control = request.app[_STATE].control
    names = [n for n in control.names_of(db.identity) if database_name_problem(n) is None]
    return _json({"names": names})


@authenticated
async def _add_name(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    name = await body_text(request)
    problem = database_name_problem(name)
    if problem is not None:
        return _text(400, problem)
    control: Control = request.app[_STATE].control
    result = control.insert_name(name, db.identity, auth.claims.identity)
    if result.kind == "Success":
        return _json({"Success": {"domain": name, "database_identity": db.identity.to_hex()}})
    if result.kind == "PermissionDenied":
        return _json({"PermissionDenied": {"domain": name}}, 401)
    return _text(500, result.detail)


@authenticated
async def _set_names(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    names = await json_body(request, list)
    for name in names:
        if not isinstance(name, str):
            return _text(
                422,
                "Failed to deserialize the JSON body into the target type: invalid type: "
                f"expected a string, got {type(name).__name__}",
            )
        problem = database_name_problem(name)
        if problem is not None:
            return _text(400, f"Error parsing `{name}`: {problem}")
    if not db.is_owner(auth.claims.identity):
        return _json({"NotYourDatabase": {"database": db.identity.to_hex()}}, 401)
    control: Control = request.app[_STATE].control
    for name in names:
        if control.lookup(name) is not None:
            return _json(
                {"OtherError": f"Cannot rename to {name} because it already is in use."}, 400
            )
    result = control.replace_names(db.identity, db.owner_identity, list(names))
    if result.kind == "PermissionDenied":
        return _json({"PermissionDenied": {"domain": result.detail}}, 401)
    return _json("Success")
