"""Hand-encoded rows and message builders for the client cache tests.

Rows are encoded with ``struct`` exactly as BSATN lays them out (little-endian integers,
``u32`` length + UTF-8 for strings), so these tests do not depend on the BSATN codec.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

from spacetimedb_sdk.client.cache import ClientCache, PendingChanges, TableCache
from spacetimedb_sdk.protocol import messages as m

# ---- table pk_u32 { n: u32 (primary key), data: i32 } as in modules/sdk-test ---------------

_PK_U32 = struct.Struct("<Ii")


def pk_row(n: int, data: int) -> bytes:
    return _PK_U32.pack(n, data)


def decode_pk_row(b: bytes) -> dict[str, Any]:
    n, data = _PK_U32.unpack(b)
    return {"n": n, "data": data}


# ---- player { id: u32, name: String, x: i32, y: i32 } ---------------------------------------


def player_row(pid: int, name: str, x: int = 0, y: int = 0) -> bytes:
    raw = name.encode()
    return struct.pack("<II", pid, len(raw)) + raw + struct.pack("<ii", x, y)


def decode_player(b: bytes) -> dict[str, Any]:
    pid, n = struct.unpack_from("<II", b, 0)
    name = b[8 : 8 + n].decode()
    x, y = struct.unpack_from("<ii", b, 8 + n)
    if 16 + n != len(b):
        raise ValueError(f"player row has {len(b) - 16 - n} trailing bytes")
    return {"id": pid, "name": name, "x": x, "y": y}


# ---- message builders -----------------------------------------------------------------------


def row_list(rows: Iterable[bytes]) -> m.BsatnRowList:
    return m.BsatnRowList.from_rows(list(rows))


def query_rows(*tables: tuple[str, Iterable[bytes]]) -> m.QueryRows:
    """One SingleTableRows per (table, rows) pair, i.e. one per query."""
    return m.QueryRows([m.SingleTableRows(t, row_list(rs)) for t, rs in tables])


def persistent(
    inserts: Iterable[bytes] = (), deletes: Iterable[bytes] = ()
) -> m.PersistentTableRows:
    return m.PersistentTableRows(row_list(inserts), row_list(deletes))


def events(rows: Iterable[bytes]) -> m.EventTableRows:
    return m.EventTableRows(row_list(rows))


def query_set(
    set_id: int, *tables: tuple[str, Sequence[m.PersistentTableRows | m.EventTableRows]]
) -> m.QuerySetUpdate:
    return m.QuerySetUpdate(set_id, [m.TableUpdate(name, list(rows)) for name, rows in tables])


def tx(*sets: m.QuerySetUpdate) -> m.TransactionUpdate:
    return m.TransactionUpdate(list(sets))


class Recorder:
    """Records every row callback of some tables as ("insert", table, row) / ("update", t, old, new)."""

    def __init__(self, *tables: TableCache[Any]) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.contexts: list[Any] = []
        for t in tables:
            self.attach(t)

    def attach(self, t: TableCache[Any]) -> None:
        name = t.name
        t.on_insert(lambda ctx, row: self._log(ctx, ("insert", name, row)))
        t.on_delete(lambda ctx, row: self._log(ctx, ("delete", name, row)))
        if t.has_primary_key:
            t.on_update(lambda ctx, old, new: self._log(ctx, ("update", name, old, new)))

    def _log(self, ctx: Any, event: tuple[Any, ...]) -> None:
        self.contexts.append(ctx)
        self.events.append(event)

    def take(self) -> list[tuple[Any, ...]]:
        out, self.events = self.events, []
        return out


def fire(changes: PendingChanges, ctx: Any = "ctx") -> PendingChanges:
    assert changes.fire(lambda: ctx) == []
    return changes


def pk_table(name: str = "pk_u32", **kw: Any) -> TableCache[dict[str, Any]]:
    return TableCache(name, decode_pk_row, primary_key="n", **kw)


def rows_of(t: TableCache[Any]) -> list[Any]:
    return sorted(t.iter(), key=repr)


def new_cache(*tables: TableCache[Any]) -> ClientCache:
    return ClientCache(tables)
