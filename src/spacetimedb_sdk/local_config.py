"""The 0.7 module path of the settings file, kept for 0.7 code (python-api.md §10).

The implementation lives in :mod:`spacetimedb_sdk.compat.local_config`.  0.7 code
reads and sets this module's globals (``local_config.config``,
``local_config.settings_path``), so this path *is* that module: importing it
hands out the implementation module itself, not a copy of its names.

Example::

    import spacetimedb_sdk.local_config as local_config

    local_config.init(".my-game")
    token = local_config.get_string("auth_token")
"""

import sys

from .compat import local_config as _implementation
from .compat.local_config import (
    get_string,
    init,
    set_config,
    set_string,
    settings_path,
)

# One module under both names, so that assigning its globals works from either path.
sys.modules[__name__] = _implementation

__all__ = ["get_string", "init", "set_config", "set_string", "settings_path"]
