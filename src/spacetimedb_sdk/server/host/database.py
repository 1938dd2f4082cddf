"""The :class:`Database`: one module, its datastore, subscriptions and timers, and its front ends.

:class:`Database` puts together the front ends (:class:`~.client_messages.ClientMessages` for
WebSocket clients, :class:`~.http_calls.HttpCalls` for ``/call`` and ``/sql``,
:class:`~.lifecycle.Lifecycle`), all over :class:`~.execution.Execution`, and adds the direct
API that fixtures, the CLI and tests use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ...sats.values import ConnectionId, Identity
from ..datastore import DbView
from ..limits import ConnectionStats, DatabaseStats
from ..module import CallResult
from .client_messages import ClientMessages
from .http_calls import HttpCalls
from .update import ModuleUpdates


class Database(ClientMessages, HttpCalls, ModuleUpdates):
    """One database: ``module`` + datastore + subscriptions + scheduler, run serially.

    ``issuer`` signs and checks tokens (a fresh key when omitted);
    ``owner_identity`` is the identity allowed to call private functions and run
    DML over ``/sql`` (by default the identity of :attr:`owner_token`, minted here);
    ``reducer_timeout`` is the time budget of one reducer, view or transaction body in
    seconds (``None``: unlimited); ``http_policy`` what procedures' ``ctx.http`` may reach;
    ``limits`` what one client may make it hold or do (:class:`~..limits.ServerLimits`).
    ``identity`` is the database's identity (by default derived from the issuer and the name);
    ``owner_identity`` an owner known only by identity (a publisher), in which case
    ``owner_token`` may be ``None``; ``program_hash`` the hash of the module's program (the
    hash of its source when published), which an update compares.  ``log`` is the module log.

    Every method may be called from any thread, the event loop's included: the work runs
    on the database thread and the caller waits for it.

    Example::

        db = Database(module, name="quickstart-chat")
        db.start(asyncio.get_running_loop())
        with db.transaction() as tx:
            tx.user.insert(User(identity=me, name="Alice", online=False))
    """

    def __repr__(self) -> str:
        return f"Database(name={self.name!r}, module={self.module.name!r})"

    # -- direct access (fixtures, the CLI, tests)

    @contextmanager
    def transaction(self) -> Iterator[DbView]:
        """Run a block in a transaction, then broadcast it like any other commit.

        The block gets ``db`` (``db.user.insert(...)``); an exception rolls back.

        Example::

            with db.transaction() as tx:
                tx.message.insert(Message(sender=me, sent=Timestamp.now(), text="hi"))
        """
        with self.worker.exclusive():  # the block runs in the caller's thread, the db thread waits
            tx = self.datastore.begin()
            try:
                yield tx.db
            except BaseException:
                if tx.open:
                    tx.rollback()
                raise
            if tx.open:
                self._broadcast(tx.commit(), None)

    def call_reducer(
        self,
        name: str,
        *args: Any,
        sender: Identity | None = None,
        connection_id: ConnectionId | None = None,
        **kwargs: Any,
    ) -> CallResult:
        """Call any reducer (lifecycle and private ones too) as ``sender`` (the owner by default).

        Arguments are Python values, by position or by name; the commit is broadcast.

        Example::

            assert db.call_reducer("send_message", "hello").ok
        """
        rd = self.module.reducer_def(name, source=True)
        if rd is None:
            raise KeyError(f"module {self.module.name!r} has no reducer {name!r}")
        call_args: Mapping[str, Any] | Sequence[Any] = kwargs if kwargs else args
        if args and kwargs:
            raise TypeError("pass reducer arguments by position or by name, not both")
        return self.worker.call(
            self._call_reducer, rd, call_args, sender or self.owner_identity, connection_id
        )

    def call_procedure(
        self, name: str, *args: Any, sender: Identity | None = None, **kwargs: Any
    ) -> CallResult:
        """Call a procedure as ``sender`` (the owner by default) and wait for it to return.

        Its transactions are broadcast as they commit.  Not from module code or inside
        :meth:`transaction` (its transactions need the database thread).
        """
        pd = self.module.procedure_def(name, source=True)
        if pd is None:
            raise KeyError(f"module {self.module.name!r} has no procedure {name!r}")
        if args and kwargs:
            raise TypeError("pass procedure arguments by position or by name, not both")
        return self._call_procedure(
            pd, kwargs if kwargs else args, sender or self.owner_identity, None
        )

    def stats(self) -> DatabaseStats:
        """The database's queues and what its limits did (:class:`~..limits.DatabaseStats`).

        Safe from any thread; it does not wait for the database thread.

        Example::

            assert db.stats().outgoing_queue_disconnects == 0
        """
        connections = tuple(
            ConnectionStats(
                c.identity,
                c.connection_id,
                c.protocol,
                c.incoming_queued,
                c.outgoing_queued,
                c.outgoing_bytes,
            )
            for c in list(self.clients)
        )
        counters = self.counters
        return DatabaseStats(
            connections,
            self.worker.queued,
            counters.incoming_queue_disconnects,
            counters.outgoing_queue_disconnects,
            counters.sql_refused,
        )

    def rows(self, table: str) -> list[Any]:
        """A snapshot of a table's rows (by canonical name or accessor)."""
        return self.worker.call(lambda: list(self.datastore.store(table).iter_rows()))
