"""The compiled query every subscriber of the same SQL shares, and the last rows of a view.

A :class:`_Query` is keyed by its SQL text, the owner flag and, only when it depends on the
caller, the caller's identity; its fragments are the RLS-expanded parts whose results form a bag
union.  A :class:`_ViewState` keeps a view's rows for one caller so that a commit can diff them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from ..sql.eval import CompiledFragment, TableInfo
from .catalog import _SourceId

_SubKey = tuple[Hashable, int]


class _Query:
    """One compiled query shared by every query set subscribing to it."""

    def __init__(
        self,
        key: Hashable,
        sql: str,
        table: str,
        fragments: list[CompiledFragment],
        sources: list[tuple[_SourceId, ...]],
        is_event: bool,
    ) -> None:
        self.key = key
        self.sql = sql
        self.table = table
        self.fragments = fragments
        self.sources = sources
        self.is_event = is_event
        self.subscribers: dict[_SubKey, None] = {}

    def is_simple(self, fi: int) -> bool:
        """Single-table over a stored table: its delta is a filter of the commit's rows."""
        return self.fragments[fi].n == 1 and not self.fragments[fi].infos[0].is_view


@dataclass
class _ViewState:
    """The last rows of a view for one caller, counted by row key."""

    sid: _SourceId
    rows: list[Any] = field(default_factory=list)
    counts: dict[Hashable, list[Any]] = field(default_factory=dict)
    refs: int = 0

    def replace(self, rows: list[Any], info: TableInfo) -> tuple[list[Any], list[Any]]:
        """Take the new rows; returns ``(added, removed)`` with multiplicity."""
        counts: dict[Hashable, list[Any]] = {}
        for row in rows:
            k = info.row_key(row)
            entry = counts.get(k)
            if entry is None:
                counts[k] = [row, 1]
            else:
                entry[1] += 1
        added: list[Any] = []
        removed: list[Any] = []
        for k, (row, n) in counts.items():
            old = self.counts.get(k)
            extra = n - (old[1] if old else 0)
            if extra > 0:
                added += [row] * extra
        for k, (row, n) in self.counts.items():
            new = counts.get(k)
            gone = n - (new[1] if new else 0)
            if gone > 0:
                removed += [row] * gone
        self.rows, self.counts = rows, counts
        return added, removed


_QF = tuple[_Query, int]
