"""The parts of a normalized module schema: one frozen dataclass per entity, and their enums.

Tables with their columns, indexes, unique constraints, sequences and schedules;
reducers, procedures, views and named types.  Every entity carries its **canonical**
``name`` (the one on the wire, in SQL and in system tables) and, where the module
gave one, its ``accessor_name`` (as written in the module source).

They live apart from :class:`~.model.ModuleSchema` because the normalizer builds them
(:mod:`.entity_builders`) and ``ModuleSchema``'s constructors run the normalizer: with
the parts below both, imports flow one way (entities → builders → model).

Example::

    >>> ColumnSchema(0, "player_1_id", "Player1Id", AlgebraicType.U32).name
    'player_1_id'
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import SchemaError
from ..sats.types import AlgebraicType, ProductType

__all__ = [
    "ColumnSchema",
    "ConstraintSchema",
    "FunctionKind",
    "IndexAlgorithm",
    "IndexSchema",
    "Lifecycle",
    "ProcedureSchema",
    "ReducerSchema",
    "ScheduleSchema",
    "ScopedName",
    "SequenceSchema",
    "TableAccess",
    "TableSchema",
    "TableType",
    "TypeDefSchema",
    "ViewSchema",
    "Visibility",
]


class Lifecycle(enum.Enum):
    """The role of a lifecycle reducer.

    Example::

        >>> Lifecycle("OnConnect")
        <Lifecycle.ON_CONNECT: 'OnConnect'>
    """

    INIT = "Init"
    ON_CONNECT = "OnConnect"
    ON_DISCONNECT = "OnDisconnect"


class Visibility(enum.Enum):
    """Whether clients may call a reducer/procedure (``Private`` ones are host-only).

    Example::

        >>> Visibility.CLIENT_CALLABLE.value
        'ClientCallable'
    """

    PRIVATE = "Private"
    CLIENT_CALLABLE = "ClientCallable"


class TableAccess(enum.Enum):
    """``Public`` tables are readable by every client, ``Private`` only by the owner.

    Example::

        >>> TableAccess("Private").name
        'PRIVATE'
    """

    PUBLIC = "Public"
    PRIVATE = "Private"


class TableType(enum.Enum):
    """``System`` tables belong to the host (``st_*``), ``User`` tables to the module.

    Example::

        >>> TableType.USER.value
        'User'
    """

    SYSTEM = "System"
    USER = "User"


class IndexAlgorithm(enum.Enum):
    """The index kind: ``BTree`` (range scans), ``Hash`` (point lookups), ``Direct``.

    Example::

        >>> IndexAlgorithm("BTree")
        <IndexAlgorithm.BTREE: 'BTree'>
    """

    BTREE = "BTree"
    HASH = "Hash"
    DIRECT = "Direct"


class FunctionKind(enum.Enum):
    """What a schedule calls.

    Example::

        >>> FunctionKind.REDUCER.value
        'reducer'
    """

    REDUCER = "reducer"
    PROCEDURE = "procedure"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ScopedName:
    """A possibly namespaced type name, e.g. ``ScopedName(("game",), "Player")``.

    Example::

        >>> str(ScopedName(("game",), "Player"))
        'game::Player'
    """

    scope: tuple[str, ...]
    name: str

    def __str__(self) -> str:
        return "::".join((*self.scope, self.name))


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column of a table or view row.

    ``default_value`` is the BSATN of the column's declared default (used by
    migrations), or ``None``.

    Example::

        >>> ColumnSchema(0, "player_1_id", "Player1Id", AlgebraicType.U32).name
        'player_1_id'
    """

    col_id: int
    name: str
    accessor_name: str
    algebraic_type: AlgebraicType
    default_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class IndexSchema:
    """An index: canonical ``name`` (``{table}_{cols}_idx_{algo}`` unless explicit).

    ``accessor_name`` is what generated code calls the index (``None`` if unset);
    ``source_name`` is the raw name the module gave it.  ``columns`` are column ids
    (a ``Direct`` index has exactly one).

    Example::

        >>> IndexSchema("user_identity_idx_btree", "identity", None, IndexAlgorithm.BTREE, (0,)).columns
        (0,)
    """

    name: str
    accessor_name: str | None
    source_name: str | None
    algorithm: IndexAlgorithm
    columns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ConstraintSchema:
    """A unique constraint over ``columns`` (the only constraint kind today).

    Example::

        >>> ConstraintSchema("user_identity_key", (0,)).columns
        (0,)
    """

    name: str
    columns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SequenceSchema:
    """An auto-increment sequence on ``column`` (insert 0 to get the next value).

    Example::

        >>> SequenceSchema("t_id_seq", 0, None, None, None, 1).increment
        1
    """

    name: str
    column: int
    start: int | None
    min_value: int | None
    max_value: int | None
    increment: int


