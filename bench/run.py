#!/usr/bin/env python3
"""Run every benchmark in this folder, one after the other (``make bench``).

A benchmark is any ``bench/*.py`` except this file and ``_*.py`` helpers (the client
benchmarks ``initial_subscribe`` and ``tx_stream`` start a local server child,
``_chat_server.py``, and Node clients of their own). Each runs in its own interpreter so
one cannot warm up or slow down the next, and is stopped after ``LIMIT_SECONDS``. Extra
arguments select benchmarks by name, e.g. ``python bench/run.py bsatn_decode``; arguments after
``--`` go to each selected benchmark, e.g. ``python bench/run.py server_fanout -- --data-dir``.

Example::

    $ .venv/bin/python bench/run.py
    == bsatn_decode ==
    ...
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIMIT_SECONDS = 1800
"""A benchmark still running after this long is stopped and counted as failed."""


def benchmarks(selected: list[str]) -> list[Path]:
    """The benchmark scripts to run, in name order; ``selected`` filters by stem."""
    found = sorted(
        p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_")
    )
    if not selected:
        return found
    unknown = set(selected) - {p.stem for p in found}
    if unknown:
        names = ", ".join(p.stem for p in found)
        raise SystemExit(f"unknown benchmark(s) {', '.join(sorted(unknown))}; known: {names}")
    return [p for p in found if p.stem in selected]


def main(argv: list[str]) -> int:
    failed = []
    options: list[str] = []
    if "--" in argv:
        argv, options = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    for script in benchmarks(argv):
        print(f"== {script.stem} ==", flush=True)
        start = time.perf_counter()
        try:
            code = subprocess.call(
                [sys.executable, str(script), *options], cwd=HERE.parent, timeout=LIMIT_SECONDS
            )
        except subprocess.TimeoutExpired:
            # Its children (a server, Node) see their stdin close and exit on their own.
            print(f"{script.stem} did not finish within {LIMIT_SECONDS} s", file=sys.stderr)
            code = -1
        print(f"({script.stem}: {time.perf_counter() - start:.0f} s, exit {code})\n", flush=True)
        if code != 0:
            failed.append(script.stem)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
