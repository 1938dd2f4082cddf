"""A migration plan as text: what upstream's pre-publish check shows the publisher.

:func:`format_plan` renders a :class:`~.plan.MigrationPlan` as upstream's migration formatter
does (``crates/schema/src/auto_migrate/{formatter,termcolor_formatter}.rs``): a header, then
one block per step (``▸ Created user table: score (public)``, ``▸ Changed columns for table
player``, the red ``!!! Warning: All clients will be disconnected…`` line), either plain or
with the same ANSI colours.  Re-evaluated views print nothing; row-level security filters print
only when added or removed.

Example::

    print(format_plan(plan, color=False))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...sats import bsatn
from ...sats.types import AlgebraicType
from ...schema import ModuleSchema, TableSchema, ViewSchema
from .plan import MigrationPlan, MigrationStep, StepKind
from .types import inline, type_text

_RULE = "━" * 60
_ESC = "\x1b["
_GREEN, _RED, _YELLOW, _BLUE, _MAGENTA, _CYAN = 32, 31, 33, 34, 35, 36
_ACTIONS = {"Created": _GREEN, "Removed": _RED, "Changed": _YELLOW}
_WARNING = "!!! Warning: All clients will be disconnected due to breaking schema changes"


class _Writer:
    """Text with indentation and (optionally) termcolor's ANSI sequences."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.out: list[str] = []
        self.level = 0

    def paint(self, text: str, fg: int | None = None, *, bold: bool = False, bg: int = 0) -> str:
        if not self.color:
            return text
        codes = f"{_ESC}0m" + (f"{_ESC}1m" if bold else "")
        codes += f"{_ESC}{fg}m" if fg is not None else ""
        codes += f"{_ESC}{bg + 10}m" if bg else ""
        return f"{codes}{text}{_ESC}0m"

    def line(self, text: str = "") -> None:
        self.out.append("    " * self.level + text + "\n")

    def action(self, action: str, rest: str) -> None:
        self.line(f"▸ {self.paint(action, _ACTIONS[action], bold=True)}{rest}")

    def table(self, name: str) -> str:
        return self.paint(name, _CYAN, bold=True)

    def type(self, ty: AlgebraicType) -> str:
        return self.paint(type_text(ty), _MAGENTA)

    def section(self, title: str, items: list[str]) -> None:
        if not items:
            return
        self.line(self.paint(title, _BLUE, bold=True))
        self.level += 1
        for item in items:
            self.line(f"• {item}")
        self.level -= 1


def format_plan(plan: MigrationPlan, *, color: bool = False) -> str:
    """The plan as upstream prints it (``color``: with ANSI colours, as upstream by default).

    Example::

        >>> print(format_plan(plan_migration(schema, schema)).splitlines()[1])  # doctest: +SKIP
        Database Migration Plan
    """
    w = _Writer(color)
    w.line(_RULE)
    w.line(w.paint("Database Migration Plan", _BLUE, bold=True))
    w.line(_RULE)
    w.line()
    for step in plan.steps:
        _FORMATTERS.get(step.kind, _nothing)(w, plan, step)
    return "".join(w.out)


