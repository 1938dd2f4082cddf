"""``spacetimedb-py serve --data-dir/--clear``: mistakes and refusals are one ``error:`` line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from durable_module import module

from spacetimedb_sdk.server import LocalServer

MODULE = Path(__file__).with_name("durable_module.py")
T = 30.0


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """``serve`` that must fail before serving (a server that starts would hang this)."""
    return subprocess.run(
        [sys.executable, "-m", "spacetimedb_sdk", "serve", *args, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=T,
        check=False,
        cwd=Path(__file__).parent,
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.stdout == "" and done.stderr.startswith("error: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_clear_needs_a_data_dir() -> None:
    done = serve(str(MODULE), "--clear")
    assert done.returncode == 2
    assert (
        one_error_line(done) == "error: --clear empties a data directory: pass --data-dir DIR too\n"
    )


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    done = serve(str(MODULE), "--data-dir", str(tmp_path / "f"))
    assert done.returncode == 1
    assert "is a file, not a directory" in one_error_line(done)


def test_a_data_dir_in_use(tmp_path: Path) -> None:
    holder = LocalServer(module, data_dir=tmp_path)
    try:
        done = serve(str(MODULE), "--data-dir", str(tmp_path))
    finally:
        holder.start().stop()
    assert done.returncode == 1
    assert "is in use by another server" in one_error_line(done)


def test_a_module_change_the_data_cannot_follow(tmp_path: Path) -> None:
    with LocalServer(module, data_dir=tmp_path / "data") as srv:
        srv.db.call_reducer("put", 1, 1)
    changed = tmp_path / "changed.py"  # imports durable_module from the working folder
    changed.write_text("from durable_module import build\n\nmodule = build(value_type=str)\n")
    done = serve(str(changed), "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 1
    line = one_error_line(done)
    assert "Changing the type of column value in table item" in line
    assert "serve --clear" in line
