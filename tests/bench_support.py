"""Running a benchmark script of ``bench/`` from a test (the benchmarks' smoke tests).

Example::

    lines = run_bench("soak.py", "--updates", "2000")
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def run_bench(script: str, *args: str, timeout: float = 100) -> list[str]:
    """The benchmark's stdout lines; fails with its stderr if it exits non-zero."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()
