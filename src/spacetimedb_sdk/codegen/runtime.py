"""What generated bindings build on: typed wrappers over the generic connection surface.

Generated ``module_bindings`` packages subclass or instantiate these classes; they
add no behaviour of their own, only types: ``conn.db`` becomes a
:class:`TablesBase` subclass with one typed property per table, index
properties return :class:`UniqueIndexAccessor` / :class:`BTreeIndexAccessor`
whose ``find``/``filter`` take and return typed values, reducers and procedures
become :class:`ReducerWrapper` / :class:`ProcedureWrapper` subclasses with typed
signatures, and :class:`TypedSubscriptionBuilder` types the ``q`` of
``add_query(lambda q: ...)``.

Example (generated code)::

    class UserTable(TableHandle):
        @property
        def identity(self) -> UniqueIndexAccessor[Identity, User]:
            return UniqueIndexAccessor(self.index("identity"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..client.cache import CallbackHandle
from ..client.events import (
    ErrorContext,
    EventContext,
    ReducerEventContext,
    SubscriptionEventContext,
)
from ..client.indexes import Range
from ..connection import (
    DbConnection,
    Pending,
    ProcedureCaller,
    ReducerCaller,
    SubscriptionBuilder,
    TableHandle,
)
from ..connection.calls import callables_repr
from ..connection.tables import tables_repr
from ..errors import SpacetimeDBError
from ..query import Query

__all__ = [
    "BTreeIndexAccessor",
    "CallablesBase",
    "ProcedureWrapper",
    "ReducerWrapper",
    "TablesBase",
    "TypedSubscriptionBuilder",
    "TypedTableHandle",
    "UniqueIndexAccessor",
]

K = TypeVar("K")
R = TypeVar("R")
H = TypeVar("H", bound=TableHandle)
Q = TypeVar("Q")


class UniqueIndexAccessor(Generic[K, R]):
    """A unique index or primary key: ``find(value)`` is one hash lookup.

    Example::

        user = conn.db.user.identity.find(conn.identity)   # User | None
    """

    __slots__ = ("_index",)

    def __init__(self, index: Any) -> None:
        self._index = index

    def find(self, value: K) -> R | None:
        """The row whose key equals ``value`` (a tuple for a multi-column key), or ``None``.

        Example::

            me = conn.db.user.identity.find(conn.identity)
            name = me.name if me is not None else "(not subscribed yet)"
        """
        row: R | None = self._index.find(value)
        return row

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return repr(self._index)


class BTreeIndexAccessor(Generic[K, R]):
    """A btree index: rows equal to a value of its first column, within a :class:`Range`, or
    matching a prefix tuple of a multi-column index.

    Example::

        for player in conn.db.player.level.filter(Range(ge=10)):
            ...
    """

    __slots__ = ("_index",)

    def __init__(self, index: Any) -> None:
        self._index = index

    def filter(self, value: K | Range | tuple[Any, ...]) -> Iterator[R]:
        """The matching rows in key order.

        Example::

            from spacetimedb_sdk import Range

            veterans = list(conn.db.player.level.filter(Range(ge=10, lt=20)))
            blue_7 = list(conn.db.player.by_team_level.filter(("blue", 7)))   # a prefix tuple
        """
        rows: Iterator[R] = self._index.filter(value)
        return rows

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return repr(self._index)


class TypedTableHandle(TableHandle, Generic[R]):
    """A table handle whose rows and callbacks are typed with the row class ``R``.

    Example (generated)::

        class UserTable(TypedTableHandle[User]):
            ...

        @conn.db.user.on_insert
        def joined(ctx: EventContext, user: User) -> None: ...
    """

    __slots__ = ()

    def iter(self) -> Iterator[R]:
        """The cached rows, from a snapshot (changes while iterating do not affect it).

        Example::

            online = [user.name for user in conn.db.user.iter() if user.online]
        """
        return super().iter()

    def __iter__(self) -> Iterator[R]:
        return super().iter()

    def on_insert(
        self, callback: Callable[[EventContext, R], object]
    ) -> CallbackHandle[[EventContext, R], object]:
        """Call ``callback(ctx, row)`` for each row entering the cache; usable as a decorator.

        Returns a handle for ``remove_on_insert``.

        Example::

            @conn.db.message.on_insert
            def show(ctx: EventContext, message: Message) -> None:
                print(message.text)

            conn.db.message.remove_on_insert(show)   # ``show`` is the handle
        """
        handle: CallbackHandle[[EventContext, R], object] = super().on_insert(callback)
        return handle

    def on_delete(
        self, callback: Callable[[EventContext, R], object]
    ) -> CallbackHandle[[EventContext, R], object]:
        """Call ``callback(ctx, row)`` for each row leaving the cache; usable as a decorator.

        Example::

            handle = conn.db.user.on_delete(lambda ctx, user: print(f"{user.name} is gone"))
            conn.db.user.remove_on_delete(handle)
        """
        handle: CallbackHandle[[EventContext, R], object] = super().on_delete(callback)
        return handle

    def on_update(
        self, callback: Callable[[EventContext, R, R], object]
    ) -> CallbackHandle[[EventContext, R, R], object]:
        """Call ``callback(ctx, old, new)`` when a row changes but keeps its primary key.

        Only tables with a primary key have updates.

        Example::

            @conn.db.user.on_update
            def renamed(ctx: EventContext, old: User, new: User) -> None:
                if old.name != new.name:
                    print(f"{old.name} is now {new.name}")
        """
        handle: CallbackHandle[[EventContext, R, R], object] = super().on_update(callback)
        return handle


class TablesBase:
    """``conn.db`` of generated bindings: typed properties per table, and every table by name.

    Example::

        for table in conn.db:
            print(table.table_name, table.count())
    """

    __slots__ = ("_handles",)

    def __init__(self, handles: Mapping[str, TableHandle]) -> None:
        self._handles = dict(handles)

    def _table(self, accessor: str, cls: type[H]) -> H:
        handle = self._handles[accessor]
        if not isinstance(handle, cls):
            raise TypeError(
                f"table {accessor!r} is a {type(handle).__name__}, not {cls.__name__}: "
                "connect with the generated DbConnection class of these bindings"
            )
        return handle

    if not TYPE_CHECKING:  # so that type checkers flag unknown tables

        def __getattr__(self, name: str) -> TableHandle:
            # Tables the bindings were generated without (private ones) stay reachable.
            if not name.startswith("_") and name in self._handles:
                return self._handles[name]
            raise AttributeError(f"no table named {name!r}; tables: {sorted(self._handles)}")

    def __iter__(self) -> Iterator[TableHandle]:
        return iter(self._handles.values())

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._handles})

    def __repr__(self) -> str:
        return tables_repr(type(self).__name__, self._handles)


class CallablesBase:
    """``conn.reducers`` / ``conn.procedures`` of generated bindings (typed attributes).

    Example::

        await conn.reducers.set_name(name="Alice")
    """

    __slots__ = ("_callers",)

    def __init__(self, callers: Mapping[str, Any]) -> None:
        self._callers = dict(callers)

    if not TYPE_CHECKING:  # so that type checkers flag unknown functions

        def __getattr__(self, name: str) -> Any:
            if not name.startswith("_") and name in self._callers:
                return self._callers[name]
            raise AttributeError(f"no function named {name!r}; known: {sorted(self._callers)}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._callers})

    def __repr__(self) -> str:
        return callables_repr(type(self).__name__, self._callers)


class ReducerWrapper:
    """Base of a generated reducer callable: ``await r(...)``, ``r.fire(...)``, ``r.then(cb, ...)``.

    Example::

        await conn.reducers.send_message("hello")          # positional
        await conn.reducers.send_message(text="hello")     # or by keyword
    """

    __slots__ = ("_caller", "_name")

    def __init__(self, caller: ReducerCaller | None, name: str) -> None:
        self._caller = caller
        self._name = name

    def _get(self) -> ReducerCaller:
        if self._caller is None:
            raise SpacetimeDBError(
                f"reducer {self._name!r} is not callable by clients (it is private or a "
                "lifecycle reducer)"
            )
        return self._caller

    def _call(self, args: tuple[Any, ...]) -> Pending[Any]:
        return self._get()(*args)

    def _fire(self, args: tuple[Any, ...]) -> None:
        self._get().fire(*args)

    def _then(
        self, callback: Callable[[ReducerEventContext], object], args: tuple[Any, ...]
    ) -> Pending[Any]:
        return self._get().then(callback, *args)

    def __repr__(self) -> str:
        return f"<reducer {self._name}>"


class ProcedureWrapper:
    """Base of a generated procedure callable: ``value = await p(...)``.

    Example::

        total = await conn.procedures.add(a=1, b=2)
    """

    __slots__ = ("_caller", "_name")

    def __init__(self, caller: ProcedureCaller | None, name: str) -> None:
        self._caller = caller
        self._name = name

    def _call(self, args: tuple[Any, ...]) -> Pending[Any]:
        if self._caller is None:
            raise SpacetimeDBError(f"procedure {self._name!r} is not callable by clients")
        return self._caller(*args)

    def __repr__(self) -> str:
        return f"<procedure {self._name}>"


class TypedSubscriptionBuilder(SubscriptionBuilder, Generic[Q]):
    """A subscription builder whose ``add_query(lambda q: ...)`` knows the generated ``q``.

    Example::

        conn.subscription_builder().add_query(lambda q: q.user.where(q.user.online)).subscribe()
    """

    def __init__(self, conn: DbConnection) -> None:
        super().__init__(conn)

    def on_applied(
        self, callback: Callable[[SubscriptionEventContext], object]
    ) -> TypedSubscriptionBuilder[Q]:
        super().on_applied(callback)
        return self

    def on_error(
        self, callback: Callable[[ErrorContext, Exception], object]
    ) -> TypedSubscriptionBuilder[Q]:
        super().on_error(callback)
        return self

    def add_query(self, query: str | Query | Callable[[Q], Query]) -> TypedSubscriptionBuilder[Q]:
        """Add SQL text, a query, or ``lambda q: q.<table>...`` built from the typed tables.

        Example::

            handle = await (
                conn.subscription_builder()
                .add_query(lambda q: q.user.where(q.user.online))
                .add_query("SELECT * FROM message")
                .subscribe()
            )
        """
        super().add_query(query)
        return self
