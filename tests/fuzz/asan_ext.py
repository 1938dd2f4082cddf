"""The differential tests against an AddressSanitizer + UndefinedBehaviorSanitizer build of the
compiled extension, under ``python -X dev`` (``make stress``).

Copies ``src/`` to a temporary folder, compiles the extension there with
``-fsanitize=address,undefined`` (gcc or clang, whichever ``cc`` is), and runs the given
pytest arguments (by default the differential tests) with the sanitizer runtimes preloaded
and that copy first on the path: any out-of-bounds read or write, use after free or
undefined behaviour in the C code stops the run with a report.  Leak detection is off
(CPython itself keeps memory until exit); reference leaks are what ``bench/bsatn_rss.py``
measures.  Exits with pytest's status, or 2 where no sanitizer runtime is found.

Usage::

    python tests/fuzz/asan_ext.py                      # the differential tests
    SPACETIMEDB_EXT_EXAMPLES=5000 python tests/fuzz/asan_ext.py tests/sats -q
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEEDUPS = Path("spacetimedb_sdk") / "_speedups"
SOURCES = ("bsatn_module.c", "bsatn_program.c", "bsatn_decode.c", "bsatn_frames.c")
DEFAULT_TESTS = ["tests/sats/test_bsatn_extension.py", "tests/protocol/test_rows_extension.py"]
FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]


def runtime(cc: str, name: str) -> str | None:
    """The sanitizer runtime ``name`` the compiler links against, if it has one."""
    found = subprocess.run([cc, f"-print-file-name={name}"], capture_output=True, text=True)
    path = found.stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def main(argv: list[str]) -> int:
    cc = os.environ.get("CC", "cc")
    runtimes = [runtime(cc, "libasan.so"), runtime(cc, "libubsan.so")]
    if runtimes[0] is None:
        print(f"{cc} has no AddressSanitizer runtime (libasan.so): nothing run", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="asan-ext-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
        out = src / SPEEDUPS / ("_bsatn" + sysconfig.get_config_var("EXT_SUFFIX"))
        include = sysconfig.get_paths()["include"]
        sources = [str(src / SPEEDUPS / s) for s in SOURCES]
        compile_ = [cc, "-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer", *FLAGS]
        subprocess.run([*compile_, f"-I{include}", *sources, "-o", str(out)], check=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(src),
            "LD_PRELOAD": " ".join(r for r in runtimes if r),
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
            "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
            "SPACETIMEDB_REQUIRE_EXTENSION": "1",
        }
        pytest = [sys.executable, "-X", "dev", "-m", "pytest", "-p", "no:cacheprovider"]
        # Options alone (``-q``, as ``make stress`` passes) still select the differential tests.
        tests = argv if any(not a.startswith("-") for a in argv) else [*argv, *DEFAULT_TESTS]
        return subprocess.call([*pytest, *tests], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
