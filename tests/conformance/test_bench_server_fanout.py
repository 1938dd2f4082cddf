"""bench/server_fanout.py runs end to end on a small load, and its guard catches wrong results.

Not a timing test: it checks the benchmark's plumbing (server process, raw v3 clients, both
tables printed) and that a subscriber missing, garbling or reordering rows fails the run.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from spacetimedb_sdk import Identity, Timestamp

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


@pytest.fixture
def fanout(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    return importlib.import_module("server_fanout")


def test_small_run_prints_both_tables() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "server_fanout.py"),
            *("--subscribers", "4", "--transactions", "150", "--rows", "3000"),
            *("--repetitions", "1", "--timeout", "60"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "fan-out",
        "subs",
        "tx",
        "window",
        "tx/s",
        "updates/s",
        "frames",
        "seconds",
    ]
    assert lines[2].split()[:3] == ["send_message", "4", "150"]
    assert "every subscriber received every row" in proc.stdout
    initial = [line.split() for line in lines if line.startswith("compression ")]
    assert [(row[1], row[2]) for row in initial] == [("None", "3,000"), ("Gzip", "3,000")]


def rows_bytes(fanout: ModuleType, texts: list[str]) -> bytes:
    codec = fanout.message_codec()
    sender = Identity.from_hex("c2" + "00" * 31)
    return b"".join(
        codec.encode({"sender": sender, "sent": Timestamp(i), "text": t})
        for i, t in enumerate(texts)
    )


def subscriber(fanout: ModuleType, data: bytes, count: int) -> Any:
    sub = fanout.Subscriber(ws=None, target=count, keep_rows=True, count=count)
    sub.digest = hashlib.blake2b(data)
    sub.kept = [data]
    return sub


def test_guard_accepts_the_right_rows(fanout: ModuleType) -> None:
    good = rows_bytes(fanout, ["msg 0", "msg 1"])
    fanout.verify_fanout([subscriber(fanout, good, 2), subscriber(fanout, good, 2)], 2)


@pytest.mark.parametrize(
    ("second", "count", "complaint"),
    [
        (["msg 0"], 1, r"received \[1, 2\] rows, expected 2"),
        (["msg 0", "msg 9"], 2, "different rows"),
    ],
    ids=["missing-row", "different-row"],
)
def test_guard_rejects_a_subscriber_that_differs(
    fanout: ModuleType, second: list[str], count: int, complaint: str
) -> None:
    good = rows_bytes(fanout, ["msg 0", "msg 1"])
    other = rows_bytes(fanout, second)
    subs = [subscriber(fanout, good, 2), subscriber(fanout, other, count)]
    with pytest.raises(fanout.BenchFailure, match=complaint):
        fanout.verify_fanout(subs, 2)


def test_guard_rejects_rows_out_of_order(fanout: ModuleType) -> None:
    swapped = rows_bytes(fanout, ["msg 1", "msg 0"])
    with pytest.raises(fanout.BenchFailure, match="row 0 reads 'msg 1', expected 'msg 0'"):
        fanout.verify_fanout([subscriber(fanout, swapped, 2)], 2)
