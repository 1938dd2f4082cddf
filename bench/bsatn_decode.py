#!/usr/bin/env python3
"""BSATN row decoding: our decoder beside the official TypeScript one, on the same bytes.

Two row types, both taken from module definitions in ``tests/fixtures/moduledefs/``:

- ``large_table``: the upstream SDK test table with 22 columns of every kind (all integer
  widths, floats, a string, enums with and without payloads, nested structs of every primitive
  and of every vector), from ``sdk-test-ts.v10.json``;
- ``message``: the quickstart chat row ``{sender: Identity, sent: Timestamp, text: String}``,
  from ``quickstart-chat.v10.json``.

For each, 100k rows of deterministic pseudo-random values (fixed seed) are encoded with our
encoder into one buffer, laid out like a ``BsatnRowList``'s ``rowsData``. We time
``codec_for(row_type, typespace).decode_rows(data)`` twice: with the compiled extension (where
it is built) and with the pure-Python decoder (what ``SPACETIMEDB_SDK_NO_EXTENSIONS=1`` runs);
``node/src/bsatn_decode_bench.mjs`` times
the package ``spacetimedb``'s deserializer in the loop its SDK runs over a row list. Both sides
warm up, run several repetitions and keep the best. Before printing, sampled rows (every 100th
and the last) are rendered to canonical JSON on both sides and compared, so a decoder that reads
garbage fails the benchmark instead of winning it.

Run: ``make bench`` or ``.venv/bin/python bench/bsatn_decode.py [--rows N] [--repetitions R]``.
The figures are one run's ratios on one machine; compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _summary import record
from _util import (
    FIXTURES,
    NODE_DIR,
    best_seconds,
    format_table,
    rate,
    run_node_json,
)

from spacetimedb_sdk.sats import (
    AlgebraicType,
    ArrayType,
    ConnectionId,
    Identity,
    PrimitiveType,
    ProductType,
    ScheduleAt,
    Some,
    SumType,
    SumValue,
    TimeDuration,
    Timestamp,
    Typespace,
)
from spacetimedb_sdk.sats.values import Err, Ok

SEED = 20_240_601
NODE_SCRIPT = NODE_DIR / "src" / "bsatn_decode_bench.mjs"
SAMPLE_EVERY = 100
_INT_RANGES = {
    f"{sign}{bits}": (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    if sign == "I"
    else (0, (1 << bits) - 1)
    for sign in "IU"
    for bits in (8, 16, 32, 64, 128, 256)
}
# Mostly ASCII like real text, with some 2-, 3- and 4-byte UTF-8 to keep decoders honest.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?é☃😀"


@dataclass(frozen=True)
class Case:
    """One benchmark case: a row type, its typespace, and the same in SATS-JSON for Node."""

    name: str
    row_type: AlgebraicType
    typespace: Typespace
    row_type_json: Any
    typespace_json: list[Any]
    max_text: int


def table_case(name: str, moduledef: str, table: str, *, max_text: int) -> Case:
    """The row type of ``table`` in a V10 module definition fixture (SATS-JSON).

    Example: ``table_case("message", "quickstart-chat.v10.json", "message", max_text=80)``.
    """
    path = FIXTURES / "moduledefs" / moduledef
    sections = {
        key: value
        for section in json.loads(path.read_text())["V10"]["sections"]
        for key, value in section.items()
    }
    types_json = sections["Typespace"]["types"]
    tables = {t["source_name"]: t for t in sections["Tables"]}
    if table not in tables:
        raise SystemExit(f"{path.name} has no table {table!r}; it has {sorted(tables)}")
    ref = tables[table]["product_type_ref"]
    typespace = Typespace.from_json(types_json)
    return Case(name, typespace[ref], typespace, types_json[ref], types_json, max_text)


def cases() -> list[Case]:
    """The benchmark's cases, in the order they are printed."""
    return [
        table_case("large_table", "sdk-test-ts.v10.json", "largeTable", max_text=24),
        table_case("message", "quickstart-chat.v10.json", "message", max_text=80),
    ]


# ---- deterministic values ----------------------------------------------------------------


