"""The :class:`Module` users declare: the declaration API plus what a host needs to run it.

:class:`Module` extends :class:`~.declarations.ModuleDeclarations` (the decorators and the
built definition) with BSATN codecs bound to the module's classes, the schema export
(``describe_v9``/``describe_v10``, which call :mod:`..describe`) and the calls the host makes:
a reducer in its own transaction, a procedure, a view.  Keeping these on top of the declarations
lets the schema exporter read declarations without an import circle back to this class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..._log import get_logger
from ...errors import SpacetimeDBError
from ...sats.types import RefType
from ...sats.values import ConnectionId, Err, Identity, Ok, Timestamp
from ..budget import (
    PROCEDURE_OUT_OF_ENERGY,
    REDUCER_OUT_OF_ENERGY,
    VIEW_OUT_OF_ENERGY,
    OutOfEnergy,
    run_budgeted,
)
from ..datastore import Datastore, DatastoreError
from ..describe import describe_v9, describe_v10
from .auth_ctx import AuthCtx
from .console import function_scope
from .contexts import (
    INTERNAL_ERROR_MESSAGE,
    AnonymousViewContext,
    CallResult,
    ProcedureContext,
    ReducerContext,
    SenderError,
    ViewContext,
)
from .declarations import ModuleDeclarations
from .definitions import ProcedureDef, ReducerDef, ViewDef
from .procedure_host import InlineProcedureHost, ProcedureHost
from .query import From, Query

if TYPE_CHECKING:
    from ...sats.bsatn import Codec
    from .runner import ModuleRunner, RunnerHost

log = get_logger("spacetimedb_sdk.server")


class Module(ModuleDeclarations):
    """A SpacetimeDB module written in Python.

    ``case_conversion`` is upstream's ``CaseConversionPolicy``: ``"snake_case"`` (the
    default) or ``None`` (canonical names = source names).

    Example::

        >>> module = Module("demo")
        >>> @module.table(public=True)
        ... class Person:
        ...     name: str
        >>> module.table_schemas()[0].name
        'person'
    """

    def row_codec(self, table: str) -> Codec:
        """The BSATN codec of a table's rows: encodes/decodes the row class itself.

        Example::

            data = module.row_codec("user").encode(User(identity=me, name=None, online=True))
        """
        from ...sats import bsatn

        built = self.build()
        ref = RefType(self.table_schema(table).product_type_ref)
        return bsatn.codec_for(ref, built.typespace, classes=built.classes)

    def args_codec(self, function: ReducerDef | ProcedureDef) -> Codec:
        """The codec of a reducer's or procedure's arguments (decodes to a dict by name).

        Example::

            codec = module.args_codec(module.reducer_def("add_task"))
            codec.decode(codec.encode({"text": "buy milk"}))   # {'text': 'buy milk'}
        """
        from ...sats import bsatn

        built = self.build()
        return bsatn.codec_for(function.params, built.typespace, classes=built.classes)

    def return_codec(self, procedure: ProcedureDef) -> Codec:
        """The codec of a procedure's return value.

        Example::

            module.return_codec(module.procedure_def("add")).encode(5)   # b'\x05\x00\x00\x00'
        """
        from ...sats import bsatn

        built = self.build()
        return bsatn.codec_for(procedure.return_type, built.typespace, classes=built.classes)

    def describe_v9(self) -> dict[str, Any]:
        """The ``RawModuleDefV9`` JSON the server serves at ``/schema?version=9``.

        Example::

            [t["name"] for t in module.describe_v9()["tables"]]   # ['task']
        """
        return describe_v9(self)

    def describe_v10(self) -> dict[str, Any]:
        """The ``RawModuleDefV10`` JSON the server serves at ``/schema?version=10``.

        Example::

            ModuleSchema.from_json(module.describe_v10())   # what a client loads from /schema
        """
        return describe_v10(self)

    # -- calls (this class is the Python module runner: see :class:`.runner.ModuleRunner`)

    def new_runner(self, host: RunnerHost) -> ModuleRunner:
        """The runner of this module for one database: a Python module is its own.

        Example::

            assert module.new_runner(host) is module
        """
        return self

    def close(self) -> None:
        """Nothing to release: a Python module runs in the server's own process.

        Example::

            module.close()   # a no-op, part of the ModuleRunner protocol
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
        """Run a reducer in its own transaction; commit on success, roll back on error.

        ``args`` are Python values (a mapping by parameter name or a sequence).  Unknown
        reducer names raise ``KeyError``; checking callability is the caller's job.  On the
        database thread the call runs under the time budget (status ``"out_of_energy"``).
        A reducer returns ``None``; returning ``Err(e)`` fails it like ``SenderError(e)``
        (upstream's ``Result<(), E>``), any other value is an error (reducers cannot return
        values upstream).

        Example::

            datastore = module.new_datastore()
            result = module.call_reducer(datastore, "add_task", {"text": "buy milk"}, sender=alice)
            assert result.ok and len(result.tx.inserts["task"]) == 1
        """
        rd = reducer if isinstance(reducer, ReducerDef) else self.reducer_def(reducer)
        if rd is None:
            raise KeyError(f"no such reducer: {reducer!r}")
        ts = timestamp if timestamp is not None else Timestamp.now()
        tx = datastore.begin()
        ctx = ReducerContext(tx.db, sender, connection_id, ts, database_identity, auth)
        try:
            with function_scope(rd.name):
                returned = run_budgeted(_invoke, rd.fn, ctx, args)
            problem = _reducer_return_problem(rd, returned)
        except OutOfEnergy as e:
            tx.rollback()
            return CallResult("out_of_energy", REDUCER_OUT_OF_ENERGY, error=e)
        except SenderError as e:
            tx.rollback()
            return CallResult("err", str(e), error=e)
        except DatastoreError as e:
            # A constraint violation reaches the caller with the datastore's own text (what a
            # Rust module's `try_insert(..)?` reports); it is a host error, not the reducer's.
            tx.rollback()
            return CallResult("internal_error", str(e), error=e)
        except Exception as e:
            tx.rollback()
            return CallResult("internal_error", INTERNAL_ERROR_MESSAGE, error=e)
        except BaseException:
            tx.rollback()
            raise
        if problem is not None:
            tx.rollback()
            return problem
        return CallResult("ok", tx=tx.commit())

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
        """Run a procedure (its ``with_tx`` blocks commit independently).

        ``host`` runs its transactions (by default directly on ``datastore``, in this
        thread).  An exception becomes ``internal_error`` with ``"<ExceptionType>: <text>"``
        as the message (upstream reports a procedure's own error text); a transaction over
        budget ends the procedure with ``"out_of_energy"``.

        Example::

            result = module.call_procedure(datastore, "add", [2, 3], sender=alice)
            result.return_value   # 5
        """
        pd = procedure if isinstance(procedure, ProcedureDef) else self.procedure_def(procedure)
        if pd is None:
            raise KeyError(f"no such procedure: {procedure!r}")
        host = host if host is not None else InlineProcedureHost(datastore)
        ts = timestamp if timestamp is not None else Timestamp.now()
        ctx = ProcedureContext(host, sender, connection_id, ts, database_identity, auth)
        try:
            with function_scope(pd.name):
                value = _invoke(pd.fn, ctx, args)
        except OutOfEnergy as e:
            return CallResult(
                "out_of_energy", PROCEDURE_OUT_OF_ENERGY, error=e, tx_results=host.tx_results
            )
        except Exception as e:
            return CallResult(
                "internal_error", f"{type(e).__name__}: {e}", error=e, tx_results=host.tx_results
            )
        return CallResult("ok", return_value=value, tx_results=host.tx_results)

    def call_view(
        self, datastore: Datastore, view: str | ViewDef, *, sender: Identity | None = None
    ) -> list[Any] | Query[Any]:
        """Evaluate a view over the current state: its rows as a list, or the
        :class:`~.query.Query` a query view returns (the caller runs it).

        Raises :class:`ViewOutOfEnergy` when it runs past the time budget.

        Example::

            rows = module.call_view(datastore, "my_tasks", sender=alice)
        """
        vd = view if isinstance(view, ViewDef) else self.view_def(view)
        if vd is None:
            raise KeyError(f"no such view: {view!r}")
        db = datastore.read_view()
        from_ = From({t.accessor: t for t in self.build().tables})
        if vd.is_anonymous:
            ctx: Any = AnonymousViewContext(db, from_)
        else:
            if sender is None:
                raise ValueError(f"view {vd.name!r} is per-caller: pass sender=")
            ctx = ViewContext(db, sender, from_)
        try:
            with function_scope(vd.name):
                result = run_budgeted(vd.fn, ctx)
        except OutOfEnergy:
            raise ViewOutOfEnergy(VIEW_OUT_OF_ENERGY) from None
        if vd.is_query:
            if not isinstance(result, Query):
                raise TypeError(
                    f"view {vd.name!r} is annotated to return a Query; it returned "
                    f"{type(result).__name__} (build one from ctx.from_)"
                )
            if result.table.product_type_ref != vd.product_type_ref:
                raise TypeError(
                    f"view {vd.name!r} returns rows of {result.table.name!r}, "
                    "not of the type its annotation names"
                )
            return result
        if result is None:
            return []
        if isinstance(result, list | tuple):
            return list(result)
        if hasattr(result, "__iter__") and not dataclasses.is_dataclass(result):
            return list(result)
        return [result]


class ViewOutOfEnergy(SpacetimeDBError):
    """A view ran past its time budget (its subscribers get a ``SubscriptionError``).

    Example::

        >>> str(ViewOutOfEnergy("view ran out of energy"))
        'view ran out of energy'
    """


def _reducer_return_problem(rd: ReducerDef, returned: Any) -> CallResult | None:
    """What a reducer's return value means: ``None`` if it succeeded."""
    if returned is None or (isinstance(returned, Ok) and returned.value is None):
        return None
    if isinstance(returned, Err):
        return CallResult("err", str(returned.error))
    error = TypeError(
        f"reducer {rd.name} returned a {type(returned).__name__}; reducers return None "
        "(or Err(...) to fail): they cannot return values"
    )
    log.error("%s", error)
    return CallResult("internal_error", INTERNAL_ERROR_MESSAGE, error=error)


def _invoke(fn: Callable[..., Any], ctx: Any, args: Mapping[str, Any] | Sequence[Any]) -> Any:
    if isinstance(args, Mapping):
        return fn(ctx, **args)
    return fn(ctx, *args)
