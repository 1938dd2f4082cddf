"""Module schemas: ``RawModuleDef`` v9/v10 (JSON or BSATN) → normalized :class:`ModuleSchema`.

Example::

    >>> from spacetimedb_sdk.schema import ModuleSchema
    >>> schema = ModuleSchema.from_json(open("schema.json").read())  # doctest: +SKIP
    >>> schema.table("user").primary_key_column.name  # doctest: +SKIP
    'identity'
"""

from .entities import (
    ColumnSchema,
    ConstraintSchema,
    FunctionKind,
    IndexAlgorithm,
    IndexSchema,
    Lifecycle,
    ProcedureSchema,
    ReducerSchema,
    ScheduleSchema,
    ScopedName,
    SequenceSchema,
    TableAccess,
    TableSchema,
    TableType,
    TypeDefSchema,
    ViewSchema,
    Visibility,
)
from .model import ModuleSchema
from .names import CaseConversionPolicy
from .raw import RawModuleDef

__all__ = [
    "CaseConversionPolicy",
    "ColumnSchema",
    "ConstraintSchema",
    "FunctionKind",
    "IndexAlgorithm",
    "IndexSchema",
    "Lifecycle",
    "ModuleSchema",
    "ProcedureSchema",
    "RawModuleDef",
    "ReducerSchema",
    "ScheduleSchema",
    "ScopedName",
    "SequenceSchema",
    "TableAccess",
    "TableSchema",
    "TableType",
    "TypeDefSchema",
    "ViewSchema",
    "Visibility",
]
