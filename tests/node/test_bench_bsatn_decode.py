"""bench/bsatn_decode.py runs end to end on a small input, and both decoders agree on it.

Not a timing test: it checks the benchmark's plumbing and its guard (the cross-check of our
decoder against the official TypeScript decoder on the same bytes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from node_support import requires_node

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

pytestmark = requires_node()


def test_small_run_agrees_with_typescript_and_prints_the_table() -> None:
    pytest.importorskip("spacetimedb_sdk.sats.bsatn")
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bsatn_decode.py"),
            *("--rows", "1500", "--repetitions", "1", "--warmup", "0"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "sampled rows agree on all sides" in lines[0]
    assert "compiled extension: " in lines[0]  # which decoder "ours" is
    assert lines[1].split() == [
        *("case", "rows", "B/row", "TS", "rows/s", "ours", "rows/s", "ours/TS"),
        *("Python", "rows/s", "Python/TS"),
    ]
    cases = {line.split()[0]: line.split() for line in lines[3:]}
    assert set(cases) == {"large_table", "message"}
    for cells in cases.values():
        assert cells[1] == "1,500" and float(cells[5]) > 0 and float(cells[7]) > 0


@pytest.fixture()
def bench_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    import bsatn_decode

    return bsatn_decode


def test_guard_names_the_first_differing_field(bench_module: ModuleType) -> None:
    first_difference = bench_module.first_difference
    row = {"a": "1", "v": {"b": ["3", "4"]}}
    assert first_difference(row, row) is None
    changed = {"a": "1", "v": {"b": ["3", "5"]}}
    assert first_difference(row, changed) == "row.v.b[1]: '4' != '5'"
    assert first_difference(row, {"a": "1"}) == "row: keys ['a', 'v'] != ['a']"


def test_renderings_of_special_values_match_the_node_side(bench_module: ModuleType) -> None:
    """Python renders what node/src/bsatn_decode_bench.mjs renders for the same values."""
    from spacetimedb_sdk.sats import AlgebraicType, Identity, SumValue, Timestamp, Typespace

    render = bench_module.render
    ts = Typespace()
    node_script = (ROOT / "node" / "src" / "bsatn_decode_bench.mjs").as_posix()
    cases = [
        (AlgebraicType.identity(), Identity(5), "{__identity__: 5n}"),
        (AlgebraicType.timestamp(), Timestamp(-7), "{__timestamp_micros_since_unix_epoch__: -7n}"),
        (AlgebraicType.F32, 0.5, "0.5"),
        (AlgebraicType.F64, -0.0, "-0"),
        (AlgebraicType.U64, 2**64 - 1, "18446744073709551615n"),
        (AlgebraicType.option(AlgebraicType.STRING), None, "undefined"),
        (AlgebraicType.option(AlgebraicType.STRING), "x", "'x'"),
        (AlgebraicType.array(AlgebraicType.U8), b"\x01\xff", "Uint8Array.of(1, 255)"),
        (
            AlgebraicType.sum([("A", AlgebraicType.unit()), ("B", AlgebraicType.I8)]),
            SumValue("A"),
            "{tag: 'A', value: {}}",
        ),
    ]
    js = "\n".join(
        f"console.log(JSON.stringify(render(typeFromSatsJson({json.dumps(ty.to_json())}), {value_js}, {{types: []}})));"
        for ty, _, value_js in cases
    )
    program = f"import {{ render, typeFromSatsJson }} from '{node_script}';\n{js}\n"
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", program],
        cwd=ROOT / "node",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    node_renderings = [json.loads(line) for line in proc.stdout.splitlines()]
    ours = [render(ty, value, ts) for ty, value, _ in cases]
    assert ours == node_renderings
