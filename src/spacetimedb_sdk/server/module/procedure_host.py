"""What a running procedure needs of the database hosting it: :class:`ProcedureHost`.

A procedure holds no transaction between its ``with_tx`` blocks; it asks its host to run each
block as one transaction (:meth:`ProcedureHost.run_tx`), to wait (:meth:`~ProcedureHost.sleep_until`)
and for its HTTP policy.  The local server's host (``server.host.procedures``) runs the blocks on
the database thread, between other clients' reducers, and broadcasts each commit; the
:class:`InlineProcedureHost` here runs them at once on the calling thread, for calling a
module's procedures directly on a bare :class:`~..datastore.Datastore` (unit tests).  A module
runner for another language (the TypeScript host) calls the same methods from its own
procedure syscalls.

Example::

    host = InlineProcedureHost(datastore)
    value = host.run_tx(lambda tx: (tx.db.counter.count(), True))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from ...sats.values import Timestamp
from ..datastore import Datastore, Transaction, TxResult
from .http_policy import HttpPolicy

_T = TypeVar("_T")


class ProcedureAborted(BaseException):
    """The database stopped while a procedure waited; the procedure ends (it cannot catch this).

    Example::

        >>> isinstance(ProcedureAborted(), Exception)
        False
    """


class ProcedureHost(Protocol):
    """The database as a procedure sees it (see the module docstring).

    Example::

        datastore = module.new_datastore()
        host: ProcedureHost = InlineProcedureHost(datastore)
        module.call_procedure(datastore, "add", [2, 3], sender=alice, host=host)
    """

    http_policy: HttpPolicy
    tx_results: list[TxResult]

    def run_tx(self, body: Callable[[Transaction], tuple[_T, bool]]) -> _T:
        """Run ``body`` in a new transaction; commit if it says so, roll back otherwise or if
        it raises (the exception propagates).  Returns the value ``body`` returned."""
        ...

    def sleep_until(self, deadline: Timestamp) -> Timestamp:
        """Wait until ``deadline`` (at once if it passed); returns the time on waking.

        Raises :class:`ProcedureAborted` if the database stops meanwhile."""
        ...


class InlineProcedureHost:
    """Runs a procedure's transactions directly on ``datastore``, in the calling thread.

    Commits are collected in :attr:`tx_results` (nothing is broadcast).

    Example::

        >>> from spacetimedb_sdk.server import Module
        >>> host = InlineProcedureHost(Module("m").new_datastore())
        >>> host.run_tx(lambda tx: ("done", True)), len(host.tx_results)
        ('done', 1)
    """

    def __init__(self, datastore: Datastore, http_policy: HttpPolicy | None = None) -> None:
        self.datastore = datastore
        self.http_policy = http_policy or HttpPolicy()
        self.tx_results: list[TxResult] = []

    def run_tx(self, body: Callable[[Transaction], tuple[_T, bool]]) -> _T:
        """Run ``body`` in a transaction now (see :class:`ProcedureHost`).

        Example::

            count = host.run_tx(lambda tx: (tx.db.task.count(), False))   # read, then roll back
        """
        value, _ = run_tx_on(self.datastore, body, self.tx_results.append)
        return value

    def sleep_until(self, deadline: Timestamp) -> Timestamp:
        """Sleep this thread until ``deadline``.

        Example::

            woke = host.sleep_until(Timestamp.now() + TimeDuration.from_seconds(0.5))
        """
        delay = (deadline.micros - Timestamp.now().micros) / 1e6
        if delay > 0:
            time.sleep(delay)
        return Timestamp.now()


def run_tx_on(
    datastore: Datastore,
    body: Callable[[Transaction], tuple[_T, bool]],
    on_commit: Callable[[TxResult], Any],
) -> tuple[_T, TxResult | None]:
    """One procedure transaction on ``datastore``: ``(value, committed changes or None)``.

    ``on_commit`` gets the changes of a commit before this returns.
    """
    tx = datastore.begin()
    try:
        value, commit = body(tx)
    except BaseException:
        if tx.open:
            tx.rollback()
        raise
    if not tx.open:  # the body ended the transaction itself; nothing left to do
        return value, None
    if not commit:
        tx.rollback()
        return value, None
    result = tx.commit()
    on_commit(result)
    return value, result