def _nothing(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    pass


def _columns_named(table: TableSchema, columns: tuple[int, ...]) -> str:
    return ", ".join(table.columns[c].name for c in columns)


def _owner_of(schema: ModuleSchema, kind: str, name: str) -> TableSchema:
    for table in schema.tables:
        items = {
            "index": table.indexes,
            "constraint": table.constraints,
            "sequence": table.sequences,
        }[kind]
        if any(getattr(it, "name", None) == name for it in items):
            return table
    raise KeyError(name)


def _schedule_table(schema: ModuleSchema, name: str) -> TableSchema:
    return next(t for t in schema.tables if t.schedule is not None and t.schedule.name == name)


def _add_table(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    t = plan.new.table(step.name)
    access = w.paint(t.access.value.lower(), _GREEN)
    w.line(f"▸ {w.paint('Created', _GREEN, bold=True)} user table: {w.table(t.name)} ({access})")
    w.level += 1
    ts = plan.new.typespace
    w.section("Columns:", [f"{c.name}: {w.type(inline(ts, c.algebraic_type))}" for c in t.columns])
    w.section(
        "Unique constraints:",
        [f"{c.name} on [{_columns_named(t, c.columns)}]" for c in sorted(t.constraints, key=_name)],
    )
    w.section(
        "Indexes:",
        [f"{i.name} on [{_columns_named(t, i.columns)}]" for i in sorted(t.indexes, key=_name)],
    )
    w.section(
        "Auto-increment constraints:",
        [f"{s.name} on {t.columns[s.column].name}" for s in sorted(t.sequences, key=_name)],
    )
    if t.schedule is not None:
        kind = _function_kind(t.schedule.function_kind.value)
        w.section("Schedule:", [f"Calls {kind}: {t.schedule.function_name}"])
    w.level -= 1
    w.line()


def _name(item: object) -> str:
    return str(getattr(item, "name", ""))


def _function_kind(value: str) -> str:
    return "exported function" if value == "unknown" else value


def _remove_table(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    w.action("Removed", f" table: {w.table(step.name)}")
    w.line()


def _view(action: str, schema_of: Callable[[MigrationPlan], ModuleSchema]) -> _Formatter:
    def write(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
        schema = schema_of(plan)
        v: ViewSchema = schema.view(step.name)
        kind = " anonymous view: " if v.is_anonymous else " view: "
        # Upstream writes the arrow twice here; the plan text is reproduced as it is.
        w.line(f"▸ ▸ {w.paint(action, _ACTIONS[action], bold=True)}{kind}{w.table(v.name)}")
        w.level += 1
        ts = schema.typespace
        w.section(
            "Parameters:",
            [
                f"{e.name or i}: {w.type(inline(ts, e.algebraic_type))}"
                for i, e in enumerate(v.params.elements)
            ],
        )
        w.section(
            "Columns:", [f"{c.name}: {w.type(inline(ts, c.algebraic_type))}" for c in v.columns]
        )
        w.level -= 1
        w.line()

    return write


def _item(
    kind: str,
    action: str,
    schema_of: Callable[[MigrationPlan], ModuleSchema],
    text: Callable[[TableSchema, Any], str],
) -> _Formatter:
    """A step on an index, constraint or sequence: ``▸ Action <text> of table <t>``."""

    def write(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
        table = _owner_of(schema_of(plan), kind, step.name)
        items: tuple[Any, ...] = {"index": table.indexes, "constraint": table.constraints}.get(
            kind, table.sequences
        )
        item = next(it for it in items if it.name == step.name)
        w.action(action, f" {text(table, item)} of table {w.table(table.name)}")

    return write


def _index(action: str, schema_of: Callable[[MigrationPlan], ModuleSchema]) -> _Formatter:
    return _item(
        "index",
        action,
        schema_of,
        lambda t, ix: f"index {ix.name} on [{_columns_named(t, ix.columns)}]",
    )


def _constraint(action: str, schema_of: Callable[[MigrationPlan], ModuleSchema]) -> _Formatter:
    return _item(
        "constraint",
        action,
        schema_of,
        lambda t, c: f"unique constraint {c.name} on [{_columns_named(t, c.columns)}]",
    )


def _sequence(action: str, schema_of: Callable[[MigrationPlan], ModuleSchema]) -> _Formatter:
    return _item(
        "sequence",
        action,
        schema_of,
        lambda t, s: f"auto-increment constraint {s.name} on column {t.columns[s.column].name}",
    )


def _schedule(action: str, schema_of: Callable[[MigrationPlan], ModuleSchema]) -> _Formatter:
    def write(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
        table = _schedule_table(schema_of(plan), step.name)
        assert table.schedule is not None
        kind = _function_kind(table.schedule.function_kind.value)
        w.action(
            action,
            f" schedule for table {w.table(table.name)} calling {kind} "
            f"{table.schedule.function_name}",
        )

    return write


def _rls(action: str) -> _Formatter:
    def write(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
        if (step.name in plan.old.row_level_security) == (step.name in plan.new.row_level_security):
            return  # unchanged filters are removed and re-added silently
        w.action(action, " row level security policy:")
        w.level += 1
        w.line(f"`{w.paint(step.name, _BLUE)}`")
        w.level -= 1

    return write


def _change_access(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    names = {t.name: t.is_public for t in plan.new.tables}
    names.update({v.name: v.is_public for v in plan.new.views})
    direction = "private → public" if names[step.name] else "public → private"
    w.action("Changed", f" access for table {w.table(step.name)} ({w.paint(direction, _GREEN)})")


def _change_primary_key(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    old, new = plan.old.table(step.name).primary_key, plan.new.table(step.name).primary_key
    if old and not new:
        what = "removed"
    elif new and not old:
        what = f"added on column {new[0]}"
    elif new:
        what = f"changed to column {new[0]}"
    else:
        return
    w.action("Changed", f" primary key on table {w.table(step.name)} ({what})")


def _change_columns(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    old, new = plan.old.table(step.name), plan.new.table(step.name)
    w.action("Changed", f" columns for table {w.table(step.name)}")
    w.level += 1
    by_id = {c.col_id: c for c in old.columns}
    for col in new.columns:
        before = by_id.get(col.col_id)
        if before is None:
            continue
        if before.name != col.name:
            w.line(f"~ Renamed: {before.name} → {col.name}")
        if before.algebraic_type != col.algebraic_type:
            old_ty = w.type(inline(plan.old.typespace, before.algebraic_type))
            new_ty = w.type(inline(plan.new.typespace, col.algebraic_type))
            w.line(f"~ Modified: {col.name} ({old_ty} → {new_ty})")
    w.level -= 1


def _add_columns(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    old, new = plan.old.table(step.name), plan.new.table(step.name)
    known = {c.col_id for c in old.columns}
    added = [c for c in new.columns if c.col_id not in known]
    plural = "s" if len(added) > 1 else ""
    w.action("Created", f" column{plural} in table {w.table(step.name)}")
    w.level += 1
    for col in added:
        ty = inline(plan.new.typespace, col.algebraic_type)
        default = ""
        if col.default_value is not None:
            try:
                default = f" (default: {bsatn.decode(ty, col.default_value)!r})"
            except ValueError:
                default = f" (default: 0x{col.default_value.hex()})"
        w.line(f"+ {col.name}: {w.type(ty)}{default}")
    w.level -= 1


def _accessor(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    w.action("Changed", f" table accessor name for {w.table(step.name)}")


def _column_accessor(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    column = w.paint(step.column, _MAGENTA, bold=True)
    w.action("Changed", f" column accessor name for {w.table(step.name)}.{column}")


def _disconnect(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    w.line(w.paint(_WARNING, bold=True, bg=_RED))


def _event_table(w: _Writer, plan: MigrationPlan, step: MigrationStep) -> None:
    w.action("Changed", f" schema of event table {w.table(step.name)}")


def _new(plan: MigrationPlan) -> ModuleSchema:
    return plan.new


def _old(plan: MigrationPlan) -> ModuleSchema:
    return plan.old


_Formatter = Callable[[_Writer, MigrationPlan, MigrationStep], None]

_FORMATTERS: dict[StepKind, _Formatter] = {
    StepKind.ADD_VIEW: _view("Created", _new),
    StepKind.REMOVE_VIEW: _view("Removed", _old),
    StepKind.REMOVE_TABLE: _remove_table,
    StepKind.ADD_TABLE: _add_table,
    StepKind.ADD_INDEX: _index("Created", _new),
    StepKind.REMOVE_INDEX: _index("Removed", _old),
    StepKind.CHANGE_INDEX_SOURCE_NAME: _index("Changed", _new),
    StepKind.CHANGE_TABLE_ACCESSOR_NAME: _accessor,
    StepKind.CHANGE_COLUMN_ACCESSOR_NAME: _column_accessor,
    StepKind.REMOVE_CONSTRAINT: _constraint("Removed", _old),
    StepKind.ADD_CONSTRAINT: _constraint("Created", _new),
    StepKind.ADD_SEQUENCE: _sequence("Created", _new),
    StepKind.REMOVE_SEQUENCE: _sequence("Removed", _old),
    StepKind.CHANGE_ACCESS: _change_access,
    StepKind.CHANGE_PRIMARY_KEY: _change_primary_key,
    StepKind.ADD_SCHEDULE: _schedule("Created", _new),
    StepKind.REMOVE_SCHEDULE: _schedule("Removed", _old),
    StepKind.ADD_ROW_LEVEL_SECURITY: _rls("Created"),
    StepKind.REMOVE_ROW_LEVEL_SECURITY: _rls("Removed"),
    StepKind.CHANGE_COLUMNS: _change_columns,
    StepKind.ADD_COLUMNS: _add_columns,
    StepKind.DISCONNECT_ALL_USERS: _disconnect,
    StepKind.RESCHEMA_EVENT_TABLE: _event_table,
}
