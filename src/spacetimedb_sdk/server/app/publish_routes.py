"""Publishing: ``POST /v1/database``, ``PUT /v1/database/{db}``, ``.../pre_publish``, ``.../reset``
and ``DELETE /v1/database/{db}``, as upstream's ``client-api`` serves them.

The program is a module's source (``host_type=Python``, content type ``text/x-python``), or a
TypeScript module's JavaScript bundle as upstream's CLI uploads it (``host_type=Js``); see
:mod:`..module_source`.  Publishing:

* without a name (``POST``) creates a database with a fresh identity; with a name (``PUT``)
  registers an unknown name for the caller (401 ``{"PermissionDenied": {"name": …}}`` if someone
  else owns it) and creates the database, or updates the database the name or identity points
  at (owner only: 403);
* an update is a hot swap (:mod:`..host.update`): refused with 400 ``Database update rejected:
  Errors occurred: …`` when the schemas are incompatible, 400 ``Failed to create or update the
  database: …`` when the policy or the data refuses it (a plan that disconnects clients needs
  ``policy=BreakClients`` and the ``token`` that ``pre_publish`` gave);
* ``clear=true`` on an existing database resets it instead (``PUT .../reset`` does the same);
* a program that cannot be loaded, or whose ``init`` fails, is 500 with the reason, as upstream's
  module check reports it.

The answer is upstream's ``PublishResult`` JSON: ``{"Success": {"domain", "database_identity",
"op"}}``.  ``pre_publish`` answers ``{"AutoMigrate": {...}}`` (the plan as text, whether it breaks
clients, the token) or ``{"ManualMigrate": {"reason": ...}}``.

Example::

    PUT /v1/database/chat?host_type=Python     (body: the module's source)
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from ..control import Control
from ..host import Database
from ..migration import IncompatibleMigration, MigrationFailed, format_plan
from ..module import Module
from ..module_source import (
    HOST_TYPE_PYTHON,
    ModuleLoadError,
    Program,
    load_program,
    program_hash,
)
from ..publishing import (
    InitFailed,
    MigrationPolicy,
    PolicyRefused,
    create_database,
    delete_database,
    migration_token,
    reset_database,
    update_database,
)
from .bodies import PROGRAM_BODY_LIMIT, body_bytes, drain, query_choice, query_refused
from .requests import _Auth, _json, _query_bool, _Refused, _text, authenticated, forbid_unless_owner
from .resolve import name_or_identity, resolve_identity, resolved_database, try_resolve
from .state import _STATE


def _success(domain: str | None, db: Database, op: str) -> web.Response:
    body = {"Success": {"domain": domain, "database_identity": db.identity.to_hex(), "op": op}}
    return _json(body)


def _host_type(request: web.Request) -> str:
    return request.query.get("host_type") or HOST_TYPE_PYTHON


def _replicas(request: web.Request) -> None:
    value = request.query.get("num_replicas")
    if value is None:
        return
    if not value.isascii() or not value.isdigit():
        raise query_refused("num_replicas: invalid digit found in string")
    if int(value) > 255:
        raise _Refused(_text(400, f"Replication factor {value} out of bounds"))


async def _load(request: web.Request, program: bytes, label: str) -> Module:
    """The module of a program; 500 with the reason if it cannot be loaded (as upstream)."""
    try:
        return await asyncio.to_thread(load_program, _host_type(request), program, label=label)
    except ModuleLoadError as e:
        raise _Refused(_text(500, str(e))) from None


def _policy(request: web.Request) -> MigrationPolicy:
    policy = query_choice(request, "policy", ("Compatible", "BreakClients"), "Compatible")
    token = request.query.get("token")
    if policy == "Compatible":
        return MigrationPolicy.compatible()
    if token is None:
        raise _Refused(
            _text(
                400,
                "Migration policy is set to `BreakClients`, but no migration token was provided.",
            )
        )
    return MigrationPolicy.allow_breaking(token)


@authenticated
async def _publish_new(request: web.Request, auth: _Auth) -> web.StreamResponse:
    return await _publish(request, auth, None)


@authenticated
async def _publish_to(request: web.Request, auth: _Auth) -> web.StreamResponse:
    return await _publish(request, auth, name_or_identity(request))


async def _publish(request: web.Request, auth: _Auth, target: str | None) -> web.StreamResponse:
    control: Control = request.app[_STATE].control
    clear = _query_bool(request, "clear") or False
    _replicas(request)
    query_choice(request, "policy", ("Compatible", "BreakClients"), "Compatible")
    parent = request.query.get("parent")
    program = await body_bytes(request, PROGRAM_BODY_LIMIT)
    if clear:
        if target is None:
            return _text(400, "Clear database requires database name or identity")
        identity = try_resolve(request, target)
        existing = control.by_identity(identity) if identity is not None else None
        if existing is not None:
            if parent is not None:
                return _text(400, "Setting the parent of an existing database is not supported")
            return await _reset(request, auth, existing, program)

    caller = auth.claims.identity
    name: str | None = None
    if target is None:
        identity = control.defaults.new_identity()
    else:
        known = try_resolve(request, target)
        if known is None:
            # An unknown name: it becomes the caller's, pointing at a new identity.
            name = target
            if not control.register_owner(target, caller):
                return _json({"PermissionDenied": {"name": target}}, 401)
            identity = control.defaults.new_identity()
            control.insert_name(target, identity, caller)
        else:
            identity = known
            name = None if control.lookup(target) is None else target
    if parent is not None:
        resolve_identity(request, parent)  # 404 `parent` not found, as upstream
    existing = control.by_identity(identity)
    if existing is not None:
        forbid_unless_owner(auth, existing, "update database")
    migration = _policy(request)
    module = await _load(request, program, name or identity.to_hex())
    digest = program_hash(program)
    if existing is None:
        try:
            db = await create_database(
                control,
                module,
                digest,
                owner=caller,
                owner_token=auth.token,
                identity=identity,
                names=control.names_of(identity),
                program=Program(_host_type(request), program),
            )
        except InitFailed as e:
            return _text(500, str(e))
        return _success(name, db, "created")
    try:
        await update_database(
            control, existing, module, digest, migration, Program(_host_type(request), program)
        )
    except IncompatibleMigration as e:
        return _text(400, f"Database update rejected: {e}")
    except (PolicyRefused, MigrationFailed) as e:
        return _text(400, f"Failed to create or update the database: {e}")
    return _success(name, existing, "updated")


async def _reset(
    request: web.Request, auth: _Auth, db: Database, program: bytes | None
) -> web.StreamResponse:
    forbid_unless_owner(auth, db, "reset database")
    _replicas(request)
    module = None
    digest = None
    kept = None
    if program:
        module = await _load(request, program, db.name)
        digest = program_hash(program)
        kept = Program(_host_type(request), program)
    try:
        await reset_database(request.app[_STATE].control, db, module, digest, kept)
    except InitFailed as e:
        return _text(500, str(e))
    target = name_or_identity(request) if "db" in request.match_info else None
    domain = target if target is not None and request.app[_STATE].control.lookup(target) else None
    return _success(domain, db, "updated")


@authenticated
async def _reset_route(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    program = await body_bytes(request, PROGRAM_BODY_LIMIT)
    return await _reset(request, auth, db, program)


@authenticated
async def _pre_publish(request: web.Request, auth: _Auth) -> web.StreamResponse:
    db = await resolved_database(request)
    try:
        forbid_unless_owner(auth, db, "update database")
    except _Refused:
        await drain(request)
        raise
    # Upstream reads `style`; its CLI sends `pretty_print_style`, which it ignores.
    style = query_choice(request, "style", ("AnsiColor", "NoColor"), "AnsiColor")
    program = await body_bytes(request, PROGRAM_BODY_LIMIT)
    module = await _load(request, program, db.name)
    digest = program_hash(program)
    try:
        plan = await asyncio.to_thread(db.plan_update, module)
    except IncompatibleMigration as e:
        body: dict[str, Any] = {"ManualMigrate": {"reason": str(e), "major_version_upgrade": False}}
        return _json(body)
    body = {
        "AutoMigrate": {
            "migrate_plan": format_plan(plan, color=style == "AnsiColor"),
            "break_clients": plan.breaks_clients,
            "token": migration_token(db, digest),
            "major_version_upgrade": False,
        }
    }
    return _json(body)


@authenticated
async def _delete(request: web.Request, auth: _Auth) -> web.StreamResponse:
    control: Control = request.app[_STATE].control
    identity = resolve_identity(request, name_or_identity(request))
    db = control.by_identity(identity)
    if db is None:
        return web.Response(status=200)  # nothing to delete: upstream answers 200
    forbid_unless_owner(auth, db, "delete database")
    await delete_database(control, db)
    return web.Response(status=200)