@dataclass(frozen=True, slots=True)
class ScheduleSchema:
    """A scheduled table: each row schedules ``function_name`` at its ``at_column``.

    ``id_column`` is the ``u64`` primary key (``None`` if the table lacks one, which
    the host would reject).

    Example::

        >>> ScheduleSchema("t_sched", "tick", FunctionKind.REDUCER, 1, 0).function_name
        'tick'
    """

    name: str
    function_name: str
    function_kind: FunctionKind
    at_column: int
    id_column: int | None


@dataclass(frozen=True, slots=True)
class TableSchema:
    """A table: names, row type, keys, indexes and flags.

    ``row_type`` is ``typespace[product_type_ref]`` with canonical column names;
    ``primary_key`` is a tuple of column ids (empty: no primary key; the host
    supports at most one column).

    Example::

        >>> t = schema.table("user")  # doctest: +SKIP
        >>> t.primary_key_column.name, t.is_public  # doctest: +SKIP
        ('identity', True)
    """

    name: str
    accessor_name: str
    product_type_ref: int
    row_type: ProductType
    columns: tuple[ColumnSchema, ...]
    primary_key: tuple[int, ...]
    indexes: tuple[IndexSchema, ...]
    constraints: tuple[ConstraintSchema, ...]
    sequences: tuple[SequenceSchema, ...]
    schedule: ScheduleSchema | None
    table_type: TableType
    access: TableAccess
    is_event: bool

    @property
    def is_public(self) -> bool:
        """Readable by every client (tables are private unless declared public).

        Example::

            >>> from spacetimedb_sdk.schema import ModuleSchema
            >>> from spacetimedb_sdk.server import Module, column
            >>> module = Module("game")
            >>> @module.table(public=True)
            ... class Player:
            ...     name: str
            >>> @module.table
            ... class Secret:
            ...     code: str
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> schema.table("player").is_public, schema.table("secret").is_public
            (True, False)
        """
        return self.access is TableAccess.PUBLIC

    @property
    def primary_key_column(self) -> ColumnSchema | None:
        """The primary-key column, or ``None`` if the table has no primary key.

        Example::

            >>> from spacetimedb_sdk.schema import ModuleSchema
            >>> from spacetimedb_sdk.server import Module, column
            >>> module = Module("game")
            >>> @module.table(public=True)
            ... class Player:
            ...     id: int = column(primary_key=True, auto_inc=True)
            ...     name: str = column(unique=True)
            >>> player = ModuleSchema.from_json(module.describe_v10()).table("player")
            >>> player.primary_key_column.name
            'id'
        """
        return self.columns[self.primary_key[0]] if self.primary_key else None

    @property
    def unique_columns(self) -> tuple[tuple[int, ...], ...]:
        """Column-id tuples of every unique constraint, primary key included.

        Example::

            >>> from spacetimedb_sdk.schema import ModuleSchema
            >>> from spacetimedb_sdk.server import Module, column
            >>> module = Module("game")
            >>> @module.table(public=True)
            ... class Player:
            ...     id: int = column(primary_key=True, auto_inc=True)
            ...     name: str = column(unique=True)
            >>> player = ModuleSchema.from_json(module.describe_v10()).table("player")
            >>> player.unique_columns
            ((0,), (1,))
        """
        return tuple(c.columns for c in self.constraints)

    @property
    def auto_inc_columns(self) -> tuple[int, ...]:
        """Columns filled by a sequence when inserted as 0 (auto-increment columns).

        Example::

            >>> from spacetimedb_sdk.schema import ModuleSchema
            >>> from spacetimedb_sdk.server import Module, column
            >>> module = Module("game")
            >>> @module.table(public=True)
            ... class Player:
            ...     id: int = column(primary_key=True, auto_inc=True)
            ...     name: str = column(unique=True)
            >>> player = ModuleSchema.from_json(module.describe_v10()).table("player")
            >>> player.auto_inc_columns
            (0,)
        """
        return tuple(s.column for s in self.sequences)

    def column(self, name: str) -> ColumnSchema:
        """A column by canonical or accessor name; :class:`SchemaError` lists close matches.

        Example::

            >>> schema.table("Player1").column("Player1Id").name  # doctest: +SKIP
            'player_1_id'
        """
        return _lookup(self.columns, name, f"column of table {self.name!r}")


