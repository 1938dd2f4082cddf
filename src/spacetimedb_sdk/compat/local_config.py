"""A small settings file for a client, as in 0.7: mostly to keep the auth token between runs.

The file is an INI file with one ``[main]`` section, at
``~/.spacetime_python_sdk/settings.ini`` unless :func:`init` is told otherwise; files
written by 0.7 are read as they are.  Passing ``--client NAME`` on the command line
selects ``settings_NAME.ini`` instead, so several clients can run from one account.
Unlike 0.7 the file is written atomically and readable by its owner only (it holds
a token).

Example::

    import spacetimedb_sdk.local_config as local_config

    local_config.init(".my-game")
    token = local_config.get_string("auth_token")      # None on the first run
    ...                                                 # connect with it
    local_config.set_string("auth_token", new_token)   # reused by the next run
"""

from __future__ import annotations

import configparser
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping

__all__ = ["get_string", "init", "set_config", "set_string", "settings_path"]

_SECTION = "main"

config: configparser.ConfigParser | None = None
settings_path: str | None = None


def init(
    config_folder: str | None = None,
    config_file: str | None = None,
    config_root: str | None = None,
    config_defaults: Mapping[str, str] | None = None,
) -> None:
    """Load the settings file (or start an empty one with ``config_defaults``).

    The file is ``config_root/config_folder/config_file``, by default
    ``~/.spacetime_python_sdk/settings.ini``.

    Example::

        init(".spacetimedb-python-quickstart")
        init(config_root="/tmp/demo", config_defaults={"greeting": "hi"})
    """
    global config, settings_path
    root = os.path.expanduser("~") if config_root is None else config_root
    folder = ".spacetime_python_sdk" if config_folder is None else config_folder
    name = _per_client(config_file or "settings.ini", sys.argv)
    settings_path = os.path.join(root, folder, name)
    parser = configparser.ConfigParser(interpolation=None)
    if os.path.exists(settings_path):
        parser.read(settings_path, encoding="utf-8")
    if not parser.has_section(_SECTION):
        parser.add_section(_SECTION)
        for key, value in (config_defaults or {}).items():
            parser.set(_SECTION, key, value)
    config = parser


def _per_client(file_name: str, argv: list[str]) -> str:
    """``settings.ini`` → ``settings_NAME.ini`` when the program got ``--client NAME``."""
    if "--client" not in argv:
        return file_name
    i = argv.index("--client")
    if i + 1 >= len(argv):
        raise ValueError("--client needs a name after it (e.g. --client alice)")
    stem, dot, ext = file_name.partition(".")
    return f"{stem}_{argv[i + 1]}{dot}{ext}"


def get_string(key: str) -> str | None:
    """The value stored under ``key``, or ``None``.

    Example::

        token = get_string("auth_token")
    """
    return _config().get(_SECTION, key, fallback=None)


def set_string(key: str, value: str) -> None:
    """Store ``value`` under ``key`` and save the file.

    Example::

        set_string("auth_token", token)
    """
    _config().set(_SECTION, key, value)
    _save()


def set_config(items: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
    """Store several ``(key, value)`` pairs and save once.

    Example::

        set_config({"server": "localhost:3000", "database": "quickstart-chat"})
    """
    parser = _config()
    pairs = items.items() if isinstance(items, Mapping) else items
    for key, value in pairs:
        parser.set(_SECTION, key, value)
    _save()


def _config() -> configparser.ConfigParser:
    if config is None:
        raise RuntimeError("call spacetimedb_sdk.local_config.init() before reading or writing it")
    return config


def _save() -> None:
    assert settings_path is not None
    parser = _config()
    folder = os.path.dirname(settings_path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            parser.write(f)
        os.chmod(tmp, 0o600)  # it holds a token
        os.replace(tmp, settings_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