class ValueGen:
    """Pseudo-random generic values of a SATS type (the SDK's generic representation).

    Example::

        >>> gen = ValueGen(Typespace(), random.Random(1), max_text=8)
        >>> isinstance(gen.value(AlgebraicType.U32), int)
        True
    """

    def __init__(self, typespace: Typespace, rng: random.Random, *, max_text: int) -> None:
        self.typespace = typespace
        self.rng = rng
        self.max_text = max_text

    def value(self, ty: AlgebraicType) -> Any:
        ty = self.typespace.resolve(ty)
        if isinstance(ty, PrimitiveType):
            return self._primitive(ty.kind)
        if isinstance(ty, ArrayType):
            if self.typespace.resolve(ty.elem) == AlgebraicType.U8:
                return self.rng.randbytes(self.rng.randrange(9))
            return [self.value(ty.elem) for _ in range(self.rng.randrange(4))]
        if isinstance(ty, ProductType):
            return self._product(ty)
        if isinstance(ty, SumType):
            return self._sum(ty)
        raise TypeError(f"no value generator for {ty!r}")

    def _primitive(self, kind: str) -> Any:
        rng = self.rng
        if kind in _INT_RANGES:
            lo, hi = _INT_RANGES[kind]
            return rng.randint(lo, hi)
        if kind == "Bool":
            return rng.random() < 0.5
        if kind == "F32":
            return struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0]
        if kind == "F64":
            return rng.uniform(-1e12, 1e12)
        if kind == "String":
            return "".join(rng.choices(_ALPHABET, k=rng.randrange(self.max_text + 1)))
        raise TypeError(f"no value generator for primitive {kind}")

    def _product(self, ty: ProductType) -> Any:
        rng = self.rng
        special = ty.special_kind()
        if special == "__identity__":
            return Identity(rng.getrandbits(256))
        if special == "__connection_id__":
            return ConnectionId(rng.getrandbits(128))
        if special == "__uuid__":
            return uuid.UUID(int=rng.getrandbits(128))
        if special == "__timestamp_micros_since_unix_epoch__":
            return Timestamp(1_700_000_000_000_000 + rng.randrange(10**14))
        if special == "__time_duration_micros__":
            return TimeDuration(rng.randint(-(10**12), 10**12))
        if not ty.elements:
            return {}
        return {
            name: self.value(e.algebraic_type)
            for name, e in zip(ty.names(), ty.elements, strict=True)
        }

    def _sum(self, ty: SumType) -> Any:
        index = self.rng.randrange(len(ty.variants))
        variant = ty.variants[index]
        if ty.is_option():
            if index == 1:
                return None
            inner = self.value(variant.algebraic_type)
            nested = self.typespace.resolve(variant.algebraic_type)
            return Some(inner) if isinstance(nested, SumType) and nested.is_option() else inner
        if ty.is_result():
            payload = self.value(variant.algebraic_type)
            return Ok(payload) if index == 0 else Err(payload)
        if ty.is_schedule_at():
            payload = self.value(variant.algebraic_type)
            return ScheduleAt.Interval(payload) if index == 0 else ScheduleAt.Time(payload)
        payload_type = self.typespace.resolve(variant.algebraic_type)
        payload = None if payload_type.is_unit() else self.value(payload_type)
        return SumValue(variant.name or str(index), payload)


# ---- canonical rendering (must match render() in node/src/bsatn_decode_bench.mjs) --------


def render(ty: AlgebraicType, value: Any, typespace: Typespace) -> Any:
    """A decoded value as canonical JSON, led by its type.

    Ints are decimal strings, floats the hex of their little-endian bits, bytes hex, products
    objects, sums ``{variant: payload}``, options ``{"some": v}`` / ``{"none": {}}``.

    Example::

        >>> render(AlgebraicType.F32, 1.0, Typespace())
        '0000803f'
    """
    ty = typespace.resolve(ty)
    if isinstance(ty, PrimitiveType):
        if ty.kind in ("Bool", "String"):
            return value
        if ty.kind == "F32":
            return struct.pack("<f", value).hex()
        if ty.kind == "F64":
            return struct.pack("<d", value).hex()
        return str(value)
    if isinstance(ty, ArrayType):
        if typespace.resolve(ty.elem) == AlgebraicType.U8:
            return bytes(value).hex()
        return [render(ty.elem, v, typespace) for v in value]
    if isinstance(ty, ProductType):
        return _render_product(ty, value, typespace)
    if isinstance(ty, SumType):
        return _render_sum(ty, value, typespace)
    raise TypeError(f"cannot render a value of {ty!r}")


