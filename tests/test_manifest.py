"""The copied fixtures are byte-identical to what the official implementation produced."""

import hashlib
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


@pytest.mark.parametrize("rel", sorted(MANIFEST["files"]))
def test_fixture_unedited(rel: str) -> None:
    data = (FIXTURES / rel).read_bytes()
    meta = MANIFEST["files"][rel]
    assert len(data) == meta["bytes"]
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
