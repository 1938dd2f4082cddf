"""Helpers shared by the benchmarks in this folder (not a benchmark itself).

Example::

    >>> best_seconds(lambda: sum(range(1000)), repetitions=3, warmup=1) > 0
    True
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "node"
FIXTURES = ROOT / "tests" / "fixtures"


def best_seconds(
    fn: Callable[[], object],
    *,
    repetitions: int,
    warmup: int,
    before: Callable[[], object] | None = None,
) -> float:
    """Run ``fn`` ``warmup`` times untimed, then ``repetitions`` times; the fastest run wins.

    The minimum is the least noisy estimate of what the code costs on an idle machine.
    ``before`` runs untimed ahead of every call (e.g. to free the previous run's result).
    """
    best = float("inf")
    for i in range(warmup + repetitions):
        if before is not None:
            before()
        start = time.perf_counter()
        fn()
        if i >= warmup:
            best = min(best, time.perf_counter() - start)
    return best


def run_node_json(script: Path, args: Sequence[str], *, timeout: float) -> Any:
    """Run a Node script from ``node/`` and parse the one JSON object it prints.

    Example: ``run_node_json(NODE_DIR / "src" / "bsatn_decode_bench.mjs", [spec], timeout=600)``.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH; the TypeScript side needs Node 20 (see node/)")
    if not (NODE_DIR / "node_modules" / "spacetimedb").is_dir():
        raise RuntimeError("node/node_modules is missing: run `make node` (npm ci in node/) first")
    proc = subprocess.run(
        [node, str(script), *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} exited with {proc.returncode}:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout)


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, first column left-aligned and the others right-aligned.

    Example::

        >>> print(format_table(["case", "n"], [["a", "1"]]))
        case  n
        ----  -
        a     1
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def rate(n: float) -> str:
    """A rate with thousands separators: ``rate(1234567.8) == '1,234,568'``."""
    return f"{n:,.0f}"
