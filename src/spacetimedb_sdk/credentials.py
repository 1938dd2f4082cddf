"""``spacetimedb_sdk.credentials``: save and reuse a client's token (kept at this path for users).

The implementation lives in :mod:`spacetimedb_sdk.auth.credentials`.

Example::

    from spacetimedb_sdk import credentials

    creds = credentials.File("my_app")
    token = creds.load()   # None the first time
"""

from .auth.credentials import CREDENTIALS_DIR_NAME, CredentialsError, File, credentials_dir

__all__ = ["CREDENTIALS_DIR_NAME", "CredentialsError", "File", "credentials_dir"]
