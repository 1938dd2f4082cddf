"""Python modules for the local server: tables, reducers, procedures, views.

A module is declared with decorators on a :class:`Module`, much like a Rust or
TypeScript SpacetimeDB module::

    module = Module("quickstart-chat")

    @module.table(public=True)                 # table "user" (snake case of the class)
    class User:
        identity: Identity = column(primary_key=True)
        name: str | None
        online: bool

    @module.reducer
    def set_name(ctx: ReducerContext, name: str) -> None:
        if not name:
            raise SenderError("Names must not be empty")
        user = ctx.db.user.identity.find(ctx.sender)
        ctx.db.user.identity.update(dataclasses.replace(user, name=name))

Decisions (see also :mod:`..types_from_py` for annotations):

- a table class becomes a **frozen, slotted dataclass** (rows are values: compared by
  value, safe to store without copying; change one with ``dataclasses.replace``).
  Python defaults and ``column(default=...)`` must follow the fields without one;
- names: the table *accessor* (``ctx.db.<accessor>``) is ``accessor=`` or the snake case
  of the class name; the canonical (wire/SQL) name is ``name=`` or the snake case of the
  accessor (upstream's default ``SnakeCase`` policy).  Reducers likewise: accessor = the
  function name, canonical = ``name=`` or its snake case;
- ``SenderError(msg)`` fails the call with ``msg`` as the reducer's own error
  (``ReducerOutcome::Err``); any other exception fails it as the host does for a
  throwing module, with :data:`INTERNAL_ERROR_MESSAGE`, and the exception is kept in
  :attr:`CallResult.error` for logs.  Either way the transaction rolls back.


The package is layered, each file importing only those above it in this list:

- :mod:`.columns`: :func:`column` and :func:`index`, the options of a table declaration;
- :mod:`.definitions`: reducer, procedure and view definitions, tables as declared, the built
  result;
- :mod:`.builder`: annotations → typespace, declarations → validated table schemas;
- :mod:`.declarations`: the decorators (:class:`ModuleDeclarations`);
- :mod:`.query`: ``ctx.from_`` and :class:`Query`, what a query-builder view returns;
- :mod:`.auth_ctx`: ``ctx.sender_auth`` (:class:`AuthCtx`, :class:`JwtClaims`);
- :mod:`.uuids`: ``ctx.new_uuid_v4()``/``new_uuid_v7()``;
- :mod:`.http_policy` and :mod:`.http`: ``ctx.http`` of procedures and the addresses it may reach;
- :mod:`.procedure_host`: what a running procedure needs of its database (:class:`ProcedureHost`);
- :mod:`.contexts`: what module functions receive, :class:`SenderError` and :class:`CallResult`;
- :mod:`.module`: :class:`Module`, the declarations plus codecs, schema export and calls;
- :mod:`.runner`: :class:`ModuleRunner`, the seam the host calls module code through.
"""

from .auth_ctx import AuthCtx, JwtClaims
from .columns import ColumnSpec, IndexSpec, Table, column, index
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
from .http import (
    HttpClient,
    HttpError,
    HttpHeaders,
    HttpRequest,
    HttpResponse,
    WouldBlockTransaction,
)
from .http_policy import HttpPolicy
from .module import Module, ViewOutOfEnergy
from .procedure_host import InlineProcedureHost, ProcedureAborted, ProcedureHost
from .query import Query
from .runner import ModuleRunner, RunnerHost

__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "AnonymousViewContext",
    "AuthCtx",
    "CallResult",
    "ColumnSpec",
    "HttpClient",
    "HttpError",
    "HttpHeaders",
    "HttpPolicy",
    "HttpRequest",
    "HttpResponse",
    "IndexSpec",
    "InlineProcedureHost",
    "JwtClaims",
    "Module",
    "ModuleDeclarations",
    "ModuleRunner",
    "ProcedureAborted",
    "ProcedureContext",
    "ProcedureDef",
    "ProcedureHost",
    "Query",
    "ReducerContext",
    "ReducerDef",
    "RunnerHost",
    "SenderError",
    "Table",
    "ViewContext",
    "ViewDef",
    "ViewOutOfEnergy",
    "WouldBlockTransaction",
    "column",
    "index",
]
