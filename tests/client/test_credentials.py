"""Credential files: Rust-SDK-compatible format, 0600, atomic, clear errors."""

import os
import re
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


# ---- a killed save, and OS errors (issue 12) -------------------------------------------------

KILLED_SAVE = """
import os, sys, time
from spacetimedb_sdk import credentials

def stall(fd):  # the token is written, not yet renamed into place: be killed here
    print("writing", flush=True)
    time.sleep(120)

os.fsync = stall
credentials.File("app").save(sys.argv[1])
"""


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != "app")


@pytest.mark.parametrize("then", ["load", "save"])
def test_a_killed_save_leaves_no_token_behind(creds_dir: Path, then: str) -> None:
    import signal
    import subprocess
    import sys

    f = credentials.File("app")
    f.save("the-old-token")
    secret = "eyJkilled.in.the-middle"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, secret],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()
    # The killed save left its temporary file, token inside, mode 0600...
    (left,) = temporaries(creds_dir)
    assert secret.encode() in (creds_dir / left).read_bytes()
    assert stat.S_IMODE(os.stat(creds_dir / left).st_mode) == 0o600
    # ...and the next load or save of that key removes it; the old token is intact.
    if then == "load":
        assert f.load() == "the-old-token"
    else:
        f.save("a-new-token")
        assert f.load() == "a-new-token"
    assert temporaries(creds_dir) == []


def test_a_running_save_of_another_process_is_left_alone(creds_dir: Path) -> None:
    creds_dir.mkdir()
    mine = creds_dir / f".app.{os.getpid()}.0123abcd.tmp"  # a live process (this one), fresh
    mine.write_bytes(b"x")
    credentials.File("app").load()
    assert mine.exists()
    os.utime(mine, (0, 0))  # but a minute old: no save takes that long
    credentials.File("app").load()
    assert not mine.exists()


def test_a_folder_where_the_file_should_be(creds_dir: Path) -> None:
    (creds_dir / "app").mkdir(parents=True)
    f = credentials.File("app")
    for action in (f.load, lambda: f.save("tok"), f.clear):
        with pytest.raises(credentials.CredentialsError) as info:
            action()
        assert str(creds_dir / "app") in str(info.value)
        assert "a folder is where the file should be" in str(info.value)
    assert temporaries(creds_dir) == []


def test_a_file_where_the_folder_should_be(creds_dir: Path) -> None:
    creds_dir.write_bytes(b"not a folder")
    f = credentials.File("app")
    with pytest.raises(credentials.CredentialsError, match=r"a file is where a folder should be"):
        f.save("tok")
    with pytest.raises(credentials.CredentialsError, match=re.escape(str(creds_dir / "app"))):
        f.load()


@pytest.mark.parametrize(
    ("err", "says"),
    [
        (PermissionError(13, "Permission denied"), "check the permissions"),
        (OSError(30, "Read-only file system"), "read-only; set SPACETIMEDB_CLIENT_CREDENTIALS_DIR"),
        (OSError(28, "No space left on device"), "the disk is full"),
    ],
)
def test_os_errors_are_credentials_errors(
    creds_dir: Path, monkeypatch: pytest.MonkeyPatch, err: OSError, says: str
) -> None:
    """(Simulated: the tests run as root, which no permission stops.)"""
    f = credentials.File("app")
    f.save("the-old-token")

    def fail(*args: object, **kwargs: object) -> None:
        raise err

    with monkeypatch.context() as mp:  # the write fails after the temporary file exists
        mp.setattr(os, "fsync", fail)
        with pytest.raises(credentials.CredentialsError) as info:
            f.save("new")
    assert str(creds_dir / "app") in str(info.value) and says in str(info.value)
    assert not isinstance(info.value, OSError)
    assert temporaries(creds_dir) == [] and f.load() == "the-old-token"
    with monkeypatch.context() as mp:
        mp.setattr(Path, "read_bytes", fail)
        with pytest.raises(credentials.CredentialsError, match=says):
            f.load()
    with monkeypatch.context() as mp:
        mp.setattr(Path, "unlink", fail)
        with pytest.raises(credentials.CredentialsError, match=says):
            f.clear()


def test_interrupted_save_removes_its_temporary(
    creds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        credentials.File("app").save("tok")
    assert temporaries(creds_dir) == []


def test_token_that_is_not_utf8_is_corrupt(creds_dir: Path) -> None:
    creds_dir.mkdir()
    (creds_dir / "app").write_bytes(b"\x02\x00\x00\x00\xff\xfe")
    with pytest.raises(credentials.CredentialsError, match=r"corrupt.*not valid UTF-8"):
        credentials.File("app").load()
