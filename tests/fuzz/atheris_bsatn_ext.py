"""Coverage-guided differential fuzzing of the compiled BSATN extension (``make stress``).

Each input picks a codec by its first byte (the types of the official value fixtures, the
module definition's own types, every table of the fixture modules with and without their
row classes) and feeds the rest to every decoding entry point, with the extension and in
pure Python (``differential.assert_agree``).  A difference in value or error, or a crash of
the C code (a signal), stops the run with the input saved as ``crash-*``.  Seeds: the
fixtures' values, rows and module definitions.

Usage::

    python tests/fuzz/atheris_bsatn_ext.py -runs=200000 -timeout=10

(libFuzzer options are passed through.  Coverage guidance sees the Python side; the C side
is checked by the comparison, and for memory errors by running the differential tests
against an AddressSanitizer build, see ``make stress-ext-fuzz``.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing import atheris_main

with atheris.instrument_imports(include=["spacetimedb_sdk", "differential"]):
    from differential import EXT, assert_agree
    from spacetimedb_sdk.client.bindings import ModuleBindings
    from spacetimedb_sdk.sats import AlgebraicType, Typespace, bsatn
    from spacetimedb_sdk.schema import ModuleSchema
    from spacetimedb_sdk.schema.raw import RAW_MODULE_DEF, RAW_TYPESPACE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def codecs_and_seeds() -> tuple[list[bsatn.Codec], list[bytes]]:
    codecs: list[bsatn.Codec] = [bsatn.codec_for(RAW_MODULE_DEF, RAW_TYPESPACE)]
    seeds = [b"\x00" + p.read_bytes() for p in sorted((FIXTURES / "moduledefs").glob("*.bsatn"))]
    for line in (FIXTURES / "bsatn" / "values.jsonl").read_text().splitlines():
        case = json.loads(line)
        ts = Typespace.from_json(case["typespace"]) if "typespace" in case else None
        codec = bsatn.codec_for(AlgebraicType.from_json(case["type"]), ts)
        if codec not in codecs:
            codecs.append(codec)
        seeds.append(bytes([codecs.index(codec)]) + bytes.fromhex(case["hex"]))
    for path in sorted((FIXTURES / "moduledefs").glob("*.v10.json")):
        bindings = ModuleBindings.from_schema(ModuleSchema.from_json(path.read_text()))
        for table in bindings.tables.values():
            codecs += [table.codec, table.codec._without_classes()]
    return codecs[:256], seeds


CODECS, SEEDS = codecs_and_seeds()


def target(data: bytes) -> None:
    if data:
        assert_agree(CODECS[data[0] % len(CODECS)], data[1:])


def main() -> None:
    if EXT is None:
        raise SystemExit("the compiled extension is not loaded: nothing to compare")
    # Short inputs: a row or two per codec, many more runs per minute than the default.
    atheris_main(atheris, [sys.argv[0], "-max_len=4096", *sys.argv[1:]], SEEDS, target)


if __name__ == "__main__":
    main()
