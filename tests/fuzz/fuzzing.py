"""What the hypothesis fuzz tests share: their settings, and the atheris entry point of the
coverage-guided runs (the mutation of seeds is ``strategies.mutants``).

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

EXAMPLES = int(os.environ.get("SPACETIMEDB_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # a hang guard, not a speed test: inputs are a few KB
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 500,  # make test: the same inputs every run; stress: new ones
)


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
