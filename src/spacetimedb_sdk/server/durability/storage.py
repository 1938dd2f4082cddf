"""One database's folder: loading it at start, recording its commits, and marking it created.

:meth:`DatabaseStorage.open` rebuilds a database: the newest snapshot that passes its checks
(falling back to the one before it), then the commit log after it, applied through the
datastore without running module code.  A database that does not exist yet (no
``database.json``: never created, or its ``init`` never finished) is started empty, with an
empty snapshot that records the schema.  When the module's schema differs from the stored
one, a permitted change is followed (:mod:`.compat`) and a snapshot in the new schema is written
at once, so older files are never read again.

The host records through the same object: :meth:`record_commit` (each commit, before its
fan-out), :meth:`record_variables` (``SET``), :meth:`stage_client` (connects and disconnects,
only when the module has a ``client_disconnected`` reducer: after a crash, the server calls it
for the clients that were connected, as upstream does).

Example::

    storage = data_dir.database(identity, "chat")
    restored = storage.open(module, datastore)     # None: a new database
    storage.record_commit(tx_result, datastore)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..._log import get_logger
from ...errors import SpacetimeDBError
from ...sats.values import ConnectionId, Identity, SumValue, Timestamp
from ...schema import ModuleSchema
from ..datastore import Datastore, TxResult
from ..module import Module
from .commitlog import CommitLog
from .compat import ModuleRows, RowSink, StoredTables, migrate, schema_hash, schema_json
from .durability import SNAPSHOT_BYTES, Durability
from .errors import CLEAR_HINT, CorruptDataError, DataDirError, DurabilityFailed
from .files import atomic_write, remove_temporaries
from .records import Changes, decode_changes, encode_changes
from .snapshots import list_snapshots, read_snapshot, snapshot_name, write_snapshot
from .state import Capture, Restored, StateCodec, client_key, encode_variable

log = get_logger("spacetimedb_sdk.server")

META_FILE = "database.json"
PROGRAM_FILE = "program"
CLOG = "clog"
SNAPSHOTS = "snapshots"
FORMAT = 1


class DatabaseStorage:
    """The folder of one database (see the module docstring)."""

    def __init__(self, folder: Path, name: str, *, snapshot_bytes: int = SNAPSHOT_BYTES) -> None:
        self.folder = folder
        self.name = name
        self.snapshot_bytes = snapshot_bytes
        self.durability: Durability | None = None
        self._codec: StateCodec | None = None
        self._logs_clients = False
        self._staged: Changes | None = None
        # What database.json records (set by whoever creates, publishes or renames it).
        self.names: list[str] = [name]
        self.host_type: str | None = None
        self.program_hash: str | None = None
        self._identity: Identity | None = None
        self._owner: Identity | None = None

    def __repr__(self) -> str:
        return f"DatabaseStorage({str(self.folder)!r})"

    # -- the folder

    def meta(self) -> dict[str, Any] | None:
        """``database.json``, or ``None`` when the database does not exist (yet)."""
        path = self.folder / META_FILE
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_bytes())
        except ValueError as e:
            raise DataDirError(
                f"{str(path)!r} is damaged ({e}); restore it from a backup"
            ) from None
        if not isinstance(doc, dict):
            raise DataDirError(f"{str(path)!r} is damaged (not a JSON object)")
        return doc

    def clear(self) -> None:
        """Delete the database's data (``serve --clear``): it starts empty, ``init`` runs again."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def created(self, identity: Identity, owner: Identity) -> None:
        """Record that the database exists (after ``init``): later starts load it instead."""
        if self.durability is not None:
            self.durability.wait_durable()
        self._identity, self._owner = identity, owner
        self.save_meta()

    def save_meta(self) -> None:
        """Write ``database.json`` (names, owner, program) for a database that exists."""
        if self._identity is None or self._owner is None:
            return  # not created yet: created() writes it
        doc: dict[str, Any] = {
            "format": FORMAT,
            "name": self.name,
            "names": self.names,
            "identity": self._identity.to_hex(),
            "owner_identity": self._owner.to_hex(),
        }
        if self.program_hash is not None:
            doc.update(program_hash=self.program_hash, host_type=self.host_type)
        atomic_write(self.folder / META_FILE, json.dumps(doc, indent=2).encode() + b"\n")

    def save_program(self, host_type: str, program: bytes, program_hash: str) -> None:
        """Keep the program a published database runs, so a restart can load it again."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self.folder / PROGRAM_FILE, program)
        self.host_type, self.program_hash = host_type, program_hash
        self.save_meta()

    def forget_program(self) -> None:
        """The database now runs a module given at start, not the program published to it."""
        if self.program_hash is None:
            return
        self.host_type = self.program_hash = None
        self.save_meta()
        (self.folder / PROGRAM_FILE).unlink(missing_ok=True)

    def program(self) -> tuple[str, bytes] | None:
        """``(host_type, program)`` of a published database, ``None`` for one served from a
        module given at start."""
        meta = self.meta()
        path = self.folder / PROGRAM_FILE
        if meta is None or meta.get("host_type") is None or not path.is_file():
            return None
        return str(meta["host_type"]), path.read_bytes()

    def destroy(self) -> None:
        """The database is deleted: close the storage and delete its folder."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- opening

    def open(self, module: Module, datastore: Datastore) -> Restored | None:
        """Load the stored database into ``datastore`` (empty), or start it new (``None``).

        Raises :class:`~.errors.DataDirError` (corrupt data, or a schema change the data cannot
        follow) with a message saying what to do.
        """
        codec = self._codec = StateCodec(module)
        self._logs_clients = module.lifecycle_reducer("OnDisconnect") is not None
        schema = schema_json(module)
        meta = self.meta()
        if meta is None:
            self._create(codec, schema, datastore)
            return None
        self._remember(meta)
        try:
            return self._load(module, codec, schema, datastore)
        except CorruptDataError as e:
            raise DataDirError(
                f"the data of database {self.name!r} in {str(self.folder)!r} cannot be loaded: {e}. "
                f"Restore the folder from a backup, or {CLEAR_HINT}"
            ) from None

    def _remember(self, meta: dict[str, Any]) -> None:
        try:
            self._identity = Identity.from_hex(str(meta["identity"]))
            self._owner = Identity.from_hex(str(meta["owner_identity"]))
        except (KeyError, ValueError) as e:
            raise DataDirError(
                f"{str(self.folder / META_FILE)!r} is damaged ({e}); restore it from a backup"
            ) from None
        names = meta.get("names")
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            self.names = names
        if isinstance(meta.get("program_hash"), str) and isinstance(meta.get("host_type"), str):
            self.program_hash, self.host_type = meta["program_hash"], meta["host_type"]

    def _create(self, codec: StateCodec, schema: bytes, datastore: Datastore) -> None:
        # Never created, or its init never finished: whatever is there is not a database yet.
        # (A database that ran has a snapshot past 0 or database.json; never wipe that.)
        if any(offset > 0 for offset in list_snapshots(self.folder / SNAPSHOTS)):
            raise DataDirError(
                f"{str(self.folder / META_FILE)!r} is missing, but the folder holds a database's "
                f"data; restore the file (or the folder) from a backup, or {CLEAR_HINT}"
            )
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, mode=0o700)
        write_snapshot(self.folder / SNAPSHOTS, 0, schema, encode_changes(Changes()))
        commit_log, _ = CommitLog.open(self.folder / CLOG, schema_hash(schema), 0)
        self.durability = Durability(
            commit_log, self.folder / SNAPSHOTS, codec, schema, snapshot_bytes=self.snapshot_bytes
        )
        codec.sync_sequences(datastore)

    def _newest_snapshot(self) -> tuple[int, bytes, bytes]:
        folder = self.folder / SNAPSHOTS
        remove_temporaries(folder)
        offsets = list_snapshots(folder)
        if not offsets:
            raise CorruptDataError(SNAPSHOTS, "no snapshot (every database has at least one)")
        first_error: CorruptDataError | None = None
        for offset in reversed(offsets):
            path = folder / snapshot_name(offset)
            try:
                found, schema, state = read_snapshot(path)
            except CorruptDataError as e:
                first_error = first_error or e
                log.warning(
                    "snapshot %s is damaged (%s); trying the one before it", path, e.problem
                )
                continue
            return found, schema, state
        assert first_error is not None
        raise first_error

    def _load(
        self, module: Module, codec: StateCodec, schema: bytes, datastore: Datastore
    ) -> Restored:
        offset, stored_schema, state = self._newest_snapshot()
        where = f"{SNAPSHOTS}/{snapshot_name(offset)}"
        changed = stored_schema != schema
        rows: RowSink = ModuleRows(module, datastore)
        if changed:
            try:
                rows = stored = StoredTables(ModuleSchema.from_json(stored_schema))
            except (ValueError, SpacetimeDBError) as e:
                raise CorruptDataError(where, f"its module schema does not load: {e}") from None
        restored = Restored()
        codec.apply(_changes(state, where), rows, restored, where, bulk=True)
        commit_log, records = CommitLog.open(self.folder / CLOG, schema_hash(stored_schema), offset)
        try:
            for tx_offset, body in records:
                where = f"{CLOG}, transaction {tx_offset}"
                codec.apply(_changes(body, where), rows, restored, where)
            fresh: frozenset[str] = frozenset()
            if changed:
                fresh = migrate(stored, module, datastore, self.name).recreated_sequences()
        except BaseException:
            commit_log.close()
            raise
        codec.restore_sequences(datastore, restored, fresh)
        self.durability = Durability(
            commit_log,
            self.folder / SNAPSHOTS,
            codec,
            schema,
            snapshot_bytes=self.snapshot_bytes,
            last_snapshot_size=len(state),
            logged_since_snapshot=sum(len(body) for _, body in records),
        )
        codec.sync_sequences(datastore)
        if changed:
            self._rewrite(
                codec, schema, codec.capture(datastore, restored.variables, restored.clients)
            )
            log.info("database %s: its stored data now follows the module's new schema", self.name)
        log.info(
            "database %s: loaded the snapshot at transaction %d and %d logged transactions after it",
            self.name,
            offset,
            len(records),
        )
        return restored

    def _rewrite(self, codec: StateCodec, schema: bytes, capture: Capture) -> None:
        """From here on everything follows ``schema``: a new segment and, at once, a snapshot of
        ``capture`` in it; older snapshots and segments (another schema) are deleted."""
        durability = self.durability
        assert durability is not None
        durability.codec, durability.schema = codec, schema
        durability.log.start_segment(schema_hash(schema))
        durability.write_snapshot(capture, durability.log.next_offset, keep=1)

    def adopt(
        self,
        module: Module,
        datastore: Datastore,
        variables: Mapping[str, SumValue],
        clients: Iterable[tuple[Identity, ConnectionId]],
    ) -> None:
        """The database now runs ``module`` over ``datastore`` (a hot swap or a reset, on the
        database thread): the data directory follows, with a snapshot of that state now."""
        if self.durability is None:
            raise DurabilityFailed(f"the storage of database {self.name!r} is not open")
        codec = self._codec = StateCodec(module)
        self._logs_clients = module.lifecycle_reducer("OnDisconnect") is not None
        codec.sync_sequences(datastore)
        self._rewrite(codec, schema_json(module), self.capture_of(datastore, variables, clients))

    def set_capture(self, capture: Callable[[], Capture]) -> None:
        """Where snapshots get the state from (the host's, on its database thread)."""
        if self.durability is not None:
            self.durability.capture = capture

    def capture_of(
        self,
        datastore: Datastore,
        variables: Mapping[str, SumValue],
        clients: Iterable[tuple[Identity, ConnectionId]],
    ) -> Capture:
        """The state to snapshot (clients only when they are recorded at all)."""
        assert self._codec is not None
        recorded = [client_key(i, c) for i, c in clients] if self._logs_clients else []
        return self._codec.capture(datastore, variables, recorded)

    # -- recording (on the database thread, before anyone hears of the change)

    def _append(self, changes: Changes) -> None:
        if self.durability is None:
            raise DurabilityFailed(f"the storage of database {self.name!r} is not open")
        self.durability.append(changes)

    def record_commit(self, tx: TxResult, datastore: Datastore) -> None:
        """Write a commit's record (nothing for a commit that changed nothing stored), with
        the client change :meth:`stage_client` staged for it."""
        assert self._codec is not None
        changes = self._codec.changes_of(tx, datastore, Timestamp.now().micros)
        staged, self._staged = self._staged, None
        if staged is not None:
            changes.clients_connected += staged.clients_connected
            changes.clients_disconnected += staged.clients_disconnected
        if not changes.is_empty():
            self._append(changes)

    def record_variables(
        self, before: Mapping[str, SumValue], after: Mapping[str, SumValue]
    ) -> None:
        """Write what a statement changed in ``st_var`` (``SET``, DML on it)."""
        changed = [(n, v) for n, v in after.items() if before.get(n) != v]
        deleted = [n for n in before if n not in after]
        if not changed and not deleted:
            return
        changes = Changes(Timestamp.now().micros, vars_deleted=deleted)
        changes.vars_set = [(n, encode_variable(v)) for n, v in changed]
        self._append(changes)

    def stage_client(
        self, identity: Identity, connection_id: ConnectionId, connected: bool
    ) -> None:
        """Stage a connect or disconnect for the record of the next commit (the lifecycle
        reducer's, so both are one record, as upstream's ``st_client`` row is in that reducer's
        transaction); only for modules with a ``client_disconnected`` reducer."""
        if not self._logs_clients:
            return
        staged = self._staged = self._staged or Changes()
        key = client_key(identity, connection_id)
        (staged.clients_connected if connected else staged.clients_disconnected).append(key)

    def flush_staged(self, *, discard: bool = False) -> None:
        """Write a staged client change that no commit took (or ``discard`` it)."""
        staged, self._staged = self._staged, None
        if staged is not None and not discard:
            staged.timestamp = Timestamp.now().micros
            self._append(staged)

    # -- closing

    def close(self) -> None:
        """Sync everything written and stop the storage's threads."""
        durability, self.durability = self.durability, None
        if durability is not None:
            durability.close()


def _changes(body: bytes, where: str) -> Changes:
    try:
        return decode_changes(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptDataError(where, f"does not parse: {e}") from None


__all__ = ["DatabaseStorage"]
