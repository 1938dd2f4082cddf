"""The summary rows of issue 14's table, collected from the benchmarks by ``run.py``.

A benchmark calls :func:`record` with a row of the table (``ROWS``) and the figures it
measured; ``run.py`` points ``SPACETIMEDB_BENCH_SUMMARY`` at a file where each call appends one
JSON line, and prints the table at the end (:func:`table`), one column per way the SDK ran
(with its compiled extension, or ``SPACETIMEDB_SDK_NO_EXTENSIONS=1``). Run on its own, a
benchmark records nothing.

Example::

    >>> record("tx_cpu", [0.7, 0.6])   # no SPACETIMEDB_BENCH_SUMMARY: nothing happens
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

ENV = "SPACETIMEDB_BENCH_SUMMARY"

ROWS: dict[str, tuple[str, str]] = {
    "subscribe_vs_ts": (
        "initial subscribe, 100k message rows, None / Gzip: time vs TS",
        "<= 0.5",
    ),
    "subscribe_vs_floor": ("same, time vs the wire floor", "<= 1.5"),
    "tx_cpu": ("tx stream, 10k single-row tx: client CPU vs TS (None / Gzip)", "<= 0.8"),
    "tx_wall": ("tx stream: wall time vs TS (None / Gzip)", "<= 1.0"),
    "tx_burst_wall": ("  the same released at once (the clients' own pace): wall vs TS", "<= 1.0"),
    "decode": ("BSATN decode rows/s vs the TS decoder: large_table / message", ">= 1.5"),
    "row_memory": ("memory per cached row vs the TS client's heap per row", "<= 1.0"),
    "row_memory_read": ("  the same after every row was read (decoded)", "(info)"),
    "conn_memory": ("1,000 DbConnections in one process: memory per connection vs TS", "<= 1.0"),
    "broadcast": ("1,000 connections: broadcast latency vs TS", "(info)"),
}


def extensions() -> str:
    """How this process runs the SDK: the column its figures go in.

    Example::

        >>> extensions() in ("with extension", "NO_EXTENSIONS=1", "pure Python (not built)")
        True
    """
    if os.environ.get("SPACETIMEDB_SDK_NO_EXTENSIONS", "") not in ("", "0"):
        return "NO_EXTENSIONS=1"
    from spacetimedb_sdk import _speedups

    return "with extension" if _speedups.bsatn is not None else "pure Python (not built)"


def record(row: str, values: Sequence[float]) -> None:
    """Append one measured row (a ratio per case, ``/``-separated when printed)."""
    if row not in ROWS:
        raise ValueError(f"unknown summary row {row!r}; known: {sorted(ROWS)}")
    path = os.environ.get(ENV)
    if not path:
        return
    line = {"row": row, "values": list(values), "mode": extensions()}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def table(path: Path) -> str:
    """The issue's table from the recorded lines: one column per mode that ran.

    Example::

        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "s.jsonl"
        >>> _ = p.write_text('{"row": "tx_cpu", "values": [0.7, 0.62], "mode": "with extension"}\\n')
        >>> print(table(p).splitlines()[4].split("  ")[-1].strip())
        0.70 / 0.62
    """
    got: dict[tuple[str, str], list[float]] = {}
    modes: list[str] = []
    if path.exists():
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = json.loads(raw)
            got[(line["row"], line["mode"])] = line["values"]
            if line["mode"] not in modes:
                modes.append(line["mode"])
    header = ["row", "target", *modes]
    lines = [header, ["-" * len(h) for h in header]]
    for key, (label, target) in ROWS.items():
        cells = [
            " / ".join(f"{v:.2f}" for v in got[(key, m)]) if (key, m) in got else "-" for m in modes
        ]
        lines.append([label, target, *cells])
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in lines
    )
