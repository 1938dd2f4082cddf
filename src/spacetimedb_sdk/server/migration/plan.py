"""Planning a migration: upstream's automatic migration rules over two module schemas.

:func:`plan_migration` compares the schema a database runs with the schema of a new module,
as upstream's ``ponder_auto_migrate`` (``crates/schema/src/auto_migrate.rs``) does, and returns
the :class:`MigrationPlan` (the steps, sorted as upstream sorts them) or raises
:class:`IncompatibleMigration` listing every reason, with upstream's texts:

* tables are matched by canonical name.  A new table is created; a removed table is dropped
  (when it holds no rows, checked against the data) and disconnects every client;
* a kept table keeps its columns, in place: a column may not be removed or moved, a new column
  needs a default value (the table is rewritten and every client is disconnected), and a
  column's type may only change where the stored values keep their bytes (see
  :func:`.types.upgrade`).  Event tables hold no rows, so any change there only disconnects;
* changed access, primary key, accessor names and index source names are recorded; indexes,
  sequences and unique constraints are added and removed freely (a changed index is removed and
  re-added; a changed sequence is re-created after checking no stored value is in its range;
  a changed unique constraint is refused; an added one is checked against the data);
* a changed schedule is planned but fails when applied, as upstream has not implemented it;
* views carry no data: a view whose row or parameter types change is dropped and re-created,
  which disconnects every client; others are re-evaluated;
* any change to the row-level security filters disconnects every client.

A plan that disconnects every client :attr:`MigrationPlan.breaks_clients`.  Whether that is
allowed is the caller's policy (upstream's ``MigrationPolicy``), not the plan's.

Example::

    plan = plan_migration(old_schema, new_schema)
    if plan.breaks_clients:
        ...  # upstream asks the publisher to confirm first
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...errors import SpacetimeDBError
from ...sats.types import AlgebraicType
from ...schema import ModuleSchema, TableSchema, ViewSchema
from .types import inline, upgrade


class StepKind(enum.IntEnum):
    """The kinds of migration step, in the order upstream runs them (removals before additions).

    Example::

        >>> StepKind.REMOVE_INDEX < StepKind.ADD_INDEX
        True
    """

    REMOVE_INDEX = enum.auto()
    REMOVE_CONSTRAINT = enum.auto()
    REMOVE_SEQUENCE = enum.auto()
    REMOVE_SCHEDULE = enum.auto()
    REMOVE_VIEW = enum.auto()
    REMOVE_ROW_LEVEL_SECURITY = enum.auto()
    REMOVE_TABLE = enum.auto()
    CHANGE_COLUMNS = enum.auto()
    RESCHEMA_EVENT_TABLE = enum.auto()
    ADD_COLUMNS = enum.auto()
    CHANGE_INDEX_SOURCE_NAME = enum.auto()
    CHANGE_TABLE_ACCESSOR_NAME = enum.auto()
    CHANGE_COLUMN_ACCESSOR_NAME = enum.auto()
    ADD_TABLE = enum.auto()
    ADD_INDEX = enum.auto()
    ADD_CONSTRAINT = enum.auto()
    ADD_SEQUENCE = enum.auto()
    ADD_SCHEDULE = enum.auto()
    ADD_VIEW = enum.auto()
    ADD_ROW_LEVEL_SECURITY = enum.auto()
    CHANGE_ACCESS = enum.auto()
    CHANGE_PRIMARY_KEY = enum.auto()
    UPDATE_VIEW = enum.auto()
    DISCONNECT_ALL_USERS = enum.auto()


@dataclass(frozen=True, order=True)
class MigrationStep:
    """One step: its kind and what it acts on.

    ``name`` is the canonical name of the table, view, index, constraint, sequence or schedule
    (the SQL text for row-level security; empty for :attr:`StepKind.DISCONNECT_ALL_USERS`);
    ``column`` is the column of a :attr:`StepKind.CHANGE_COLUMN_ACCESSOR_NAME`.

    Example::

        >>> MigrationStep(StepKind.ADD_TABLE, "score")
        MigrationStep(kind=<StepKind.ADD_TABLE: 14>, name='score', column='')
    """

    kind: StepKind
    name: str = ""
    column: str = ""


class IncompatibleMigration(SpacetimeDBError):
    """The new module cannot replace the old one without a manual migration (or clearing).

    ``reasons`` are upstream's ``AutoMigrateError`` texts; ``str()`` is upstream's rendering
    of them (``Errors occurred:`` then one reason per paragraph), which upstream's publish
    route prefixes with ``Database update rejected: ``.

    Example::

        >>> str(IncompatibleMigration(["Reordering table t requires a manual migration"]))
        'Errors occurred:\\nReordering table t requires a manual migration\\n\\n'
    """

    def __init__(self, reasons: Iterable[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("Errors occurred:\n" + "".join(f"{reason}\n\n" for reason in self.reasons))


@dataclass(frozen=True)
class MigrationPlan:
    """How to turn a database running ``old`` into one running ``new`` (see the module docs).

    ``steps`` are sorted in the order they apply; ``prechecks`` name the sequences that must
    find no stored value in their range.  Applying a plan is the caller's work: it copies
    the rows of :attr:`kept_tables` (through :meth:`~.data.convert_row` when columns were
    added), starts :attr:`added_tables` empty and drops :attr:`removed_tables`, after
    :func:`~.data.check_data` has refused data the plan cannot keep.

    Example::

        >>> from spacetimedb_sdk.schema import ModuleSchema
        >>> from spacetimedb_sdk.server import Module
        >>> schema = ModuleSchema.from_json(Module("m").describe_v10())
        >>> plan = plan_migration(schema, schema)
        >>> plan.steps, plan.breaks_clients
        ((), False)
    """

    old: ModuleSchema
    new: ModuleSchema
    steps: tuple[MigrationStep, ...]
    prechecks: tuple[str, ...] = ()
    _tables: tuple[frozenset[str], frozenset[str]] = field(
        default=(frozenset(), frozenset()), repr=False, compare=False
    )

    @property
    def breaks_clients(self) -> bool:
        """Whether applying the plan disconnects every client (upstream: ``breaks_client``)."""
        return any(s.kind is StepKind.DISCONNECT_ALL_USERS for s in self.steps)

    @property
    def added_tables(self) -> frozenset[str]:
        """Tables of the new module that start empty."""
        return self._tables[0]

    @property
    def removed_tables(self) -> frozenset[str]:
        """Tables of the old module that are dropped (they must hold no rows)."""
        return self._tables[1]

    @property
    def kept_tables(self) -> tuple[str, ...]:
        """Tables in both modules (canonical names), whose rows are kept."""
        return tuple(t.name for t in self.new.tables if t.name not in self.added_tables)

    def has_step(self, kind: StepKind, name: str) -> bool:
        """Whether the plan has a ``kind`` step for ``name``.

        Example::

            plan.has_step(StepKind.ADD_COLUMNS, "player")
        """
        return any(s.kind is kind and s.name == name for s in self.steps)

    def recreated_sequences(self) -> frozenset[str]:
        """Sequences (by name) that start afresh: added, or changed and re-created."""
        return frozenset(s.name for s in self.steps if s.kind is StepKind.ADD_SEQUENCE)


def plan_migration(old: ModuleSchema, new: ModuleSchema) -> MigrationPlan:
    """Compare two module schemas; the plan, or :class:`IncompatibleMigration` with every reason.

    Example::

        plan = plan_migration(ModuleSchema.from_json(old.describe_v10()),
                              ModuleSchema.from_json(new.describe_v10()))
    """
    planner = _Planner(old, new)
    planner.run()
    if planner.errors:
        raise IncompatibleMigration(planner.errors)
    return MigrationPlan(
        old,
        new,
        tuple(sorted(set(planner.steps))),
        tuple(sorted(set(planner.prechecks))),
        (frozenset(planner.added_tables), frozenset(planner.removed_tables)),
    )


class _Planner:
    """One comparison: the steps, prechecks and errors it collects, in upstream's order."""

    def __init__(self, old: ModuleSchema, new: ModuleSchema) -> None:
        self.old = old
        self.new = new
        self.steps: list[MigrationStep] = []
        self.prechecks: list[str] = []
        self.errors: list[str] = []
        old_names = {t.name for t in old.tables}
        new_names = {t.name for t in new.tables}
        self.added_tables = new_names - old_names
        self.removed_tables = old_names - new_names

    def step(self, kind: StepKind, name: str = "", column: str = "") -> None:
        self.steps.append(MigrationStep(kind, name, column))

    def disconnect(self) -> None:
        self.step(StepKind.DISCONNECT_ALL_USERS)

    def run(self) -> None:
        # Upstream reports errors views first, then tables, indexes, sequences, constraints.
        self._views()
        self._tables()
        self._indexes()
        self._sequences()
        self._constraints()
        self._row_level_security()

    # -- views

    def _views(self) -> None:
        old = {v.name: v for v in self.old.views}
        new = {v.name: v for v in self.new.views}
        for name in old:
            if name not in new:
                self.step(StepKind.REMOVE_VIEW, name)
                self.disconnect()  # views hold no data, but their subscribers must go
        for name in new:
            if name not in old:
                self.step(StepKind.ADD_VIEW, name)
        for name, view in old.items():
            if name in new:
                self._view(view, new[name])

    def _view(self, old: ViewSchema, new: ViewSchema) -> None:
        def incompatible(
            old_cols: list[tuple[str, int, AlgebraicType]],
            new_cols: list[tuple[str, int, AlgebraicType]],
        ) -> bool:
            by_name = {c[0]: c for c in new_cols}
            for col_name, col_id, ty in old_cols:
                other = by_name.get(col_name)
                if other is None or other[1] != col_id:
                    return True
                changed, errors = upgrade(
                    old.name,
                    col_name,
                    inline(self.old.typespace, ty),
                    inline(self.new.typespace, other[2]),
                )
                if errors or changed:
                    return True
            return any(c[0] not in {o[0] for o in old_cols} for c in new_cols)

        def columns(v: ViewSchema) -> list[tuple[str, int, AlgebraicType]]:
            return [(c.name, c.col_id, c.algebraic_type) for c in v.columns]

        def params(v: ViewSchema) -> list[tuple[str, int, AlgebraicType]]:
            return [
                (e.name or str(i), i, e.algebraic_type) for i, e in enumerate(v.params.elements)
            ]

        if old.is_public != new.is_public:
            self.step(StepKind.CHANGE_ACCESS, old.name)
        if (
            old.is_anonymous != new.is_anonymous
            or old.primary_key != new.primary_key
            or incompatible(columns(old), columns(new))
            or incompatible(params(old), params(new))
        ):
            self.step(StepKind.ADD_VIEW, old.name)
            self.step(StepKind.REMOVE_VIEW, old.name)
            self.disconnect()
        else:
            self.step(StepKind.UPDATE_VIEW, old.name)

    # -- tables

    def _tables(self) -> None:
        for name in sorted(self.removed_tables):
            self.step(StepKind.REMOVE_TABLE, name)
            self.disconnect()
        for name in sorted(self.added_tables):
            self.step(StepKind.ADD_TABLE, name)
        new = {t.name: t for t in self.new.tables}
        for table in self.old.tables:
            if table.name in new:
                self._table(table, new[table.name])

    def _table(self, old: TableSchema, new: TableSchema) -> None:
        name = old.name
        if old.table_type != new.table_type:
            self.errors.append(
                f"Changing the table type of table {name} from {old.table_type.value} to "
                f"{new.table_type.value} requires a manual migration"
            )
        if old.is_event != new.is_event:
            self.errors.append(
                f"Changing the event flag of table {name} requires a manual migration"
            )
        is_event = old.is_event
        if old.access != new.access:
            self.step(StepKind.CHANGE_ACCESS, name)
        if old.primary_key != new.primary_key:
            self.step(StepKind.CHANGE_PRIMARY_KEY, name)
        if old.accessor_name != new.accessor_name:
            self.step(StepKind.CHANGE_TABLE_ACCESSOR_NAME, name)
        if old.schedule != new.schedule:
            if old.schedule is not None:
                self.step(StepKind.REMOVE_SCHEDULE, old.schedule.name)
            if new.schedule is not None:
                self.step(StepKind.ADD_SCHEDULE, new.schedule.name)

        row_type_changed = columns_added = event_schema_changed = False
        new_cols = {c.name: c for c in new.columns}
        old_cols = {c.name: c for c in old.columns}
        for col in old.columns:
            other = new_cols.get(col.name)
            if other is None:
                if is_event:
                    event_schema_changed = True
                else:
                    self.errors.append(
                        f"Removing a column {col.name} from table {name} requires a manual migration"
                    )
                continue
            changed, errors = upgrade(
                name,
                col.name,
                inline(self.old.typespace, col.algebraic_type),
                inline(self.new.typespace, other.algebraic_type),
            )
            if errors and is_event:
                changed, errors = True, []
            if col.col_id != other.col_id:
                if is_event:
                    changed = True
                else:
                    errors.append(f"Reordering table {name} requires a manual migration")
            if col.accessor_name != other.accessor_name:
                self.step(StepKind.CHANGE_COLUMN_ACCESSOR_NAME, name, col.name)
            self.errors += errors
            if not errors:
                if is_event:
                    event_schema_changed |= changed
                else:
                    row_type_changed |= changed
        for col in new.columns:
            if col.name in old_cols:
                continue
            if is_event:
                event_schema_changed = True
            elif col.default_value is not None:
                columns_added = True
            else:
                self.errors.append(
                    f"Adding a column {col.name} to table {name} requires a default value annotation"
                )
        if event_schema_changed:
            self.disconnect()
            self.step(StepKind.RESCHEMA_EVENT_TABLE, name)
        elif columns_added:
            self.disconnect()
            self.step(StepKind.ADD_COLUMNS, name)
        elif row_type_changed:
            self.step(StepKind.CHANGE_COLUMNS, name)

    # -- indexes, sequences, constraints (of tables in both modules)

    def _kept(self, schema: ModuleSchema) -> Iterable[TableSchema]:
        return (
            t
            for t in schema.tables
            if t.name not in self.added_tables and t.name not in self.removed_tables
        )

    def _indexes(self) -> None:
        old = {ix.name: ix for t in self._kept(self.old) for ix in t.indexes}
        new = {ix.name: ix for t in self._kept(self.new) for ix in t.indexes}
        for name in old:
            if name not in new:
                self.step(StepKind.REMOVE_INDEX, name)
        for name in new:
            if name not in old:
                self.step(StepKind.ADD_INDEX, name)
        for name, ix in old.items():
            other = new.get(name)
            if other is None:
                continue
            if ix.accessor_name != other.accessor_name:
                self.errors.append(
                    f"Changing the accessor name on index {name} from "
                    f"{_debug_option(ix.accessor_name)} to {_debug_option(other.accessor_name)} "
                    "requires a manual migration"
                )
            elif (ix.algorithm, ix.columns) != (other.algorithm, other.columns):
                self.step(StepKind.REMOVE_INDEX, name)
                self.step(StepKind.ADD_INDEX, name)
            elif ix.source_name != other.source_name:
                self.step(StepKind.CHANGE_INDEX_SOURCE_NAME, name)

    def _sequences(self) -> None:
        old = {s.name: s for t in self._kept(self.old) for s in t.sequences}
        new = {s.name: s for t in self._kept(self.new) for s in t.sequences}
        for name in old:
            if name not in new:
                self.step(StepKind.REMOVE_SEQUENCE, name)
        for name, seq in new.items():
            before = old.get(name)
            if before is None or before != seq:
                self.prechecks.append(name)
                if before is not None:
                    self.step(StepKind.REMOVE_SEQUENCE, name)
                self.step(StepKind.ADD_SEQUENCE, name)

    def _constraints(self) -> None:
        old = {c.name: c for t in self._kept(self.old) for c in t.constraints}
        new = {c.name: c for t in self._kept(self.new) for c in t.constraints}
        for name in new:
            if name not in old:
                self.step(StepKind.ADD_CONSTRAINT, name)
        for name in old:
            if name not in new:
                self.step(StepKind.REMOVE_CONSTRAINT, name)
        for name, constraint in new.items():
            before = old.get(name)
            if before is not None and before != constraint:
                self.errors.append(
                    f"Changing a unique constraint {name} requires a manual migration"
                )

    def _row_level_security(self) -> None:
        old, new = self.old.row_level_security, self.new.row_level_security
        for sql in old:
            self.step(StepKind.REMOVE_ROW_LEVEL_SECURITY, sql)
        for sql in new:
            self.step(StepKind.ADD_ROW_LEVEL_SECURITY, sql)
        if set(old) != set(new):  # a changed filter flushes every client's cache
            self.disconnect()


def _debug_option(value: str | None) -> str:
    """Rust's ``{:?}`` of an ``Option<Identifier>``: ``Some("x")`` or ``None``."""
    return "None" if value is None else f'Some("{value}")'
