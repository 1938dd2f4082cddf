"""Lifecycle: starting and stopping a database, connecting and disconnecting clients.

``init`` runs once when the database starts; ``client_connected`` / ``client_disconnected`` run
for every WebSocket connection and for each HTTP call (a failing ``client_connected`` refuses
the client with :class:`~.errors.ConnectionRejected`).  Stopping closes every client with 1001.
Each of these runs on the database thread; the blocking forms wait for it from any thread, the
``*_async`` forms await it on the event loop.
"""

from __future__ import annotations

import asyncio

from ..._log import get_logger
from ...errors import SpacetimeDBError
from ...sats.values import ConnectionId, Identity
from ..budget import CONNECT_OUT_OF_ENERGY
from ..module import AuthCtx
from .clients import ClientConnection
from .errors import ConnectionIdInUse, ConnectionOutOfEnergy, ConnectionRejected
from .execution import Execution, client_auth

log = get_logger("spacetimedb_sdk.server")


class Lifecycle(Execution):
    """Start/stop of the database and connect/disconnect of clients, with their reducers."""

    # -- life of the database

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run ``init`` (once); with ``loop`` (the database is serving), start its timers.

        Raises :class:`SpacetimeDBError` if ``init`` fails, as publishing would.
        """
        self.stopping.clear()
        self.worker.resume()
        self.worker.call(self._start, loop is not None)

    def _start(self, serving: bool) -> None:
        if not self._started:
            self._started = True
            if self.restored is None:
                self._initialize()
            else:
                # Clients connected when the server last stopped never disconnected: as upstream,
                # their client_disconnected runs now.
                for identity, connection_id in self.restored.connected():
                    self._disconnected(identity, connection_id, AuthCtx(False, None))
        if serving:
            self._serving = True
            self.scheduler.start()

    def _initialize(self) -> None:
        """Create the database: upstream's log lines, then ``init`` (once)."""
        for table in sorted(t.name for t in self.module.table_schemas()):
            self.log.system("Info", f"Creating table `{table}`")
        for view in sorted(v.name for v in self.module.views):
            self.log.system("Info", f"Creating table for view `{view}`")
        init = self.module.lifecycle_reducer("Init")
        if init is not None:
            self.log.system("Info", "Invoking `init` reducer")
            result = self._call_reducer(init, (), self.owner_identity, None, AuthCtx.internal())
            if not result.ok:
                raise SpacetimeDBError(
                    f"the init reducer of module {self.module.name!r} failed: {result.message}"
                ) from result.error
        self.log.system("Info", "Database initialized")
        if self.storage is not None:  # from now on a restart loads this database
            self.storage.created(self.identity, self.owner_identity)

    def stop(self) -> None:
        """Stop the timers, tell every client the module exited (close 1001), end waiting
        procedures, and let the database thread end."""
        self.stopping.set()
        self.worker.call(self._stop)
        self.worker.shutdown()

    def _stop(self) -> None:
        self.scheduler.stop()
        for client in list(self.clients):
            client.close(1001, "module exited")
        self.runner.close()

    # -- connections

    def connect(self, client: ClientConnection) -> None:
        """Run ``client_connected``; register the client, or raise :class:`ConnectionRejected`."""
        self.worker.call(self._connect, client)

    async def connect_async(self, client: ClientConnection) -> None:
        """:meth:`connect`, awaited on the event loop."""
        await self.worker.run_async(self._connect, client)

    def _connect(self, client: ClientConnection) -> None:
        # Upstream keys st_connection_credentials by connection id: a second live connection
        # with the same id fails that insert, and the socket is dropped like a rejection.
        if any(cid == client.connection_id for _, cid in self.connected):
            raise ConnectionIdInUse(client.connection_id.to_hex())
        self._connected(client.identity, client.connection_id, client_auth(client.token))
        self.clients.append(client)

    def disconnect(self, client: ClientConnection) -> None:
        """Forget the client's subscriptions, then run ``client_disconnected``."""
        self.worker.call(self._disconnect, client)

    async def disconnect_async(self, client: ClientConnection) -> None:
        """:meth:`disconnect`, awaited on the event loop (it runs even if the wait is cancelled)."""
        await self.worker.run_async(self._disconnect, client)

    def _disconnect(self, client: ClientConnection) -> None:
        if client not in self.clients:
            return
        self.clients.remove(client)
        client.closing = True
        self.subscriptions.drop_client(client)
        self._disconnected(client.identity, client.connection_id, client_auth(client.token))

    def _connected(self, identity: Identity, connection_id: ConnectionId, auth: AuthCtx) -> None:
        # Connected during client_connected (as upstream's st_client row is inserted in its
        # transaction), and recorded with its commit.
        self.connected[(identity, connection_id)] = None
        storage = self.storage
        if storage is not None:
            storage.stage_client(identity, connection_id, True)
        rd = self.module.lifecycle_reducer("OnConnect")
        result = None if rd is None else self._call_reducer(rd, (), identity, connection_id, auth)
        if result is not None and not result.ok:
            self.connected.pop((identity, connection_id), None)
            if storage is not None:
                storage.flush_staged(discard=True)
            if result.status == "out_of_energy":
                raise ConnectionOutOfEnergy(CONNECT_OUT_OF_ENERGY)
            raise ConnectionRejected(result.message or "")
        if storage is not None:
            storage.flush_staged()

    def _disconnected(self, identity: Identity, connection_id: ConnectionId, auth: AuthCtx) -> None:
        self.connected.pop((identity, connection_id), None)
        storage = self.storage
        if storage is not None:
            storage.stage_client(identity, connection_id, False)
        rd = self.module.lifecycle_reducer("OnDisconnect")
        result = None if rd is None else self._call_reducer(rd, (), identity, connection_id, auth)
        if storage is not None:
            storage.flush_staged()
        if result is not None and not result.ok:
            # Upstream swallows client_disconnected errors too; the client is gone anyway.
            log.warning("client_disconnected failed for %s: %s", identity, result.message)
