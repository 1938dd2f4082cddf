"""The host's errors: what ends a WebSocket connection, refuses a client, or fails ``/sql``.

The web app catches them to choose a close code or an HTTP status, so they live apart from the
code that raises them.
"""

from __future__ import annotations

from ...errors import SpacetimeDBError


class FatalClientError(SpacetimeDBError):
    """A client message that ends the connection (close 1011 with this text).

    Example::

        >>> str(FatalClientError("v2 websocket does not support text messages"))
        'v2 websocket does not support text messages'
    """


class ConnectionRejected(SpacetimeDBError):
    """``client_connected`` failed: the connection (or HTTP call) is refused.

    Example::

        >>> ConnectionRejected("banned").message
        'banned'
    """

    #: The HTTP status a ``/call`` or ``/sql`` request refused this way gets.
    status = 403

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"Connection rejected by `client_connected` reducer: {message}")


class SqlFailed(SpacetimeDBError):
    """A ``/sql`` statement failed; the message is what an HTTP client is told (400).

    Example::

        >>> str(SqlFailed("no such table: `x`"))
        'no such table: `x`'
    """


class ConnectionOutOfEnergy(ConnectionRejected):
    """``client_connected`` ran past its time budget: the client is refused (HTTP: 503).

    Example::

        >>> ConnectionOutOfEnergy("Insufficient energy balance to run `client_connected` reducer").status
        503
    """

    status = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.message


class ConnectionIdInUse(ConnectionRejected):
    """A client asked for (``?connection_id=``) the connection id of a live connection.

    Example::

        >>> str(ConnectionIdInUse("00ff"))
        'connection id 00ff is in use by a live connection'
    """

    def __init__(self, connection_id: str) -> None:
        super().__init__(f"connection id {connection_id} is in use by a live connection")
        self.args = (self.message,)

    def __str__(self) -> str:
        return self.message
