"""How one message changes one table of the client cache: collect, plan, commit.

Applying a message to a table is three steps:

1. :class:`TableDelta` collects the message's rows for the table, counted per query set
   (``row bytes -> times inserted / deleted``).  For a table that keeps rows undecoded it
   also splits each inserted row list with the row type's validator, so a large
   ``SubscribeApplied`` is checked in one pass over its bytes.
2. :meth:`TableApply._plan` works out the effect without changing anything: which rows
   enter, leave or change count, per query set and in total.  Rows entering the cache are
   decoded, or, when nobody looks at them, only validated; a row that does not decode
   raises here, so a failure leaves the whole cache untouched.
3. :meth:`TableApply._commit` applies the plan, updates the indexes and pairs deletes with
   inserts into updates, returning the changes in firing order.

Storage (on :class:`~.table_cache.TableCache`): ``_rows`` maps each distinct row's bytes to
its decoded value, or to :data:`~.callbacks.LAZY` while nobody has looked at it;
``_counts`` holds the total count of rows held more than once (every other row is held
once).  Per query set counts are kept only while two or more query sets hold rows of the
table (``_sets``); while one set holds them all (``_sole``), its counts are the totals, so
the common case of one subscription stores one dict entry per row.

:mod:`.cache` runs these steps for every table of a message; :mod:`.callbacks` fires what
they return.  :meth:`TableApply._apply_one_set` is the same plan and commit for the most
common message, a transaction touching one table of one query set, without the
intermediate dictionaries.

Example::

    >>> from spacetimedb_sdk.client.table_cache import TableCache
    >>> t = TableCache("t", bytes)
    >>> d = TableDelta(t)
    >>> d.count(1, [b"a", b"a"], +1)
    >>> group = t._commit(t._plan(d))
    >>> t.multiplicity(b"a"), group.inserts
    (2, [b'a'])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..errors import ProtocolError
from ..protocol import messages as m
from .callbacks import _INSERT, _UPDATE, LAZY, ChangeSink, _Group
from .indexes import BTreeIndex, UniqueIndex

try:  # the C loop behind Counter.update, usable on a plain dict
    from collections import _count_elements as _count_into  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other Python implementations

    def _count_into(counts: dict[bytes, int], rows: Iterable[bytes]) -> None:
        get = counts.get
        for r in rows:
            counts[r] = get(r, 0) + 1


if TYPE_CHECKING:
    from ..sats.bsatn import Codec

# The whole client cache logs under one name, the one users configure.
logger = get_logger("spacetimedb_sdk.client.cache")

_MISSING: Any = object()


@dataclass(slots=True)
class TableDelta:
    """The rows one message brings to one table, before anything is applied.

    Per query set, ``(plus, minus)``: how many times each row is inserted and deleted.
    Rows are counted into plain dicts by the C loop behind ``Counter.update`` (which matters
    for large ``SubscribeApplied``s) without the cost of building ``Counter`` objects (which
    matters for the many one-row transactions).  ``unchecked`` is set when some inserted or
    event rows of a table that keeps rows undecoded were not validated while split.
    """

    table: TableApply
    # In the order the query sets first appear in the message (it orders the callbacks).
    by_set: dict[int, tuple[dict[bytes, int], dict[bytes, int]]] = field(default_factory=dict)
    # Inserted rows not counted yet: a large first SubscribeApplied never needs the counts.
    pending: dict[int, list[list[bytes]]] = field(default_factory=dict)
    events: list[bytes] = field(default_factory=list)
    unchecked: bool = False

    def counters(self, set_id: int) -> tuple[dict[bytes, int], dict[bytes, int]]:
        pair = self.by_set.get(set_id)
        if pair is None:
            pair = self.by_set[set_id] = ({}, {})
        lists = self.pending.pop(set_id, None)
        if lists:
            for rows in lists:
                _count_into(pair[0], rows)
        return pair

    def counted(self) -> dict[int, tuple[dict[bytes, int], dict[bytes, int]]]:
        """``by_set`` with every row counted."""
        for set_id in list(self.pending):
            self.counters(set_id)
        return self.by_set

    def only_inserts(self) -> tuple[int, list[bytes]] | None:
        """``(set_id, rows)`` when the message only inserts rows, for one query set."""
        if len(self.by_set) != 1 or len(self.pending) != 1:
            return None
        ((set_id, (plus, minus)),) = self.by_set.items()
        if plus or minus:
            return None
        lists = self.pending[set_id]
        return set_id, lists[0] if len(lists) == 1 else [r for rows in lists for r in rows]

    def count(self, set_id: int, rows: Iterable[bytes], sign: int) -> None:
        """Count already-split rows (tests, and rows the cache holds)."""
        plus, minus = self.counters(set_id)
        _count_into(plus if sign > 0 else minus, rows)
        if sign > 0:
            self.unchecked = True

    def add_split(self, set_id: int, rows: list[bytes], sign: int, event: bool) -> None:
        """Add rows already split by their size hint (as :meth:`add` does a row list)."""
        if not rows:
            return
        if event or self.table.is_event:
            if sign > 0:
                self.events.extend(rows)
                self.unchecked = True
            return
        self.count(set_id, rows, sign)

    def add(self, set_id: int, rows: m.BsatnRowList, sign: int, event: bool, sinks: bool) -> None:
        """Add one row list of the message (``sign`` +1 inserts, -1 deletes)."""
        t = self.table
        if event or t.is_event:
            if sign > 0:
                self.events.extend(self._split(rows, sinks))
            return
        if set_id not in self.by_set:
            self.by_set[set_id] = ({}, {})
        if sign > 0:
            self.pending.setdefault(set_id, []).append(self._split(rows, sinks))
        else:  # deleted rows are never decoded: no need to check them
            _count_into(self.by_set[set_id][1], rows.rows())

    def _split(self, rows: m.BsatnRowList, sinks: bool) -> list[bytes]:
        """The rows of ``rows``, validated in one pass where that pays."""
        codec = self.table._codec
        if codec is None or self.table._wants_rows(sinks) or codec.fixed_size == 0:
            self.unchecked = True
            return rows.rows()
        try:
            split = codec.split_rows(rows.rows_data)
        except Exception:  # _plan checks row by row, in the order decoding would
            split = None
        if split is not None and _matches_hint(split, rows.size_hint):
            return split
        self.unchecked = True
        return rows.rows()


def _matches_hint(rows: list[bytes], hint: m.FixedSize | m.RowOffsets) -> bool:
    """Whether ``rows`` (split by the row type) are exactly the rows the size hint cuts."""
    if isinstance(hint, m.FixedSize):
        return not rows or set(map(len, rows)) == {hint.size}
    offs = hint.offsets
    if len(offs) != len(rows):
        return False
    # Row i starts where the rows before it end (C loops: this runs over every row).
    return not offs or (offs[0] == 0 and offs[1:] == tuple(accumulate(map(len, rows[:-1]))))


@dataclass(slots=True)
class TablePlan:
    """What applying a message will do to one table, computed without changing it."""

    table: TableApply
    set_counts: list[tuple[int, dict[bytes, int], list[bytes]]] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)  # the sets whose counts change
    inserts: list[bytes] = field(default_factory=list)
    # Rows entering an empty table: the new row map itself (values LAZY), built once.
    fresh: dict[bytes, Any] | None = None
    insert_rows: list[Any] = field(default_factory=list)
    insert_counts: dict[bytes, int] = field(default_factory=dict)
    bumps: list[tuple[bytes, int]] = field(default_factory=list)
    deletes: list[bytes] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    event_data: list[bytes] = field(default_factory=list)


class TableApply:
    """The plan and commit steps of :class:`~.table_cache.TableCache` (a mixin)."""

    name: str
    is_event: bool
    _codec: Codec | None
    _rows: dict[bytes, Any]
    _counts: dict[bytes, int]
    _sets: dict[int, dict[bytes, int]]
    _sole: int | None
    _seq: dict[bytes, int]
    _next_seq: int
    _n_lazy: int
    _unique: list[UniqueIndex[Any]]
    _btree: list[BTreeIndex[Any]]
    _pk: UniqueIndex[Any] | None
    _sinks: dict[int, ChangeSink]
    _callbacks: dict[str, dict[int, Any]]

    def _decode_row(self, data: bytes) -> Any: ...  # pragma: no cover - TableCache's

    def _decode_new(self, data: bytes) -> Any: ...  # pragma: no cover - TableCache's

    # ---- query sets -------------------------------------------------------------------------

    def _held(self, set_id: int) -> dict[bytes, int]:
        """A copy-safe view of what query set ``set_id`` holds (``row bytes -> count``)."""
        if self._sets:
            return self._sets.get(set_id, {})
        if set_id != self._sole or not self._rows:
            return {}
        counts = self._counts
        if not counts:
            return dict.fromkeys(self._rows, 1)
        return {d: counts.get(d, 1) for d in self._rows}

    def _set_ids(self) -> Iterable[int]:
        """The query sets holding at least one row of this table."""
        if self._sets:
            return self._sets.keys()
        return (self._sole,) if self._sole is not None and self._rows else ()

    def _total(self, data: bytes, default: int = 0) -> int:
        """How many times the row is held in total (``default`` when it is not)."""
        if data in self._rows:
            return self._counts.get(data, 1)
        return default

    # ---- planning -----------------------------------------------------------------------------

    def _wants_rows(self, sinks: bool) -> bool:
        """Whether rows entering now are looked at (so decoding them is the way to check them)."""
        return (
            self._codec is None
            or sinks
            or bool(self._sinks)
            or bool(self._callbacks[_INSERT])
            or (self._pk is not None and bool(self._callbacks[_UPDATE]))
        )

    def _plan(self, delta: TableDelta, sinks: bool = False) -> TablePlan:
        """Work out the effect of ``delta`` (decoding or checking new rows), changing nothing."""
        plan = TablePlan(delta.table)
        decode = self._wants_rows(sinks)
        if delta.events:
            plan.event_data = delta.events
            plan.events = self._new_rows(delta.events, decode, delta.unchecked)
        bulk = None if self._rows or self._sets else delta.only_inserts()
        if bulk is not None:
            # Rows entering an empty table for one query set (a first SubscribeApplied):
            # one dict of the distinct rows is the plan, and then the table's row map.
            set_id, arrived = bulk
            fresh = dict.fromkeys(arrived, LAZY)
            plan.inserts = list(fresh)
            if len(fresh) != len(arrived):
                times: dict[bytes, int] = {}
                _count_into(times, arrived)
                plan.insert_counts = {d: n for d, n in times.items() if n != 1}
            # The table stays with one query set, whose counts are the totals (no set_counts).
            if fresh:
                plan.touched.append(set_id)
            plan.insert_rows = self._new_rows(plan.inserts, decode, delta.unchecked)
            if not decode:
                plan.fresh = fresh
            return plan
        totals: dict[bytes, int] = {}
        for set_id, (plus, minus) in delta.counted().items():
            self._plan_set(set_id, plus, minus, plan, totals)
        rows, counts = self._rows, self._counts
        for data, dv in totals.items():
            if not dv:
                continue
            if data not in rows:
                plan.inserts.append(data)
                if dv != 1:
                    plan.insert_counts[data] = dv
                continue
            new = counts.get(data, 1) + dv
            if new > 0:
                plan.bumps.append((data, new))
            else:
                plan.deletes.append(data)
        plan.insert_rows = self._new_rows(plan.inserts, decode, delta.unchecked)
        return plan

    def _new_rows(self, datas: list[bytes], decode: bool, unchecked: bool) -> list[Any]:
        """The values of rows entering now: decoded, or ``LAZY`` once checked."""
        if decode:
            dec = self._decode_new
            return [dec(d) for d in datas]
        if unchecked:
            self._check_rows(datas)
        return [LAZY] * len(datas)

    def _check_rows(self, datas: list[bytes]) -> None:
        """Validate rows in order; the first bad one raises what decoding it raises."""
        assert self._codec is not None
        try:
            self._codec.validate_rows(datas)
        except Exception:
            for d in datas:
                self._decode_row(d)  # the first bad row raises RowDecodeError, as eager would
            raise ProtocolError(
                f"internal error: a row of table {self.name!r} failed validation but decodes"
            ) from None

    def _plan_set(
        self,
        set_id: int,
        plus: dict[bytes, int],
        minus: dict[bytes, int],
        plan: TablePlan,
        totals: dict[bytes, int],
    ) -> None:
        hget: Callable[[bytes, int], int]
        if self._sets:
            hget = self._sets.get(set_id, {}).get
        elif set_id == self._sole:
            hget = self._total
        else:
            hget = _held_nothing
        new_counts: dict[bytes, int] = {}
        gone: list[bytes] = []
        tget = totals.get
        if not minus:  # only inserts (SubscribeApplied): the common bulk case
            for data, dv in plus.items():
                new_counts[data] = hget(data, 0) + dv
                totals[data] = tget(data, 0) + dv
        else:
            for data, dv in _net(plus, minus):
                old = hget(data, 0)
                new = old + dv
                if new < 0:
                    self._log_missing(set_id, data, -new)
                    new, dv = 0, -old
                    if not dv:
                        continue
                new_counts[data] = new
                if not new:
                    gone.append(data)
                totals[data] = tget(data, 0) + dv
        plan.set_counts.append((set_id, new_counts, gone))
        if new_counts:
            plan.touched.append(set_id)

    def _log_missing(self, set_id: int, data: bytes, n: int) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "table %r, query set %d: %d delete(s) of a row the set does not hold; ignored: %s",
                self.name,
                set_id,
                n,
                data.hex(),
            )

    def _apply_one_set(
        self, set_id: int, inserts: list[bytes], deletes: list[bytes], sinks: bool
    ) -> _Group | None:
        """Plan and commit the rows one query set brings, when that set is the only one
        holding rows of the table (so its counts are the totals); else ``None``.

        The same effect as :meth:`_plan` and :meth:`_commit` of a one-set delta, without
        their intermediate objects: a one-row transaction is a few dict operations.
        """
        if self._sets or (self._sole is not None and self._sole != set_id):
            return None
        rows, counts, total = self._rows, self._counts, self._total
        if not deletes and len(inserts) == 1 and inserts[0] not in rows:
            # One new row (a chat message, a new player): the commonest transaction.
            data = inserts[0]
            # _new_rows for one row, without its list and calls: ~0.6 us of a ~6 us message.
            if self._wants_rows(sinks):
                value = self._decode_new(data)
            else:
                self._check_rows(inserts)
                value = LAZY
                self._n_lazy += 1
            rows[data] = value
            values = [value]
            self._sole = set_id
            if self._unique or self._btree:
                self._update_indexes([], [], inserts, values)
            group = _Group(self)  # type: ignore[arg-type]
            group.inserts, group.insert_data = values, inserts
            return group
        changes: Iterable[tuple[bytes, int]]
        if deletes:
            plus: dict[bytes, int] = {}
            minus: dict[bytes, int] = {}
            _count_into(plus, inserts)
            _count_into(minus, deletes)
            changes = _net(plus, minus)
        elif len(inserts) == 1:
            changes = ((inserts[0], 1),)
        else:
            plus = {}
            _count_into(plus, inserts)
            changes = plus.items()
        new: list[bytes] = []
        new_counts: dict[bytes, int] = {}
        bumps: list[tuple[bytes, int]] = []
        gone: list[bytes] = []
        for data, dv in changes:
            cur = total(data)
            n = cur + dv
            if n < 0:
                self._log_missing(set_id, data, -n)
                if not cur:
                    continue
                n = 0
            if not cur:
                new.append(data)
                if n != 1:
                    new_counts[data] = n
            elif n:
                bumps.append((data, n))
            else:
                gone.append(data)
        values = self._new_rows(new, self._wants_rows(sinks), True) if new else []
        # Commit (nothing above changed the table; a row that does not decode raised).
        deleted = [rows.pop(d) for d in gone]
        for d in gone:
            counts.pop(d, None)
        for d, n in bumps:
            if n == 1:
                counts.pop(d, None)
            else:
                counts[d] = n
        if new:
            rows.update(zip(new, values, strict=True))
            if new_counts:
                counts.update(new_counts)
            if values[0] is LAZY:
                self._n_lazy += len(values)
        if self._n_lazy and deleted:
            self._n_lazy -= sum(1 for v in deleted if v is LAZY)
        if new or bumps or gone:
            self._sole = set_id if rows else None
        elif not rows:
            self._sole = None
        self._update_indexes(gone, deleted, new, values)
        group = _Group(self)  # type: ignore[arg-type]
        self._pair_updates(group, gone, deleted, new, values)
        return group

    # ---- committing ---------------------------------------------------------------------------

    def _commit(self, plan: TablePlan) -> _Group:
        """Apply a plan made by :meth:`_plan` and return the changes, in firing order."""
        touched = plan.touched
        explicit = bool(self._sets)
        sole = self._sole
        if not explicit and (
            len(touched) > 1 or (sole is not None and any(s != sole for s in touched))
        ):
            # A second query set brings rows: from now on, count per set.
            if sole is not None:
                self._sets[sole] = self._held(sole)
            explicit = True
        rows, counts = self._rows, self._counts
        deleted = [rows.pop(d) for d in plan.deletes]
        for d in plan.deletes:
            counts.pop(d, None)
        for d, n in plan.bumps:
            if n == 1:
                counts.pop(d, None)
            else:
                counts[d] = n
        if plan.inserts:
            if rows:
                rows.update(zip(plan.inserts, plan.insert_rows, strict=True))
            elif plan.fresh is not None:
                self._rows = rows = plan.fresh
            else:
                self._rows = rows = dict(zip(plan.inserts, plan.insert_rows, strict=True))
            counts.update(plan.insert_counts)
        if plan.insert_rows and plan.insert_rows[0] is LAZY:  # all or none are (_new_rows)
            self._n_lazy += len(plan.insert_rows)
        if self._n_lazy:
            self._n_lazy -= sum(1 for v in deleted if v is LAZY)
        if explicit:
            self._commit_sets(plan.set_counts)
        elif touched:
            self._sole = touched[0] if rows else None
        elif not rows:
            self._sole = None
        self._update_indexes(plan.deletes, deleted, plan.inserts, plan.insert_rows)
        group = _Group(self)  # type: ignore[arg-type]
        if plan.events:
            group.events = plan.events
            group.event_data = plan.event_data
        self._pair_updates(group, plan.deletes, deleted, plan.inserts, plan.insert_rows)
        return group

    def _commit_sets(self, set_counts: list[tuple[int, dict[bytes, int], list[bytes]]]) -> None:
        sets = self._sets
        for set_id, new_counts, gone in set_counts:
            held = sets.get(set_id)
            if held is None:
                if not new_counts:
                    continue
                held = sets[set_id] = new_counts  # a new set: adopt the dict, no copy
            else:
                held.update(new_counts)
            for data in gone:
                del held[data]
            if not held:
                del sets[set_id]
        if len(sets) <= 1:  # back to one set (or none): its counts are the totals
            self._sole = next(iter(sets), None)
            sets.clear()

    def _update_indexes(
        self, del_data: list[bytes], deleted: list[Any], ins_data: list[bytes], inserted: list[Any]
    ) -> None:
        if not (self._unique or self._btree):
            return
        # Deletes first, so a delete and insert of one key in a message do not collide.
        for u in self._unique:
            for d, v in zip(del_data, deleted, strict=True):
                u._drop(u._key_of_bytes(d) if v is LAZY else u._key_of(v), d)
            for d, v in zip(ins_data, inserted, strict=True):
                key = u._key_of_bytes(d) if v is LAZY else u._key_of(v)
                if not u._put(key, d):
                    logger.warning(
                        "table %r: two rows share the key of unique index %r; keeping the newer",
                        self.name,
                        u.name,
                    )
        if not self._btree:
            return
        seq = self._seq
        gone = [seq.pop(d) for d in del_data]
        new_seq = range(self._next_seq, self._next_seq + len(ins_data))
        self._next_seq += len(ins_data)
        seq.update(zip(ins_data, new_seq, strict=True))
        for b in self._btree:
            # A row is LAZY only in a table whose every index reads keys from bytes.
            kb, kr = b._key_of_bytes or b._key_of, b._key_of
            if del_data:
                b._delete_items(
                    [
                        (kb(d) if v is LAZY else kr(v), s)
                        for d, v, s in zip(del_data, deleted, gone, strict=True)
                    ]
                )
            if ins_data:
                b._insert_items(
                    [
                        (*(kb(d) if v is LAZY else kr(v)), s, d)
                        for d, v, s in zip(ins_data, inserted, new_seq, strict=True)
                    ]
                )

    def _pair_updates(
        self,
        group: _Group,
        del_data: list[bytes],
        deleted: list[Any],
        ins_data: list[bytes],
        inserted: list[Any],
    ) -> None:
        pk = self._pk
        if pk is None or not deleted or not inserted:
            group.inserts, group.insert_data = inserted, ins_data
            group.deletes, group.delete_data = deleted, del_data
            return
        group.inserts, group.insert_data, group.deletes, group.delete_data = [], [], [], []
        group.updates, group.update_data = [], []
        by_key: dict[Any, int] = {}
        for i, (d, v) in enumerate(zip(del_data, deleted, strict=True)):
            by_key.setdefault(pk._key_of_bytes(d) if v is LAZY else pk._key_of(v), i)
        paired: set[int] = set()
        for d, v in zip(ins_data, inserted, strict=True):
            i = by_key.pop(pk._key_of_bytes(d) if v is LAZY else pk._key_of(v), -1)
            if i < 0:
                group.inserts.append(v)
                group.insert_data.append(d)
            else:
                paired.add(i)
                group.updates.append((deleted[i], v))
                group.update_data.append((del_data[i], d))
        for i, (d, v) in enumerate(zip(del_data, deleted, strict=True)):
            if i not in paired:
                group.deletes.append(v)
                group.delete_data.append(d)


def _held_nothing(data: bytes, default: int) -> int:
    return default


def _net(plus: dict[bytes, int], minus: dict[bytes, int]) -> Iterator[tuple[bytes, int]]:
    """Non-zero ``plus - minus`` per row, inserted rows first, each in message order."""
    for data, n in plus.items():
        dv = n - minus.get(data, 0)
        if dv:
            yield data, dv
    for data, n in minus.items():
        if n and data not in plus:
            yield data, -n


__all__ = ["TableApply", "TableDelta", "TablePlan"]
