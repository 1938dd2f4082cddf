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
from .errors import ConnectionOutOfEnergy, ConnectionRejected
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
            init = self.module.lifecycle_reducer("Init")
            if init is not None:
                result = self._call_reducer(init, (), self.owner_identity, None, AuthCtx.internal())
                if not result.ok:
                    raise SpacetimeDBError(
                        f"the init reducer of module {self.module.name!r} failed: {result.message}"
                    ) from result.error
        if serving:
            self.scheduler.start()

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
        rd = self.module.lifecycle_reducer("OnConnect")
        if rd is None:
            self.connected[(identity, connection_id)] = None
            return
        result = self._call_reducer(rd, (), identity, connection_id, auth)
        if result.status == "out_of_energy":
            raise ConnectionOutOfEnergy(CONNECT_OUT_OF_ENERGY)
        if not result.ok:
            raise ConnectionRejected(result.message or "")
        self.connected[(identity, connection_id)] = None

    def _disconnected(self, identity: Identity, connection_id: ConnectionId, auth: AuthCtx) -> None:
        self.connected.pop((identity, connection_id), None)
        rd = self.module.lifecycle_reducer("OnDisconnect")
        if rd is None:
            return
        result = self._call_reducer(rd, (), identity, connection_id, auth)
        if not result.ok:
            # Upstream swallows client_disconnected errors too; the client is gone anyway.
            log.warning("client_disconnected failed for %s: %s", identity, result.message)
