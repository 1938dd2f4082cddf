"""Credential files: Rust-SDK-compatible format, 0600, atomic, clear errors."""

import os
import stat
from pathlib import Path

import pytest

from spacetimedb_sdk import credentials


@pytest.fixture(autouse=True)
def creds_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "creds"
    monkeypatch.setenv("SPACETIMEDB_CLIENT_CREDENTIALS_DIR", str(d))
    return d


def test_missing_file_loads_none() -> None:
    assert credentials.File("app").load() is None


def test_save_load_roundtrip_and_format(creds_dir: Path) -> None:
    f = credentials.File("app")
    f.save("tok-é")
    assert f.load() == "tok-é"
    # BSATN of {token: String}: u32 LE length then UTF-8, as the Rust SDK writes it.
    raw = (creds_dir / "app").read_bytes()
    assert raw == len("tok-é".encode()).to_bytes(4, "little") + "tok-é".encode()


def test_file_mode_is_0600_and_no_temp_left(creds_dir: Path) -> None:
    credentials.File("app").save("secret")
    mode = stat.S_IMODE(os.stat(creds_dir / "app").st_mode)
    assert mode == 0o600
    assert sorted(p.name for p in creds_dir.iterdir()) == ["app"]


def test_overwrite_replaces_atomically(creds_dir: Path) -> None:
    f = credentials.File("app")
    f.save("one")
    f.save("two")
    assert f.load() == "two"


def test_clear() -> None:
    f = credentials.File("app")
    f.save("x")
    f.clear()
    assert f.load() is None
    f.clear()  # idempotent


def test_corrupt_file_raises_clear_error(creds_dir: Path) -> None:
    creds_dir.mkdir()
    (creds_dir / "app").write_bytes(b"\xff\xff\xff\xffjunk")
    with pytest.raises(credentials.CredentialsError, match="corrupt"):
        credentials.File("app").load()


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_bad_keys_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        credentials.File(bad)


def test_repr_has_no_token() -> None:
    f = credentials.File("app")
    f.save("eyJsecret.payload.sig")
    assert "eyJ" not in repr(f)