_SPECIAL_INT: dict[str, Callable[[Any], int]] = {
    "__identity__": int,
    "__connection_id__": int,
    "__uuid__": lambda u: int(u.int),
    "__timestamp_micros_since_unix_epoch__": lambda t: int(t.micros),
    "__time_duration_micros__": lambda d: int(d.micros),
}


def _render_product(ty: ProductType, value: Any, typespace: Typespace) -> Any:
    special = ty.special_kind()
    if special is not None:
        return {special: str(_SPECIAL_INT[special](value))}
    if not ty.elements:
        return {}
    return {
        name: render(e.algebraic_type, value[name], typespace)
        for name, e in zip(ty.names(), ty.elements, strict=True)
    }


def _render_sum(ty: SumType, value: Any, typespace: Typespace) -> Any:
    if ty.is_option():
        if value is None:
            return {"none": {}}
        inner = value.value if isinstance(value, Some) else value
        return {"some": render(ty.variants[0].algebraic_type, inner, typespace)}
    if ty.is_result():
        if isinstance(value, Ok):
            return {"ok": render(ty.variants[0].algebraic_type, value.value, typespace)}
        return {"err": render(ty.variants[1].algebraic_type, value.error, typespace)}
    if ty.is_schedule_at():
        if isinstance(value, ScheduleAt.Interval):
            return {"Interval": render(ty.variants[0].algebraic_type, value.duration, typespace)}
        return {"Time": render(ty.variants[1].algebraic_type, value.time, typespace)}
    index = ty.variant_index(value.tag)
    return {value.tag: render(ty.variants[index].algebraic_type, value.value, typespace)}


def samples(case: Case, rows: list[Any]) -> list[list[Any]]:
    """``[index, rendering]`` for every ``SAMPLE_EVERY``-th row and the last one."""
    indices = list(range(0, len(rows), SAMPLE_EVERY))
    if rows and indices[-1] != len(rows) - 1:
        indices.append(len(rows) - 1)
    return [[i, render(case.row_type, rows[i], case.typespace)] for i in indices]


