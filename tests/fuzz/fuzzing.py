"""What the hypothesis fuzz tests share: their settings, the mutation of seeds, and the
atheris entry point of the coverage-guided runs.

``SPACETIMEDB_FUZZ_EXAMPLES`` sets the number of examples per test (``make stress`` raises
it); each example is bounded by a generous deadline, so a decoder that loops or blows up on
some input fails instead of hanging.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("SPACETIMEDB_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # a hang guard, not a speed test: inputs are a few KB
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 500,  # make test: the same inputs every run; stress: new ones
)


def mutate(draw: st.DrawFn, seed: bytes, pieces: Sequence[bytes]) -> bytes:
    """``seed`` with a few random edits: flipped, overwritten, inserted or removed bytes, a
    truncation, or a spliced piece of one of ``pieces``."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "splice"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x05, 0x7F, 0x80, 0xFF]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del data[pos:]
        elif op == "splice":
            other = draw(st.sampled_from(pieces))
            start = draw(st.integers(0, len(other)))
            data[pos:pos] = other[start : start + draw(st.integers(1, 64))]
    return bytes(data)


def atheris_main(
    atheris: Any, argv: Sequence[str], seeds: Sequence[bytes], target: Callable[[bytes], None]
) -> None:
    """Run ``target`` under libFuzzer from a temporary corpus of ``seeds`` (the repository is
    not written to); ``argv`` are libFuzzer's options."""
    with tempfile.TemporaryDirectory(prefix="fuzz-corpus-") as corpus:
        for i, seed in enumerate(seeds):
            (Path(corpus) / f"seed-{i}").write_bytes(seed)
        args = [argv[0], "-max_len=65536", "-rss_limit_mb=2048", *argv[1:], corpus]
        atheris.Setup(args, target)
        atheris.Fuzz()
