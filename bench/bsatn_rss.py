#!/usr/bin/env python3
"""Reference leaks in the compiled BSATN extension: decode a million rows again and again and
watch the process's resident memory (RSS).

A reference the C code fails to release keeps its object alive: leaking anything per row
would add tens of megabytes per pass of a million rows, and leaking the rows themselves
hundreds.  So every entry point runs ``--passes`` times over the same rows, dropping its
result each time; after the first pass (the allocator's arenas and caches filling up) RSS
must stay flat.  The entry points: ``decode_rows``, ``split_rows``, ``validate_rows``,
``decode_each`` and ``decode`` row by row, on the quickstart ``message`` rows as dicts and as
row classes (the frozen dataclasses bindings use) and on ``large_table`` rows (every kind of
value); then the failure paths, which must release what they built before failing:
malformed rows (each cut short or with a bad tag, raising inside the C code) and rows nested
deeper than the C code recurses (handed over to the Python decoder).

Output: one line per entry point with RSS after the first and the last pass, and the growth;
exit status 1 if any grew by more than ``--limit-mb`` (default 16: allocator noise, far below
what a per-row leak costs).  Not a test: it takes a minute or two and measures memory.

Run: ``.venv/bin/python bench/bsatn_rss.py [--rows 1000000] [--passes 5]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _util import format_table
from bsatn_decode import ValueGen, cases, encode_rows

from spacetimedb_sdk import _speedups
from spacetimedb_sdk.client.bindings import ModuleBindings
from spacetimedb_sdk.errors import BsatnDecodeError
from spacetimedb_sdk.sats import AlgebraicType, Typespace, bsatn
from spacetimedb_sdk.schema import ModuleSchema

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def rss_mb() -> float:
    """Resident memory now (Linux ``/proc``), else the peak (``getrusage``)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # not Linux: the peak is the best we have (kilobytes there)
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def repeated(codec: bsatn.Codec, value_of: Callable[[random.Random], Any], rows: int) -> bytes:
    """``rows`` rows: 5,000 distinct ones, repeated (encoding a million would take long)."""
    rng = random.Random(7)
    distinct = b"".join(codec.encode(value_of(rng)) for _ in range(5_000))
    return distinct * (rows // 5_000)


def expect_failure(fn: Callable[[], object]) -> None:
    try:
        fn()
    except BsatnDecodeError:
        return
    raise SystemExit("a malformed input decoded: the benchmark's inputs are wrong")


def workloads(rows: int) -> list[tuple[str, Callable[[], object]]]:
    """(name, one pass) for every entry point and failure path."""
    message_case, large_case = cases()[1], cases()[0]
    plain = bsatn.codec_for(message_case.row_type, message_case.typespace)
    gen = ValueGen(message_case.typespace, random.Random(1), max_text=message_case.max_text)
    msgs = repeated(plain, lambda _: gen.value(message_case.row_type), rows)
    chat = ModuleBindings.from_schema(
        ModuleSchema.from_json((FIXTURES / "moduledefs" / "quickstart-chat.v10.json").read_text())
    )
    typed = next(t.codec for t in chat.tables.values() if t.name == "message")
    one_each = plain.split_rows(msgs)
    large = bsatn.codec_for(large_case.row_type, large_case.typespace)
    large_rows = encode_rows(large_case, 2_000, bsatn) * (rows // 20_000)
    bad = [r[:-1] for r in one_each[: rows // 10]]  # each cut short: fails inside the C code
    linked = Typespace((AlgebraicType.product({"head": AlgebraicType.I32,
                        "tail": AlgebraicType.option(AlgebraicType.ref(0))}),))  # fmt: skip
    deep_codec = bsatn.codec_for(AlgebraicType.ref(0), linked)
    deep_value: Any = None
    for i in range(300):  # deeper than the C code recurses: the Python decoder takes it
        deep_value = {"head": i, "tail": deep_value}
    deep = deep_codec.encode(deep_value)
    return [
        ("decode_rows (dicts)", lambda: plain.decode_rows(msgs)),
        ("decode_rows (row classes)", lambda: typed.decode_rows(msgs)),
        ("decode_rows (large_table, 1/10 rows)", lambda: large.decode_rows(large_rows)),
        ("split_rows", lambda: plain.split_rows(msgs)),
        ("validate_rows", lambda: plain.validate_rows(one_each)),
        ("decode_each (row classes)", lambda: typed.decode_each(one_each)),
        ("decode, row by row", lambda: [plain.decode(r) for r in one_each]),
        ("malformed rows (1/10 rows)", lambda: [expect_failure(lambda r=r: plain.decode(r)) for r in bad]),
        ("too deep for C (1/1000 rows)", lambda: [deep_codec.decode(deep) for _ in range(rows // 1000)]),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per pass (1000000)")
    parser.add_argument("--passes", type=int, default=5, help="passes per entry point (5)")
    parser.add_argument("--limit-mb", type=float, default=16.0, help="allowed growth (16)")
    args = parser.parse_args(argv)
    if _speedups.bsatn is None:
        print(f"nothing to measure: {_speedups.status()}")
        return 0
    print(f"building {args.rows:,} rows per workload...", file=sys.stderr)
    table, grew = [], []
    for name, one_pass in workloads(args.rows):
        readings = []
        for _ in range(args.passes):
            result = one_pass()
            del result
            gc.collect()
            readings.append(rss_mb())
        growth = readings[-1] - readings[0]
        if growth > args.limit_mb:
            grew.append(name)
        table.append([name, f"{readings[0]:.0f}", f"{readings[-1]:.0f}", f"{growth:+.1f}"])
        print(f"{name}: {' '.join(f'{r:.0f}' for r in readings)} MB", file=sys.stderr)
    print(
        f"RSS over {args.passes} passes of {args.rows:,} rows per entry point "
        f"(Python {sys.version.split()[0]}, {_speedups.status()})"
    )
    print(
        format_table(["entry point", "after 1 MB", f"after {args.passes} MB", "growth MB"], table)
    )
    if grew:
        print(f"grew by more than {args.limit_mb} MB: {', '.join(grew)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
