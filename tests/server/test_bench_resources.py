"""bench/server_resources.py and bench/soak.py run end to end in a tiny configuration.

Not timing or memory tests (their figures are the benchmarks' business): they keep the
benchmarks' plumbing from rotting (the server child, the probes, the soak's guards).
"""

from __future__ import annotations

from bench_support import run_bench


def test_server_resources_tiny_run_reports_each_scenario() -> None:
    # The close does not depend on how fast the database thread is: with 100 messages allowed
    # to wait, the server reaches the limit within the first slice of 256 it decodes before it
    # gives the loop back. (With upstream's 16,384 it is a race: the database thread sometimes
    # answers every query of the frame, and the scenario reports that instead.)
    lines = run_bench(
        "server_resources.py",
        "--scenarios",
        "flood,cubic-sql",
        "--flood",
        "2000",
        "--limit",
        "incoming_queue_length=100",
    )
    flood = next(line for line in lines if line.startswith("flood"))
    cubic = next(line for line in lines if line.startswith("cubic-sql"))
    assert "close 1013 'too many requests'" in flood
    assert "HTTP 400 'Estimated cardinality" in cubic


def test_soak_tiny_run_passes_its_guards() -> None:
    # A run this short has no steady state: the growth bar is not what is checked here.
    lines = run_bench(
        "soak.py", "--updates", "2000", "--rows", "100", "--batch", "10", "--bar", "1000"
    )
    assert lines[0].startswith("2,000 row updates in 200 transactions")
    assert [line.split()[0] for line in lines[3:5]] == ["client", "server"]
