"""What callbacks receive: contexts and the events that caused them (python-api.md §6).

Every callback's first argument is a context exposing the connection's ``db``,
``reducers``, ``procedures``, ``identity`` and ``connection_id``, plus the
``event`` that triggered it:

- :class:`ReducerEvent` for changes caused by *this client's* reducer call;
- :class:`Transaction` for changes made by anyone else (2.x servers do not say who);
- :class:`SubscribeApplied` / :class:`UnsubscribeApplied` for rows entering or
  leaving the cache because of a subscription;
- :class:`SubscribeError` and :class:`Disconnected` in error contexts.

Example::

    @conn.db.message.on_insert
    def show(ctx, row):
        if isinstance(ctx.event, ReducerEvent):
            print("my call", ctx.event.reducer.name, "inserted", row)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..sats.values import ConnectionId, Identity, Timestamp


class EventSource(Protocol):
    """What a context reads from its connection (``DbConnection`` is one).

    Declared here, below the connection, so that the contexts do not import it.
    """

    db: Any
    reducers: Any
    procedures: Any

    @property
    def identity(self) -> Identity: ...

    @identity.setter
    def identity(self, value: Identity) -> None: ...

    @property
    def connection_id(self) -> ConnectionId: ...

    @connection_id.setter
    def connection_id(self, value: ConnectionId) -> None: ...

    def try_identity(self) -> Identity | None: ...

    def try_connection_id(self) -> ConnectionId | None: ...

    @property
    def is_active(self) -> bool: ...

    def subscription_builder(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Committed:
    """The reducer's transaction committed."""


@dataclass(frozen=True, slots=True)
class Failed:
    """The reducer returned its own error (``Err`` / ``SenderError``); nothing was changed."""

    message: str


@dataclass(frozen=True, slots=True)
class InternalFailure:
    """The host failed the call (panic, unknown reducer, bad arguments, out of energy)."""

    message: str


ReducerStatus = Committed | Failed | InternalFailure


@dataclass(frozen=True, slots=True)
class ReducerCall:
    """Which reducer was called, with the arguments this client sent (decoded, by parameter name)."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReducerEvent:
    """This client's reducer call finished; ``timestamp`` is the transaction's start time."""

    timestamp: Timestamp
    status: Committed | Failed | InternalFailure
    reducer: ReducerCall


@dataclass(frozen=True, slots=True)
class Transaction:
    """Another client's (or a scheduled or lifecycle) transaction changed subscribed rows."""


@dataclass(frozen=True, slots=True)
class SubscribeApplied:
    """A subscription's initial rows entered the cache."""


@dataclass(frozen=True, slots=True)
class UnsubscribeApplied:
    """A subscription ended and its rows left the cache."""


@dataclass(frozen=True, slots=True)
class SubscribeError:
    """The server rejected a subscription or ended it with an error."""

    error: Exception


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection closed; ``error`` is ``None`` for a requested, clean disconnect."""

    error: Exception | None


Event = (
    ReducerEvent
    | Transaction
    | SubscribeApplied
    | UnsubscribeApplied
    | SubscribeError
    | Disconnected
)


@dataclass(frozen=True, slots=True)
class EventContext:
    """The context of a row callback: the connection's views plus the causing ``event``."""

    conn: EventSource = field(repr=False)
    event: Any

    @property
    def db(self) -> Any:
        return self.conn.db

    @property
    def reducers(self) -> Any:
        return self.conn.reducers

    @property
    def procedures(self) -> Any:
        return self.conn.procedures

    @property
    def identity(self) -> Identity:
        """The connection's identity (raises before the server sent it; see :meth:`try_identity`).

        Example::

            if row.sender == ctx.identity: print("mine")
        """
        return self.conn.identity

    @property
    def connection_id(self) -> ConnectionId:
        """The connection's id (raises before the server sent it; see :meth:`try_connection_id`).

        Example::

            print(ctx.connection_id)
        """
        return self.conn.connection_id

    def try_identity(self) -> Identity | None:
        """The identity, or ``None`` when it is not known yet (a connect error's context).

        Example::

            who = ctx.try_identity() or "not connected"
        """
        return self.conn.try_identity()

    def try_connection_id(self) -> ConnectionId | None:
        """The connection id, or ``None`` when it is not known yet.

        Example::

            cid = ctx.try_connection_id()
        """
        return self.conn.try_connection_id()

    def is_active(self) -> bool:
        """Whether the connection is connected.

        Example::

            if ctx.is_active(): ctx.reducers.send_message.fire(text="still here")
        """
        return bool(self.conn.is_active)

    def subscription_builder(self) -> Any:
        """Start a subscription from inside a callback (as ``conn.subscription_builder()``).

        Example::

            ctx.subscription_builder().subscribe(["SELECT * FROM message"])
        """
        return self.conn.subscription_builder()


class ReducerEventContext(EventContext):
    """Context of a reducer result callback; ``event`` is a :class:`ReducerEvent`."""

    __slots__ = ()


class SubscriptionEventContext(EventContext):
    """Context of ``on_applied`` / unsubscribe callbacks."""

    __slots__ = ()


class ErrorContext(EventContext):
    """Context of error callbacks; ``event`` is the error (an exception) or ``None``."""

    __slots__ = ()


__all__ = [
    "Committed",
    "Disconnected",
    "ErrorContext",
    "Event",
    "EventContext",
    "EventSource",
    "Failed",
    "InternalFailure",
    "ReducerCall",
    "ReducerEvent",
    "ReducerEventContext",
    "ReducerStatus",
    "SubscribeApplied",
    "SubscribeError",
    "SubscriptionEventContext",
    "Transaction",
    "UnsubscribeApplied",
]
