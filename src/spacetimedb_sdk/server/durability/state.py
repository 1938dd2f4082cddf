"""Between a database's state and change sets: what a commit records, what a snapshot holds,
and how both are applied back.

:class:`StateCodec` knows the module's tables and row codecs.  On the database thread it turns
a commit (:class:`~..datastore.TxResult`) into a :class:`~.records.Changes` (rows as BSATN,
plus the sequences that moved since the last record: a rolled-back insert advances a sequence
too, and the next record carries that), and captures the state for a snapshot (references to
the immutable rows, cheap); the snapshot thread encodes the capture.  :meth:`StateCodec.apply`
replays a change set into a datastore without running any module code.

Event tables are not recorded: their rows live only within their transaction.

Example::

    codec = StateCodec(module)
    changes = codec.changes_of(tx_result, datastore, Timestamp.now().micros)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...sats import bsatn
from ...sats.values import ConnectionId, Identity, SumValue
from ..datastore import Datastore, TableSchema, TxResult
from ..module import Module
from ..system_tables import STVAR_VALUE_TYPE
from .compat import RowSink
from .errors import CorruptDataError
from .records import Changes, Client, TableChanges

_STVAR = bsatn.codec_for(STVAR_VALUE_TYPE)


def encode_variable(value: SumValue) -> bytes:
    """The BSATN of an ``st_var`` value (an ``StVarValue``)."""
    return _STVAR.encode(value)


def client_key(identity: Identity, connection_id: ConnectionId) -> Client:
    """A connected client as records store it."""
    return identity.value, connection_id.value


@dataclass
class Capture:
    """A database's state at one offset, as references (taken on the database thread)."""

    tables: list[tuple[TableSchema, list[Any]]]
    sequences: list[tuple[str, str, int]]
    variables: list[tuple[str, SumValue]]
    clients: list[Client]


@dataclass
class Restored:
    """What replaying a data directory gave besides table rows."""

    variables: dict[str, SumValue] = field(default_factory=dict)
    clients: dict[Client, None] = field(default_factory=dict)
    sequences: dict[tuple[str, str], int] = field(default_factory=dict)

    def connected(self) -> list[tuple[Identity, ConnectionId]]:
        """The clients connected when the server stopped (their disconnect never ran)."""
        return [(Identity(i), ConnectionId(c)) for i, c in self.clients]


class StateCodec:
    """A module's tables as change sets (see the module docstring)."""

    def __init__(self, module: Module) -> None:
        self._schemas = {t.name: t for t in module.table_schemas() if not t.is_event}
        self._codecs = {name: module.row_codec(name) for name in self._schemas}
        self._sequenced = [t for t in self._schemas.values() if t.sequences]
        self._logged: dict[tuple[str, int], int] = {}

    # -- recording (database thread)

    def sync_sequences(self, datastore: Datastore) -> None:
        """Take the current sequence values as already recorded (after a load)."""
        self._logged = self._sequence_values(datastore)

    def _sequence_values(self, datastore: Datastore) -> dict[tuple[str, int], int]:
        values = {}
        for schema in self._sequenced:
            for col, value in datastore.store(schema.name).sequence_next.items():
                values[(schema.name, col)] = value
        return values

    def _moved_sequences(self, datastore: Datastore) -> list[tuple[str, str, int]]:
        moved = []
        for schema in self._sequenced:
            store = datastore.store(schema.name)
            for col, value in store.sequence_next.items():
                key = (schema.name, col)
                if self._logged.get(key) != value:
                    self._logged[key] = value
                    moved.append((schema.name, schema.columns[col].name, value))
        return moved

    def changes_of(self, tx: TxResult, datastore: Datastore, timestamp: int) -> Changes:
        """The change set of a committed transaction (possibly empty)."""
        changes = Changes(timestamp)
        for name in tx.tables():
            codec = self._codecs.get(name)
            if codec is None:  # an event table
                continue
            deletes, inserts = tx.deletes.get(name, ()), tx.inserts.get(name, ())
            dbuf, ibuf = bytearray(), bytearray()
            for row in deletes:
                codec.write(dbuf, row)
            for row in inserts:
                codec.write(ibuf, row)
            changes.tables.append(
                TableChanges(name, bytes(dbuf), len(deletes), bytes(ibuf), len(inserts))
            )
        changes.sequences = self._moved_sequences(datastore)
        return changes

    def capture(
        self,
        datastore: Datastore,
        variables: Mapping[str, SumValue],
        clients: Iterable[Client],
    ) -> Capture:
        """The current state, by reference (rows are immutable): O(rows) list copies, no encoding."""
        tables = [(s, list(datastore.store(n).rows.values())) for n, s in self._schemas.items()]
        sequences = [
            (t, self._schemas[t].columns[c].name, v)
            for (t, c), v in self._sequence_values(datastore).items()
        ]
        return Capture(tables, sequences, list(variables.items()), list(clients))

    def encode_capture(self, capture: Capture, timestamp: int) -> Changes:
        """A captured state as one change set of inserts (any thread: codecs are thread-safe)."""
        changes = Changes(timestamp, sequences=capture.sequences, clients_connected=capture.clients)
        for schema, rows in capture.tables:
            codec, buf = self._codecs[schema.name], bytearray()
            for row in rows:
                codec.write(buf, row)
            changes.tables.append(
                TableChanges(schema.name, inserts=bytes(buf), insert_count=len(rows))
            )
        changes.vars_set = [(name, encode_variable(value)) for name, value in capture.variables]
        return changes

    # -- loading

    def apply(
        self, changes: Changes, rows: RowSink, restored: Restored, where: str, *, bulk: bool = False
    ) -> None:
        """Apply a change set without running module code: rows to ``rows``, the rest to
        ``restored`` (``bulk``: a snapshot into empty tables)."""
        for t in changes.tables:
            rows.table(t, where, bulk=bulk)
        for table, column, value in changes.sequences:
            restored.sequences[(table, column)] = value
        for name, data in changes.vars_set:
            try:
                restored.variables[name] = _STVAR.decode(data)
            except ValueError as e:
                raise CorruptDataError(
                    where, f"the value of variable {name!r} does not decode: {e}"
                ) from None
        for name in changes.vars_deleted:
            restored.variables.pop(name, None)
        for client in changes.clients_connected:
            restored.clients[client] = None
        for client in changes.clients_disconnected:
            restored.clients.pop(client, None)

    def restore_sequences(
        self, datastore: Datastore, restored: Restored, fresh: frozenset[str] = frozenset()
    ) -> None:
        """Set the sequences to their stored values (by table and column name), except those
        named in ``fresh`` (re-created by a migration: they start anew)."""
        for schema in self._sequenced:
            store = datastore.store(schema.name)
            for seq in schema.sequences:
                value = restored.sequences.get((schema.name, schema.columns[seq.col_id].name))
                if value is not None and seq.name not in fresh:
                    store.sequence_next[seq.col_id] = value


__all__ = ["Capture", "Restored", "StateCodec", "client_key", "encode_variable"]
