"""Reading stored rows with the module served now: the same schema, or one that changed since.

Every snapshot carries the module schema its rows were written with (the ``RawModuleDefV10``
JSON, :func:`schema_json`).  When the module served now has exactly that schema, rows decode
straight into its classes (:class:`ModuleRows`).  When it differs, the stored data is first
replayed as bytes under the stored schema (:class:`StoredTables`), then upstream's migration
rules decide (:mod:`..migration`, the same rules as publishing a changed module): a change they
refuse, or data they cannot keep, is a :class:`~.errors.SchemaChangedError` naming
``serve --clear``; otherwise each kept row is converted (added columns get their defaults) and
loaded (:func:`migrate`).

Example::

    tables = StoredTables(ModuleSchema.from_json(stored_json))
    ...  # apply the snapshot and the log to it
    migrate(tables, module, datastore)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Protocol

from ...sats import bsatn
from ...sats.types import RefType
from ...schema import ModuleSchema
from ..datastore import Datastore, DatastoreError
from ..migration import (
    IncompatibleMigration,
    MigrationFailed,
    MigrationPlan,
    check_data,
    convert_row,
    plan_migration,
)
from ..module import Module
from .errors import CLEAR_HINT, CorruptDataError, SchemaChangedError
from .records import TableChanges


def schema_json(module: Module) -> bytes:
    """The module's schema as stored beside its rows (canonical JSON of ``describe_v10``)."""
    return json.dumps(module.describe_v10(), sort_keys=True, separators=(",", ":")).encode()


def schema_hash(schema: bytes) -> bytes:
    """The 8-byte fingerprint of a stored schema that each log segment carries."""
    return hashlib.blake2b(schema, digest_size=8).digest()


class RowSink(Protocol):
    """Where the rows of replayed change sets go."""

    def table(self, changes: TableChanges, where: str, *, bulk: bool) -> None:
        """Apply one table's deletes and inserts (``bulk``: a snapshot into empty tables)."""
        ...


def _decode(codec: bsatn.Codec, data: bytes, count: int, table: str, where: str) -> list[Any]:
    try:
        rows = codec.decode_rows(data)
    except (ValueError, TypeError) as e:
        raise CorruptDataError(where, f"rows of table {table!r} do not decode: {e}") from None
    if len(rows) != count:
        raise CorruptDataError(where, f"{len(rows)} rows of table {table!r}, expected {count}")
    return rows


class ModuleRows:
    """Rows written by the module served now, decoded into its classes and applied."""

    def __init__(self, module: Module, datastore: Datastore) -> None:
        self._codecs = {t.name: module.row_codec(t.name) for t in module.table_schemas()}
        self._datastore = datastore

    def table(self, changes: TableChanges, where: str, *, bulk: bool) -> None:
        """Decode and apply one table's rows (see :class:`RowSink`)."""
        name = changes.name
        codec = self._codecs.get(name)
        if codec is None:
            raise CorruptDataError(where, f"rows of table {name!r}, which the module does not have")
        inserts = _decode(codec, changes.inserts, changes.insert_count, name, where)
        if bulk:
            self._datastore.store(name).load(inserts)
            return
        deletes = _decode(codec, changes.deletes, changes.delete_count, name, where)
        try:
            self._datastore.replay(name, deletes, inserts)
        except DatastoreError as e:  # the log does not match the state
            raise CorruptDataError(where, str(e)) from None


class StoredTables:
    """The stored rows as BSATN bytes, one entry per row, replayed under the stored schema.

    BSATN is canonical (one value, one encoding), so a delete names the bytes of the insert it
    undoes.  Implements the migration rules' ``StoredRows``.
    """

    def __init__(self, schema: ModuleSchema) -> None:
        self.schema = schema
        self._codecs = {
            t.name: bsatn.codec_for(RefType(t.product_type_ref), schema.typespace)
            for t in schema.tables
        }
        self._rows: dict[str, dict[bytes, None]] = {t.name: {} for t in schema.tables}

    def _split(self, name: str, data: bytes, count: int, where: str) -> list[bytes]:
        codec, rows, pos = self._codecs[name], [], 0
        try:
            while pos < len(data):
                _, end = codec.read(data, pos)
                rows.append(data[pos:end])
                pos = end
        except ValueError as e:
            raise CorruptDataError(where, f"rows of table {name!r} do not decode: {e}") from None
        if len(rows) != count:
            raise CorruptDataError(where, f"{len(rows)} rows of table {name!r}, expected {count}")
        return rows

    def table(self, changes: TableChanges, where: str, *, bulk: bool) -> None:
        """Apply one table's rows as bytes (see :class:`RowSink`)."""
        name = changes.name
        rows = self._rows.get(name)
        if rows is None:
            raise CorruptDataError(where, f"rows of table {name!r}, which its schema does not have")
        for row in self._split(name, changes.deletes, changes.delete_count, where):
            if row not in rows:
                raise CorruptDataError(
                    where, f"the log deletes a row of {name!r} that is not there"
                )
            del rows[row]
        for row in self._split(name, changes.inserts, changes.insert_count, where):
            rows[row] = None

    def row_count(self, table: str) -> int:
        """How many rows ``table`` holds."""
        return len(self._rows.get(table, ()))

    def rows(self, table: str) -> Iterable[bytes]:
        """The rows of ``table``, oldest first, as stored."""
        return iter(self._rows.get(table, {}))


def migrate(stored: StoredTables, module: Module, datastore: Datastore, name: str) -> MigrationPlan:
    """Load ``stored`` into ``datastore`` (empty) for ``module``, by upstream's migration rules.

    Raises :class:`SchemaChangedError` (naming ``serve --clear``) when the rules refuse the
    change or the data.
    """
    current = ModuleSchema.from_json(module.describe_v10())
    try:
        plan = plan_migration(stored.schema, current)
        check_data(plan, stored)
    except IncompatibleMigration as e:  # upstream's texts, on one line (the CLI's error line)
        reasons = "; ".join(" ".join(r.split()) for r in e.reasons)
        raise SchemaChangedError(
            f"database {name!r}: the module changed since its data was written, and the change "
            f"cannot keep the data (Database update rejected: {reasons}). "
            f"Change the module back, or {CLEAR_HINT}"
        ) from None
    except MigrationFailed as e:
        raise SchemaChangedError(
            f"database {name!r}: the module changed since its data was written, and its data "
            f"cannot follow (Failed to create or update the database: {' '.join(str(e).split())})."
            f" Change the module back, or {CLEAR_HINT}"
        ) from None
    for table in plan.kept_tables:
        if table not in {t.name for t in module.table_schemas()}:
            continue
        codec = module.row_codec(table)
        try:
            rows = [codec.decode(convert_row(plan, table, row)) for row in stored.rows(table)]
        except (ValueError, TypeError) as e:
            raise CorruptDataError(
                table, f"a stored row does not convert to the new module: {e}"
            ) from None
        datastore.store(table).load(rows)
    return plan


__all__ = [
    "ModuleRows",
    "RowSink",
    "StoredTables",
    "migrate",
    "schema_hash",
    "schema_json",
]
