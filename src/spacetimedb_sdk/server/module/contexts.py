"""What module functions receive and how their calls end.

The contexts (:class:`ReducerContext`, :class:`ProcedureContext`, :class:`ViewContext`,
:class:`AnonymousViewContext`) are what a Python reducer, procedure or view gets first;
:class:`SenderError` is how a reducer fails on purpose, and :class:`CallResult` is what the host
gets back from a call.  This is the contract between the host and a Python module's code, kept
apart from the declaration API so the code that runs calls does not depend on how they were
declared.

Procedures hold the database only inside their transactions: ``ctx.with_tx(body)`` (and
``ctx.try_with_tx``) hands ``body`` to the :class:`~.procedure_host.ProcedureHost`, which runs it
as one transaction (on the local server: on the database thread, between other calls) while the
procedure's own thread waits.  Between transactions a procedure may wait
(:meth:`ProcedureContext.sleep_until`) or call out over HTTP (``ctx.http``); inside one it may
not, as upstream (:class:`~.http.WouldBlockTransaction`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from ...sats.values import ConnectionId, Err, Identity, Timestamp
from ..budget import run_budgeted
from ..datastore import DbView, Transaction, TxResult
from .auth_ctx import AuthCtx
from .http import HttpClient, WouldBlockTransaction
from .procedure_host import ProcedureHost
from .uuids import UuidSource

_T = TypeVar("_T")

#: What a client is told when a reducer raises anything but :class:`SenderError`
#: (upstream ``handle_outer_error`` for a trapping or throwing module).
INTERNAL_ERROR_MESSAGE = "The instance encountered a fatal error."


class SenderError(Exception):
    """Raise in a reducer to fail it with a message meant for the caller.

    Example::

        raise SenderError("Names must not be empty")
    """


# ---- contexts ----------------------------------------------------------------------------------


class _CallContext:
    """What reducers and procedures share: the time, the database's identity, randomness."""

    __slots__ = ("_random", "_uuids", "identity", "timestamp")

    identity: Identity
    timestamp: Timestamp
    _random: random.Random | None
    _uuids: UuidSource | None

    @property
    def random(self) -> random.Random:
        """A PRNG seeded from the call's timestamp (deterministic per call, as upstream).

        Example::

            roll = ctx.random.randint(1, 6)
        """
        if self._random is None:
            self._random = random.Random(self.timestamp.micros)
        return self._random

    rng = random

    @property
    def database_identity(self) -> Identity:
        """The database's identity (upstream's name for :attr:`identity`).

        Example::

            assert ctx.database_identity == ctx.identity
        """
        return self.identity

    def new_uuid_v4(self) -> uuid.UUID:
        """A random (version 4) UUID from :attr:`random`.

        Example::

            ctx.db.session.insert(Session(id=ctx.new_uuid_v4(), owner=ctx.sender))
        """
        if self._uuids is None:
            self._uuids = UuidSource()
        return self._uuids.v4(self.random)

    def new_uuid_v7(self) -> uuid.UUID:
        """A time-ordered (version 7) UUID: :attr:`timestamp`, a counter, random bits.

        The UUIDs one call makes sort in the order it made them.

        Example::

            ctx.db.event.insert(Event(id=ctx.new_uuid_v7(), text=text))   # sorts by creation time
        """
        if self._uuids is None:
            self._uuids = UuidSource()
        return self._uuids.v7(self.random, self.timestamp)


class ReducerContext(_CallContext):
    """What a reducer receives first: ``db``, ``sender``, ``connection_id``, ``timestamp``,
    ``identity`` (the database's), ``sender_auth`` (the caller's token claims), a ``random``
    generator seeded from the timestamp, and ``new_uuid_v4()``/``new_uuid_v7()``.

    A procedure's ``with_tx`` body gets one too (upstream's ``TxContext``).

    Example::

        ctx.db.message.insert(Message(sender=ctx.sender, sent=ctx.timestamp, text=text))
    """

    __slots__ = ("_auth", "connection_id", "db", "sender")

    def __init__(
        self,
        db: DbView,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        identity: Identity,
        auth: AuthCtx | None = None,
    ) -> None:
        self.db = db
        self.sender = sender
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.identity = identity
        self._auth = auth
        self._random: random.Random | None = None
        self._uuids: UuidSource | None = None

    @property
    def sender_auth(self) -> AuthCtx:
        """Who called: the claims of the caller's token; internal for ``init`` and scheduled
        calls (upstream ``ReducerContext::sender_auth``).

        Example::

            claims = ctx.sender_auth.jwt
            if claims is None or "admins" not in claims.audience:
                raise SenderError("admins only")
        """
        if self._auth is None:
            self._auth = default_auth(self.connection_id)
        return self._auth


def default_auth(connection_id: ConnectionId | None) -> AuthCtx:
    """A caller's auth when nothing better is known: internal without a connection (upstream
    ``AuthCtx::from_connection_id_opt``), a caller without a token otherwise."""
    return AuthCtx.internal() if connection_id is None else AuthCtx(False, None)


