"""The event objects of the 0.7 API, built from the 2.x events.

0.7 handed row callbacks a ``ReducerEvent`` (who called which reducer, with what
outcome) and ``register_on_event`` callbacks a ``TransactionUpdateMessage``
carrying one.  A 2.x server reports the reducer behind a change only to the
client that called it, so for other clients' transactions the event says only
that something committed: ``caller_identity``, ``caller_address`` and
``reducer_name`` are ``None`` and ``args`` is empty.

Example::

    def on_message(row_op, old, new, reducer_event):
        if reducer_event is not None and reducer_event.reducer_name == "send_message":
            print("my own message committed:", new.text)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..client import events as ev
from ..sats.values import ConnectionId, Identity

__all__ = [
    "COMMITTED",
    "FAILED",
    "ReducerEvent",
    "TransactionUpdateMessage",
    "convert_event",
    "status_text",
]

#: The 0.7 status strings (0.7 also had "out_of_energy"; 2.x reports that as a host failure).
COMMITTED = "committed"
FAILED = "failed"


@dataclass(eq=False)
class ReducerEvent:
    """What a 0.7 row callback's fourth argument says about the transaction behind it.

    Example::

        >>> e = ReducerEvent(None, None, "set_name", "failed", "Names must not be empty", [""])
        >>> (e.status, e.message)
        ('failed', 'Names must not be empty')
    """

    caller_identity: Identity | None
    caller_address: ConnectionId | None
    reducer_name: str | None
    status: str
    message: str
    args: list[Any] = field(default_factory=list)


@dataclass(eq=False)
class TransactionUpdateMessage:
    """What ``register_on_event`` callbacks and ``await client.call_reducer(...)`` receive.

    ``events`` is kept for the 0.7 shape and stays empty: row changes reach the row
    callbacks instead.

    Example::

        >>> msg = TransactionUpdateMessage(ReducerEvent(None, None, "f", "committed", ""))
        >>> msg.transaction_type, msg.reducer_event.status
        ('TransactionUpdate', 'committed')
    """

    reducer_event: ReducerEvent
    transaction_type: str = "TransactionUpdate"
    events: dict[str, list[Any]] = field(default_factory=dict)


def status_text(status: ev.Committed | ev.Failed | ev.InternalFailure) -> tuple[str, str]:
    """The 0.7 ``(status, message)`` pair of a 2.x reducer outcome.

    Example::

        >>> status_text(ev.Failed("Names must not be empty"))
        ('failed', 'Names must not be empty')
    """
    if isinstance(status, ev.Committed):
        return COMMITTED, ""
    return FAILED, status.message


def convert_event(
    event: object, identity: Identity | None, address: ConnectionId | None
) -> ReducerEvent | None:
    """The 0.7 ``reducer_event`` of a 2.x row-callback event; ``None`` for subscription rows.

    ``identity`` and ``address`` are this client's: a :class:`~..client.events.ReducerEvent`
    is only ever about this client's own call.

    Example::

        >>> convert_event(ev.SubscribeApplied(), None, None) is None
        True
        >>> convert_event(ev.Transaction(), None, None).status
        'committed'
    """
    if isinstance(event, ev.ReducerEvent):
        status, message = status_text(event.status)
        args = list(event.reducer.args.values())
        return ReducerEvent(identity, address, event.reducer.name, status, message, args)
    if isinstance(event, ev.Transaction):
        return ReducerEvent(None, None, None, COMMITTED, "", [])
    return None
