"""Saving and re-using a client's token, so it keeps its identity across runs.

The file format and location match the official Rust SDK
(``~/.spacetimedb_client_credentials/<key>`` holding the BSATN of
``{token: String}``), so a Python and a Rust client can share credentials.
Set ``SPACETIMEDB_CLIENT_CREDENTIALS_DIR`` to use another folder.

Saving is atomic and leaves no token behind: the token is written to a
temporary file created with mode 0600 in the same folder
(``.<key>.<pid>.<random>.tmp``), flushed to disk, then renamed over the file.
Any error removes the temporary file.  A process killed in the middle of a save
cannot clean up, so every ``save()`` and ``load()`` removes the temporary files
of that key whose writer is gone (its process no longer runs, or the file is
older than a minute: a save takes milliseconds).  Linux's ``O_TMPFILE`` (an
unnamed file linked in when complete) was not used: it cannot replace an
existing file in one step, so it would still need a named temporary file and
this clean-up, and it exists on one platform only.

Errors of the file system (permission denied, a folder where the file should be,
a read-only disk) raise :class:`CredentialsError` naming the path, never a bare
``OSError``.

Example::

    from spacetimedb_sdk import credentials

    creds = credentials.File("my_app")
    conn = await (DbConnection.builder()
        .with_uri("http://localhost:3000").with_database_name("chat")
        .with_token(creds.load())
        .on_connect(lambda conn, identity, token: creds.save(token))
        .connect())
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import struct
import time
from pathlib import Path

from ..errors import SpacetimeDBError

CREDENTIALS_DIR_NAME = ".spacetimedb_client_credentials"
_ENV_DIR = "SPACETIMEDB_CLIENT_CREDENTIALS_DIR"
_U32 = struct.Struct("<I")
#: A temporary file older than this (seconds) belongs to a save that will never finish.
STALE_AFTER = 60.0


class CredentialsError(SpacetimeDBError):
    """A credentials file cannot be read, written or removed, or is corrupt; says which path.

    Example::

        try:
            token = credentials.File("my-app").load()
        except CredentialsError:
            token = None   # corrupt or unreadable: start with a new identity
    """


def credentials_dir() -> Path:
    """The folder credential files live in (``$SPACETIMEDB_CLIENT_CREDENTIALS_DIR`` or ``~/.spacetimedb_client_credentials``).

    Example::

        print(credentials_dir())   # /home/me/.spacetimedb_client_credentials
    """
    override = os.environ.get(_ENV_DIR)
    if override:
        return Path(override)
    try:
        return Path.home() / CREDENTIALS_DIR_NAME
    except RuntimeError as e:  # no HOME and no password entry
        raise CredentialsError(
            f"cannot find the home folder for credentials ({e}); set {_ENV_DIR}"
        ) from None


def _os_error(action: str, path: Path, e: OSError) -> CredentialsError:
    reason = e.strerror or str(e)
    hint = {
        "EACCES": "check the permissions of the file and its folder",
        "EPERM": "check the permissions of the file and its folder",
        "EISDIR": "a folder is where the file should be; remove or rename it",
        "ENOTDIR": "a file is where a folder should be; remove or rename it",
        "EEXIST": "a file is where a folder should be; remove or rename it",
        "EROFS": f"the file system is read-only; set {_ENV_DIR} to a writable folder",
        "ENOSPC": "the disk is full",
    }.get(_errno_name(e), "")
    return CredentialsError(
        f"cannot {action} credentials file {path}: {reason}" + (f" ({hint})" if hint else "")
    )


def _errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno or 0, "")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's (EPERM): alive
        return True
    return True


class File:
    """One stored token, named by ``key`` (use one key per application and server).

    Example::

        >>> f = File("my_app")
        >>> f.save("eyJ...")  # doctest: +SKIP
        >>> f.load()          # doctest: +SKIP
        'eyJ...'
    """

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        if not key or "/" in key or "\\" in key or key in (".", ".."):
            raise ValueError(f"credentials key must be a plain file name, got {key!r}")
        self.key = key

    @property
    def path(self) -> Path:
        """The file this key's token is stored in.

        Example::

            print(File("my-app").path)   # ~/.spacetimedb_client_credentials/my-app
        """
        return credentials_dir() / self.key

    def load(self) -> str | None:
        """The saved token, or ``None`` if none was saved.

        Example::

            builder.with_token(File("my-app").load())
        """
        path = self.path
        self._remove_stale_temporaries(path.parent)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _os_error("read", path, e) from None
        if len(data) < 4 or _U32.unpack_from(data)[0] != len(data) - 4:
            raise CredentialsError(
                f"credentials file {path} is corrupt (expected a BSATN string); "
                "delete it or call clear() to start with a new identity"
            )
        try:
            return data[4:].decode("utf-8")
        except UnicodeDecodeError:
            raise CredentialsError(
                f"credentials file {path} is corrupt (the token is not valid UTF-8); "
                "delete it or call clear() to start with a new identity"
            ) from None

    def save(self, token: str) -> None:
        """Store ``token`` atomically with mode 0600 (the folder is created 0700).

        Example::

            builder.on_connect(lambda conn, identity, token: File("my-app").save(token))
        """
        path = self.path
        folder = path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise _os_error("create the folder for", path, e) from None
        self._remove_stale_temporaries(folder)
        raw = token.encode("utf-8")
        tmp = folder / f".{self.key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            # O_EXCL: never write through a file or link someone else put there; 0600 from the
            # start, so the token is never readable by others, not even for a moment.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
        except OSError as e:
            raise _os_error("write", path, e) from None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_U32.pack(len(raw)) + raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException as e:
            tmp.unlink(missing_ok=True)
            if isinstance(e, OSError):
                raise _os_error("write", path, e) from None
            raise

    def clear(self) -> None:
        """Forget the stored token (no error if there is none).

        Example::

            File("my-app").clear()   # the next connection gets a new identity
        """
        path = self.path
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            raise _os_error("remove", path, e) from None

    def _remove_stale_temporaries(self, folder: Path) -> None:
        """Remove what saves of this key that were killed midway left (best effort)."""
        prefix = f".{self.key}."
        try:
            names = [n for n in os.listdir(folder) if n.startswith(prefix)]
        except OSError:
            return  # no folder yet, or unreadable: load/save report what matters
        now = time.time()
        for name in names:
            m = _TEMP.fullmatch(name[len(prefix) :])
            if m is None:
                continue
            tmp = folder / name
            try:
                old = now - tmp.stat().st_mtime > STALE_AFTER
                pid = m.group("pid")
                if old or (pid is not None and not _pid_alive(int(pid))):
                    tmp.unlink()
            except OSError:
                continue

    def __repr__(self) -> str:
        return f"credentials.File({self.key!r})"


# ``<pid>.<hex>.tmp`` (this version), or mkstemp's 8 random characters (versions before it).
_TEMP = re.compile(r"(?P<pid>\d+)\.[0-9a-f]{8}\.tmp|[a-z0-9_]{8}")
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation

__all__ = ["CREDENTIALS_DIR_NAME", "STALE_AFTER", "CredentialsError", "File", "credentials_dir"]
