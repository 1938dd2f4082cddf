"""Example modules shipped inside the package, for ``spacetimedb-py serve --example NAME``.

They make the quickstart work after a plain ``pip install`` (no clone of the repository):
:func:`load_example` returns the :class:`~spacetimedb_sdk.server.Module` an example name
stands for, and :data:`EXAMPLES` lists the names.

Example::

    >>> from spacetimedb_sdk.server.examples import EXAMPLES, load_example
    >>> sorted(EXAMPLES)
    ['quickstart-chat']
    >>> load_example("quickstart-chat").name
    'quickstart-chat'
"""

from __future__ import annotations

import importlib

from ..module import Module

__all__ = ["EXAMPLES", "load_example"]

EXAMPLES: dict[str, str] = {
    "quickstart-chat": "quickstart_chat",
}
"""Example name (as ``serve --example`` takes it) -> the submodule of this package defining it."""


def load_example(name: str) -> Module:
    """The module of a shipped example; ``LookupError`` naming the examples for an unknown name.

    Example::

        module = load_example("quickstart-chat")
    """
    submodule = EXAMPLES.get(name)
    if submodule is None:
        raise LookupError(
            f"no example module named {name!r} (available: {', '.join(sorted(EXAMPLES))})"
        )
    found = importlib.import_module(f"{__name__}.{submodule}").module
    assert isinstance(found, Module), f"{submodule} must define `module`"
    return found
