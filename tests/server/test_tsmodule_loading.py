"""Loading TypeScript modules: the layouts accepted, dependencies, and every way loading fails.

A module is a folder (``package.json`` + ``src/index.ts``) or an entry file.  A folder whose
dependencies are missing gets ``npm install``; a module that fails to bundle, throws while
loading or describes a schema the server cannot host is refused with an error naming its file;
without Node the error is one line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ts_support import needs_node

from node_support import ROOT, use_repo_node_modules
from spacetimedb_sdk.server import tsmodule
from spacetimedb_sdk.server.local import LocalServer, load_module
from spacetimedb_sdk.server.tsmodule import TsModule, TsModuleError, load_ts_module

pytestmark = needs_node()

HEADER = "import { schema, table, t, SenderError } from 'spacetimedb/server';\n"

GOOD = (
    HEADER
    + """
const note = table({ public: true }, { id: t.u32().primaryKey(), text: t.string() });
const s = schema({ note });
export default s;
export const add_note = s.reducer({ id: t.u32(), text: t.string() }, (ctx, { id, text }) => {
  if (!text) throw new SenderError('empty note');
  ctx.db.note.insert({ id, text });
});
"""
)


@pytest.fixture(autouse=True)
def repo_node_modules() -> Iterator[None]:
    use_repo_node_modules()
    yield


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load_error(path: Path) -> str:
    with pytest.raises(TsModuleError) as caught:
        load_ts_module(path)
    return str(caught.value)


def test_an_entry_file_is_a_module(tmp_path: Path) -> None:
    entry = write(tmp_path / "notes.ts", GOOD)
    module = load_module(entry)
    assert isinstance(module, TsModule)
    assert module.name == "notes"
    with LocalServer(entry) as srv:
        assert srv.database == "notes"
        assert srv.db.call_reducer("add_note", 1, "hello").ok
        assert srv.db.call_reducer("add_note", 2, "").message == "empty note"
        Note = srv.module.row_class("note")  # type: ignore[attr-defined]
        assert srv.db.rows("note") == [Note(1, "hello")]
        with srv.db.transaction() as tx:  # fixtures write rows of the module's row classes
            tx.note.insert(Note(3, "from a fixture"))
        assert srv.db.sql("SELECT text FROM note WHERE id = 3")[0]["rows"] == [["from a fixture"]]
    module.close()


@pytest.mark.spacetimedb_module(ROOT / "examples" / "quickstart-chat-ts")
def test_the_pytest_fixture_serves_a_module_folder(spacetimedb_server: LocalServer) -> None:
    assert spacetimedb_server.database == "quickstart-chat-ts"
    assert {t.name for t in spacetimedb_server.module.table_schemas()} == {"user", "message"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (HEADER + "export default schema({ x: table( });\n", 'Unexpected "}"'),
        (
            HEADER + "export const s = schema({ x: table({}, { a: t.u32() }) });\n",
            "the module doesn't export its schema: end it with `export default schema(...);`",
        ),
        ("export default {};\n", "the module doesn't import the `spacetimedb/server` package"),
        (
            "import fs from 'node:fs';\n" + HEADER + "export default schema({});\nfs;\n",
            '"node:fs" is a Node.js built-in module',
        ),
        (HEADER + "import { x } from 'no-such-package';\nx;\n", "Could not resolve"),
    ],
    ids=["syntax", "no-default-export", "no-library", "node-builtin", "missing-package"],
)
def test_a_module_that_fails_to_bundle_is_named(tmp_path: Path, source: str, expected: str) -> None:
    entry = write(tmp_path / "broken.ts", source)
    error = load_error(entry)
    assert error.startswith(f"{entry} failed to bundle:"), error
    assert expected in error


def test_a_module_that_throws_while_loading_is_named(tmp_path: Path) -> None:
    entry = write(
        tmp_path / "throws.ts",
        HEADER + "const x = table({}, { a: t.u32() });\nthrow new Error('init exploded');\n"
        "export default schema({ x });\n",
    )
    error = load_error(entry)
    first, frame = error.splitlines()[:2]
    assert first == f"{entry}: the module threw while loading: Uncaught Error: init exploded"
    assert f"{entry}:" in frame  # its own source line, through the source map


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        (
            "x: table({}, { a: t.u32().primaryKey(), b: t.u32().primaryKey() })",
            "table 'x': a primary key of more than one column is not supported",
        ),
        (
            "x: table({ name: 'same' }, { a: t.u32() }), y: table({ name: 'same' }, { b: t.u32() })",
            "table 'same' has the same canonical name as a table",
        ),
        (
            "st_mine: table({}, { a: t.u32() })",
            "table 'st_mine': names starting with 'st_' are reserved",
        ),
    ],
    ids=["two-column-pk", "duplicate-name", "reserved-name"],
)
def test_a_module_with_an_invalid_schema_is_named(
    tmp_path: Path, tables: str, expected: str
) -> None:
    entry = write(tmp_path / "invalid.ts", HEADER + f"export default schema({{ {tables} }});\n")
    assert load_error(entry) == f"{entry}: {expected}"


def test_a_scheduled_table_needs_a_u64_key(tmp_path: Path) -> None:
    entry = write(
        tmp_path / "sched.ts",
        HEADER + "const x = table({ scheduled: (): any => go }, "
        "{ id: t.u32().primaryKey(), at: t.scheduleAt() });\n"
        "const s = schema({ x });\nexport default s;\n"
        "export const go = s.reducer({ arg: x.rowType }, () => {});\n",
    )
    assert load_error(entry) == (
        f"{entry}: table 'x': a scheduled table needs a u64 primary key (the schedule id)"
    )


def test_a_folder_without_node_modules_gets_its_dependencies_installed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A local package (no registry needed); spacetimedb itself resolves through NODE_PATH.
    write(tmp_path / "greeting" / "package.json", json.dumps({"name": "greeting", "version": "1.0.0", "type": "module", "main": "index.js"}))  # fmt: skip
    write(
        tmp_path / "greeting" / "index.js", "export const greeting = 'hello from a dependency';\n"
    )
    project = tmp_path / "mod"
    write(project / "package.json", json.dumps({"name": "with-deps", "dependencies": {"greeting": "file:../greeting"}}))  # fmt: skip
    write(
        project / "src" / "index.ts",
        GOOD.replace(
            "if (!text)", "if (text === greeting) throw new SenderError(greeting);\n  if (!text)"
        )
        + "import { greeting } from 'greeting';\n",
    )
    with caplog.at_level(logging.WARNING, logger="spacetimedb_sdk.server"):
        module = load_ts_module(project)
    assert any(
        "has no node_modules: installing its dependencies with npm install" in r.getMessage()
        for r in caplog.records
    )
    assert (project / "node_modules" / "greeting").exists()
    assert module.name == "with-deps"
    with LocalServer(module) as srv:
        failed = srv.db.call_reducer("add_note", 1, "hello from a dependency")
        assert (failed.status, failed.message) == ("err", "hello from a dependency")
    module.close()


def test_a_failing_npm_install_is_reported(tmp_path: Path) -> None:
    project = tmp_path / "mod"
    write(project / "package.json", json.dumps({"dependencies": {"nothing": "file:../nothing-here.tgz"}}))  # fmt: skip
    write(project / "src" / "index.ts", GOOD)
    error = load_error(project)
    assert error.startswith(
        f"module {project / 'src' / 'index.ts'}: `npm install --no-audit --no-fund` in {project} failed:"
    )


def test_without_node_the_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real_which = tsmodule.bundle.shutil.which
    monkeypatch.setattr(
        tsmodule.bundle.shutil, "which", lambda name: None if name == "node" else real_which(name)
    )
    entry = write(tmp_path / "other.ts", GOOD.replace("note", "memo"))
    assert load_error(entry) == (
        "TypeScript modules run in Node.js, which was not found on PATH: install Node 20 or newer"
    )


def test_serve_without_node_prints_one_error_line(tmp_path: Path) -> None:
    # The interpreter is named by its full path; PATH holds nothing else.
    env = {**os.environ, "PATH": str(tmp_path)}  # no node there
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "spacetimedb_sdk.cli",
            "serve",
            str(ROOT / "examples" / "quickstart-chat-ts"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: TypeScript modules run in Node.js, which was not found on PATH: install Node 20 or newer"
    ]
