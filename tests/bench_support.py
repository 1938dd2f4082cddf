"""Running a benchmark script of ``bench/`` from a test (the benchmarks' smoke tests).

Example::

    lines = run_bench("soak.py", "--updates", "2000")
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def run_bench(script: str, *args: str, timeout: float = 100) -> list[str]:
    """The benchmark's stdout lines; fails with its stderr if it exits non-zero.

    One that overruns ``timeout`` is interrupted (SIGINT), so the failure shows where it was
    stuck (its traceback), then killed if it does not stop.
    """
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        raise AssertionError(
            f"{script} ran over {timeout} s; its output:\n{stdout}\n{stderr}"
        ) from None
    assert proc.returncode == 0, stderr
    return stdout.splitlines()
