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

    Example::

        def who(conn: EventSource) -> str:
            return str(conn.try_identity() or "not connected")
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
    """The reducer's transaction committed.

    Example::

        conn.reducers.set_name.then(lambda ctx: print(isinstance(ctx.event.status, Committed)), name="A")
    """


@dataclass(frozen=True, slots=True)
class Failed:
    """The reducer returned its own error (``Err`` / ``SenderError``); nothing was changed.

    Example::

        >>> Failed("Names must not be empty").message
        'Names must not be empty'
    """

    message: str


@dataclass(frozen=True, slots=True)
class InternalFailure:
    """The host failed the call (panic, unknown reducer, bad arguments, out of energy).

    Example::

        >>> InternalFailure("the reducer panicked").message
        'the reducer panicked'
    """

    message: str


ReducerStatus = Committed | Failed | InternalFailure


@dataclass(frozen=True, slots=True)
class ReducerCall:
    """Which reducer was called, with the arguments this client sent (decoded, by parameter name).

    Example::

        >>> ReducerCall("set_name", {"name": "Ada"}).args["name"]
        'Ada'
    """

    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReducerEvent:
    """This client's reducer call finished; ``timestamp`` is the transaction's start time.

    Example::

        @conn.db.user.on_update
        def renamed(ctx, old, new):
            if isinstance(ctx.event, ReducerEvent):
                print("my", ctx.event.reducer.name, "call at", ctx.event.timestamp)
    """

    timestamp: Timestamp
    status: Committed | Failed | InternalFailure
    reducer: ReducerCall


@dataclass(frozen=True, slots=True)
class Transaction:
    """Another client's (or a scheduled or lifecycle) transaction changed subscribed rows.

    Example::

        conn.db.message.on_insert(
            lambda ctx, m: print("someone else wrote", m.text) if isinstance(ctx.event, Transaction) else None
        )
    """


@dataclass(frozen=True, slots=True)
class SubscribeApplied:
    """A subscription's initial rows entered the cache.

    Example::

        conn.db.user.on_insert(lambda ctx, u: print("initial row") if isinstance(ctx.event, SubscribeApplied) else None)
    """


@dataclass(frozen=True, slots=True)
class UnsubscribeApplied:
    """A subscription ended and its rows left the cache.

    Example::

        conn.db.user.on_delete(lambda ctx, u: print("unsubscribed") if isinstance(ctx.event, UnsubscribeApplied) else None)
    """


@dataclass(frozen=True, slots=True)
class SubscribeError:
    """The server rejected a subscription or ended it with an error.

    Example::

        >>> SubscribeError(ValueError("no such table")).error.args[0]
        'no such table'
    """

    error: Exception


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection closed; ``error`` is ``None`` for a requested, clean disconnect.

    Example::

        builder.on_disconnect(lambda ctx, error: print(isinstance(ctx.event, Disconnected), error))
    """

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
    """The context of a row callback: the connection's views plus the causing ``event``.

    Example::

        @conn.db.message.on_insert
        def show(ctx: EventContext, message: Message) -> None:
            sender = ctx.db.user.identity.find(message.sender)
            print(sender.name if sender else "?", message.text, ctx.event)
    """

    conn: EventSource = field(repr=False)
    event: Any

    @property
    def db(self) -> Any:
        """The connection's tables (``conn.db``).

        Example::

            ctx.db.user.identity.find(ctx.identity)
        """
        return self.conn.db

    @property
    def reducers(self) -> Any:
        """The connection's reducers (``conn.reducers``), to call one from a callback.

        Example::

            ctx.reducers.send_message.fire(text="seen it")
        """
        return self.conn.reducers

    @property
    def procedures(self) -> Any:
        """The connection's procedures (``conn.procedures``).

        Example::

            ctx.procedures.add(a=1, b=2)
        """
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
    """Context of a reducer result callback; ``event`` is a :class:`ReducerEvent`.

    Example::

        conn.reducers.set_name.then(lambda ctx: print(ctx.event.status), name="Ada")
    """

    __slots__ = ()


class SubscriptionEventContext(EventContext):
    """Context of ``on_applied`` / unsubscribe callbacks.

    Example::

        conn.subscription_builder().on_applied(lambda ctx: print(ctx.db.user.count()))
    """

    __slots__ = ()


class ErrorContext(EventContext):
    """Context of error callbacks; ``event`` is the error (an exception) or ``None``.

    Example::

        builder.on_connect_error(lambda ctx, error: print(ctx.try_identity(), error))
    """

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
