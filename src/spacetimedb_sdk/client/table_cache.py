"""One table of the client cache: its rows, indexes and callbacks.

:class:`TableCache` keeps each distinct row once, keyed by its BSATN bytes, with its total
count and, per query set, the count that set contributed.  How a message changes a table
(plan, then commit) is in :mod:`.table_apply`; :mod:`.callbacks` fires what that returns.

Rows are decoded once, when someone first looks at them.  A table built with a ``codec``
(the connection builds every table so) keeps the rows nobody looks at as bytes: entering
the cache, such a row is only *validated* (:meth:`~spacetimedb_sdk.sats.bsatn.Codec.validate`,
which accepts exactly the bytes decoding accepts), so a malformed row still fails its whole
message when it arrives.  It is decoded, once, when a callback or change stream receives
it, when ``iter``, ``find`` or ``filter`` return it, or when an index needs it; indexes read
their key columns from the bytes (the bindings give a reader for columns at a fixed
offset).  A table with a registered insert callback decodes its rows as they arrive, since
the callback looks at every one.  Without a codec (a ``decode`` function only) every row is
decoded as it arrives.

The full semantics are described in :mod:`.cache`.

Example::

    >>> t = TableCache("person", lambda b: {"id": b[0]}, primary_key="id")
    >>> t.count(), t.has_primary_key
    (0, True)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from ..errors import BsatnDecodeError, ProtocolError, RowDecodeError
from .callbacks import (
    _DELETE,
    _INSERT,
    _UPDATE,
    LAZY,
    CallbackHandle,
    ChangeSink,
    _callback_ids,
)
from .indexes import BTreeIndex, Index, IndexDef, UniqueIndex
from .table_apply import TableApply

if TYPE_CHECKING:
    from ..sats.bsatn import Codec

__all__ = ["TableCache"]

RowT = TypeVar("RowT")
P = ParamSpec("P")
R = TypeVar("R")

_NO_LOCK: AbstractContextManager[Any] = contextlib.nullcontext()
_MISSING: Any = object()


class TableCache(TableApply, Generic[RowT]):
    """The cached rows of one table, its indexes and its row callbacks.

    ``decode`` turns a row's BSATN bytes into the row value (a generic ``dict`` or a generated
    dataclass).  ``primary_key`` is a column name, a tuple of names, or a function row → key;
    with one, deletes and inserts of the same key in one message become updates, and an index
    named after the column (or ``"primary_key"``) offers ``find``.  ``unique`` and ``btree``
    list index columns (a name or a tuple of names; the index is named by joining them with
    ``_``); ``indexes`` takes full :class:`~.indexes.IndexDef` objects (custom names, order keys).

    ``codec`` (the row type's compiled codec) lets the table keep rows undecoded until
    someone looks (see the module docs); it is used only if the codec is ``lazy_safe`` and
    every index can read its key from a row's bytes.  ``lock`` is held while a row is
    decoded into the cache from a thread other than the one applying messages (the
    connection passes its own lock).

    Indexes are reachable as ``table.index("name")`` and, for names that are not methods, as
    attributes: ``table.identity.find(v)``, ``table.by_age.filter(Range(ge=18))``.

    Example::

        >>> t = TableCache("person", lambda b: {"id": b[0], "age": b[1]},
        ...                primary_key="id", btree=["age"])
        >>> t.count(), t.has_primary_key
        (0, True)
    """

    def __init__(
        self,
        name: str,
        decode: Callable[[bytes], RowT],
        *,
        primary_key: str | Sequence[str] | Callable[[RowT], Any] | None = None,
        is_event: bool = False,
        unique: Iterable[str | Sequence[str]] = (),
        btree: Iterable[str | Sequence[str]] = (),
        indexes: Iterable[IndexDef] = (),
        codec: Codec | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.name = name
        self.is_event = is_event
        self._decode = decode
        self._lock = lock or _NO_LOCK
        self._rows: dict[bytes, Any] = {}  # row bytes -> decoded row, or LAZY
        self._counts: dict[bytes, int] = {}  # rows held more than once -> total count
        self._sets: dict[int, dict[bytes, int]] = {}  # per query set, once 2+ sets hold rows
        self._sole: int | None = None  # else: the only query set holding rows
        self._seq: dict[bytes, int] = {}  # insertion order, for btree indexes
        self._next_seq = 0
        self._n_lazy = 0  # rows held as LAZY
        self._callbacks: dict[str, dict[int, CallbackHandle[Any, Any]]] = {
            _INSERT: {},
            _DELETE: {},
            _UPDATE: {},
        }
        self._snapshots: dict[str, tuple[CallbackHandle[Any, Any], ...]] = {}
        self._sinks: dict[int, ChangeSink] = {}
        self.indexes: dict[str, Index[RowT]] = {}
        self._unique: list[UniqueIndex[RowT]] = []
        self._btree: list[BTreeIndex[RowT]] = []
        self._pk: UniqueIndex[RowT] | None = None
        defs = [*_defs(unique, True), *_defs(btree, False), *indexes]
        pk_name = None
        if primary_key is not None:
            defs, pk_name = self._with_pk_index(primary_key, defs)
        for d in defs:
            self._add_index(d)
        if pk_name is not None:
            self._pk = self.unique_index(pk_name)
        lazy = codec is not None and codec.lazy_safe and all(d.extract_bytes for d in defs)
        self._codec: Codec | None = codec if lazy else None
        # When ``decode`` is the codec's own, rows entering the cache skip Codec.decode's
        # wrapping: the compiled program decodes them, or else the generated reader does (a
        # failure goes through Codec.decode after all, for the precise error).
        self._c_decode: Callable[[bytes], Any] | None = None
        self._read_row: Callable[[bytes, int], tuple[Any, int]] | None = None
        if codec is not None and decode == codec.decode:
            if codec.compiled:
                self._c_decode = codec._c_program.decode
            else:
                self._read_row = codec._read

    def _with_pk_index(
        self, primary_key: str | Sequence[str] | Callable[[Any], Any], defs: list[IndexDef]
    ) -> tuple[list[IndexDef], str]:
        """The index definitions with one for the primary key, and that index's name."""
        if callable(primary_key):
            return [IndexDef("primary_key", (), True, primary_key), *defs], "primary_key"
        cols = (primary_key,) if isinstance(primary_key, str) else tuple(primary_key)
        found = next((d for d in defs if d.unique and d.columns == cols), None)
        if found is not None:
            return defs, found.name
        pk = IndexDef("_".join(cols), cols, True)
        return [pk, *defs], pk.name

    def _add_index(self, d: IndexDef) -> None:
        if d.name in self.indexes:
            raise ValueError(f"table {self.name!r}: two indexes named {d.name!r}")
        if d.unique:
            u: UniqueIndex[RowT] = UniqueIndex(d.name, d.columns, d.extract, d.extract_bytes)
            u._resolve = self._materialize
            self._unique.append(u)
            self.indexes[d.name] = u
        else:
            b: BTreeIndex[RowT] = BTreeIndex(
                d.name, d.columns, d.order_keys, d.extract, d.extract_bytes
            )
            b._resolve = self._materialize
            self._btree.append(b)
            self.indexes[d.name] = b
        self._expose(d.name)

    def _expose(self, name: str) -> None:
        """Make the index ``name`` an attribute too (``table.by_age``), unless a method or
        attribute has that name. An instance attribute, not ``__getattr__``: a class with
        ``__getattr__`` makes every attribute lookup on it slower, and the cache's methods
        look up attributes on every row."""
        if not name.startswith("_") and not hasattr(type(self), name) and name not in vars(self):
            setattr(self, name, self.indexes[name])

    # ---- reading -------------------------------------------------------------------------

    @property
    def has_primary_key(self) -> bool:
        """Whether updates are detected (the table has a primary key)."""
        return self._pk is not None

    def count(self) -> int:
        """The number of distinct rows in the cache (0 for an event table)."""
        return len(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def iter(self) -> Iterator[RowT]:
        """The rows, from a snapshot: safe to keep iterating while messages are applied."""
        if self._n_lazy:
            self._materialize_all()
        return iter(list(self._rows.values()))

    def __iter__(self) -> Iterator[RowT]:
        return self.iter()

    def index(self, name: str) -> Index[RowT]:
        """The index called ``name``; :class:`KeyError` lists the existing ones."""
        try:
            return self.indexes[name]
        except KeyError:
            raise KeyError(
                f"table {self.name!r} has no index {name!r}; indexes: {sorted(self.indexes)}"
            ) from None

    def unique_index(self, name: str) -> UniqueIndex[RowT]:
        """The unique (or primary-key) index called ``name``, for ``find``."""
        idx = self.index(name)
        if not isinstance(idx, UniqueIndex):
            raise TypeError(f"index {name!r} of table {self.name!r} is a btree index: use filter()")
        return idx

    def btree_index(self, name: str) -> BTreeIndex[RowT]:
        """The btree index called ``name``, for ``filter``."""
        idx = self.index(name)
        if not isinstance(idx, BTreeIndex):
            raise TypeError(f"index {name!r} of table {self.name!r} is a unique index: use find()")
        return idx

    def multiplicity(self, data: bytes, query_set_id: int | None = None) -> int:
        """How many times the row with BSATN ``data`` is held, in total or by one query set."""
        if query_set_id is None:
            return self._total(data)
        if self._sets:
            return self._sets.get(query_set_id, {}).get(data, 0)
        return self._total(data) if query_set_id == self._sole else 0

    def __repr__(self) -> str:
        return f"<TableCache {self.name!r} rows={len(self._rows)}>"

    # ---- callbacks -----------------------------------------------------------------------

    def on_insert(self, callback: Callable[[Any, RowT], R]) -> CallbackHandle[[Any, RowT], R]:
        """Call ``callback(ctx, row)`` for each row entering the cache (or each event row)."""
        return self._add_callback(_INSERT, callback)

    def on_delete(self, callback: Callable[[Any, RowT], R]) -> CallbackHandle[[Any, RowT], R]:
        """Call ``callback(ctx, row)`` for each row leaving the cache."""
        return self._add_callback(_DELETE, callback)

    def on_update(
        self, callback: Callable[[Any, RowT, RowT], R]
    ) -> CallbackHandle[[Any, RowT, RowT], R]:
        """Call ``callback(ctx, old, new)`` when a row is replaced by one with the same primary key."""
        if self._pk is None:
            raise TypeError(
                f"table {self.name!r} has no primary key, so it has no updates; "
                "use on_insert and on_delete"
            )
        return self._add_callback(_UPDATE, callback)

    def remove_on_insert(self, handle: Callable[..., Any]) -> bool:
        """Unregister an insert callback (its handle, or the function); False if not found."""
        return self._remove_callback(_INSERT, handle)

    def remove_on_delete(self, handle: Callable[..., Any]) -> bool:
        """Unregister a delete callback (its handle, or the function); False if not found."""
        return self._remove_callback(_DELETE, handle)

    def remove_on_update(self, handle: Callable[..., Any]) -> bool:
        """Unregister an update callback (its handle, or the function); False if not found."""
        return self._remove_callback(_UPDATE, handle)

    def add_change_sink(self, sink: ChangeSink) -> Callable[[], None]:
        """Also deliver this table's change records to ``sink``; returns a function that stops it."""
        key = next(_callback_ids)
        self._sinks[key] = sink
        return lambda: self._sinks.pop(key, None) and None

    def _add_callback(self, kind: str, callback: Callable[P, R]) -> CallbackHandle[P, R]:
        if isinstance(callback, CallbackHandle):
            callback = callback.callback  # stacked decorators register the plain function
        if not callable(callback):
            raise TypeError(
                f"on_{kind} on table {self.name!r} needs a callable, got {type(callback).__name__}"
            )
        handle = CallbackHandle(self, kind, callback)
        self._callbacks[kind][handle.id] = handle
        self._snapshots.pop(kind, None)
        return handle

    def _remove_callback(self, kind: str, handle: Callable[..., Any]) -> bool:
        registered = self._callbacks[kind]
        if isinstance(handle, CallbackHandle):
            found = registered.pop(handle.id, None) is not None
        else:
            key = next((k for k, h in registered.items() if h.callback is handle), None)
            found = key is not None and registered.pop(key) is not None
        if found:
            self._snapshots.pop(kind, None)
        return found

    def _registered(self, kind: str) -> tuple[CallbackHandle[Any, Any], ...]:
        # An immutable snapshot: callbacks may (un)register callbacks while being fired.
        snap = self._snapshots.get(kind)
        if snap is None:
            snap = self._snapshots[kind] = tuple(self._callbacks[kind].values())
        return snap

    # ---- decoding ------------------------------------------------------------------------

    def _decode_row(self, data: bytes) -> RowT:
        try:
            return self._decode(data)
        except BsatnDecodeError as e:
            path = self.name if e.path == "<root>" else f"{self.name}.{e.path}"
            raise RowDecodeError(self.name, e.reason, path=path, offset=e.offset) from e
        except Exception as e:
            raise ProtocolError(f"cannot decode a row of table {self.name!r}: {e}") from e

    def _decode_new(self, data: bytes) -> RowT:
        """:meth:`_decode_row`, through the compiled program or the codec's reader."""
        c_decode = self._c_decode
        if c_decode is not None:
            try:
                return c_decode(data)  # type: ignore[no-any-return]
            except Exception:
                return self._decode_row(data)
        read = self._read_row
        if read is not None:
            try:
                row, end = read(data, 0)
            except Exception:
                pass
            else:
                if end == len(data):
                    return row  # type: ignore[no-any-return]
        return self._decode_row(data)

    def _materialize(self, data: bytes) -> RowT:
        """The row with these bytes, decoded; a row held undecoded is decoded and kept.

        A row no longer in the cache (a change delivered after a later message removed it)
        is decoded without being kept: a row's value is the same whenever it is decoded.
        """
        row = self._rows.get(data, _MISSING)
        if row is not LAZY and row is not _MISSING:
            return row  # type: ignore[no-any-return]
        with self._lock:  # another thread may be applying a message
            row = self._rows.get(data, _MISSING)
            if row is LAZY:
                row = self._rows[data] = self._decode_row(data)
                self._n_lazy -= 1
            elif row is _MISSING:
                row = self._decode_row(data)
        return row  # type: ignore[no-any-return]

    def _materialize_all(self) -> None:
        """Decode every row held undecoded (``iter``), in one pass over their bytes."""
        with self._lock:
            rows = self._rows
            lazy = [d for d, v in rows.items() if v is LAZY]
            codec = self._codec
            if codec is not None:
                try:
                    values = codec.decode_each(lazy)  # in one call (in C, with the extension)
                except Exception:
                    values = [self._decode_row(d) for d in lazy]  # a class raised: say which
            else:
                values = [self._decode_row(d) for d in lazy]
            rows.update(zip(lazy, values, strict=True))
            self._n_lazy = 0


def _defs(specs: Iterable[str | Sequence[str]], unique: bool) -> list[IndexDef]:
    out = []
    for spec in specs:
        cols = (spec,) if isinstance(spec, str) else tuple(spec)
        out.append(IndexDef("_".join(cols), cols, unique))
    return out
