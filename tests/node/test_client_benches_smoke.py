"""bench/initial_subscribe.py and bench/tx_stream.py run end to end in a tiny configuration.

Not timing tests: they keep the benchmarks' plumbing from rotting (the server child, the Node
clients, the raw floor reader, the clock shared across processes) and check that the guard
that compares each client's cache with the server's table really stops a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bench_support
from node_support import requires_node

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

pytestmark = requires_node()


def run_bench(script: str, *args: str) -> list[str]:
    """The benchmark's stdout lines, one repetition and no warm-up."""
    return bench_support.run_bench(script, *args, "--repetitions", "1", "--warmup", "0")


def table(lines: list[str], header_start: str) -> dict[str, dict[str, str]]:
    """The printed table as {first cell: {column: cell}}; headers are split on 2+ spaces."""
    at = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [h for h in lines[at].split("  ") if h.strip()]
    header = [h.strip() for h in header]
    rows = {}
    for line in lines[at + 2 :]:
        cells = line.split()
        if len(cells) != len(header):
            break
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def test_initial_subscribe_tiny_run_prints_both_compressions() -> None:
    lines = run_bench("initial_subscribe.py", "--rows", "1000")
    rows = table(lines, "compression")
    assert set(rows) == {"none", "gzip"}
    for row in rows.values():
        assert row["rows"] == "1,000"
        # Every side produced a time, so both ratios exist and are positive.
        assert float(row["ours/TS"]) > 0
        assert float(row["ours/floor"]) > 0
    # Gzip must really have been negotiated: 1000 rows shrink a lot on the wire.
    assert float(rows["gzip"]["wire MB"]) <= float(rows["none"]["wire MB"])


def test_tx_stream_tiny_run_counts_every_insert() -> None:
    lines = run_bench("tx_stream.py", "--count", "300", "--compression", "none")
    rows = table(lines, "compression")
    assert set(rows) == {"none"}
    row = rows["none"]
    assert row["txs"] == "300"
    assert float(row["ours/TS"]) > 0
    assert float(row["TS CPU ms"]) > 0 and float(row["ours CPU ms"]) > 0


def test_the_cache_guard_names_the_side_and_stops_the_run() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import _clients
    finally:
        sys.path.remove(str(BENCH))
    want = _clients.Digest(rows=3, sent_sum=6, text_bytes=9)
    _clients.check_digest("ours/gzip", _clients.Digest(3, 6, 9), want)  # equal: no error
    with pytest.raises(SystemExit, match=r"TS/none: .*rows=2"):
        _clients.check_digest("TS/none", _clients.Digest(2, 6, 9), want)
