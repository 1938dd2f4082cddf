"""Saving and re-using a client's token, so it keeps its identity across runs.

The file format and location match the official Rust SDK
(``~/.spacetimedb_client_credentials/<key>`` holding the BSATN of
``{token: String}``), so a Python and a Rust client can share credentials.
Files are written atomically (temporary file + ``os.replace``) with mode 0600.
Set ``SPACETIMEDB_CLIENT_CREDENTIALS_DIR`` to use another folder.

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

import os
import struct
import tempfile
from pathlib import Path

from ..errors import SpacetimeDBError

CREDENTIALS_DIR_NAME = ".spacetimedb_client_credentials"
_ENV_DIR = "SPACETIMEDB_CLIENT_CREDENTIALS_DIR"
_U32 = struct.Struct("<I")


class CredentialsError(SpacetimeDBError):
    """A credentials file exists but cannot be read or written.

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
    return Path(override) if override else Path.home() / CREDENTIALS_DIR_NAME


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
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise CredentialsError(
                f"cannot read credentials file {self.path}: {e.strerror}"
            ) from None
        if len(data) < 4 or _U32.unpack_from(data)[0] != len(data) - 4:
            raise CredentialsError(
                f"credentials file {self.path} is corrupt (expected a BSATN string); "
                "delete it or call clear() to start with a new identity"
            )
        try:
            return data[4:].decode("utf-8")
        except UnicodeDecodeError:
            raise CredentialsError(f"credentials file {self.path} is not valid UTF-8") from None

    def save(self, token: str) -> None:
        """Store ``token`` atomically with mode 0600 (the folder is created 0700).

        Example::

            builder.on_connect(lambda conn, identity, token: File("my-app").save(token))
        """
        folder = credentials_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        raw = token.encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.key}.", dir=folder)
        try:
            # mkstemp creates the file 0600, so the token is never readable by others.
            with os.fdopen(fd, "wb") as f:
                f.write(_U32.pack(len(raw)) + raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        """Forget the stored token (no error if there is none).

        Example::

            File("my-app").clear()   # the next connection gets a new identity
        """
        self.path.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"credentials.File({self.key!r})"


__all__ = ["CREDENTIALS_DIR_NAME", "CredentialsError", "File", "credentials_dir"]
