"""The seam between the host and a module's code: :class:`ModuleRunner`.

The host (``server.host``) decides *when and where* module code runs: reducers, views and
procedure transactions on the database thread, one at a time; procedures on threads of their
own.  A runner decides *how* a call reaches the module's code and how a call that overruns its
time budget is stopped.  :class:`~.module.Module` is the runner of Python modules: it calls the
functions in-process and stops an overrunning call with an asynchronous exception
(:mod:`..budget`).  A runner for TypeScript modules (a Node process speaking the host syscalls)
implements the same three methods and stops an overrunning call by killing its process; it reads
the budget from :func:`..budget.current_budget` (``.seconds``) on the database thread.

Contract of each method:

- :meth:`ModuleRunner.call_reducer` runs in its own transaction on ``datastore`` (begin,
  run, commit or roll back) and returns a :class:`~.contexts.CallResult` whose status is
  ``"ok"``, ``"err"`` (the module failed on purpose), ``"internal_error"`` or
  ``"out_of_energy"``; it never raises for the module's own failures.
- :meth:`ModuleRunner.call_procedure` runs on a procedure thread; every transaction goes
  through ``host.run_tx`` (never ``datastore`` directly), waits through ``host.sleep_until``.
- :meth:`ModuleRunner.call_view` returns the view's rows, or the :class:`~.query.Query` a
  query-builder view returns (the subscription engine runs it), raising on failure; the
  subscription engine and ``/sql`` call it on the database thread whenever a view's rows are
  needed (subscribing, after each commit).

Each database asks its module for a runner (``module.new_runner(database)``, a
:class:`RunnerHost`) and closes it when it stops (:meth:`ModuleRunner.close`).  A Python module is
its own runner; a TypeScript module (``server.tsmodule``) is a :class:`~.module.Module` for its
description (tables, reducers, codecs) whose runner owns the database's Node processes.

Example::

    runner: ModuleRunner = module.new_runner(database)   # a Python Module returns itself
    result = runner.call_reducer(datastore, "send_message", ["hi"], sender=me)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from ...sats.values import ConnectionId, Identity, Timestamp
from ..datastore import Datastore
from .auth_ctx import AuthCtx
from .console import LogSink
from .contexts import CallResult
from .definitions import ProcedureDef, ReducerDef, ViewDef
from .procedure_host import ProcedureHost
from .query import Query


class RunnerHost(Protocol):
    """What a runner may ask of the database it runs for.

    Example::

        host.schedule_immediate("send_reminder", module.args_codec(rd).encode({"user_id": 7}))
    """

    name: str
    identity: Identity
    log_sink: LogSink
    datastore: Datastore

    def schedule_immediate(self, reducer: str, args: bytes) -> None:
        """Call ``reducer`` (canonical or source name) with BSATN ``args`` as soon as the
        current job is done, as the database itself (upstream's
        ``volatile_nonatomic_schedule_immediate``)."""
        ...


class ModuleRunner(Protocol):
    """How the host calls a module's code (see the module docstring).

    Example::

        runner: ModuleRunner = module.new_runner(host)   # a Python Module is its own runner
        result = runner.call_reducer(datastore, "add_task", ["buy milk"], sender=alice)
    """

    def call_reducer(
        self,
        datastore: Datastore,
        reducer: str | ReducerDef,
        args: Mapping[str, Any] | Sequence[Any] = (),
        *,
        sender: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        database_identity: Identity = Identity.ZERO,
        auth: AuthCtx | None = None,
    ) -> CallResult:
        """Run a reducer in its own transaction."""
        ...

    def call_procedure(
        self,
        datastore: Datastore,
        procedure: str | ProcedureDef,
        args: Mapping[str, Any] | Sequence[Any] = (),
        *,
        sender: Identity,
        connection_id: ConnectionId | None = None,
        timestamp: Timestamp | None = None,
        database_identity: Identity = Identity.ZERO,
        auth: AuthCtx | None = None,
        host: ProcedureHost | None = None,
    ) -> CallResult:
        """Run a procedure; its transactions go through ``host``."""
        ...

    def call_view(
        self, datastore: Datastore, view: str | ViewDef, *, sender: Identity | None = None
    ) -> list[Any] | Query[Any]:
        """Evaluate a view over the current state (a query view: return its query)."""
        ...

    def close(self) -> None:
        """The database stopped: release what the runner holds (it may be used again later)."""
        ...
