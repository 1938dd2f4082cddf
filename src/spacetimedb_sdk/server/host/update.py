"""Replacing a running database's module: the hot swap, and the reset that starts it empty.

Upstream's host controller updates a database in place (``Host::update_module``): the new
module is planned against the old one with the migration rules (:mod:`..migration`), the stored
data is migrated in one step, and the new module takes over; the database's identity, names,
owner and log stay.  What happens to connected clients depends on the plan:

* a plan that keeps clients (``breaks_clients`` false): every WebSocket stays connected and keeps
  its subscriptions, which are planned again against the new module; a subscriber whose rows
  differ under the new module (a changed view) gets the difference as an update;
* a plan that breaks clients: every WebSocket client is disconnected (close 1001 ``module
  exited``), after the *new* module's ``client_disconnected`` ran for it, as upstream does.

An unchanged program (same hash) changes nothing.  ``init`` does not run on an update.

A reset (publish with ``clear``) starts the database afresh: the new (or same) module is first
created in a scratch database, whose ``init`` must succeed, as upstream checks a module before
it takes over; then the database drops its data, subscriptions and log, closes every client
with 1001 ``module exited`` and adopts the scratch database's state.

Every step runs on the database thread, so no transaction sees half a swap.  With a data
directory the stored data follows at once: a snapshot of the new state, in the new schema.

Example::

    plan = db.plan_update(new_module)           # IncompatibleMigration?
    outcome = db.update_module(new_module, plan, program_hash)
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from ...protocol import messages as m
from ...schema import ModuleSchema
from ..migration import (
    MigrationPlan,
    StepKind,
    check_data,
    convert_row,
    plan_migration,
)
from ..module import Module
from ..subscriptions import SubscriptionFailure, SubscriptionManager
from .clients import ClientConnection
from .execution import client_auth
from .lifecycle import Lifecycle
from .scheduler import Scheduler
from .v1_clients import V1ClientConnection, V1Rows

MODULE_EXITED = (1001, "module exited")

#: What upstream writes to the module log for each step (``crates/core/src/db/update.rs``).
_STEP_LOG = {
    StepKind.REMOVE_TABLE: "Dropping table `{}`",
    StepKind.ADD_TABLE: "Creating table `{}`",
    StepKind.ADD_INDEX: "Creating index `{}`",
    StepKind.REMOVE_INDEX: "Dropping index `{}`",
    StepKind.REMOVE_CONSTRAINT: "Dropping constraint `{}`",
    StepKind.ADD_CONSTRAINT: "Adding constraint `{}`",
    StepKind.ADD_SEQUENCE: "Adding sequence `{}`",
    StepKind.REMOVE_SEQUENCE: "Dropping sequence `{}`",
    StepKind.CHANGE_COLUMNS: "Changing columns of table `{}`",
    StepKind.RESCHEMA_EVENT_TABLE: "Changing schema of event table `{}`",
    StepKind.CHANGE_PRIMARY_KEY: "Changing primary key for table `{}`",
    StepKind.ADD_ROW_LEVEL_SECURITY: "Adding row-level security `{}`",
    StepKind.REMOVE_ROW_LEVEL_SECURITY: "Removing row-level security `{}`",
    StepKind.DISCONNECT_ALL_USERS: "Disconnecting all users",
}


class UpdateOutcome(enum.Enum):
    """What an update did (upstream's ``UpdateDatabaseResult`` successes).

    Example::

        >>> UpdateOutcome.UPDATED.value
        'updated'
    """

    NO_UPDATE_NEEDED = "no update needed"
    UPDATED = "updated"
    UPDATED_WITH_DISCONNECT = "updated, clients disconnected"


def module_schema(module: Module) -> ModuleSchema:
    """The normalized schema of a module, as the migration rules compare it.

    Example::

        schema = module_schema(module)
    """
    return ModuleSchema.from_json(module.describe_v10())


class _Rows:
    """The database's stored rows as the migration checks read them (BSATN, old module)."""

    def __init__(self, db: ModuleUpdates) -> None:
        self._db = db

    def row_count(self, table: str) -> int:
        return self._db.datastore.store(table).count()

    def rows(self, table: str) -> Iterable[bytes]:
        codec = self._db.module.row_codec(table)
        return (codec.encode(row) for row in self._db.datastore.store(table).iter_rows())


class ModuleUpdates(Lifecycle):
    """Hot swap and reset of a database's module (see the module docstring)."""

    _schema_of: tuple[Module, ModuleSchema] | None = None

    def schema(self) -> ModuleSchema:
        """The normalized schema of the running module."""
        cached = self._schema_of
        if cached is None or cached[0] is not self.module:
            cached = self._schema_of = (self.module, module_schema(self.module))
        return cached[1]

    def plan_update(self, module: Module) -> MigrationPlan:
        """The plan from the running module to ``module``; :class:`IncompatibleMigration` if
        the data cannot be kept."""
        return plan_migration(self.schema(), module_schema(module))

    # -- the hot swap

    def update_module(
        self, module: Module, plan: MigrationPlan, program_hash: str
    ) -> UpdateOutcome:
        """Migrate to ``module`` along ``plan`` (from :meth:`plan_update`); from any thread.

        Raises :class:`~..migration.MigrationFailed` when the stored data refuses the plan
        (nothing changes then).
        """
        return self.worker.call(self._update, module, plan, program_hash)

    async def update_module_async(
        self, module: Module, plan: MigrationPlan, program_hash: str
    ) -> UpdateOutcome:
        """:meth:`update_module`, awaited on the event loop."""
        return await self.worker.run_async(self._update, module, plan, program_hash)

    def _update(self, module: Module, plan: MigrationPlan, program_hash: str) -> UpdateOutcome:
        if program_hash == self.program_hash:
            return UpdateOutcome.NO_UPDATE_NEEDED
        check_data(plan, _Rows(self))
        datastore = module.new_datastore()
        recreated = plan.recreated_sequences()
        for name in plan.kept_tables:
            old_store = self.datastore.store(name)
            old_codec, new_codec = self.module.row_codec(name), module.row_codec(name)
            datastore.load(
                name,
                (
                    new_codec.decode(convert_row(plan, name, old_codec.encode(row)))
                    for row in old_store.iter_rows()
                ),
            )
            new_store = datastore.store(name)
            for seq in new_store.schema.sequences:
                if seq.name not in recreated and seq.col_id in old_store.sequence_next:
                    new_store.sequence_next[seq.col_id] = old_store.sequence_next[seq.col_id]
        self.log.system("Info", f"Updated program to {program_hash}")
        for step in plan.steps:
            text = _STEP_LOG.get(step.kind)
            if text is not None:
                self.log.system("Info", text.format(step.name))
        old_sets = self._subscribed_rows()
        self._adopt(module, datastore)
        self._storage_follows()
        self.program_hash = program_hash
        if plan.breaks_clients:
            self._disconnect_everyone(run_disconnected=True)
        else:
            self._resubscribe(old_sets)
        self.log.system("Info", "Database updated")
        if plan.breaks_clients:
            return UpdateOutcome.UPDATED_WITH_DISCONNECT
        return UpdateOutcome.UPDATED

    def _adopt(self, module: Module, datastore: Any) -> None:
        """Make ``module`` and ``datastore`` this database's, with a new engine and timers."""
        variables = self.subscriptions.system.variables
        self.scheduler.stop()
        old_runner = self.runner
        self.module = module
        self.datastore = datastore
        self.runner = module.new_runner(self)
        old_runner.close()  # a TypeScript module's Node processes of the old program end
        self.subscriptions = SubscriptionManager(module, datastore)
        self.subscriptions.system.variables = variables
        self.subscriptions.system.clients = lambda: list(self.connected)
        self._canonical_ts = None
        self.scheduler = Scheduler(self)
        if self._serving:
            self.scheduler.start()

    def _storage_follows(self) -> None:
        """With a data directory: the stored data follows the adopted module and state."""
        if self.storage is not None:
            self.storage.adopt(
                self.module, self.datastore, self.subscriptions.system.variables, self.connected
            )

    def _subscribed_rows(self) -> list[tuple[ClientConnection, int, list[str], m.QueryRows]]:
        out = []
        for client, qs, queries in self.subscriptions.active_sets():
            if isinstance(client, ClientConnection):
                out.append((client, qs, queries, self.subscriptions.rows_of(client, qs)))
        return out

    def _resubscribe(
        self, old_sets: list[tuple[ClientConnection, int, list[str], m.QueryRows]]
    ) -> None:
        """Plan every client's query sets again; send what changed (views may compute anew)."""
        for client in self.clients:
            if isinstance(client, V1ClientConnection) and client.rows is not None:
                client.rows = V1Rows(
                    self.module, json=client.rows.json
                )  # formats follow the module
        for client, qs, queries, before in old_sets:
            try:
                after = self.subscriptions.subscribe(
                    client, client.identity, qs, queries, is_owner=client.is_owner
                )
            except SubscriptionFailure as e:
                client.send(m.SubscriptionError(None, qs, e.message))
                continue
            update = _difference(qs, before, after)
            if update is not None:
                client.send(m.TransactionUpdate([update]))

    def _disconnect_everyone(self, *, run_disconnected: bool) -> None:
        """Close every WebSocket client with 1001 (upstream: the old module exited)."""
        for client in list(self.clients):
            self.clients.remove(client)
            if run_disconnected:
                # Upstream runs the *new* module's client_disconnected for each of them.
                self._disconnected(client.identity, client.connection_id, client_auth(client.token))
            else:
                self.connected.pop((client.identity, client.connection_id), None)
            client.close(*MODULE_EXITED)

    # -- reset

    def reset(self, module: Module, program_hash: str) -> None:
        """Start afresh with ``module`` (``clear``); ``init`` must succeed first.  Not on the
        database thread (the scratch database runs ``init`` on its own)."""
        fresh = type(self)(
            module,
            name=self.name,
            issuer=self.issuer,
            owner_token=self.owner_token,
            reducer_timeout=self.reducer_timeout,
            http_policy=self.http_policy,
            identity=self.identity,
            owner_identity=self.owner_identity,
            program_hash=program_hash,
            limits=self.limits,
        )
        try:
            fresh.start()  # runs init; raises if it fails (nothing here has changed then)
        finally:
            fresh.worker.shutdown()
            fresh.runner.close()  # this database makes a runner of its own when it adopts it
        self.worker.call(self._adopt_fresh, fresh)

    def _adopt_fresh(self, fresh: ModuleUpdates) -> None:
        self._disconnect_everyone(run_disconnected=False)
        self.connected.clear()
        old_log, self.log = self.log, fresh.log
        old_log.close()  # its followers end, as upstream's do when the replica goes
        self._adopt(fresh.module, fresh.datastore)
        self._storage_follows()
        self.program_hash = self.initial_program = fresh.program_hash

    # -- deletion

    def delete(self) -> None:
        """Stop for good: clients are told the module exited, log followers end, and its
        stored data (with a data directory) is deleted."""
        self.stop()
        self.log.close()
        if self.storage is not None:
            self.worker.call(self.storage.destroy)


def _difference(qs: int, before: m.QueryRows, after: m.QueryRows) -> m.QuerySetUpdate | None:
    """The rows of a query set that changed between two evaluations, as one update."""
    old: dict[str, list[bytes]] = {}
    new: dict[str, list[bytes]] = {}
    for rows, into in ((before, old), (after, new)):
        for single in rows.tables:
            into.setdefault(single.table, []).extend(single.rows.rows())
    tables = []
    for table in dict.fromkeys([*old, *new]):
        gone, came = (
            _multiset_minus(old.get(table, []), new.get(table, [])),
            _multiset_minus(new.get(table, []), old.get(table, [])),
        )
        if gone or came:
            tables.append(
                m.TableUpdate(
                    table,
                    [
                        m.PersistentTableRows(
                            m.BsatnRowList.from_rows(came), m.BsatnRowList.from_rows(gone)
                        )
                    ],
                )
            )
    return m.QuerySetUpdate(qs, tables) if tables else None


def _multiset_minus(a: list[bytes], b: list[bytes]) -> list[bytes]:
    remaining: dict[bytes, int] = {}
    for row in b:
        remaining[row] = remaining.get(row, 0) + 1
    out = []
    for row in a:
        if remaining.get(row, 0):
            remaining[row] -= 1
        else:
            out.append(row)
    return out


__all__ = ["MODULE_EXITED", "ModuleUpdates", "UpdateOutcome", "module_schema"]
