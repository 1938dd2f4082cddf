"""Replacing a database's module while keeping its data: upstream's migration rules, pure.

Given the schema a database runs and the schema of a new module (both
:class:`~spacetimedb_sdk.schema.ModuleSchema`, e.g. ``ModuleSchema.from_json(module.describe_v10())``),
this package decides, as upstream's ``auto_migrate`` does, whether the data can be kept:

* :func:`plan_migration` (old, new) → a :class:`MigrationPlan` (``steps`` in upstream's order,
  ``breaks_clients`` when every client must be disconnected), or :class:`IncompatibleMigration`
  whose ``str()`` is upstream's error text (``Errors occurred:\\n…``), to be prefixed with
  ``Database update rejected: `` as upstream's publish route does;
* :func:`check_data` (plan, stored rows) → ``None``, or :class:`MigrationFailed` with upstream's
  reason for data the plan cannot keep (a removed table with rows, duplicates under an added
  unique constraint, a stored value in an added sequence's range, a changed schedule), to be
  prefixed with ``Failed to create or update the database: ``;
* :func:`convert_row` (plan, table, old BSATN row) → the row as the new module stores it;
* :func:`format_plan` (plan, color=…) → the plan as upstream's pre-publish check prints it.

Nothing here touches a database: the host (hot-swapping a running module) and a server
restoring stored data with a changed module both apply the plan themselves.

Example::

    plan = plan_migration(old_schema, new_schema)      # IncompatibleMigration?
    check_data(plan, rows)                              # MigrationFailed?
    for table in plan.kept_tables:
        new_rows = [convert_row(plan, table, r) for r in rows.rows(table)]
"""

from .data import MigrationFailed, StoredRows, check_data, convert_row
from .plan import IncompatibleMigration, MigrationPlan, MigrationStep, StepKind, plan_migration
from .text import format_plan

__all__ = [
    "IncompatibleMigration",
    "MigrationFailed",
    "MigrationPlan",
    "MigrationStep",
    "StepKind",
    "StoredRows",
    "check_data",
    "convert_row",
    "format_plan",
    "plan_migration",
]
