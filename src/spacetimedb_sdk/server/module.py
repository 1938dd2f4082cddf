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

Decisions (see also :mod:`.types_from_py` for annotations):

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

Type checkers: ``Module.table`` carries ``dataclass_transform`` (PEP 681) for checkers
that honour it on methods (pyright); mypy does not, so under mypy construct rows by
position or add ``# type: ignore[call-arg]``.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

from ..errors import SchemaError
from ..sats.types import (
    AlgebraicType,
    ArrayType,
    PrimitiveType,
    ProductType,
    ProductTypeElement,
    RefType,
    SumType,
    Typespace,
)
from ..sats.values import ConnectionId, Identity, Timestamp
from .datastore import (
    ColumnSchema,
    Datastore,
    DatastoreError,
    DbView,
    IndexSchema,
    ScheduleSchema,
    SequenceSchema,
    TableSchema,
    TxResult,
)
from .types_from_py import (
    TypespaceBuilder,
    class_to_table_name,
    to_snake_case,
    type_hints,
)

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    from ..sats.bsatn import Codec
else:  # the decorator only informs type checkers; degrade to a no-op without it
    try:
        from typing import dataclass_transform
    except ImportError:  # Python 3.10
        try:
            from typing_extensions import dataclass_transform
        except ImportError:

            def dataclass_transform(**_: Any) -> Any:
                return lambda f: f


_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")
_C = TypeVar("_C", bound=type)


