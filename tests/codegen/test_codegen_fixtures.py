"""Generated bindings for every fixture schema: static checks, determinism, working codecs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from codegen_support import COMPAT_PACKAGE, ROOT, Generated
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.client.bindings import ModuleBindings
from spacetimedb_sdk.codegen import generate, render
from spacetimedb_sdk.codegen.runtime import TablesBase, TypedTableHandle, UniqueIndexAccessor
from spacetimedb_sdk.codegen.writer import HEADER_MARK
from spacetimedb_sdk.query import QueryBuilder, TableRef
from spacetimedb_sdk.sats import bsatn
from spacetimedb_sdk.sats.types import RefType
from strategies import values

BIN = Path(sys.executable).parent
PYPROJECT = ROOT / "pyproject.toml"


def test_mypy_strict_passes_on_all_bindings(generated: Generated) -> None:
    args = [str(BIN / "mypy"), "--strict", "--python-version", "3.10", "--no-incremental"]
    for package in generated.packages:
        args += ["-p", package]
    if importlib.util.find_spec("spacetimedb_sdk.compat") is not None:
        args += ["-p", COMPAT_PACKAGE]
    proc = subprocess.run(
        args, cwd=generated.root, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout


def test_ruff_check_passes_on_all_bindings(generated: Generated) -> None:
    proc = subprocess.run(
        [str(BIN / "ruff"), "check", "--config", str(PYPROJECT), "--no-cache", "."],
        cwd=generated.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_default_rules_pass_on_all_bindings(generated: Generated, tmp_path: Path) -> None:
    # Users lint generated code with their own configuration, often ruff's defaults (which
    # include RUF100, unused noqa): the bindings, 2.x and --compat-07, pass those too.
    for package, schema in generated.schemas.items():
        generate(schema, tmp_path / package, include_private=generated.include_private[package])
        generate(schema, tmp_path / (package + "_07"), compat_07=True)
    proc = subprocess.run(
        [str(BIN / "ruff"), "check", "--isolated", "--no-cache", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_file_carries_the_header(generated: Generated) -> None:
    for package in [*generated.packages, COMPAT_PACKAGE]:
        files = sorted((generated.root / package).iterdir())
        assert {f.name for f in files} >= {"__init__.py", "_types.py", "py.typed"}
        for f in files:
            first = f.read_text(encoding="utf-8").splitlines()[0]
            assert first.startswith(HEADER_MARK), f
            assert "spacetimedb-sdk" in first


def test_second_run_is_byte_identical(generated: Generated) -> None:
    for package, schema in generated.schemas.items():
        private = generated.include_private[package]
        again = render(schema, include_private=private)
        on_disk = {
            f.name: f.read_text(encoding="utf-8") for f in (generated.root / package).iterdir()
        }
        assert again == on_disk, package


def test_output_does_not_depend_on_input_order(generated: Generated) -> None:
    # Reversing tables, reducers and types in the schema changes nothing generated.
    schema = generated.schemas["bindings_sdk_test_ts"]
    import dataclasses

    shuffled = dataclasses.replace(
        schema,
        tables=tuple(reversed(schema.tables)),
        reducers=tuple(reversed(schema.reducers)),
        types=tuple(reversed(schema.types)),
    )
    a = render(schema)
    b = render(shuffled)
    assert {k: v for k, v in a.items() if k != "_schema.py"} == {
        k: v for k, v in b.items() if k != "_schema.py"
    }


@pytest.mark.parametrize(
    "package",
    ["bindings_chat_maincloud", "bindings_quickstart_chat", "bindings_sdk_test_ts", "bindings_module_test_ts"],
)  # fmt: skip
def test_bindings_import_and_wire_into_a_connection(generated: Generated, package: str) -> None:
    mod = generated.load(package)
    conn = mod.DbConnection.builder().with_uri("http://127.0.0.1:1").with_database_name("x").build()
    assert conn.schema == generated.schemas[package]  # embedded: nothing to fetch
    assert isinstance(conn.db, mod.RemoteTables) and isinstance(conn.db, TablesBase)
    bindings: ModuleBindings = conn._bindings
    for accessor, table in bindings.tables.items():
        if not table.is_view and not generated.schemas[package].table(table.name).is_public:
            continue
        handle = getattr(conn.db, accessor)
        assert isinstance(handle, TypedTableHandle), accessor
        assert handle.table_name == table.name
        # Row classes come from the bindings, not from run-time dataclasses.
        assert table.row_class is not None
        assert table.row_class.__module__ == f"{package}._types"
    for accessor, fn in bindings.reducers.items():
        assert getattr(conn.reducers, accessor)._caller._binding is fn
    for accessor, fn in bindings.procedures.items():
        assert getattr(conn.procedures, accessor)._caller._binding is fn
    q = mod.QueryBuilder()
    for accessor, table in bindings.tables.items():
        ref = getattr(q, accessor)
        assert isinstance(ref, TableRef)
        assert ref.to_sql() == f'SELECT * FROM "{table.name}"'
        public = table.is_view or generated.schemas[package].table(table.name).is_public
        # Typed column classes for the generated tables; private ones stay dynamic.
        assert (type(ref) is not TableRef) == public
    # The dynamic builder knows the same tables under the same names.
    assert sorted(r.table_name for r in QueryBuilder(conn.schema)) == sorted(
        r.table_name for r in q
    )


def test_chat_bindings_typed_surface(generated: Generated) -> None:
    mod = generated.load("bindings_quickstart_chat")
    conn = mod.DbConnection.builder().with_uri("http://127.0.0.1:1").with_database_name("x").build()
    assert isinstance(conn.db.user, mod.UserTable)
    assert isinstance(conn.db.user.identity, UniqueIndexAccessor)
    assert conn.db.user.identity.find(mod.User.__sats_fields__) is None
    assert mod.User.__sats_wire_names__ == ("identity", "name", "online")
    assert isinstance(conn.reducers.send_message, mod.SendMessageReducer)
    assert list(mod.SendMessageReducer.__call__.__annotations__) == ["text", "return"]
    assert type(conn.subscription_builder()).__name__ == "TypedSubscriptionBuilder"


def _tables(generated: Generated) -> list[tuple[str, str, int]]:
    out = []
    for package in ("bindings_sdk_test_ts", "bindings_module_test_ts", "bindings_escaping"):
        schema = generated.schemas[package]
        out += [(package, t.name, t.product_type_ref) for t in schema.tables]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_classes_round_trip_every_table(generated: Generated, data: Any) -> None:
    # Rows made in the generic representation, encoded, decoded into the generated classes
    # and encoded again give the same bytes: the classes follow the codecs' contract.
    package, _table, ref = data.draw(st.sampled_from(_tables(generated)))
    schema = generated.schemas[package]
    mod = generated.load(package)
    ts = schema.typespace
    generic = bsatn.codec_for(RefType(ref), ts)
    typed = bsatn.codec_for(RefType(ref), ts, classes=mod.CLASSES)
    row = data.draw(values(RefType(ref), ts))
    raw = generic.encode(row)
    decoded = typed.decode(raw)
    assert type(decoded).__module__ == f"{package}._types"
    assert typed.encode(decoded) == raw


USAGE_OK = """
from __future__ import annotations

