"""``spacetimedb_sdk.local_config``: the 0.7 settings file (location, format, per-client files)."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from spacetimedb_sdk import local_config


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["client.py"])
    yield tmp_path
    local_config.config = None
    local_config.settings_path = None


def test_default_location_and_round_trip(home: Path) -> None:
    local_config.init()
    assert local_config.get_string("auth_token") is None
    local_config.set_string("auth_token", "eyJ.token.value")
    path = home / ".spacetime_python_sdk" / "settings.ini"
    assert local_config.settings_path == str(path)
    assert path.read_text() == "[main]\nauth_token = eyJ.token.value\n\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a token
    local_config.init()  # a new run reads it back
    assert local_config.get_string("auth_token") == "eyJ.token.value"


def test_a_file_written_by_0_7_is_read(home: Path) -> None:
    folder = home / ".spacetimedb-python-quickstart"
    folder.mkdir()
    (folder / "settings.ini").write_text("[main]\nauth_token = abc%def\nother = 1\n")
    local_config.init(".spacetimedb-python-quickstart")
    assert local_config.get_string("auth_token") == "abc%def"
    local_config.set_config({"other": "2", "more": "x"})
    local_config.init(".spacetimedb-python-quickstart")
    assert (local_config.get_string("other"), local_config.get_string("more")) == ("2", "x")


def test_defaults_root_and_per_client_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["client.py", "--client", "alice"])
    root = tmp_path / "elsewhere"
    local_config.init("cfg", config_root=str(root), config_defaults={"greeting": "hi"})
    assert local_config.get_string("greeting") == "hi"
    local_config.set_string("auth_token", "t")
    assert (root / "cfg" / "settings_alice.ini").is_file()
    assert not (home / ".spacetime_python_sdk").exists()


def test_use_before_init_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"local_config\.init\(\)"):
        local_config.get_string("auth_token")
    monkey_argv = ["client.py", "--client"]
    with pytest.raises(ValueError, match="--client needs a name"):
        local_config._per_client("settings.ini", monkey_argv)