@dataclass(frozen=True, slots=True)
class ReducerSchema:
    """A reducer: ``name`` (canonical, what ``CallReducer`` sends) and parameters.

    ``lifecycle`` is set for ``Init``/``OnConnect``/``OnDisconnect`` reducers, which
    clients cannot call; ``visibility`` is ``PRIVATE`` for those and for scheduled
    reducers.  ``ok_return_type`` is unit and ``err_return_type`` String today.

    Example::

        >>> schema.reducer("send_message").params.names()  # doctest: +SKIP
        ['text']
    """

    name: str
    accessor_name: str
    params: ProductType
    lifecycle: Lifecycle | None
    visibility: Visibility
    ok_return_type: AlgebraicType
    err_return_type: AlgebraicType

    @property
    def is_client_callable(self) -> bool:
        """Clients may call it: not a lifecycle, scheduled or private reducer.

        Example::

            >>> from spacetimedb_sdk.schema import ModuleSchema
            >>> from spacetimedb_sdk.server import Module, column
            >>> module = Module("game")
            >>> @module.init
            ... def init(ctx) -> None: ...
            >>> @module.reducer
            ... def join(ctx, name: str) -> None: ...
            >>> schema = ModuleSchema.from_json(module.describe_v10())
            >>> schema.reducer("join").is_client_callable, schema.reducer("init").is_client_callable
            (True, False)
        """
        return self.visibility is Visibility.CLIENT_CALLABLE and self.lifecycle is None


@dataclass(frozen=True, slots=True)
class ProcedureSchema:
    """A procedure: like a reducer but returns ``return_type`` and may do I/O.

    Example::

        >>> schema.procedure("return_primitive").return_type  # doctest: +SKIP
        PrimitiveType(kind='U32')
    """

    name: str
    accessor_name: str
    params: ProductType
    return_type: AlgebraicType
    visibility: Visibility


@dataclass(frozen=True, slots=True)
class ViewSchema:
    """A view: subscribed like a read-only table named ``name``.

    ``row_type`` is the product behind ``return_type`` (``Vec<T>``, ``Option<T>`` or a
    query view's ``{__query__: T}``), with canonical column names; ``primary_key``
    comes from the ``ViewPrimaryKeys`` section or, for query views, from the table
    with the same row type.  ``index`` is the module's function index.

    Example::

        >>> schema.view("Level2Person").primary_key  # doctest: +SKIP
        (0,)
    """

    name: str
    accessor_name: str
    index: int
    params: ProductType
    return_type: AlgebraicType
    is_public: bool
    is_anonymous: bool
    is_query: bool
    product_type_ref: int | None
    row_type: ProductType | None
    columns: tuple[ColumnSchema, ...]
    primary_key: tuple[int, ...]

    def column(self, name: str) -> ColumnSchema:
        """A column by canonical or accessor name.

        Example::

            >>> from spacetimedb_sdk.schema import ModuleSchema
            >>> from spacetimedb_sdk.server import Module, column
            >>> module = Module("game")
            >>> @module.table(public=True)
            ... class Player:
            ...     name: str
            ...     score: int
            >>> @module.view
            ... def topPlayers(ctx) -> list[Player]: ...
            >>> view = ModuleSchema.from_json(module.describe_v10()).view("topPlayers")
            >>> view.name, view.column("score").col_id, view.column("score").algebraic_type
            ('top_players', 1, PrimitiveType(kind='I64'))
        """
        return _lookup(self.columns, name, f"column of view {self.name!r}")


@dataclass(frozen=True, slots=True)
class TypeDefSchema:
    """A named type of the typespace, for codegen: ``typespace[ty]`` is called ``name``.

    ``name`` is canonical (PascalCase under the default policy), ``source_name`` as
    the module wrote it.

    Example::

        >>> TypeDefSchema(ScopedName((), "User"), ScopedName((), "User"), 0, True).ty
        0
    """

    name: ScopedName
    source_name: ScopedName
    ty: int
    custom_ordering: bool


# ---- lookup by canonical or accessor name (tables, views and ModuleSchema use it) -----------


_Named = TypeVar(
    "_Named", bound="TableSchema | ViewSchema | ReducerSchema | ProcedureSchema | ColumnSchema"
)


def _lookup(items: Iterable[_Named], name: str, what: str) -> _Named:
    items = tuple(items)
    for it in items:
        if it.name == name:
            return it
    for it in items:
        if it.accessor_name == name:
            return it
    names = [it.name for it in items] + [
        it.accessor_name for it in items if it.accessor_name != it.name
    ]
    raise SchemaError(_unknown(what, name, names, len(items)))


def _unknown(what: str, name: str, names: list[str], count: int) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"unknown {what} {name!r}{hint} ({count} defined)"
