"""The ``generate`` command, writing into a directory: unchanged files, stale files, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from codegen_support import COMPAT_PACKAGE, FIXTURES, ROOT, Generated

from spacetimedb_sdk import cli
from spacetimedb_sdk.codegen import generate, load_schema, main
from spacetimedb_sdk.codegen.writer import HEADER_MARK

CHAT = FIXTURES / "moduledefs" / "quickstart-chat.v10.json"
CHAT_BSATN = FIXTURES / "moduledefs" / "quickstart-chat.v10.bsatn"


def test_generate_subcommand_writes_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "module_bindings"
    assert cli.main(["generate", "--schema", str(CHAT), "--out-dir", str(out)]) == 0
    assert "wrote 8 files" in capsys.readouterr().out
    assert (out / "py.typed").is_file() and (out / "_types.py").is_file()
    # A second run rewrites nothing (mtimes kept, so build tools see no change).
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(["--schema", str(CHAT), "--out-dir", str(out)]) == 0
    assert "wrote 0 files" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes


def test_bsatn_and_json_schemas_give_the_same_bindings(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(load_schema(CHAT), a)
    generate(load_schema(CHAT_BSATN), b)
    for f in a.iterdir():
        assert f.read_bytes() == (b / f.name).read_bytes()


def test_stale_generated_files_are_removed_and_others_kept(tmp_path: Path) -> None:
    out = tmp_path / "module_bindings"
    generate(load_schema(CHAT), out, compat_07=True)
    assert (out / "user.py").is_file() and (out / "send_message_reducer.py").is_file()
    (out / "mine.py").write_text("# my own helper\n")
    (out / "notes.txt").write_text(f"{HEADER_MARK} is what marks generated files\n")
    (out / "stale_reducer.py").write_text(f"{HEADER_MARK} (spacetimedb-sdk 1.0).\n")
    result = generate(load_schema(CHAT), out)
    assert sorted(result.removed) == [
        "message.py",
        "notes.txt",  # it starts with the header line, so it counts as generated
        "send_message_reducer.py",
        "set_name_reducer.py",
        "stale_reducer.py",
        "user.py",
    ]
    assert (out / "mine.py").read_text() == "# my own helper\n"
    assert result.written == [] and len(result.unchanged) == 8


def test_errors_are_one_line_and_exit_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--schema", str(tmp_path / "missing.json"), "--out-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read schema file") and err.count("\n") == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"V10": {"sections": 5}}')
    assert main(["--schema", str(bad), "--out-dir", str(tmp_path / "o")]) == 1
    assert "is not a module schema" in capsys.readouterr().err
    assert main(["--server", "http://127.0.0.1:1", "--out-dir", str(tmp_path)]) == 2
    assert "--server needs --database" in capsys.readouterr().err
    assert main(["--out-dir", str(tmp_path)]) == 2  # neither --schema nor --server
    assert (
        capsys.readouterr().err
        == "error: give --schema FILE, or --server URL with --database NAME\n"
    )


def test_console_script_runs_generate(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "spacetimedb-py"
    out = tmp_path / "mb"
    proc = subprocess.run(
        [str(exe), "generate", "--schema", str(CHAT), "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "__init__.py").is_file()


def test_compat_07_shapes(generated: Generated) -> None:
    # What the 0.7 CLI generated, typed: the row class is built from 0.7's JSON and calls
    # the client's internals on SpacetimeDBClient.instance.
    pkg = generated.root / COMPAT_PACKAGE
    user = (pkg / "user.py").read_text()
    assert "class User:" in user and "    is_table_class = True" in user
    assert '    primary_key = "identity"' in user
    assert "def filter_by_identity(cls, identity: Identity) -> User | None:" in user
    assert 'SpacetimeDBClient.instance._register_row_update("User", callback)' in user
    assert "def iter(cls) -> Iterator[User]:" in user
    assert "def __init__(self, data: list[Any]) -> None:" in user
    assert 'self.data["identity"] = Identity.from_string(data[0][0])' in user
    assert 'self.data["name"] = str(data[1]["0"]) if "0" in data[1] else None' in user
    reducer = (pkg / "send_message_reducer.py").read_text()
    assert 'reducer_name = "send_message"' in reducer
    assert "def send_message(text: str) -> None:" in reducer
    assert "def register_on_send_message(" in reducer
    assert 'SpacetimeDBClient.instance._reducer_call("send_message", text)' in reducer
    assert "def _decode_args(data: list[Any]) -> list[Any]:" in reducer
    for f in pkg.glob("*.py"):
        compile(f.read_text(), str(f), "exec")
    row = generated.load(f"{COMPAT_PACKAGE}.user").User([["00" * 32], {"1": []}, True])
    assert row.name is None and row.online is True and row.data["online"] is True