from spacetimedb_sdk import Identity
from spacetimedb_sdk.client.events import EventContext
from spacetimedb_sdk.connection import Pending
from spacetimedb_sdk.query import FromQuery

from bindings_quickstart_chat import DbConnection, Message, QueryBuilder, User, UserCols


async def main(me: Identity) -> str | None:
    conn = await DbConnection.builder().with_uri("http://x").with_database_name("d").connect()
    user: User | None = conn.db.user.identity.find(me)
    names: list[str | None] = [u.name for u in conn.db.user.iter()]
    done: Pending[None] = conn.reducers.send_message(text="hi")
    conn.reducers.set_name.fire("Bob")

    def on_message(ctx: EventContext, row: Message) -> None:
        print(row.text, row.sent.to_datetime())

    conn.db.message.on_insert(on_message)
    online: FromQuery[UserCols] = QueryBuilder().user.where(lambda u: u.online)
    conn.subscription_builder().add_query(lambda q: q.user.where(q.user.name == "Bob"))
    await done
    return user.name if user is not None and names else online.to_sql()
"""

USAGE_BAD = """
from __future__ import annotations

from bindings_quickstart_chat import DbConnection, QueryBuilder


async def main() -> None:
    conn = await DbConnection.builder().with_uri("http://x").with_database_name("d").connect()
    conn.reducers.send_message(text=5)
    conn.db.user.identity.find("not an identity")
    conn.db.nope
    QueryBuilder().user.online.eq("yes")
    x: int = conn.db.message.iter()
"""


def test_generated_types_check_user_code(generated: Generated, tmp_path: Path) -> None:
    (tmp_path / "usage_ok.py").write_text(USAGE_OK)
    (tmp_path / "usage_bad.py").write_text(USAGE_BAD)
    env = {"MYPYPATH": str(generated.root), "PATH": str(BIN)}
    base = [str(BIN / "mypy"), "--strict", "--python-version", "3.10", "--no-incremental"]
    ok = subprocess.run(
        [*base, "usage_ok.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(
        [*base, "usage_bad.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    errors = [line for line in bad.stdout.splitlines() if ": error:" in line]
    lines = sorted({int(line.split(":")[1]) for line in errors})
    assert lines == [9, 10, 11, 12, 13], bad.stdout
