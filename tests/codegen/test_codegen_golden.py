"""The quickstart-chat bindings, pinned file by file.

The golden files in ``golden/quickstart_chat`` are the generator's output for
``tests/fixtures/moduledefs/quickstart-chat.v10.json`` (the module definition the
official TypeScript tooling builds) with the version in the header fixed, so a
release does not change them.  After an intended change of the output, regenerate
them with ``UPDATE_GOLDEN=1 pytest tests/codegen/test_codegen_golden.py`` and review
the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

from spacetimedb_sdk.codegen import load_schema, render

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "quickstart_chat"
SCHEMA = HERE.parents[1] / "tests" / "fixtures" / "moduledefs" / "quickstart-chat.v10.json"
VERSION = "2.0.0"


def test_chat_bindings_match_the_golden_files() -> None:
    files = render(load_schema(SCHEMA), version=VERSION)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for old in GOLDEN.iterdir():
            old.unlink()
        for name, text in files.items():
            (GOLDEN / f"{name}.golden").write_text(text, encoding="utf-8")
    golden = {
        p.name.removesuffix(".golden"): p.read_text(encoding="utf-8") for p in GOLDEN.iterdir()
    }
    assert sorted(golden) == sorted(files)
    for name, text in files.items():
        assert text == golden[name], f"{name} differs from golden/quickstart_chat/{name}.golden"
