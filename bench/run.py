#!/usr/bin/env python3
"""Run every benchmark in this folder, one after the other (``make bench``), then summarize.

A benchmark is any ``bench/*.py`` except this file and ``_*.py`` helpers (the client
benchmarks start a local server child, ``_chat_server.py``, and Node clients of their own). Each
runs in its own interpreter so one cannot warm up or slow down the next, and is stopped after
``LIMIT_SECONDS``. Extra arguments select benchmarks by name, e.g.
``python bench/run.py bsatn_decode``; arguments after ``--`` go to each selected benchmark, e.g.
``python bench/run.py server_fanout -- --data-dir``.

When the SDK's compiled extension is built, every benchmark runs twice: as installed, and with
``SPACETIMEDB_SDK_NO_EXTENSIONS=1`` (the pure-Python fallback); ``--mode default`` or
``--mode no-extensions`` runs one of them. At the end, the rows of issue 14's table that the
benchmarks recorded (see ``_summary.py``) are printed as one table, one column per mode.

Example::

    $ .venv/bin/python bench/run.py
    == bsatn_decode ==
    ...
    == summary ==
    row                                   target  default  no extensions
    ...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _summary import ENV, table

HERE = Path(__file__).resolve().parent
LIMIT_SECONDS = 1800
"""A benchmark still running after this long is stopped and counted as failed."""
MODES = {"default": {}, "no-extensions": {"SPACETIMEDB_SDK_NO_EXTENSIONS": "1"}}


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


def extension_built() -> bool:
    """Whether the installed SDK has a compiled module (so the fallback is worth a column)."""
    probe = "import spacetimedb_sdk, pathlib; p = pathlib.Path(spacetimedb_sdk.__file__).parent; "
    probe += "print(any(p.rglob('*.so')) or any(p.rglob('*.pyd')))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, cwd=HERE.parent
    )
    return out.stdout.strip() == "True"


def run_one(script: Path, mode: str, summary: Path, options: list[str]) -> int:
    env = {**os.environ, ENV: str(summary), **MODES[mode]}
    if mode == "default":
        env.pop("SPACETIMEDB_SDK_NO_EXTENSIONS", None)
    try:
        return subprocess.call(
            [sys.executable, str(script), *options],
            cwd=HERE.parent,
            timeout=LIMIT_SECONDS,
            env=env,
        )
    except subprocess.TimeoutExpired:
        # Its children (a server, Node) see their stdin close and exit on their own.
        print(f"{script.stem} did not finish within {LIMIT_SECONDS} s", file=sys.stderr)
        return -1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument(
        "--mode",
        choices=[*MODES, "both"],
        help="how the SDK runs (default: both when the extension is built, else default)",
    )
    options: list[str] = []
    if "--" in argv:
        argv, options = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = parser.parse_args(argv)
    mode = args.mode or ("both" if extension_built() else "default")
    modes = list(MODES) if mode == "both" else [mode]
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench_summary_") as tmp:
        summary = Path(tmp) / "summary.jsonl"
        for script in benchmarks(args.names):
            for m in modes:
                label = script.stem if len(modes) == 1 else f"{script.stem} ({m})"
                print(f"== {label} ==", flush=True)
                start = time.perf_counter()
                code = run_one(script, m, summary, options)
                print(f"({label}: {time.perf_counter() - start:.0f} s, exit {code})\n", flush=True)
                if code != 0:
                    failed.append(label)
        print("== summary: issue 14's table (ratios ours / TS unless noted, one run) ==")
        print(table(summary), flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
