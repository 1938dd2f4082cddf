"""Lifecycle: starting and stopping a database, connecting and disconnecting clients.

``init`` runs once when the database starts; ``client_connected`` / ``client_disconnected`` run
for every WebSocket connection and for each HTTP call (a failing ``client_connected`` refuses
the client with :class:`~.errors.ConnectionRejected`).  Stopping closes every client with 1001.
"""

from __future__ import annotations

import asyncio

from ..._log import get_logger
from ...errors import SpacetimeDBError
from ...sats.values import ConnectionId, Identity
from .clients import ClientConnection
from .errors import ConnectionRejected
from .execution import Execution

log = get_logger("spacetimedb_sdk.server")


class Lifecycle(Execution):
    """Start/stop of the database and connect/disconnect of clients, with their reducers."""

    # -- life of the database

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run ``init`` (once) and start firing scheduled rows on ``loop``.

        Raises :class:`SpacetimeDBError` if ``init`` fails, as publishing would.
        """
        with self._lock:
            if not self._started:
                self._started = True
                init = self.module.lifecycle_reducer("Init")
                if init is not None:
                    result = self._call_reducer(init, (), self.owner_identity, None)
                    if not result.ok:
                        raise SpacetimeDBError(
                            f"the init reducer of module {self.module.name!r} failed: "
                            f"{result.message}"
                        ) from result.error
            if loop is not None:
                self.scheduler.start(loop)

    def stop(self) -> None:
        """Stop the scheduler and tell every client the module exited (close 1001)."""
        with self._lock:
            self.scheduler.stop()
            for client in list(self.clients):
                client.close(1001, "module exited")

    # -- connections

    def connect(self, client: ClientConnection) -> None:
        """Run ``client_connected``; register the client, or raise :class:`ConnectionRejected`."""
        with self._lock:
            self._connected(client.identity, client.connection_id)
            self.clients.append(client)

    def disconnect(self, client: ClientConnection) -> None:
        """Forget the client's subscriptions, then run ``client_disconnected``."""
        with self._lock:
            if client not in self.clients:
                return
            self.clients.remove(client)
            client.closing = True
            self.subscriptions.drop_client(client)
            self._disconnected(client.identity, client.connection_id)

    def _connected(self, identity: Identity, connection_id: ConnectionId) -> None:
        rd = self.module.lifecycle_reducer("OnConnect")
        if rd is None:
            self.connected[(identity, connection_id)] = None
            return
        result = self._call_reducer(rd, (), identity, connection_id)
        if not result.ok:
            raise ConnectionRejected(result.message or "")
        self.connected[(identity, connection_id)] = None

    def _disconnected(self, identity: Identity, connection_id: ConnectionId) -> None:
        self.connected.pop((identity, connection_id), None)
        rd = self.module.lifecycle_reducer("OnDisconnect")
        if rd is None:
            return
        result = self._call_reducer(rd, (), identity, connection_id)
        if not result.ok:
            # Upstream swallows client_disconnected errors too; the client is gone anyway.
            log.warning("client_disconnected failed for %s: %s", identity, result.message)
