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

from ...sats.types import RefType
from ...sats.values import ConnectionId, Identity, Timestamp
from ..datastore import Datastore, DatastoreError
from ..describe import describe_v9, describe_v10
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
from .query import From, Query

if TYPE_CHECKING:
    from ...sats.bsatn import Codec


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
        """The codec of a reducer's or procedure's arguments (decodes to a dict by name)."""
        from ...sats import bsatn

        built = self.build()
        return bsatn.codec_for(function.params, built.typespace, classes=built.classes)

    def return_codec(self, procedure: ProcedureDef) -> Codec:
        """The codec of a procedure's return value."""
        from ...sats import bsatn

        built = self.build()
        return bsatn.codec_for(procedure.return_type, built.typespace, classes=built.classes)

    def describe_v9(self) -> dict[str, Any]:
        """The ``RawModuleDefV9`` JSON the server serves at ``/schema?version=9``."""
        return describe_v9(self)

    def describe_v10(self) -> dict[str, Any]:
        """The ``RawModuleDefV10`` JSON the server serves at ``/schema?version=10``."""
        return describe_v10(self)

    # -- calls

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
    ) -> CallResult:
        """Run a reducer in its own transaction; commit on success, roll back on error.

        ``args`` are Python values (a mapping by parameter name or a sequence).  Unknown
        reducer names raise ``KeyError``; checking callability is the caller's job.
        """
        rd = reducer if isinstance(reducer, ReducerDef) else self.reducer_def(reducer)
        if rd is None:
            raise KeyError(f"no such reducer: {reducer!r}")
        ts = timestamp if timestamp is not None else Timestamp.now()
        tx = datastore.begin()
        ctx = ReducerContext(tx.db, sender, connection_id, ts, database_identity)
        try:
            _invoke(rd.fn, ctx, args)
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
    ) -> CallResult:
        """Run a procedure (its ``with_tx`` blocks commit independently).

        An exception becomes ``internal_error`` with ``"<ExceptionType>: <text>"`` as the
        message (upstream reports a procedure's own error text).
        """
        pd = procedure if isinstance(procedure, ProcedureDef) else self.procedure_def(procedure)
        if pd is None:
            raise KeyError(f"no such procedure: {procedure!r}")
        ts = timestamp if timestamp is not None else Timestamp.now()
        ctx = ProcedureContext(self, datastore, sender, connection_id, ts, database_identity)
        try:
            value = _invoke(pd.fn, ctx, args)
        except Exception as e:
            return CallResult(
                "internal_error", f"{type(e).__name__}: {e}", error=e, tx_results=ctx.tx_results
            )
        return CallResult("ok", return_value=value, tx_results=ctx.tx_results)

    def call_view(
        self, datastore: Datastore, view: str | ViewDef, *, sender: Identity | None = None
    ) -> list[Any] | Query[Any]:
        """Evaluate a view over the current state: its rows as a list, or the
        :class:`~.query.Query` a query view returns (the caller runs it)."""
        vd = view if isinstance(view, ViewDef) else self.view_def(view)
        if vd is None:
            raise KeyError(f"no such view: {view!r}")
        db = datastore.read_view()
        from_ = From({t.accessor: t for t in self.build().tables})
        if vd.is_anonymous:
            result = vd.fn(AnonymousViewContext(db, from_))
        else:
            if sender is None:
                raise ValueError(f"view {vd.name!r} is per-caller: pass sender=")
            result = vd.fn(ViewContext(db, sender, from_))
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


def _invoke(fn: Callable[..., Any], ctx: Any, args: Mapping[str, Any] | Sequence[Any]) -> Any:
    if isinstance(args, Mapping):
        return fn(ctx, **args)
    return fn(ctx, *args)
