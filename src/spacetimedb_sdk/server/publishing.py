"""Creating, updating, resetting and deleting the databases of a server (what ``publish`` does).

These are the operations behind upstream's ``publish_database``, ``reset_database`` and
``delete_database`` (``crates/standalone/src/lib.rs``), shared by the HTTP routes and by
:class:`~.local.LocalServer`:

* :func:`create_database` makes a database for a module, runs its ``init`` (a failing ``init``
  leaves nothing behind, as upstream checks a module before it takes a database) and hosts it;
* :func:`update_database` hot-swaps a running database's module (:mod:`.host.update`): the plan
  must be compatible (:class:`~.migration.IncompatibleMigration`), allowed by the
  :class:`MigrationPolicy` (a plan that disconnects clients needs upstream's ``BreakClients``
  policy and the token :func:`migration_token` gives, :class:`PolicyRefused` otherwise) and
  accepted by the data (:class:`~.migration.MigrationFailed`);
* :func:`reset_database` starts a database afresh (``clear``), with a new module or the same;
* :func:`delete_database` stops hosting it.

Each holds the database's :meth:`~.control.Control.exclusive` lock, so two publishes to one
database happen one after the other.

Example::

    db = await create_database(control, module, program_hash(source), owner=me, names=["chat"])
    outcome = await update_database(control, db, new_module, program_hash(new_source))
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..errors import SpacetimeDBError
from ..sats.values import Identity
from .control import Control
from .host import Database
from .host.update import UpdateOutcome
from .migration import MigrationPlan
from .module import Module
from .module_source import Program


class PolicyRefused(SpacetimeDBError):
    """The plan disconnects clients and the publisher did not agree to it (upstream's texts).

    Example::

        >>> str(PolicyRefused(PolicyRefused.BREAKING))[:26]
        'Migration plan contains a '
    """

    BREAKING = (
        "Migration plan contains a client-breaking change which is disallowed under current policy"
    )
    BAD_TOKEN = "Token provided is invalid or does not match expected hash"


class InitFailed(SpacetimeDBError):
    """The module's ``init`` reducer failed, so the database was not created or reset."""


@dataclass(frozen=True)
class MigrationPolicy:
    """Upstream's ``MigrationPolicy``: ``Compatible`` (the default) refuses a plan that
    disconnects clients; ``BreakClients`` allows it, given the token the pre-publish check gave.

    Example::

        >>> MigrationPolicy.compatible().break_clients
        False
    """

    break_clients: bool = False
    token: str | None = None

    @staticmethod
    def compatible() -> MigrationPolicy:
        """Refuse plans that disconnect clients."""
        return MigrationPolicy()

    @staticmethod
    def allow_breaking(token: str) -> MigrationPolicy:
        """Allow them, with the token of this very migration."""
        return MigrationPolicy(True, token)


def migration_token(db: Database, new_program_hash: str) -> str:
    """The token acknowledging a breaking migration of ``db`` to a program (upstream's
    ``MigrationToken``: a hash of the database identity and the old and new program hashes).

    Example::

        token = migration_token(db, program_hash(new_source))
    """
    text = f"{db.identity.to_hex()}{db.program_hash}{new_program_hash}"
    digest = hashlib.sha256(text.encode()).digest()
    # A hash is a u256 (little-endian) in upstream's JSON: "0x" and hex without leading zeros.
    return f"0x{int.from_bytes(digest, 'little'):x}"


def _token_value(token: str) -> int | None:
    try:
        return int(token.strip().lower().removeprefix("0x"), 16)
    except ValueError:
        return None


def check_policy(db: Database, plan: MigrationPlan, policy: MigrationPolicy, new_hash: str) -> None:
    """Raise :class:`PolicyRefused` unless ``policy`` allows ``plan``."""
    if policy.break_clients:
        expected = _token_value(migration_token(db, new_hash))
        if _token_value(policy.token or "") != expected:
            raise PolicyRefused(PolicyRefused.BAD_TOKEN)
    elif plan.breaks_clients:
        raise PolicyRefused(PolicyRefused.BREAKING)


async def create_database(
    control: Control,
    module: Module,
    program_hash: str,
    *,
    owner: Identity,
    owner_token: str | None = None,
    identity: Identity | None = None,
    names: Sequence[str] = (),
    program: Program | None = None,
) -> Database:
    """Create and host a database for ``module`` (fresh identity unless given); its ``init`` runs
    first and :class:`InitFailed` leaves nothing behind.

    With a data directory, a database published as a ``program`` keeps its data there (and the
    program, to be loaded again after a restart); one published as a module object lives in
    memory, as the server has nothing to load it from later.
    """
    defaults = control.defaults
    identity = identity or defaults.new_identity()
    name = names[0] if names else identity.to_hex()
    async with control.exclusive(identity):
        storage = defaults.storage(identity, name) if program is not None else None
        if storage is not None:
            storage.names = list(names)
        db = Database(
            module,
            name=name,
            issuer=defaults.issuer,
            owner_token=owner_token,
            reducer_timeout=defaults.reducer_timeout,
            http_policy=defaults.http_policy,
            identity=identity,
            owner_identity=owner,
            program_hash=program_hash,
            limits=defaults.limits,
            storage=storage,
        )
        if storage is not None and program is not None:
            await asyncio.to_thread(
                storage.save_program, program.host_type, program.source, program_hash
            )
        loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(db.start, loop)
        except SpacetimeDBError as e:
            await asyncio.to_thread(db.delete)
            raise InitFailed(str(e)) from e
        control.add(db, names)
        return db


async def update_database(
    control: Control,
    db: Database,
    module: Module,
    program_hash: str,
    policy: MigrationPolicy | None = None,
    program: Program | None = None,
) -> UpdateOutcome:
    """Hot-swap ``db``'s module (see the module docstring for what refuses it)."""
    async with control.exclusive(db.identity):
        if program_hash == db.program_hash:
            return UpdateOutcome.NO_UPDATE_NEEDED
        plan = await asyncio.to_thread(db.plan_update, module)
        check_policy(db, plan, policy or MigrationPolicy.compatible(), program_hash)
        async with _keeping_program(db, program, program_hash):
            return await db.update_module_async(module, plan, program_hash)


@asynccontextmanager
async def _keeping_program(
    db: Database, program: Program | None, new_hash: str | None
) -> AsyncIterator[None]:
    """With a data directory: keep the new program before the swap (a restart during the swap
    then migrates the old data to it, as the swap does), the old one again if the swap fails."""
    storage = db.storage
    if storage is None or program is None or new_hash is None:
        yield
        return
    old, old_hash = await asyncio.to_thread(storage.program), db.program_hash
    await asyncio.to_thread(storage.save_program, program.host_type, program.source, new_hash)
    try:
        yield
    except BaseException:
        if old is not None:
            await asyncio.to_thread(storage.save_program, old[0], old[1], old_hash)
        raise


async def reset_database(
    control: Control,
    db: Database,
    module: Module | None,
    program_hash: str | None,
    program: Program | None = None,
) -> None:
    """Start ``db`` afresh (``clear``) with ``module`` (``None``: the one it runs)."""
    async with control.exclusive(db.identity), _keeping_program(db, program, program_hash):
        try:
            await asyncio.to_thread(db.reset, module or db.module, program_hash or db.program_hash)
        except SpacetimeDBError as e:
            raise InitFailed(str(e)) from e


async def delete_database(control: Control, db: Database) -> None:
    """Stop hosting ``db``: its clients are told the module exited; its names stay registered."""
    async with control.exclusive(db.identity):
        control.remove(db.identity)
        await asyncio.to_thread(db.delete)
