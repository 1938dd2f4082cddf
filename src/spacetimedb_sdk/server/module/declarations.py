"""The declaration API: the decorators that declare a module, and the definition built from them.

:class:`ModuleDeclarations` records tables, reducers, procedures, views, extra types and RLS
filters, builds them on demand (:mod:`.builder`) and answers lookups on the result.
:class:`~.module.Module` adds what running a module needs on top of it (codecs, schema export,
calls); readers that need only the declarations, like the schema exporter (:mod:`..describe`),
depend on this class and never on :class:`~.module.Module`.

Type checkers: ``table`` carries ``dataclass_transform`` (PEP 681) for checkers that honour it on
methods (pyright); mypy does not (mypy issue 16527), so a table class that derives from
:class:`~.columns.Table` (which carries it where mypy reads it, on a base class) type-checks
under both: ``Task(id=0, owner=me)``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, cast, overload

from ...errors import SchemaError
from ...sats.types import Typespace
from ..datastore import Datastore, TableSchema
from ..types_from_py import class_to_table_name, to_snake_case
from .builder import _Builder
from .columns import _MISSING, ColumnSpec, IndexSpec, column, dataclass_transform
from .definitions import ProcedureDef, ReducerDef, ViewDef, _Built, _TableDecl

_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C", bound=type)


class ModuleDeclarations:
    """A module's declarations and their built, validated definition (see :class:`~.module.Module`).

    ``case_conversion`` is upstream's ``CaseConversionPolicy``: ``"snake_case"`` (the
    default) or ``None`` (canonical names = source names).

    Example::

        module = Module("todo", case_conversion=None)   # Module is the ModuleDeclarations you use
        module.canonical("addTask")                      # 'addTask'
    """

    def __init__(
        self, name: str, *, case_conversion: Literal["snake_case"] | None = "snake_case"
    ) -> None:
        self.name = name
        self.case_conversion = case_conversion
        self._tables: list[_TableDecl] = []
        self._reducers: list[ReducerDef] = []
        self._procedures: list[ProcedureDef] = []
        self._views: list[ViewDef] = []
        self._extra_types: list[type] = []
        self.row_level_security: list[str] = []
        self._built: _Built | None = None

    # -- naming

    def canonical(self, source: str) -> str:
        """The canonical name of a table, column or function declared as ``source``.

        Example::

            Module("todo").canonical("addTask")   # 'add_task' (snake case, upstream's default)
        """
        return to_snake_case(source) if self.case_conversion == "snake_case" else source

    def _changed(self) -> None:
        self._built = None

    # -- tables

    @overload
    @dataclass_transform(frozen_default=True, field_specifiers=(column,))
    def table(self, cls: _C, /) -> _C: ...

    @overload
    def table(
        self,
        cls: None = None,
        /,
        *,
        name: str | None = None,
        accessor: str | None = None,
        public: bool = False,
        event: bool = False,
        scheduled: Callable[..., Any] | str | None = None,
        scheduled_at: str | None = None,
        indexes: Sequence[IndexSpec] = (),
    ) -> Callable[[_C], _C]: ...

    def table(
        self,
        cls: _C | None = None,
        /,
        *,
        name: str | None = None,
        accessor: str | None = None,
        public: bool = False,
        event: bool = False,
        scheduled: Callable[..., Any] | str | None = None,
        scheduled_at: str | None = None,
        indexes: Sequence[IndexSpec] = (),
    ) -> _C | Callable[[_C], _C]:
        """Declare a table; the class becomes a frozen dataclass row type.

        ``public`` makes it readable by every client; ``event=True`` makes an event
        table (rows reach subscribers, never stored); ``scheduled=`` a timer table for
        that reducer or procedure (needs a ``ScheduleAt`` column and a ``U64`` primary
        key, usually auto-increment); ``indexes=[index(...)]`` multi-column indexes.

        Example::

            @module.table(name="player", public=True, indexes=[index("by_level", btree=["level"])])
            class Player:
                id: U64 = column(primary_key=True, auto_inc=True)
                level: U32
        """

        def wrap(c: _C) -> _C:
            return self._add_table(
                c, name, accessor, public, event, scheduled, scheduled_at, tuple(indexes)
            )

        return wrap(cls) if cls is not None else wrap

    def _add_table(
        self,
        cls: _C,
        name: str | None,
        accessor: str | None,
        public: bool,
        event: bool,
        scheduled: Callable[..., Any] | str | None,
        scheduled_at: str | None,
        indexes: tuple[IndexSpec, ...],
    ) -> _C:
        if not isinstance(cls, type):
            raise SchemaError(f"@module.table decorates a class, got {cls!r}")
        specs: dict[str, ColumnSpec] = {}
        for attr in inspect.get_annotations(cls):
            value = cls.__dict__.get(attr, _MISSING)
            if isinstance(value, ColumnSpec):
                specs[attr] = value
                if value.default is _MISSING:
                    delattr(cls, attr)
                else:
                    setattr(cls, attr, value.default)
        try:
            row_cls: Any = dataclasses.dataclass(frozen=True, slots=True)(cls)
        except TypeError as e:
            raise SchemaError(
                f"table {cls.__qualname__}: {e} (put columns with defaults after those without)"
            ) from e
        acc = accessor or class_to_table_name(cls.__name__)
        if any(t.accessor == acc for t in self._tables):
            raise SchemaError(f"two tables use the accessor {acc!r}")
        decl = _TableDecl(
            row_cls, acc, name or self.canonical(acc), name is not None, public, event,
            scheduled, scheduled_at, specs, indexes,
        )  # fmt: skip
        self._tables.append(decl)
        self._changed()
        return cast(_C, row_cls)

    def add_type(self, cls: _C) -> _C:
        """Register a dataclass, enum or ``sum_type`` class even if no table uses it.

        Example::

            @module.add_type
            @dataclasses.dataclass
            class Point:
                x: F32
                y: F32
        """
        self._extra_types.append(cls)
        self._changed()
        return cls

    # -- functions

    def _function_names(self, fn: Callable[..., Any], name: str | None) -> tuple[str, str, bool]:
        source = fn.__name__
        taken = {r.source_name for r in self._reducers}
        taken |= {p.source_name for p in self._procedures}
        taken |= {v.source_name for v in self._views}
        if source in taken:
            raise SchemaError(f"a reducer, procedure or view named {source!r} already exists")
        return source, name or self.canonical(source), name is not None

    @overload
    def reducer(self, fn: _F, /) -> _F: ...

    @overload
    def reducer(self, fn: None = None, /, *, name: str | None = None) -> Callable[[_F], _F]: ...

    def reducer(
        self, fn: _F | None = None, /, *, name: str | None = None
    ) -> _F | Callable[[_F], _F]:
        """Declare a reducer ``fn(ctx: ReducerContext, arg: T, ...) -> None``.

        Example::

            @module.reducer
            def send_message(ctx: ReducerContext, text: str) -> None: ...
        """

        def wrap(f: _F) -> _F:
            self._add_reducer(f, name, None)
            return f

        return wrap(fn) if fn is not None else wrap

    def _add_reducer(self, fn: Callable[..., Any], name: str | None, lifecycle: str | None) -> None:
        if lifecycle is not None and any(r.lifecycle == lifecycle for r in self._reducers):
            raise SchemaError(f"the module already has a {lifecycle} lifecycle reducer")
        source, canonical, explicit = self._function_names(fn, name)
        self._reducers.append(ReducerDef(source, canonical, explicit, fn, lifecycle=lifecycle))
        self._changed()

    def init(self, fn: _F) -> _F:
        """Declare the ``init`` lifecycle reducer (runs when the database is created).

        Example::

            @module.init
            def init(ctx: ReducerContext) -> None:
                ctx.db.config.insert(Config(id=0, motd="Welcome"))
        """
        self._add_reducer(fn, None, "Init")
        return fn

    def client_connected(self, fn: _F) -> _F:
        """Declare the reducer run when a client connects (raising rejects the client).

        Example::

            @module.client_connected
            def on_connect(ctx: ReducerContext) -> None:
                if ctx.db.banned.identity.find(ctx.sender) is not None:
                    raise SenderError("banned")
        """
        self._add_reducer(fn, None, "OnConnect")
        return fn

    def client_disconnected(self, fn: _F) -> _F:
        """Declare the reducer run when a client disconnects.

        Example::

            @module.client_disconnected
            def on_disconnect(ctx: ReducerContext) -> None:
                user = ctx.db.user.identity.find(ctx.sender)
                if user is not None:
                    ctx.db.user.identity.update(dataclasses.replace(user, online=False))
        """
        self._add_reducer(fn, None, "OnDisconnect")
        return fn

    @overload
    def procedure(self, fn: _F, /) -> _F: ...

    @overload
    def procedure(self, fn: None = None, /, *, name: str | None = None) -> Callable[[_F], _F]: ...

    def procedure(
        self, fn: _F | None = None, /, *, name: str | None = None
    ) -> _F | Callable[[_F], _F]:
        """Declare a procedure ``fn(ctx: ProcedureContext, ...) -> T``; its return
        annotation is the return type, and ``ctx.with_tx`` runs transactions.

        Example::

            @module.procedure
            def add(ctx: ProcedureContext, a: U32, b: U32) -> U32:
                return a + b
        """

        def wrap(f: _F) -> _F:
            source, canonical, explicit = self._function_names(f, name)
            self._procedures.append(ProcedureDef(source, canonical, explicit, f))
            self._changed()
            return f

        return wrap(fn) if fn is not None else wrap

    @overload
    def view(self, fn: _F, /) -> _F: ...

    @overload
    def view(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        public: bool = True,
        anonymous: bool = False,
    ) -> Callable[[_F], _F]: ...

    def view(
        self,
        fn: _F | None = None,
        /,
        *,
        name: str | None = None,
        public: bool = True,
        anonymous: bool = False,
        primary_key: str | None = None,
    ) -> _F | Callable[[_F], _F]:
        """Declare a view returning ``list[Row]``, ``Row | None`` or ``Row`` of a table or
        dataclass row type, or a query (``Query[Row]``, built from ``ctx.from_``); it gets a
        :class:`ViewContext` (or :class:`AnonymousViewContext` with ``anonymous=True``).

        ``primary_key`` names the column that identifies a procedural view's rows, so clients
        see a changed row as an update (``on_update``); a query view has its table's key.

        Example::

            @module.view(public=True, primary_key="identity")
            def my_user(ctx: ViewContext) -> User | None:
                return ctx.db.user.identity.find(ctx.sender)
        """

        def wrap(f: _F) -> _F:
            source, canonical, explicit = self._function_names(f, name)
            self._views.append(
                ViewDef(source, canonical, explicit, f, public, anonymous, primary_key)
            )
            self._changed()
            return f

        return wrap(fn) if fn is not None else wrap

    def client_visibility_filter(self, sql: str) -> None:
        """Add a row-level-security filter, e.g. ``"SELECT * FROM user WHERE identity = :sender"``.

        Example::

            module.client_visibility_filter("SELECT * FROM task WHERE owner = :sender")
        """
        self.row_level_security.append(sql)
        self._changed()

    # -- the built definition

    def build(self) -> _Built:
        """Resolve annotations, assign types and names, and validate; cached until changed.

        Example::

            module.build()   # raises SchemaError now rather than when the server starts
        """
        if self._built is None:
            self._built = _Builder(self).build()
        return self._built

    @property
    def typespace(self) -> Typespace:
        """The module typespace (source names, as the module publishes it).

        Example::

            len(module.typespace)   # one type per table row, dataclass and enum
        """
        return self.build().typespace

    @property
    def classes(self) -> dict[int, type]:
        """Typespace ref → Python class, for ``bsatn.codec_for(..., classes=...)``.

        Example::

            codec = bsatn.codec_for(RefType(0), module.typespace, classes=module.classes)
        """
        return self.build().classes

    def table_schemas(self) -> list[TableSchema]:
        """Every table, in declaration order.

        Example::

            [t.name for t in module.table_schemas()]   # ['task', ...]
        """
        return list(self.build().tables)

    def table_schema(self, name: str) -> TableSchema:
        """A table by canonical name or accessor.

        Example::

            module.table_schema("task").primary_key   # 0: the column index of ``id``
        """
        for t in self.build().tables:
            if name in (t.name, t.accessor):
                return t
        raise KeyError(f"module {self.name!r} has no table {name!r}")

    @property
    def reducers(self) -> list[ReducerDef]:
        """Every reducer, in declaration order (their ids).

        Example::

            [r.name for r in module.reducers]   # ['add_task', 'complete']
        """
        self.build()
        return list(self._reducers)

    @property
    def procedures(self) -> list[ProcedureDef]:
        """Every procedure, in declaration order.

        Example::

            [p.name for p in module.procedures]
        """
        self.build()
        return list(self._procedures)

    @property
    def views(self) -> list[ViewDef]:
        """Every view, in declaration order.

        Example::

            [v.name for v in module.views]
        """
        self.build()
        return list(self._views)

    def reducer_def(self, name: str, *, source: bool = False) -> ReducerDef | None:
        """A reducer by canonical name (what clients send); ``source=True`` also matches
        the Python function's name (for fixtures and tests, never for the wire).

        Example::

            module.reducer_def("add_task").params   # the product type of its arguments
        """
        self.build()
        return next(
            (r for r in self._reducers if name == r.name or (source and name == r.source_name)),
            None,
        )

    def procedure_def(self, name: str, *, source: bool = False) -> ProcedureDef | None:
        """A procedure by canonical name (``source=True``: or its Python name).

        Example::

            module.procedure_def("fetch_price") is not None
        """
        self.build()
        return next(
            (p for p in self._procedures if name == p.name or (source and name == p.source_name)),
            None,
        )

    def view_def(self, name: str) -> ViewDef | None:
        """A view by canonical name.

        Example::

            module.view_def("my_tasks").is_anonymous   # False: it gets a ViewContext
        """
        self.build()
        return next((v for v in self._views if v.name == name), None)

    def lifecycle_reducer(
        self, lifecycle: Literal["Init", "OnConnect", "OnDisconnect"]
    ) -> ReducerDef | None:
        """The reducer registered for a lifecycle event, if any.

        Example::

            init = module.lifecycle_reducer("Init")   # None when the module declares no @module.init
        """
        self.build()
        return next((r for r in self._reducers if r.lifecycle == lifecycle), None)

    def new_datastore(self) -> Datastore:
        """An empty datastore with this module's tables.

        Example::

            datastore = module.new_datastore()
            module.call_reducer(datastore, "add_task", ["water the plants"], sender=Identity.ZERO)
        """
        built = self.build()
        return Datastore(built.tables, built.typespace, built.classes)
