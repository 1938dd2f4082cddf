"""``examples/quickstart-chat/demo.py`` (what ``make demo`` runs), as a subprocess: it exits 0
and its output shows each client seeing the other's name, messages and departure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "quickstart-chat" / "demo.py"
TIMEOUT = 100.0  # seconds; the demo takes about one


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def test_demo_clients_see_each_others_names_and_messages(tmp_path: Path) -> None:
    out_dir = tmp_path / "module_bindings"
    done = run_demo("--out-dir", str(out_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()

    # The bindings came from the running server and are what the clients used.
    assert (out_dir / "__init__.py").is_file()
    assert "Using the generated module_bindings._connection.DbConnection" in lines

    # Each sees the other's rename, from the identity it had before.
    assert any(re.fullmatch(r"\[alice\] User c200[0-9a-f]{12} renamed to Bob\.", s) for s in lines)
    assert any(re.fullmatch(r"\[bob\] User c200[0-9a-f]{12} renamed to Alice\.", s) for s in lines)

    # Each sees the other's messages under the sender's new name, and its own.
    for who in ("alice", "bob"):
        assert f"[{who}] Alice: Hi Bob! Welcome to SpacetimeDB." in lines
        assert f"[{who}] Bob: Hi Alice! Your message got here in no time." in lines
        assert f"[{who}] Alice: Great, see you later." in lines
    assert "[alice] User Bob disconnected." in lines

    # Messages arrive after the rename they depend on.
    renamed = next(i for i, s in enumerate(lines) if s.startswith("[bob] User ") and "Alice." in s)
    assert renamed < lines.index("[bob] Alice: Hi Bob! Welcome to SpacetimeDB.")

    assert "Demo passed: each client saw the other's name and all 3 messages." in lines
    assert "Demo failed" not in done.stderr


def test_demo_reports_a_failed_step_and_exits_1(tmp_path: Path) -> None:
    done = run_demo("--out-dir", str(tmp_path / "not-a-package"))
    assert done.returncode == 1
    assert "Demo failed: --out-dir must end in a Python package name" in done.stderr
    assert not (tmp_path / "not-a-package").exists()