class _Missing:
    """Sentinel: no default given (``dataclasses.MISSING`` would confuse dataclasses)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no default>"


_MISSING: Any = _Missing()

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


# ---- column and index declarations ------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    """The options of one column, as given to :func:`column`."""

    primary_key: bool = False
    unique: bool = False
    auto_inc: bool = False
    index: str | None = None
    default: Any = _MISSING


def column(
    *,
    primary_key: bool = False,
    unique: bool = False,
    auto_inc: bool = False,
    index: Literal["btree", "hash"] | None = None,
    default: Any = _MISSING,
) -> Any:
    """Declare column options as the default value of a table field.

    ``primary_key`` implies ``unique``; each unique column gets a btree index whose
    accessor is the column name (``ctx.db.user.identity.find(x)``); ``index="btree"``
    adds a non-unique index; ``auto_inc`` fills the column from a sequence when a row is
    inserted with ``0`` there; ``default`` is both the Python default and the schema's
    column default value.

    Example::

        @module.table
        class Player:
            id: U64 = column(primary_key=True, auto_inc=True)
            name: str = column(unique=True)
    """
    if index not in (None, "btree", "hash"):
        raise SchemaError(f"column(index=...) must be 'btree' or 'hash', got {index!r}")
    return ColumnSpec(primary_key, unique or primary_key, auto_inc, index, default)


@dataclass(frozen=True)
class IndexSpec:
    """A table-level index, as given to :func:`index`."""

    accessor: str
    algorithm: str
    columns: tuple[str, ...]


def index(
    accessor: str,
    *,
    btree: Sequence[str] | None = None,
    hash: Sequence[str] | None = None,
    direct: str | None = None,
) -> IndexSpec:
    """Declare a (possibly multi-column) index for ``@module.table(indexes=[...])``.

    Example::

        index("player_id_snazz_index", btree=["player_id", "snazz"])
    """
    given = [(n, v) for n, v in (("btree", btree), ("hash", hash), ("direct", direct)) if v]
    if len(given) != 1:
        raise SchemaError(f"index {accessor!r}: give exactly one of btree=, hash=, direct=")
    algo, cols = given[0]
    columns = (cols,) if isinstance(cols, str) else tuple(cols)
    return IndexSpec(accessor, algo, columns)


# ---- definitions -------------------------------------------------------------------------------


@dataclass
class _TableDecl:
    cls: type
    accessor: str
    name: str
    explicit_name: bool
    public: bool
    event: bool
    scheduled: Callable[..., Any] | str | None
    scheduled_at: str | None
    specs: dict[str, ColumnSpec]
    indexes: tuple[IndexSpec, ...]


@dataclass
class ReducerDef:
    """A reducer: names, the Python function, its parameter product and lifecycle."""

    source_name: str
    name: str
    explicit_name: bool
    fn: Callable[..., Any]
    params: ProductType = field(default_factory=lambda: ProductType(()))
    lifecycle: str | None = None
    client_callable: bool = True


@dataclass
class ProcedureDef:
    """A procedure: like a reducer, with a return type and no implicit transaction."""

    source_name: str
    name: str
    explicit_name: bool
    fn: Callable[..., Any]
    params: ProductType = field(default_factory=lambda: ProductType(()))
    return_type: AlgebraicType = field(default_factory=AlgebraicType.unit)
    client_callable: bool = True


@dataclass
class ViewDef:
    """A view: a read-only function of ``db`` (and the caller, unless anonymous)."""

    source_name: str
    name: str
    explicit_name: bool
    fn: Callable[..., Any]
    is_public: bool
    is_anonymous: bool
    index: int = 0
    params: ProductType = field(default_factory=lambda: ProductType(()))
    return_type: AlgebraicType = field(default_factory=AlgebraicType.unit)
    product_type_ref: int = 0


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
        module: Module,
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
    """What a per-caller view receives: ``sender`` and a read-only ``db``."""

    __slots__ = ("db", "sender")

    def __init__(self, db: DbView, sender: Identity) -> None:
        self.db = db
        self.sender = sender


class AnonymousViewContext:
    """What an anonymous view receives: a read-only ``db``."""

    __slots__ = ("db",)

    def __init__(self, db: DbView) -> None:
        self.db = db


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


# ---- the module --------------------------------------------------------------------------------


class Module:
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
        """The canonical name of a table, column or function declared as ``source``."""
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
        """Register a dataclass, enum or ``sum_type`` class even if no table uses it."""
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
        """Declare the ``init`` lifecycle reducer (runs when the database is created)."""
        self._add_reducer(fn, None, "Init")
        return fn

    def client_connected(self, fn: _F) -> _F:
        """Declare the reducer run when a client connects (raising rejects the client)."""
        self._add_reducer(fn, None, "OnConnect")
        return fn

    def client_disconnected(self, fn: _F) -> _F:
        """Declare the reducer run when a client disconnects."""
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

    def view(
        self,
        fn: _F | None = None,
        /,
        *,
        name: str | None = None,
        public: bool = True,
        anonymous: bool = False,
    ) -> Any:
        """Declare a view returning ``list[Row]``, ``Row | None`` or ``Row`` of a table or
        dataclass row type; it gets a :class:`ViewContext` (or :class:`AnonymousViewContext`
        with ``anonymous=True``).

        Example::

            @module.view(public=True)
            def my_user(ctx: ViewContext) -> User | None:
                return ctx.db.user.identity.find(ctx.sender)
        """

        def wrap(f: _F) -> _F:
            source, canonical, explicit = self._function_names(f, name)
            self._views.append(ViewDef(source, canonical, explicit, f, public, anonymous))
            self._changed()
            return f

        return wrap(fn) if fn is not None else wrap

    def client_visibility_filter(self, sql: str) -> None:
        """Add a row-level-security filter, e.g. ``"SELECT * FROM user WHERE identity = :sender"``."""
        self.row_level_security.append(sql)
        self._changed()

    # -- the built definition

    def build(self) -> _Built:
        """Resolve annotations, assign types and names, and validate; cached until changed."""
        if self._built is None:
            self._built = _Builder(self).build()
        return self._built

    @property
    def typespace(self) -> Typespace:
        """The module typespace (source names, as the module publishes it)."""
        return self.build().typespace

    @property
    def classes(self) -> dict[int, type]:
        """Typespace ref → Python class, for ``bsatn.codec_for(..., classes=...)``."""
        return self.build().classes

    def table_schemas(self) -> list[TableSchema]:
        """Every table, in declaration order."""
        return list(self.build().tables)

    def table_schema(self, name: str) -> TableSchema:
        """A table by canonical name or accessor."""
        for t in self.build().tables:
            if name in (t.name, t.accessor):
                return t
        raise KeyError(f"module {self.name!r} has no table {name!r}")

    @property
    def reducers(self) -> list[ReducerDef]:
        """Every reducer, in declaration order (their ids)."""
        self.build()
        return list(self._reducers)

    @property
    def procedures(self) -> list[ProcedureDef]:
        """Every procedure, in declaration order."""
        self.build()
        return list(self._procedures)

    @property
    def views(self) -> list[ViewDef]:
        """Every view, in declaration order."""
        self.build()
        return list(self._views)

    def reducer_def(self, name: str, *, source: bool = False) -> ReducerDef | None:
        """A reducer by canonical name (what clients send); ``source=True`` also matches
        the Python function's name (for fixtures and tests, never for the wire)."""
        self.build()
        return next(
            (r for r in self._reducers if name == r.name or (source and name == r.source_name)),
            None,
        )

    def procedure_def(self, name: str, *, source: bool = False) -> ProcedureDef | None:
        """A procedure by canonical name (``source=True``: or its Python name)."""
        self.build()
        return next(
            (p for p in self._procedures if name == p.name or (source and name == p.source_name)),
            None,
        )

    def view_def(self, name: str) -> ViewDef | None:
        """A view by canonical name."""
        self.build()
        return next((v for v in self._views if v.name == name), None)

    def lifecycle_reducer(
        self, lifecycle: Literal["Init", "OnConnect", "OnDisconnect"]
    ) -> ReducerDef | None:
        """The reducer registered for a lifecycle event, if any."""
        self.build()
        return next((r for r in self._reducers if r.lifecycle == lifecycle), None)

    def new_datastore(self) -> Datastore:
        """An empty datastore with this module's tables."""
        built = self.build()
        return Datastore(built.tables, built.typespace, built.classes)

    # -- BSATN of rows and arguments (bsatn codecs bound to the module's classes)

    def row_codec(self, table: str) -> Codec:
        """The BSATN codec of a table's rows: encodes/decodes the row class itself.

        Example::

            data = module.row_codec("user").encode(User(identity=me, name=None, online=True))
        """
        from ..sats import bsatn

        built = self.build()
        ref = RefType(self.table_schema(table).product_type_ref)
        return bsatn.codec_for(ref, built.typespace, classes=built.classes)

    def args_codec(self, function: ReducerDef | ProcedureDef) -> Codec:
        """The codec of a reducer's or procedure's arguments (decodes to a dict by name)."""
        from ..sats import bsatn

        built = self.build()
        return bsatn.codec_for(function.params, built.typespace, classes=built.classes)

    def return_codec(self, procedure: ProcedureDef) -> Codec:
        """The codec of a procedure's return value."""
        from ..sats import bsatn

        built = self.build()
        return bsatn.codec_for(procedure.return_type, built.typespace, classes=built.classes)

    def describe_v9(self) -> dict[str, Any]:
        """The ``RawModuleDefV9`` JSON the server serves at ``/schema?version=9``."""
        from .describe import describe_v9

        return describe_v9(self)

    def describe_v10(self) -> dict[str, Any]:
        """The ``RawModuleDefV10`` JSON the server serves at ``/schema?version=10``."""
        from .describe import describe_v10

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
    ) -> list[Any]:
        """Evaluate a view over the current state; returns its rows as a list."""
        vd = view if isinstance(view, ViewDef) else self.view_def(view)
        if vd is None:
            raise KeyError(f"no such view: {view!r}")
        db = datastore.read_view()
        if vd.is_anonymous:
            result = vd.fn(AnonymousViewContext(db))
        else:
            if sender is None:
                raise ValueError(f"view {vd.name!r} is per-caller: pass sender=")
            result = vd.fn(ViewContext(db, sender))
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


