"""Column and index options of a table declaration: :func:`column` and :func:`index`.

They are plain records read by the builder (:mod:`.builder`) when the module is built; keeping
them apart from the decorators lets the definitions and the builder use them without importing
the declaration API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ...errors import SchemaError

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform as dataclass_transform
else:  # the decorator only informs type checkers; degrade to a no-op without it
    try:
        from typing import dataclass_transform
    except ImportError:  # Python 3.10
        try:
            from typing_extensions import dataclass_transform
        except ImportError:

            def dataclass_transform(**_: Any) -> Any:
                return lambda f: f


class _Missing:
    """Sentinel: no default given (``dataclasses.MISSING`` would confuse dataclasses)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no default>"


_MISSING: Any = _Missing()

# ---- column and index declarations ------------------------------------------------------------


@dataclass(frozen=True)
class ColumnSpec:
    """The options of one column, as given to :func:`column`.

    Example::

        >>> column(primary_key=True, auto_inc=True)
        ColumnSpec(primary_key=True, unique=True, auto_inc=True, index=None, default=<no default>)
    """

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
    """A table-level index, as given to :func:`index`.

    Example::

        >>> index("by_owner_done", btree=["owner", "done"])
        IndexSpec(accessor='by_owner_done', algorithm='btree', columns=('owner', 'done'))
    """

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


@dataclass_transform(frozen_default=True, field_specifiers=(column,))
class Table:
    """Base class of table row classes, for type checkers: ``class Task(Table)``.

    ``@module.table(...)`` makes any class a frozen dataclass row type at run time.
    Pyright sees that from the decorator; mypy does not look at ``dataclass_transform``
    on methods (mypy issue 16527), so under mypy ``Task(id=0, owner=me)`` is an error
    unless the class also derives from ``Table``, which carries ``dataclass_transform``
    where both checkers read it.  ``Table`` adds nothing at run time (no fields, no
    ``__dict__``): the decorator still declares the table.

    Example::

        @module.table(public=True)
        class Task(Table):
            id: U64 = column(primary_key=True, auto_inc=True)
            owner: Identity
            done: bool = False

        ctx.db.task.insert(Task(id=0, owner=ctx.sender))   # checked by mypy and pyright
    """

    __slots__ = ()
