"""The optional compiled extension: hot loops in C, with pure Python always available.

``_bsatn`` (built from ``_bsatn.c`` when a C compiler is present at install time) decodes
BSATN with compiled type programs, splits row lists and checks rows' bytes without building
values; :mod:`spacetimedb_sdk.sats.bsatn` and :mod:`spacetimedb_sdk.protocol` use it when it
is there, and their own Python code otherwise, with identical results and errors.

Set ``SPACETIMEDB_SDK_NO_EXTENSIONS=1`` (any value but empty or ``0``) before importing the
SDK to force the pure-Python code paths, as with aiohttp's, msgpack's or PyYAML's switches.
``bsatn`` is the loaded module, or ``None`` when it is switched off or was not built.

Example::

    >>> from spacetimedb_sdk import _speedups
    >>> _speedups.bsatn is None or hasattr(_speedups.bsatn, "Program")
    True
"""

from __future__ import annotations

import os
from types import ModuleType

ENV_SWITCH = "SPACETIMEDB_SDK_NO_EXTENSIONS"
DISABLED = os.environ.get(ENV_SWITCH, "") not in ("", "0")

bsatn: ModuleType | None = None
if not DISABLED:
    try:
        from . import _bsatn as bsatn
    except ImportError:  # not built (no compiler at install time): the Python paths serve
        bsatn = None


def status() -> str:
    """One line saying which code paths decode, for bug reports and ``--version`` style output.

    Example::

        >>> status().startswith("compiled extension: ")
        True
    """
    if bsatn is not None:
        return "compiled extension: on"
    if DISABLED:
        return f"compiled extension: off ({ENV_SWITCH} is set)"
    return "compiled extension: not built (pure Python)"


__all__ = ["DISABLED", "ENV_SWITCH", "bsatn", "status"]