class ProcedureContext(_CallContext):
    """What a procedure receives: the caller, the time, transactions, waits and HTTP.

    - ``ctx.with_tx(body)`` runs ``body(tx_ctx)`` as one transaction: committed if it
      returns, rolled back if it raises (the exception propagates);
    - ``ctx.try_with_tx(body)``: rolled back too if ``body`` returns an :class:`~..Err`
      (upstream's ``Result``), which is returned;
    - ``ctx.sleep_until(timestamp)`` waits without holding the database and moves
      ``ctx.timestamp`` to the time of waking;
    - ``ctx.http`` is an :class:`~.http.HttpClient`;
    - ``ctx.new_uuid_v4()``/``ctx.new_uuid_v7()`` and ``ctx.random`` as in a reducer.

    Example::

        n = ctx.with_tx(lambda tx: tx.db.counter.count())
    """

    __slots__ = ("_auth", "_host", "_in_tx", "connection_id", "http", "sender")

    def __init__(
        self,
        host: ProcedureHost,
        sender: Identity,
        connection_id: ConnectionId | None,
        timestamp: Timestamp,
        identity: Identity,
        auth: AuthCtx | None = None,
    ) -> None:
        self._host = host
        self.sender = sender
        self.connection_id = connection_id
        self.timestamp = timestamp
        self.identity = identity
        self._auth = auth if auth is not None else default_auth(connection_id)
        self._in_tx = False
        self._random: random.Random | None = None
        self._uuids: UuidSource | None = None
        self.http = HttpClient(host.http_policy, self._refuse_in_tx)

    @property
    def tx_results(self) -> list[TxResult]:
        """The changes of the transactions this procedure committed so far.

        Example::

            ctx.with_tx(lambda tx: tx.db.task.insert(Task(id=0, owner=ctx.sender, text="x", done=False)))
            len(ctx.tx_results)   # 1
        """
        return self._host.tx_results

    def _refuse_in_tx(self) -> None:
        if self._in_tx:
            raise WouldBlockTransaction()

    def with_tx(self, body: Callable[[ReducerContext], _T]) -> _T:
        """Run ``body`` in a transaction: committed if it returns, rolled back if it raises.

        Example::

            ctx.with_tx(lambda tx: tx.db.log.insert(Log(0, "hello")))
        """
        return self._transaction(body, rollback_on_err=False)

    def try_with_tx(self, body: Callable[[ReducerContext], _T]) -> _T:
        """Like :meth:`with_tx`, but an :class:`~..Err` returned by ``body`` rolls back too.

        Example::

            result = ctx.try_with_tx(lambda tx: Err("no stock") if out_of_stock(tx) else Ok(sell(tx)))
            if isinstance(result, Err):
                ...  # nothing was written
        """
        return self._transaction(body, rollback_on_err=True)

    def _transaction(self, body: Callable[[ReducerContext], _T], rollback_on_err: bool) -> _T:
        self._refuse_in_tx()  # a transaction inside a transaction would block forever

        def run(tx: Transaction) -> tuple[_T, bool]:
            ctx = ReducerContext(
                tx.db, self.sender, self.connection_id, Timestamp.now(), self.identity, self._auth
            )
            self._in_tx = True
            try:
                value = run_budgeted(body, ctx)
            finally:
                self._in_tx = False
            return value, not (rollback_on_err and isinstance(value, Err))

        return self._host.run_tx(run)

    def sleep_until(self, timestamp: Timestamp) -> None:
        """Wait until ``timestamp`` without holding the database; then ``ctx.timestamp`` is the
        time of waking (upstream ``ProcedureContext::sleep_until``).

        Example::

            ctx.sleep_until(ctx.timestamp + TimeDuration.from_seconds(1))
        """
        self._refuse_in_tx()
        self.timestamp = self._host.sleep_until(timestamp)


class ViewContext:
    """What a per-caller view receives: ``sender``, a read-only ``db`` and ``from_``, the
    tables to build a query from (a view annotated ``-> Query[Row]`` returns one).

    Example::

        @module.view
        def my_tasks(ctx: ViewContext) -> list[Task]:
            return list(ctx.db.task.owner.filter(ctx.sender))
    """

    __slots__ = ("db", "from_", "sender")

    def __init__(self, db: DbView, sender: Identity, from_: Any = None) -> None:
        self.db = db
        self.sender = sender
        self.from_ = from_


class AnonymousViewContext:
    """What an anonymous view receives: a read-only ``db`` and ``from_`` (see
    :class:`ViewContext`).

    Example::

        @module.view(anonymous=True)
        def open_tasks(ctx: AnonymousViewContext) -> Query[Task]:
            return ctx.from_.task.where(lambda t: t.done == False)  # noqa: E712
    """

    __slots__ = ("db", "from_")

    def __init__(self, db: DbView, from_: Any = None) -> None:
        self.db = db
        self.from_ = from_


CallStatus = Literal["ok", "err", "internal_error", "out_of_energy"]


@dataclass
class CallResult:
    """The outcome of a reducer or procedure call.

    ``status`` is ``"ok"``, ``"err"`` (a :class:`SenderError`; ``message`` is its text),
    ``"internal_error"`` (``message`` is what the client is told, ``error`` the
    exception) or ``"out_of_energy"`` (the call ran past its time budget and was
    stopped).  ``tx`` is the committed changeset (reducers), ``tx_results`` those of
    a procedure's ``with_tx`` calls, ``return_value`` a procedure's result.

    Example::

        result = module.call_reducer(datastore, "add_task", [""], sender=alice)
        result.status, result.message   # ('err', 'A task needs some text')
    """

    status: CallStatus
    message: str | None = None
    tx: TxResult | None = None
    error: BaseException | None = None
    return_value: Any = None
    tx_results: list[TxResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded.

        Example::

            assert srv.db.call_reducer("add_task", "buy milk").ok
        """
        return self.status == "ok"
