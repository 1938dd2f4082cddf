"""The data directory of a server (``serve --data-dir DIR``): its key, its owner, its databases.

.. code-block:: text

    DIR/
      id_ecdsa              the server's ES256 signing key (PKCS#8 PEM, mode 0600)
      id_ecdsa.pub          its public key (PEM)
      server.json           {"format": 1, "owner_subject": ...}: the owner identity's token subject
      server.lock           held (flock) by the server using DIR; names its process id
      databases/<database identity, hex>/
        database.json       {"format", "name", "names", "identity", "owner_identity"} and, for
                            a published database, {"program_hash", "host_type"}: written once
                            the database exists (its init reducer succeeded), again on renames
        program             the program published to it (absent for the database of the
                            module the server starts with): loaded again on start
        clog/<offset>.stlog     commit-log segments (:mod:`.commitlog`)
        snapshots/<offset>.stsnap   snapshots with the schema they follow (:mod:`.snapshots`)

The key and ``server.json`` are created on first use and never rewritten, so every token the
server signed stays valid across restarts and the owner keeps its identity.  Files holding
secrets are written atomically with mode 0600 (:func:`~.files.atomic_write`).

Example::

    data = DataDir.open("DIR")
    issuer, owner_token = data.issuer, data.owner_token()
    storage = data.database(database_identity, "quickstart-chat")
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from ..._log import get_logger
from ...sats.values import Identity
from ..auth import TokenIssuer
from . import durability
from .errors import DataDirError
from .files import DirectoryLock, atomic_write, remove_temporaries
from .storage import DatabaseStorage

log = get_logger("spacetimedb_sdk.server")

FORMAT = 1
KEY_FILE = "id_ecdsa"
PUBLIC_KEY_FILE = "id_ecdsa.pub"
SERVER_FILE = "server.json"
DATABASES = "databases"


class DataDir:
    """An open data directory (see the module docstring); :meth:`close` releases it.

    ``snapshot_bytes`` is the least log growth after which a database takes a snapshot.

    Example::

        with DataDir.open("DIR") as data:
            print(data.owner_identity)
    """

    def __init__(
        self,
        path: Path,
        lock: DirectoryLock,
        issuer: TokenIssuer,
        owner_subject: str,
        snapshot_bytes: int,
    ) -> None:
        self.path = path
        self._lock = lock
        self.issuer = issuer
        self.owner_subject = owner_subject
        self.snapshot_bytes = snapshot_bytes
        self._closed = False

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r})"

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, snapshot_bytes: int | None = None) -> DataDir:
        """Open (creating it if needed) and lock a data directory.

        ``snapshot_bytes`` defaults to :data:`~.durability.SNAPSHOT_BYTES` as it is when called.
        """
        if snapshot_bytes is None:
            snapshot_bytes = durability.SNAPSHOT_BYTES
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise DataDirError(f"--data-dir {str(folder)!r} is a file, not a directory")
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise DataDirError(f"cannot create the data directory {str(folder)!r}: {e}") from None
        lock = DirectoryLock.acquire(folder)
        try:
            remove_temporaries(folder)
            issuer = _load_key(folder)
            owner_subject = _load_server_file(folder)
        except OSError as e:
            lock.release()
            raise DataDirError(f"cannot use the data directory {str(folder)!r}: {e}") from None
        except BaseException:
            lock.release()
            raise
        return cls(folder, lock, issuer, owner_subject, snapshot_bytes)

    @property
    def owner_identity(self) -> Identity:
        """The identity that owns the databases served from this directory."""
        return self.issuer.validate(self.owner_token()).identity

    def owner_token(self) -> str:
        """A fresh token of the owner identity (the same identity on every start)."""
        return self.issuer.mint(self.owner_subject)

    def database(self, identity: Identity, name: str) -> DatabaseStorage:
        """The storage of database ``name`` (folder named by its ``identity``)."""
        return DatabaseStorage(
            self.path / DATABASES / identity.to_hex(), name, snapshot_bytes=self.snapshot_bytes
        )

    def databases(self) -> list[dict[str, Any]]:
        """The ``database.json`` of every database stored here (for serving them all again)."""
        found = []
        root = self.path / DATABASES
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                meta = DatabaseStorage(folder, folder.name).meta()
                if meta is not None:
                    found.append(meta)
        return found

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` released the directory."""
        return self._closed

    def close(self) -> None:
        """Release the directory (another server may use it then)."""
        self._closed = True
        self._lock.release()

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load_key(folder: Path) -> TokenIssuer:
    key_path, pub_path = folder / KEY_FILE, folder / PUBLIC_KEY_FILE
    if key_path.is_file():
        try:
            issuer = TokenIssuer.from_pem(key_path.read_bytes())
        except ValueError as e:
            raise DataDirError(
                f"{str(key_path)!r} is not a PEM EC P-256 private key ({e}); "
                "move it away to let the server make a new one (its tokens then stop working)"
            ) from None
        if os.name != "nt" and key_path.stat().st_mode & 0o077:
            log.warning("%s is readable by other users; chmod 600 it", key_path)
    else:
        issuer = TokenIssuer.generate()
        atomic_write(key_path, issuer.private_key_pem(), mode=0o600)
    if not pub_path.is_file():
        atomic_write(pub_path, issuer.public_key_pem().encode(), mode=0o644)
    return issuer


def _load_server_file(folder: Path) -> str:
    path = folder / SERVER_FILE
    if path.is_file():
        try:
            doc = json.loads(path.read_bytes())
            subject = doc["owner_subject"]
            if not isinstance(subject, str) or not subject:
                raise ValueError("owner_subject is not a non-empty string")
        except (ValueError, KeyError, TypeError) as e:
            raise DataDirError(
                f"{str(path)!r} is damaged ({e}); restore it from a backup"
            ) from None
        return subject
    subject = f"local-owner-{secrets.token_hex(16)}"
    doc = {"format": FORMAT, "owner_subject": subject}
    atomic_write(path, json.dumps(doc, indent=2).encode() + b"\n", mode=0o600)
    return subject


__all__ = ["DataDir"]