# ---- building: annotations → typespace, schemas ------------------------------------------------


@dataclass
class _Built:
    typespace: Typespace
    classes: dict[int, type]
    named_types: list[tuple[str, int]]
    tables: list[TableSchema]


class _Builder:
    """Turns a :class:`Module`'s declarations into typed, validated schemas."""

    def __init__(self, module: Module) -> None:
        self.m = module
        # The module's own classes resolve string annotations even when declared locally.
        own = [d.cls for d in module._tables] + list(module._extra_types)
        self.ns = {c.__name__: c for c in own}
        self.b = TypespaceBuilder(self.ns)

    def build(self) -> _Built:
        tables = [self._table(d) for d in self.m._tables]
        for rd in self.m._reducers:
            rd.params = self._params(rd.fn, f"reducer {rd.source_name}")
            self._check_returns_none(rd)
            if rd.lifecycle is not None and rd.params.elements:
                raise SchemaError(f"lifecycle reducer {rd.source_name} takes only the context")
        for pd in self.m._procedures:
            pd.params = self._params(pd.fn, f"procedure {pd.source_name}")
            ret = type_hints(pd.fn, f"procedure {pd.source_name}", self.ns).get("return", None)
            pd.return_type = self.b.type_of(ret, where=f"procedure {pd.source_name} return")
        counters = {True: 0, False: 0}
        for vd in self.m._views:
            self._view(vd)
            vd.index = counters[vd.is_anonymous]
            counters[vd.is_anonymous] += 1
        for cls in self.m._extra_types:
            self.b.type_of(cls, where=f"type {cls.__qualname__}")
        tables = [self._schedule(d, t) for d, t in zip(self.m._tables, tables, strict=True)]
        self._check_names(tables)
        for rd in self.m._reducers:
            rd.client_callable = rd.lifecycle is None and not any(
                t.schedule and t.schedule.function_source_name == rd.source_name for t in tables
            )
        for pd in self.m._procedures:
            pd.client_callable = not any(
                t.schedule and t.schedule.function_source_name == pd.source_name for t in tables
            )
        named = [(n.name, n.ref) for n in self.b.named]
        return _Built(self.b.typespace(), self.b.classes, named, tables)

    # -- tables

    def _table(self, d: _TableDecl) -> TableSchema:
        where = f"table {d.cls.__qualname__}"
        ref = self.b.reserve_product(d.cls, name=d.cls.__name__)
        hints = type_hints(d.cls, where, self.ns)
        attrs = [f.name for f in dataclasses.fields(d.cls)]
        cols: list[ColumnSchema] = []
        for i, attr in enumerate(attrs):
            ty = self.b.type_of(hints[attr], where=f"{d.cls.__qualname__}.{attr}")
            cols.append(ColumnSchema(i, attr, self.m.canonical(attr), ty))
        row_type = ProductType(tuple(ProductTypeElement(c.attr, c.algebraic_type) for c in cols))
        self.b.define(ref, row_type)
        col_of = {c.attr: c for c in cols}
        for attr in d.specs:
            if attr not in col_of:
                raise SchemaError(f"{where}: column() on {attr!r}, which is not a field")
        pk = [col_of[a].col_id for a, s in d.specs.items() if s.primary_key]
        if len(pk) > 1:
            raise SchemaError(f"{where}: more than one primary key column")
        indexes: list[IndexSchema] = []
        uniques: list[tuple[int, ...]] = []
        sequences: list[SequenceSchema] = []
        defaults: dict[int, Any] = {}
        for attr, spec in d.specs.items():
            c = col_of[attr]
            if spec.unique:
                uniques.append((c.col_id,))
                indexes.append(self._index_schema(d, attr, "btree", (c,), True))
            elif spec.index is not None:
                indexes.append(self._index_schema(d, attr, spec.index, (c,), False))
            if spec.auto_inc:
                if not (
                    isinstance(c.algebraic_type, PrimitiveType)
                    and c.algebraic_type.kind in _INTEGER_KINDS
                ):
                    raise SchemaError(f"{where}.{attr}: auto_inc needs an integer column")
                sequences.append(SequenceSchema(c.col_id, f"{d.name}_{c.name}_seq"))
            if spec.default is not _MISSING:
                defaults[c.col_id] = spec.default
        for ix in d.indexes:
            try:
                ix_cols = tuple(col_of[a] for a in ix.columns)
            except KeyError as e:
                raise SchemaError(
                    f"{where}: index {ix.accessor!r} names unknown column {e}"
                ) from None
            algo = "direct" if ix.algorithm == "direct" else ix.algorithm
            indexes.append(self._index_schema(d, ix.accessor, algo, ix_cols, False))
        return TableSchema(
            accessor=d.accessor, name=d.name, row_class=d.cls, row_type=row_type,
            product_type_ref=ref, columns=tuple(cols), primary_key=pk[0] if pk else None,
            indexes=tuple(indexes), unique_constraints=tuple(uniques), sequences=tuple(sequences),
            is_event=d.event, public=d.public, default_values=defaults,
        )  # fmt: skip

    def _index_schema(
        self, d: _TableDecl, accessor: str, algo: str, cols: tuple[ColumnSchema, ...], unique: bool
    ) -> IndexSchema:
        # Source name as the Rust bindings generate it (accessor + source column names);
        # canonical name from the canonical table and column names (validate/v9.rs).
        source = f"{d.accessor}_{'_'.join(c.attr for c in cols)}_idx_{algo}"
        name = f"{d.name}_{'_'.join(c.name for c in cols)}_idx_{algo}"
        return IndexSchema(accessor, source, name, algo, tuple(c.col_id for c in cols), unique)

    def _schedule(self, d: _TableDecl, t: TableSchema) -> TableSchema:
        if d.scheduled is None:
            return t
        where = f"scheduled table {t.name}"
        target = d.scheduled if isinstance(d.scheduled, str) else d.scheduled.__name__
        fn_def: ReducerDef | ProcedureDef | None = next(
            (r for r in self.m._reducers if target in (r.source_name, r.name)), None
        ) or next((p for p in self.m._procedures if target in (p.source_name, p.name)), None)
        if fn_def is None:
            raise SchemaError(f"{where}: no reducer or procedure named {target!r}")
        at_cols = [c for c in t.columns if self._is_schedule_at(c.algebraic_type)]
        if d.scheduled_at is not None:
            at_cols = [c for c in at_cols if c.attr == d.scheduled_at]
        if len(at_cols) != 1:
            raise SchemaError(f"{where}: needs exactly one ScheduleAt column (scheduled_at=)")
        pk = t.primary_key
        if pk is None or t.columns[pk].algebraic_type != AlgebraicType.U64:
            raise SchemaError(f"{where}: the primary key must be a U64 column (the schedule id)")
        expected = ProductType((ProductTypeElement(None, RefType(t.product_type_ref)),))
        if (
            len(fn_def.params.elements) != 1
            or fn_def.params.elements[0].algebraic_type != expected.elements[0].algebraic_type
        ):
            raise SchemaError(
                f"{where}: {fn_def.source_name} must take exactly one parameter of the row type "
                f"{t.row_class.__qualname__}"
            )
        sched = ScheduleSchema(
            f"{t.name}_sched", fn_def.name, fn_def.source_name, at_cols[0].col_id, pk
        )
        return dataclasses.replace(t, schedule=sched)

    @staticmethod
    def _is_schedule_at(ty: AlgebraicType) -> bool:
        return isinstance(ty, SumType) and ty.is_schedule_at()

    # -- functions

    def _params(self, fn: Callable[..., Any], where: str) -> ProductType:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        if not params:
            raise SchemaError(f"{where}: the first parameter must be the context")
        hints = type_hints(fn, where, self.ns)
        elems = []
        for p in params[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise SchemaError(f"{where}: *args/**kwargs parameters are not supported")
            if p.name not in hints:
                raise SchemaError(f"{where}: parameter {p.name!r} needs a type annotation")
            elems.append(
                ProductTypeElement(
                    p.name, self.b.type_of(hints[p.name], where=f"{where}({p.name})")
                )
            )
        return ProductType(tuple(elems))

    def _check_returns_none(self, rd: ReducerDef) -> None:
        ret = type_hints(rd.fn, f"reducer {rd.source_name}", self.ns).get("return", None)
        if ret is not None and ret is not type(None):
            raise SchemaError(
                f"reducer {rd.source_name} must return None (raise SenderError to fail it)"
            )

    def _view(self, vd: ViewDef) -> None:
        where = f"view {vd.source_name}"
        vd.params = self._params(vd.fn, where)
        if vd.params.elements:
            raise SchemaError(f"{where}: views take no parameters besides the context")
        ret = type_hints(vd.fn, where, self.ns).get("return")
        if ret is None:
            raise SchemaError(f"{where}: annotate the return type (list[Row], Row | None or Row)")
        ty = self.b.type_of(ret, where=f"{where} return")
        vd.return_type = ty
        inner: AlgebraicType = ty
        if isinstance(ty, ArrayType):
            inner = ty.elem
        elif isinstance(ty, SumType) and ty.is_option():
            inner = ty.variants[0].algebraic_type
        if not isinstance(inner, RefType) or not isinstance(
            self.b.typespace_slot(inner.index), ProductType
        ):
            raise SchemaError(f"{where}: must return rows of a dataclass type, got {ret!r}")
        vd.product_type_ref = inner.index

    def _check_names(self, tables: list[TableSchema]) -> None:
        seen: dict[str, str] = {}
        for kind, name in [
            *(("table", t.name) for t in tables),
            *(("reducer", r.name) for r in self.m._reducers),
            *(("procedure", p.name) for p in self.m._procedures),
            *(("view", v.name) for v in self.m._views),
        ]:
            if name in seen:
                raise SchemaError(f"{kind} {name!r} has the same canonical name as a {seen[name]}")
            seen[name] = kind
        for t in tables:
            if t.name.startswith("st_"):
                raise SchemaError(f"table {t.name!r}: names starting with 'st_' are reserved")


__all__ = [
    "INTERNAL_ERROR_MESSAGE",
    "AnonymousViewContext",
    "CallResult",
    "ColumnSpec",
    "IndexSpec",
    "Module",
    "ProcedureContext",
    "ProcedureDef",
    "ReducerContext",
    "ReducerDef",
    "SenderError",
    "ViewContext",
    "ViewDef",
    "column",
    "index",
]
