"""What module functions receive and how their calls end.

The contexts (:class:`ReducerContext`, :class:`ProcedureContext`, :class:`ViewContext`,
:class:`AnonymousViewContext`) are what a Python reducer, procedure or view gets first;
:class:`SenderError` is how a reducer fails on purpose, and :class:`CallResult` is what the host
gets back from a call.  This is the contract between the host and a Python module's code, kept
apart from the declaration API so the code that runs calls does not depend on how they were
declared.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ...sats.values import ConnectionId, Identity, Timestamp
from ..datastore import Datastore, DbView, TxResult

if TYPE_CHECKING:
    from .declarations import ModuleDeclarations

_T = TypeVar("_T")

#: What a client is told when a reducer raises anything but :class:`SenderError`
#: (upstream ``handle_outer_error`` for a trapping or throwing module).
INTERNAL_ERROR_MESSAGE = "The instance encountered a fatal error."

_INTEGER_KINDS = frozenset(
    ["U8", "U16", "U32", "U64", "U128", "U256", "I8", "I16", "I32", "I64", "I128", "I256"]
)


class SenderError(Exception):
    """Raise in a reducer to fail it with a message meant for the caller.

    Example::

        raise SenderError("Names must not be empty")
    """


# ---- contexts ----------------------------------------------------------------------------------


class ReducerContext:
    """What a reducer receives first: ``db``, ``sender``, ``connection_id``, ``timestamp``,
    ``identity`` (the database's) and a ``random`` generator seeded from the timestamp.

    Example::

        ctx.db.message.insert(Message(sender=ctx.sender, sent=ctx.timestamp, text=text))
    """

    __slots__ = ("_random", "connection_id", "db", "identity", "sender", "timestamp")

    def __init__(
        self,
        db: DbView,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        identity: Identity,
    ) -> None:
        self.db = db
        self.sender = sender
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.identity = identity
        self._random: random.Random | None = None

    @property
    def random(self) -> random.Random:
        """A PRNG seeded from the call's timestamp (deterministic per call, as upstream)."""
        if self._random is None:
            self._random = random.Random(self.timestamp.micros)
        return self._random

    rng = random


class ProcedureContext:
    """What a procedure receives: the caller, the time, and :meth:`with_tx`.

    Example::

        n = ctx.with_tx(lambda tx: tx.db.counter.count())
    """

    __slots__ = (
        "_datastore",
        "_module",
        "connection_id",
        "identity",
        "sender",
        "timestamp",
        "tx_results",
    )

    def __init__(
        self,
        module: ModuleDeclarations,
        datastore: Datastore,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        identity: Identity,
    ) -> None:
        self._module = module
        self._datastore = datastore
        self.sender = sender
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.identity = identity
        self.tx_results: list[TxResult] = []

    def with_tx(self, body: Callable[[ReducerContext], _T]) -> _T:
        """Run ``body`` in a transaction: committed if it returns, rolled back if it raises."""
        tx = self._datastore.begin()
        ctx = ReducerContext(tx.db, self.sender, self.connection_id, Timestamp.now(), self.identity)
        try:
            value = body(ctx)
        except BaseException:
            tx.rollback()
            raise
        self.tx_results.append(tx.commit())
        return value


class ViewContext:
    """What a per-caller view receives: ``sender``, a read-only ``db`` and ``from_``, the
    tables to build a query from (a view annotated ``-> Query[Row]`` returns one)."""

    __slots__ = ("db", "from_", "sender")

    def __init__(self, db: DbView, sender: Identity, from_: Any = None) -> None:
        self.db = db
        self.sender = sender
        self.from_ = from_


class AnonymousViewContext:
    """What an anonymous view receives: a read-only ``db`` and ``from_`` (see
    :class:`ViewContext`)."""

    __slots__ = ("db", "from_")

    def __init__(self, db: DbView, from_: Any = None) -> None:
        self.db = db
        self.from_ = from_


@dataclass
class CallResult:
    """The outcome of a reducer or procedure call.

    ``status`` is ``"ok"``, ``"err"`` (a :class:`SenderError`; ``message`` is its text)
    or ``"internal_error"`` (``message`` is what the client is told, ``error`` the
    exception).  ``tx`` is the committed changeset (reducers), ``tx_results`` those of
    a procedure's ``with_tx`` calls, ``return_value`` a procedure's result.
    """

    status: Literal["ok", "err", "internal_error"]
    message: str | None = None
    tx: TxResult | None = None
    error: BaseException | None = None
    return_value: Any = None
    tx_results: list[TxResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == "ok"
