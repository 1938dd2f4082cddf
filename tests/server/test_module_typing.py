"""Table row classes of a Python module type-check under mypy --strict and pyright.

``@module.table(...)`` turns a class into a frozen dataclass at run time.  Pyright reads the
``dataclass_transform`` on the decorator; mypy does not read it on methods (mypy issue 16527),
so the declaration form that both accept derives the class from ``Table``.  Both checkers
must accept constructing rows by keyword and reject a missing field and an assignment to a
frozen row, so that the check is real.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULE = """\
import dataclasses

from spacetimedb_sdk import Identity, Timestamp
from spacetimedb_sdk.sats import U64
from spacetimedb_sdk.server import Module, ReducerContext, Table, column

module = Module("todo")


@module.table(public=True)
class Task(Table):
    id: U64 = column(primary_key=True, auto_inc=True)
    owner: Identity = column(index="btree")
    text: str
    created: Timestamp
    done: bool = column(default=False)


@module.reducer
def add(ctx: ReducerContext, text: str) -> None:
    task = Task(id=0, owner=ctx.sender, text=text, created=ctx.timestamp)
    ctx.db.task.insert(task)
    finished: Task = dataclasses.replace(task, done=True)
    assert finished.done


def wrong(me: Identity, now: Timestamp) -> None:
    Task(id=0, owner=me, created=now)  # WRONG: text is missing
    row = Task(id=0, owner=me, text="x", created=now)
    row.done = True  # WRONG: rows are frozen
"""

WRONG_LINES = {i + 1 for i, line in enumerate(MODULE.splitlines()) if "# WRONG" in line}


@pytest.fixture
def module_file(tmp_path: Path) -> Path:
    path = tmp_path / "todo.py"
    path.write_text(MODULE, encoding="utf-8")
    return path


def error_lines(output: str, pattern: str) -> set[int]:
    return {int(m) for m in re.findall(pattern, output)}


def test_mypy_strict_accepts_table_rows_and_rejects_misuse(module_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(module_file)],
        cwd=module_file.parent,
        env={**os.environ, "MYPYPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert error_lines(done.stdout, r"todo\.py:(\d+): error") == WRONG_LINES, done.stdout


def test_pyright_accepts_table_rows_and_rejects_misuse(module_file: Path) -> None:
    pyright = shutil.which("pyright", path=str(Path(sys.executable).parent))
    assert pyright is not None, "pyright (a dev dependency) is not installed in this venv"
    (module_file.parent / "pyrightconfig.json").write_text(
        '{"extraPaths": ["%s"], "typeCheckingMode": "strict"}' % (ROOT / "src")
    )
    done = subprocess.run(
        [pyright, "--pythonpath", sys.executable, str(module_file)],
        cwd=module_file.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert error_lines(done.stdout, r"todo\.py:(\d+):\d+ - error") == WRONG_LINES, done.stdout
