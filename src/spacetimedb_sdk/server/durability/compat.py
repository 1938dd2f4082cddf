"""Reading stored rows with the module being served: same schema, or a schema that changed since.

Every snapshot carries the module schema its rows were written with (the ``RawModuleDefV10``
JSON, :func:`schema_json`).  When the module served now stores its tables the same way (same
tables, columns, column types, keys and sequences: index and access changes do not matter to
stored rows), rows decode straight into the module's classes.  Otherwise the change is refused
with :class:`~.errors.SchemaChangedError`, which names ``serve --clear``.

:class:`RowReader` is where a permitted change would convert rows: a BSATN row of the old type
followed by the BSATN of default values is a row of a type with those columns appended, so
stored bytes plus a per-table suffix decode as the new rows.

Example::

    plan = LoadPlan.between(ModuleSchema.from_json(stored_json), module)
    rows = plan.reader("user").rows(data, count)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...sats import bsatn
from ...sats.types import AlgebraicType, RefType, Typespace
from ...schema import ModuleSchema
from ...schema import TableSchema as StoredTable
from ..module import Module
from .errors import CLEAR_HINT, CorruptDataError, SchemaChangedError


def schema_json(module: Module) -> bytes:
    """The module's schema as stored beside its rows (canonical JSON of ``describe_v10``)."""
    return json.dumps(module.describe_v10(), sort_keys=True, separators=(",", ":")).encode()


def schema_hash(schema: bytes) -> bytes:
    """The 8-byte fingerprint of a stored schema that each log segment carries."""
    return hashlib.blake2b(schema, digest_size=8).digest()


def _storage_shape(table: StoredTable, typespace: Typespace) -> tuple[Any, ...]:
    """What decides how a table's rows are stored and which rows are valid."""
    return (
        tuple((c.name, typespace.inline(c.algebraic_type)) for c in table.columns),
        table.primary_key,
        tuple(sorted(c.columns for c in table.constraints)),
        tuple(sorted((s.column, s.start, s.increment) for s in table.sequences)),
        table.is_event,
    )


def _difference(old: ModuleSchema, new: ModuleSchema) -> str | None:
    """How the stored tables differ from the new module's, or ``None`` if they do not."""
    old_tables = {t.name: t for t in old.tables}
    new_tables = {t.name: t for t in new.tables}
    added = sorted(set(new_tables) - set(old_tables))
    removed = sorted(set(old_tables) - set(new_tables))
    if removed:
        return f"table(s) {', '.join(map(repr, removed))} are gone from the module"
    if added:
        return f"table(s) {', '.join(map(repr, added))} are new in the module"
    for name, table in new_tables.items():
        before = _storage_shape(old_tables[name], old.typespace)
        after = _storage_shape(table, new.typespace)
        if before != after:
            parts = ("columns", "primary key", "unique constraints", "sequences", "event flag")
            what = next(p for p, b, a in zip(parts, before, after, strict=True) if b != a)
            return f"the {what} of table {name!r} changed"
    return None


class RowReader:
    """Turns one stored table's row bytes into rows of the module served now.

    ``suffix`` (the BSATN of appended columns' defaults) is added to every row when the stored
    rows lack those columns; then the stored type's codec finds where each row ends.
    """

    def __init__(
        self, name: str, codec: bsatn.Codec, stored: bsatn.Codec | None = None, suffix: bytes = b""
    ) -> None:
        self.name = name
        self._codec = codec
        self._stored = stored
        self._suffix = suffix

    def rows(self, data: bytes, count: int, where: str) -> list[Any]:
        """The ``count`` rows in ``data``; :class:`CorruptDataError` naming ``where`` if they do
        not decode."""
        try:
            if self._stored is None:
                rows = self._codec.decode_rows(data)
            else:
                rows, pos = [], 0
                while pos < len(data):
                    _, end = self._stored.read(data, pos)
                    rows.append(self._codec.decode(data[pos:end] + self._suffix))
                    pos = end
        except (ValueError, TypeError) as e:
            raise CorruptDataError(
                where, f"rows of table {self.name!r} do not decode: {e}"
            ) from None
        if len(rows) != count:
            raise CorruptDataError(
                where, f"{len(rows)} rows of table {self.name!r}, expected {count}"
            )
        return rows


@dataclass
class LoadPlan:
    """How to read the stored rows of each table with the module served now.

    ``changed`` says whether the stored schema differs (then a snapshot in the new schema is
    written right after loading, so the old one is never read again).
    """

    readers: Mapping[str, RowReader]
    changed: bool

    def reader(self, table: str) -> RowReader | None:
        """The reader of a stored table, ``None`` for a table the module no longer stores."""
        return self.readers.get(table)

    @staticmethod
    def for_module(module: Module) -> LoadPlan:
        """Rows written by this very module."""
        readers = {
            t.name: RowReader(t.name, module.row_codec(t.name)) for t in module.table_schemas()
        }
        return LoadPlan(readers, False)

    @staticmethod
    def between(stored: ModuleSchema, module: Module) -> LoadPlan:
        """Rows written under ``stored`` read by ``module``, or :class:`SchemaChangedError`."""
        current = ModuleSchema.from_json(module.describe_v10())
        problem = _difference(stored, current)
        if problem is not None:
            raise SchemaChangedError(
                f"the module's tables changed since its data was written ({problem}), and the "
                f"stored data cannot follow that change; {CLEAR_HINT}"
            )
        return LoadPlan.for_module(module)


def stored_codec(schema: ModuleSchema, table: str) -> bsatn.Codec:
    """The generic codec of a stored table's rows (the stored schema's types, no classes)."""
    ref = schema.table(table).product_type_ref
    ty: AlgebraicType = RefType(ref)
    return bsatn.codec_for(ty, schema.typespace)


__all__ = ["LoadPlan", "RowReader", "schema_hash", "schema_json", "stored_codec"]
