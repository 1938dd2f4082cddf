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


def run_bench(script: str, *args: str, sampling: bool = True) -> list[str]:
    """The benchmark's stdout lines (one sample and no warm-up, for the sampling ones)."""
    once = ["--repetitions", "1", "--warmup", "0"] if sampling else []
    return bench_support.run_bench(script, *args, *once, timeout=120)


def table(lines: list[str], header_start: str, nth: int = 0) -> dict[str, dict[str, str]]:
    """The ``nth`` printed table as {first cell: {column: cell}}; headers are split on 2+
    spaces."""
    at = [i for i, line in enumerate(lines) if line.startswith(header_start)][nth]
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
    assert any(line.startswith("Burst:") for line in lines), lines
    for nth in (0, 1):  # paced by the server, then released at once by the proxy
        rows = table(lines, "compression", nth)
        assert set(rows) == {"none"}
        row = rows["none"]
        assert row["txs"] == "300"
        assert float(row["ours/TS"]) > 0 and float(row["ours/floor"]) > 0
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


def test_cache_memory_tiny_run_measures_both_clients() -> None:
    lines = run_bench("cache_memory.py", "--rows", "300", sampling=False)
    at = next(i for i, line in enumerate(lines) if line.startswith("client"))
    rows = {line.split("  ")[0].strip(): line.split() for line in lines[at + 2 : at + 5]}
    assert set(rows) == {"TS", "ours", "ours, every row read"}
    assert rows["ours"][1] == "301"  # the rows, and the one message committed after them
    assert float(rows["ours"][3]) > 0 and float(rows["TS"][2]) > 0


def test_many_connections_tiny_run_broadcasts_to_every_connection() -> None:
    lines = run_bench(
        "many_connections.py", "--count", "4", "--batch", "2", "--broadcasts", "2", sampling=False
    )
    rows = table(lines, "client")
    assert set(rows) >= {"TS", "ours"}
    assert rows["ours"]["connections"] == "4" and rows["TS"]["connections"] == "4"
    assert float(rows["ours"]["broadcast best ms"]) > 0


def test_the_summary_collects_recorded_rows_per_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import _summary
    finally:
        sys.path.remove(str(BENCH))
    path = tmp_path / "summary.jsonl"
    monkeypatch.setenv(_summary.ENV, str(path))
    monkeypatch.delenv("SPACETIMEDB_SDK_NO_EXTENSIONS", raising=False)
    _summary.record("tx_cpu", [0.5, 0.25])
    installed = _summary.extensions()  # with the extension, or pure Python where not built
    monkeypatch.setenv("SPACETIMEDB_SDK_NO_EXTENSIONS", "1")
    _summary.record("tx_cpu", [0.75, 1.5])
    with pytest.raises(ValueError, match="unknown summary row"):
        _summary.record("nonsense", [1.0])
    printed = _summary.table(path).splitlines()
    assert printed[0].startswith("row") and printed[0].endswith(f"{installed}  NO_EXTENSIONS=1")
    cpu = next(line for line in printed if line.startswith("tx stream, 10k"))
    assert cpu.split()[-6:] == ["0.50", "/", "0.25", "0.75", "/", "1.50"]
    assert len(printed) == 2 + len(_summary.ROWS)  # every row of the issue, measured or not