def first_difference(a: Any, b: Any, path: str = "row") -> str | None:
    """Where two renderings first differ, e.g. ``row.v.b[2]: '3' != '4'``, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


# ---- the run -----------------------------------------------------------------------------


@dataclass
class Prepared:
    """A case with its encoded rows and our side's measurements (with the compiled extension
    and with the pure-Python decoder)."""

    case: Case
    data_path: Path
    n_rows: int
    n_bytes: int
    ours_seconds: float = 0.0
    ours_samples: list[list[Any]] | None = None
    python_seconds: float = 0.0
    python_samples: list[list[Any]] | None = None


def encode_rows(case: Case, n_rows: int, bsatn: Any) -> bytes:
    """``n_rows`` deterministic rows, encoded back to back with our encoder."""
    gen = ValueGen(case.typespace, random.Random(f"{SEED}:{case.name}"), max_text=case.max_text)
    return b"".join(
        bsatn.encode(case.row_type, gen.value(case.row_type), case.typespace) for _ in range(n_rows)
    )


def measure_ours(prep: Prepared, bsatn: Any, repetitions: int, warmup: int) -> None:
    """Time our ``decode_rows`` on the case's bytes, with the extension (where it is built)
    and with the pure-Python decoder (``SPACETIMEDB_SDK_NO_EXTENSIONS=1``'s code path), and
    keep both's sampled renderings."""
    codec = bsatn.codec_for(prep.case.row_type, prep.case.typespace)
    prep.ours_seconds, prep.ours_samples = time_decode(prep, codec, repetitions, warmup)
    python = bsatn._python_only(codec)
    prep.python_seconds, prep.python_samples = time_decode(prep, python, repetitions, warmup)


def time_decode(
    prep: Prepared, codec: Any, repetitions: int, warmup: int
) -> tuple[float, list[list[Any]]]:
    data = prep.data_path.read_bytes()
    result: list[list[Any]] = []

    def decode() -> None:
        result.append(codec.decode_rows(data))

    # Freeing the previous run's rows is left out of the timing, like the garbage collection
    # Node does after its own loop; the two sides then hold one result at a time.
    seconds = best_seconds(decode, repetitions=repetitions, warmup=warmup, before=result.clear)
    rows = result[0]
    if len(rows) != prep.n_rows:
        raise SystemExit(f"{prep.case.name}: we decoded {len(rows)} rows, expected {prep.n_rows}")
    return seconds, samples(prep.case, rows)


def measure_ts(prep: Prepared, workdir: Path, repetitions: int, warmup: int) -> Any:
    """Time the Node side on one case's file, in a fresh Node process (same repetition scheme).

    A process per case keeps one case's heap from weighing on the next one's garbage collection.
    """
    spec = {
        "repetitions": repetitions,
        "warmup": warmup,
        "cases": [
            {
                "name": prep.case.name,
                "type": prep.case.row_type_json,
                "typespace": prep.case.typespace_json,
                "data": str(prep.data_path),
                "rows": prep.n_rows,
                "sample_every": SAMPLE_EVERY,
            }
        ],
    }
    spec_path = workdir / f"{prep.case.name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    return run_node_json(NODE_SCRIPT, [str(spec_path)], timeout=1800)


def check_agreement(prep: Prepared, ts_case: Any) -> None:
    """Fail loudly unless both decoders produced the same rows at every sampled index."""
    if ts_case["rows"] != prep.n_rows:
        raise SystemExit(f"{prep.case.name}: TypeScript decoded {ts_case['rows']} rows")
    theirs = ts_case["samples"]
    for who, ours in (("ours", prep.ours_samples), ("ours (Python)", prep.python_samples)):
        ours = ours or []
        if [i for i, _ in ours] != [i for i, _ in theirs]:
            raise SystemExit(f"{prep.case.name}: {who} and TS sampled different rows")
        for (index, a), (_, b) in zip(ours, theirs, strict=True):
            diff = first_difference(a, b)
            if diff:
                raise SystemExit(
                    f"{prep.case.name}: {who} and TS disagree on row {index} at {diff}"
                )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per case (100000)")
    parser.add_argument("--repetitions", type=int, default=5, help="timed runs, best kept (5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (2)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from spacetimedb_sdk import _speedups
        from spacetimedb_sdk.sats import bsatn
    except ImportError as exc:
        raise SystemExit(f"spacetimedb_sdk.sats.bsatn is not importable: {exc}") from exc

    with tempfile.TemporaryDirectory(prefix="bsatn_decode_") as tmp:
        workdir = Path(tmp)
        table = []
        ratios = []
        for case in cases():
            print(f"{case.name}: encoding and decoding {args.rows:,} rows...", file=sys.stderr)
            data = encode_rows(case, args.rows, bsatn)
            path = workdir / f"{case.name}.bin"
            path.write_bytes(data)
            prep = Prepared(case, path, args.rows, len(data))
            del data
            # Both sides of a case run back to back, so they see the same machine load.
            measure_ours(prep, bsatn, args.repetitions, args.warmup)
            ts = measure_ts(prep, workdir, args.repetitions, args.warmup)
            ts_case = ts["cases"][0]
            check_agreement(prep, ts_case)
            ours_rate = prep.n_rows / prep.ours_seconds
            python_rate = prep.n_rows / prep.python_seconds
            ts_rate = ts_case["rows_per_second"]
            ratios.append(ours_rate / ts_rate)
            table.append(
                [
                    prep.case.name,
                    f"{prep.n_rows:,}",
                    f"{prep.n_bytes / prep.n_rows:.0f}",
                    rate(ts_rate),
                    rate(ours_rate),
                    f"{ours_rate / ts_rate:.2f}",
                    rate(python_rate),
                    f"{python_rate / ts_rate:.2f}",
                ]
            )
    print(
        f"BSATN decode, best of {args.repetitions} after {args.warmup} warm-up runs; "
        f"Python {sys.version.split()[0]} ({_speedups.status()}) vs {ts['package']} on Node "
        f"{ts['node']}; sampled rows agree on all sides."
    )
    header = ["case", "rows", "B/row", "TS rows/s", "ours rows/s", "ours/TS"]
    print(format_table([*header, "Python rows/s", "Python/TS"], table))
    record("decode", ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
