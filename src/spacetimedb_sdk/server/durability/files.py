"""File-system helpers of the data directory: atomic writes, directory syncs, the directory lock.

A file replaced with :func:`atomic_write` is either the old one or the whole new one after a
crash, never a mix: the bytes go to a temporary file in the same folder, which is synced and then
renamed over the target, and the folder is synced so the rename itself survives power loss.  The
temporary file is created with the final mode (0600 for secrets), so a secret is never readable by
others, not even for a moment, and is removed if anything fails.

Example::

    atomic_write(Path("DIR/id_ecdsa"), pem, mode=0o600)
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .errors import DataDirLocked

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; see DirectoryLock
    fcntl = None  # type: ignore[assignment]

_O_BINARY = getattr(os, "O_BINARY", 0)
TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """Sync a folder, so that files created, renamed or deleted in it stay so after power loss."""
    if os.name == "nt":  # pragma: no cover - folders cannot be opened for syncing there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` by ``data`` atomically and durably, the new file having ``mode``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # the umask may have narrowed it; never wider than asked
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def numbered_files(folder: Path, suffix: str) -> list[int]:
    """The numbers of the files named ``<20 digits><suffix>`` in ``folder``, in order."""
    if not folder.is_dir():
        return []
    numbers = []
    for entry in folder.iterdir():
        stem = entry.name[: -len(suffix)]
        if entry.name.endswith(suffix) and stem.isdigit() and len(stem) == 20:
            numbers.append(int(stem))
    return sorted(numbers)


def remove_temporaries(folder: Path) -> None:
    """Delete what an :func:`atomic_write` killed midway left behind in ``folder``."""
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX):
                with contextlib.suppress(OSError):
                    entry.unlink()


class DirectoryLock:
    """An exclusive advisory lock on ``DIR/server.lock`` while a server uses the directory.

    The lock is the operating system's (``flock``), so a killed server leaves none behind; the
    file holds the holder's process id, which the error names.  Windows has no such lock here:
    there the caller must not start two servers on one directory.

    Example::

        lock = DirectoryLock.acquire(Path("DIR"))
        ...
        lock.release()
    """

    def __init__(self, fd: int | None, path: Path) -> None:
        self._fd = fd
        self.path = path

    @classmethod
    def acquire(cls, folder: Path) -> DirectoryLock:
        """Take the lock, or raise :class:`DataDirLocked` naming the process that holds it."""
        path = folder / "server.lock"
        if fcntl is None:  # pragma: no cover - Windows
            return cls(None, path)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _O_BINARY, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLocked(
                f"the data directory {str(folder)!r} is in use by another server "
                f"(process {holder}); stop it first, or use another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return cls(fd, path)

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


__all__ = ["DirectoryLock", "atomic_write", "fsync_dir", "numbered_files", "remove_temporaries"]
