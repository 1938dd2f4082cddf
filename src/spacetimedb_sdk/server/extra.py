"""What the ``[server]`` extra brings, and the one error a missing extra ends in.

The module API (:class:`~spacetimedb_sdk.server.Module` and friends) needs nothing beyond
the base install, so module authors and code generators can import it anywhere.  Serving
(:class:`~spacetimedb_sdk.server.LocalServer`, ``spacetimedb-py serve``, the pytest
fixture) needs aiohttp, PyJWT with cryptography, and blake3: without them those end in
:class:`ServerExtraMissing`, an ``ImportError`` whose message says what to install,
rather than a ``ModuleNotFoundError`` from deep inside the server.

Example::

    try:
        from spacetimedb_sdk.server import LocalServer
    except ImportError as e:
        print(e)   # the local server needs the [server] extra: pip install '...[server]' ...
"""

from __future__ import annotations

__all__ = ["INSTALL_SERVER_EXTRA", "SERVER_EXTRA_MODULES", "ServerExtraMissing", "missing_extra"]

INSTALL_SERVER_EXTRA = "pip install 'spacetimedb-sdk[server]'"
SERVER_EXTRA_MODULES = frozenset({"aiohttp", "jwt", "cryptography", "blake3"})
"""Top-level modules of the ``[server]`` extra's packages (PyJWT imports as ``jwt``)."""


class ServerExtraMissing(ImportError):
    """The local server was used without the ``[server]`` extra installed.

    Example::

        raise ServerExtraMissing("aiohttp")
    """

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"the local server needs the [server] extra ({missing} is not installed): "
            f"{INSTALL_SERVER_EXTRA}",
            name=missing,
        )


def missing_extra(error: ImportError) -> ServerExtraMissing | None:
    """The :class:`ServerExtraMissing` for an import that failed for want of the extra, else None.

    Example::

        try:
            import aiohttp
        except ImportError as e:
            if (missing := missing_extra(e)) is None:
                raise
            raise missing from None
    """
    root = (error.name or "").partition(".")[0]
    if isinstance(error, ModuleNotFoundError) and root in SERVER_EXTRA_MODULES:
        return ServerExtraMissing(root)
    return None
