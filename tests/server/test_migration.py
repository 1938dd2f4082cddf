"""The migration rules (server.migration): upstream's auto-migrate plans, errors and data checks.

Expected texts are upstream's (``crates/schema/src/auto_migrate.rs``'s ``AutoMigrateError``
messages, ``crates/core/src/db/update.rs``'s execution errors).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk.sats import U32, U64, AlgebraicType, bsatn
from spacetimedb_sdk.sats.types import ProductType, SumType
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server import Module, column, sum_type
from spacetimedb_sdk.server.migration import (
    IncompatibleMigration,
    MigrationFailed,
    StepKind,
    check_data,
    convert_row,
    format_plan,
    plan_migration,
)
from spacetimedb_sdk.server.migration.types import layout, type_text, upgrade


class Two(enum.Enum):
    A = 0
    B = 1


class Three(enum.Enum):
    A = 0
    B = 1
    C = 2


class Renamed(enum.Enum):
    A = 0
    X = 1


@sum_type
class Small:
    Byte: int  # I64 payload
    Empty: None


@sum_type
class Bigger:
    Byte: int
    Empty: None
    Text: str


@dataclasses.dataclass(frozen=True)
class Pair:
    a: int
    b: int


@sum_type
class Wider:
    Byte: int
    Empty: None
    Pair: Pair


Build = Callable[[Module], None]


def schema(build: Build) -> ModuleSchema:
    m = Module("migrating")
    build(m)
    return ModuleSchema.from_json(m.describe_v10())


def base(m: Module) -> None:
    @m.table(public=True)
    class Player:
        id: U64 = column(primary_key=True)
        name: str
        level: U32


def kinds(plan_steps: Iterable[object]) -> list[tuple[StepKind, str]]:
    return [(s.kind, s.name) for s in plan_steps]  # type: ignore[attr-defined]


class Rows:
    """Stored rows as BSATN per table (the StoredRows protocol)."""

    def __init__(self, schema: ModuleSchema, tables: dict[str, list[dict[str, object]]]) -> None:
        self.data = {
            name: [bsatn.encode(schema.table(name).row_type, r, schema.typespace) for r in rows]
            for name, rows in tables.items()
        }

    def row_count(self, table: str) -> int:
        return len(self.data.get(table, []))

    def rows(self, table: str) -> Iterable[bytes]:
        return iter(self.data.get(table, []))


def refused(old: Build, new: Build) -> list[str]:
    with pytest.raises(IncompatibleMigration) as e:
        plan_migration(schema(old), schema(new))
    assert str(e.value) == "Errors occurred:\n" + "".join(f"{r}\n\n" for r in e.value.reasons)
    return list(e.value.reasons)


def test_the_same_schema_needs_nothing() -> None:
    s = schema(base)
    plan = plan_migration(s, s)
    assert plan.steps == () and not plan.breaks_clients
    assert plan.kept_tables == ("player",)
    assert format_plan(plan) == f"{'━' * 60}\nDatabase Migration Plan\n{'━' * 60}\n\n"


def test_adding_a_table_keeps_clients() -> None:
    def new(m: Module) -> None:
        base(m)

        @m.table(indexes=[])
        class Score:
            id: U64 = column(primary_key=True, auto_inc=True)
            points: U32 = column(index="btree")

    plan = plan_migration(schema(base), schema(new))
    assert kinds(plan.steps) == [(StepKind.ADD_TABLE, "score")]
    assert not plan.breaks_clients and plan.added_tables == {"score"}
    text = format_plan(plan)
    assert "▸ Created user table: score (private)\n" in text
    assert "        • points: U32\n" in text
    assert "        • score_points_idx_btree on [points]\n" in text
    assert "        • score_id_seq on id\n" in text


def test_removing_a_table_disconnects_and_needs_it_empty() -> None:
    def new(m: Module) -> None:
        pass

    old_schema = schema(base)
    plan = plan_migration(old_schema, schema(new))
    assert kinds(plan.steps) == [
        (StepKind.REMOVE_TABLE, "player"),
        (StepKind.DISCONNECT_ALL_USERS, ""),
    ]
    assert plan.breaks_clients
    assert format_plan(plan).endswith(
        "▸ Removed table: player\n\n"
        "!!! Warning: All clients will be disconnected due to breaking schema changes\n"
    )
    check_data(plan, Rows(old_schema, {"player": []}))
    rows = Rows(old_schema, {"player": [{"id": 1, "name": "a", "level": 2}]})
    with pytest.raises(MigrationFailed) as e:
        check_data(plan, rows)
    assert str(e.value) == (
        "Cannot remove table `player`: table contains data. Clear the table's rows "
        "(e.g. via a reducer) before removing it from your schema."
    )


def test_a_new_column_needs_a_default() -> None:
    def no_default(m: Module) -> None:
        @m.table(public=True)
        class Player:
            id: U64 = column(primary_key=True)
            name: str
            level: U32
            rank: U32

    assert refused(base, no_default) == [
        "Adding a column rank to table player requires a default value annotation"
    ]


def test_a_new_column_with_a_default_rewrites_rows_and_disconnects() -> None:
    def with_default(m: Module) -> None:
        @m.table(public=True)
        class Player:
            id: U64 = column(primary_key=True)
            name: str
            level: U32
            rank: U32 = column(default=7)

    old_schema, new_schema = schema(base), schema(with_default)
    plan = plan_migration(old_schema, new_schema)
    assert kinds(plan.steps) == [
        (StepKind.ADD_COLUMNS, "player"),
        (StepKind.DISCONNECT_ALL_USERS, ""),
    ]
    assert "▸ Created column in table player\n    + rank: U32 (default: 7)\n" in format_plan(plan)
    row = bsatn.encode(
        old_schema.table("player").row_type,
        {"id": 1, "name": "a", "level": 2},
        old_schema.typespace,
    )
    converted = convert_row(plan, "player", row)
    assert bsatn.decode(new_schema.table("player").row_type, converted, new_schema.typespace) == {
        "id": 1,
        "name": "a",
        "level": 2,
        "rank": 7,
    }


def test_removing_reordering_and_retyping_columns_are_refused_with_every_reason() -> None:
    def changed(m: Module) -> None:
        @m.table(public=True)
        class Player:
            id: U64 = column(primary_key=True)
            level: U64
            name: str

    assert refused(base, changed) == [
        "Reordering table player requires a manual migration",
        "Changing the type of column level in table player from U32 to U64 requires a manual "
        "migration",
        "Reordering table player requires a manual migration",
    ]

    def fewer(m: Module) -> None:
        @m.table(public=True)
        class Player:
            id: U64 = column(primary_key=True)
            name: str

    assert refused(base, fewer) == [
        "Removing a column level from table player requires a manual migration"
    ]


def _with(ty: object) -> Build:
    def build(m: Module) -> None:
        m.table(public=True)(
            type(
                "Thing",
                (),
                {"__annotations__": {"id": "U64", "v": ty}, "id": column(primary_key=True)},
            )
        )

    return build


def test_an_enum_may_gain_variants_at_the_end() -> None:
    plan = plan_migration(schema(_with(Two)), schema(_with(Three)))
    assert kinds(plan.steps) == [(StepKind.CHANGE_COLUMNS, "thing")]
    assert not plan.breaks_clients
    assert "▸ Changed columns for table thing\n" in format_plan(plan)
    assert refused(_with(Three), _with(Two)) == [
        "Changing the type of column v in table thing from (a: () | b: () | c: ()) to "
        "(a: () | b: ()), with fewer variants, requires a manual migration"
    ]
    assert refused(_with(Two), _with(Renamed)) == [
        "Changing the type of column v in table thing from (a: () | b: ()) to "
        "(a: () | x: ()), with a renamed variant, requires a manual migration"
    ]


def test_a_sum_whose_layout_grows_is_refused() -> None:
    # Adding a string variant keeps the layout (a var-len reference fits in 8 bytes) ...
    assert kinds(plan_migration(schema(_with(Small)), schema(_with(Bigger))).steps) == [
        (StepKind.CHANGE_COLUMNS, "thing")
    ]
    # ... adding a pair of I64 doubles the payload.
    assert refused(_with(Small), _with(Wider)) == [
        "Changing the type of column v in table thing from (byte: I64 | empty: ()) to "
        "(byte: I64 | empty: () | pair: (a: I64, b: I64)), requires a manual migration, "
        "due to size mismatch"
    ]


def test_indexes_constraints_and_sequences() -> None:
    def indexed(m: Module) -> None:
        @m.table(public=True)
        class Player:
            id: U64 = column(primary_key=True)
            name: str = column(unique=True)
            level: U32 = column(index="btree")

    old_schema, new_schema = schema(base), schema(indexed)
    plan = plan_migration(old_schema, new_schema)
    assert kinds(plan.steps) == [
        (StepKind.ADD_INDEX, "player_level_idx_btree"),
        (StepKind.ADD_INDEX, "player_name_idx_btree"),
        (StepKind.ADD_CONSTRAINT, "player_name_key"),
    ]
    text = format_plan(plan)
    assert "▸ Created index player_level_idx_btree on [level] of table player\n" in text
    assert "▸ Created unique constraint player_name_key on [name] of table player\n" in text
    unique = Rows(old_schema, {"player": [{"id": 1, "name": "a", "level": 1}]})
    check_data(plan, unique)
    twice = Rows(
        old_schema,
        {"player": [{"id": i, "name": "same", "level": 1} for i in (1, 2, 3)]},
    )
    with pytest.raises(MigrationFailed) as e:
        check_data(plan, twice)
    assert str(e.value).startswith("Cannot add unique constraint on table player column(s) [1]")
    assert "1 duplicate group(s) found.\n  - 'same' appears 3 times" in str(e.value)
    # Taking them away again is always possible.
    back = plan_migration(new_schema, old_schema)
    assert {k for k, _ in kinds(back.steps)} == {StepKind.REMOVE_INDEX, StepKind.REMOVE_CONSTRAINT}


def test_an_added_sequence_must_not_meet_stored_values() -> None:
    def auto(m: Module) -> None:
        @m.table(public=True)
        class Player:
            id: U64 = column(primary_key=True, auto_inc=True)
            name: str
            level: U32

    old_schema = schema(base)
    plan = plan_migration(old_schema, schema(auto))
    assert plan.prechecks == ("player_id_seq",)
    assert kinds(plan.steps) == [(StepKind.ADD_SEQUENCE, "player_id_seq")]
    check_data(plan, Rows(old_schema, {"player": [{"id": 0, "name": "a", "level": 1}]}))
    with pytest.raises(MigrationFailed, match=r"^Precheck failed: added sequence player_id_seq "):
        check_data(plan, Rows(old_schema, {"player": [{"id": 5, "name": "a", "level": 1}]}))


def test_access_and_row_level_security() -> None:
    def private(m: Module) -> None:
        @m.table()
        class Player:
            id: U64 = column(primary_key=True)
            name: str
            level: U32

    plan = plan_migration(schema(base), schema(private))
    assert kinds(plan.steps) == [(StepKind.CHANGE_ACCESS, "player")]
    assert "▸ Changed access for table player (public → private)\n" in format_plan(plan)

    def filtered(m: Module) -> None:
        base(m)
        m.client_visibility_filter("SELECT * FROM player WHERE level > 1")

    plan = plan_migration(schema(base), schema(filtered))
    assert plan.breaks_clients
    assert "▸ Created row level security policy:\n    `SELECT * FROM player WHERE level > 1`\n" in (
        format_plan(plan)
    )
    # An unchanged filter is removed and re-added without disconnecting anyone.
    same = plan_migration(schema(filtered), schema(filtered))
    assert not same.breaks_clients
    assert "row level security" not in format_plan(same)


def test_plans_can_be_coloured_as_upstream_does() -> None:
    def new(m: Module) -> None:
        pass

    coloured = format_plan(plan_migration(schema(base), schema(new)), color=True)
    assert "\x1b[0m\x1b[1m\x1b[31mRemoved\x1b[0m table: \x1b[0m\x1b[1m\x1b[36mplayer\x1b[0m" in (
        coloured
    )
    assert "\x1b[0m\x1b[1m\x1b[41m!!! Warning" in coloured


# ---- the type rules, as properties ------------------------------------------------------------

_PRIMITIVES = [AlgebraicType.U8, AlgebraicType.I32, AlgebraicType.U64, AlgebraicType.STRING]


def _types() -> st.SearchStrategy[AlgebraicType]:
    leaves = st.sampled_from(_PRIMITIVES)

    def extend(children: st.SearchStrategy[AlgebraicType]) -> st.SearchStrategy[AlgebraicType]:
        named = st.lists(
            st.tuples(st.sampled_from("abcde"), children), max_size=4, unique_by=lambda p: p[0]
        )
        return st.one_of(
            children.map(AlgebraicType.array),
            named.map(AlgebraicType.product),
            named.map(AlgebraicType.sum),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@given(_types())
def test_a_type_is_its_own_upgrade(ty: AlgebraicType) -> None:
    assert upgrade("t", "c", ty, ty) == (False, [])
    size, align = layout(ty)
    assert size % align == 0 or isinstance(ty, SumType)
    assert type_text(ty)


@given(st.lists(st.sampled_from(_PRIMITIVES), min_size=1, max_size=6), st.sampled_from(_PRIMITIVES))
def test_appending_a_variant_is_allowed_exactly_when_the_layout_holds(
    payloads: list[AlgebraicType], extra: AlgebraicType
) -> None:
    old = AlgebraicType.sum([(f"v{i}", t) for i, t in enumerate(payloads)])
    new = SumType((*old.variants, *AlgebraicType.sum([("extra", extra)]).variants))
    changed, errors = upgrade("t", "c", old, new)
    assert changed
    assert (errors == []) == (layout(old) == layout(new))


@given(st.lists(st.sampled_from(_PRIMITIVES), min_size=1, max_size=5))
def test_a_product_may_not_lose_or_gain_fields(fields: list[AlgebraicType]) -> None:
    old = AlgebraicType.product([(f"f{i}", t) for i, t in enumerate(fields)])
    fewer = ProductType(old.elements[:-1])
    assert upgrade("t", "c", old, fewer)[1] and upgrade("t", "c", fewer, old)[1]
