"""Constraints a write must satisfy: unique indexes, and auto-increment sequences.

Transactions call these before they change a table.  They are apart from the undo log because
they are rules of the schema, not of the transaction: sequences are *not* rolled back, as
upstream (a failed transaction leaves a gap), and a durable commit log would have to persist
``TableStore.sequence_next`` the same way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

from ...sats.ordering import INT_RANGES
from ...sats.types import PrimitiveType
from .errors import AutoIncOverflow, UniqueConstraintViolation
from .table_store import TableStore


def fill_sequences(store: TableStore, row: Any, skip: tuple[int, ...] = ()) -> Any:
    """Fill the auto-increment columns of ``row`` that hold ``0`` (except ``skip``)."""
    changes: dict[str, int] = {}
    for seq in store.schema.sequences:
        col = store.schema.columns[seq.col_id]
        if seq.col_id in skip or getattr(row, col.attr) != 0:
            continue
        value = store.sequence_next[seq.col_id]
        kind = col.algebraic_type.kind if isinstance(col.algebraic_type, PrimitiveType) else ""
        lo, hi = INT_RANGES.get(kind, (-(1 << 255), (1 << 256) - 1))
        if not lo <= value <= hi:
            raise AutoIncOverflow(AutoIncOverflow.MESSAGE)
        store.sequence_next[seq.col_id] = value + seq.increment
        changes[col.attr] = value
    return dataclasses.replace(row, **changes) if changes else row


def check_unique(store: TableStore, row: Any, replacing: Hashable | None) -> None:
    """Raise :class:`UniqueConstraintViolation` if ``row`` duplicates another row's unique key."""
    for ix in store.schema.indexes:
        if not ix.unique:
            continue
        other = store.unique[ix.name].get(store.index_key(ix, row))
        if other is not None and other != replacing:
            raise UniqueConstraintViolation(
                ix.name,
                store.schema.name,
                [store.schema.columns[c].name for c in ix.columns],
                store.satn_of(ix, row),
            )
