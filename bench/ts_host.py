#!/usr/bin/env python3
"""What a call costs through the TypeScript module host, against the same module in Python.

The module (``bench/ts_host_module`` in TypeScript, ``bench/_ts_host_module.py`` in Python: one
``item`` table keyed by ``id``) is served by a :class:`LocalServer` in each language, and the
same reducers are called on each:

- ``insert_item``: one insert (TypeScript: one syscall round trip to the Python datastore);
- ``rename_item``: a point lookup by primary key, then an update (two round trips);
- ``scan_items``: reads all 1,000 rows of the table (one round trip carrying every row; the
  library then iterates them in Node without further trips).

Each reducer is called in batches run as one job on the database thread (``db._call_reducer``,
which is what every front end ends in: the call, its transaction and commit, its broadcast), so
the figures are the module host's cost without the hop from the caller's thread; the last line
adds that hop (``db.call_reducer``, the direct API a fixture uses).  Best of several repetitions,
in one run, on this machine: compare the ratio, not the absolute rates.

Example::

    $ .venv/bin/python bench/ts_host.py --calls 2000
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _util import ROOT, best_seconds  # noqa: E402

from spacetimedb_sdk.server.local import LocalServer, load_module  # noqa: E402


def _node_path() -> None:
    repo = str(ROOT / "node" / "node_modules")
    paths = [p for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    if repo not in paths:
        os.environ["NODE_PATH"] = os.pathsep.join([repo, *paths])


def measure(module: Any, calls: int, repetitions: int) -> dict[str, float]:
    """Seconds per call of each case on a fresh database of ``module``."""
    out: dict[str, float] = {}
    with LocalServer(module, reducer_timeout=None) as srv:
        db = srv.db
        owner = db.owner_identity

        def batch(name: str, argsets: list[tuple[Any, ...]]) -> None:
            rd = db.module.reducer_def(name)
            assert rd is not None

            def job() -> None:
                for args in argsets:
                    result = db._call_reducer(rd, args, owner, None)
                    assert result.ok, result

            db.worker.call(job)

        next_id = iter(range(10**9))
        inserts = lambda: batch("insert_item", [(next(next_id), 7, "item") for _ in range(calls)])  # noqa: E731
        out["insert_item"] = best_seconds(inserts, repetitions=repetitions, warmup=1) / calls
        renames = [(i, f"renamed {i}") for i in range(calls)]
        out["rename_item"] = (
            best_seconds(lambda: batch("rename_item", renames), repetitions=repetitions, warmup=1)
            / calls
        )
        with db.transaction() as tx:  # exactly 1,000 rows for the scan
            for row in list(tx.item.iter())[1000:]:
                tx.item.delete(row)
        assert len(db.rows("item")) == 1000
        scans = max(1, calls // 20)
        out["scan_items (1,000 rows)"] = (
            best_seconds(
                lambda: batch("scan_items", [()] * scans), repetitions=repetitions, warmup=1
            )
            / scans
        )

        def direct() -> None:
            for i in range(calls):
                assert db.call_reducer("rename_item", i % 1000, "direct").ok

        out["rename_item via db.call_reducer"] = (
            best_seconds(direct, repetitions=repetitions, warmup=1) / calls
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per batch (default 2000)")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    if args.calls < 1000:
        parser.error("--calls must be at least 1000 (the scan needs 1,000 rows)")
    _node_path()
    py = measure(load_module(HERE / "_ts_host_module.py"), args.calls, args.repetitions)
    ts_module = load_module(HERE / "ts_host_module")
    ts = measure(ts_module, args.calls, args.repetitions)
    ts_module.close()
    print(
        f"{'case':<34} {'Python µs':>10} {'TS µs':>10} {'Python/s':>10} {'TS/s':>10} {'TS/Python':>10}"
    )
    for case in py:
        p, t = py[case] * 1e6, ts[case] * 1e6
        print(f"{case:<34} {p:>10.1f} {t:>10.1f} {1e6 / p:>10.0f} {1e6 / t:>10.0f} {t / p:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
