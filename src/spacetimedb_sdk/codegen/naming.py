"""Python names for generated code: escaping, case conversion, collision-free allocation.

Wire names never change (they stay in the schema and in ``__sats_wire_names__``);
only the Python spelling is adjusted:

- identifiers are sanitized (non-alphanumerics become ``_``, a leading digit gets a
  ``_`` prefix) and Python keywords get a trailing ``_`` (``from`` → ``from_``), as
  :func:`spacetimedb_sdk.client.bindings.py_name` does for dynamic bindings;
- class names that are builtins (``list``, ``Exception``) also get a trailing ``_``;
- names that collide with a name already taken get more trailing ``_`` until free.

Example::

    >>> class_name("Identity"), class_name("list"), pascal("one_u_8")
    ('Identity', 'list_', 'OneU8')
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterable

from ..client.bindings import py_name

__all__ = [
    "PY_BUILTINS",
    "NameAllocator",
    "class_name",
    "enum_member_name",
    "identifier",
    "param_name",
    "pascal",
    "py_name",
]

PY_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("__"))

# Enum machinery that a member must not shadow.
_ENUM_RESERVED = frozenset({"name", "value", "mro"})


def identifier(name: str) -> str:
    """``name`` made a valid identifier: other characters become ``_``, no leading digit.

    Example::

        >>> identifier("my-col"), identifier("1st")
        ('my_col', '_1st')
    """
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "_"
    if not out.isidentifier():
        out = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in out)
    if out[0].isdigit():
        out = "_" + out
    return out


def class_name(name: str) -> str:
    """A class name for a SATS type name: sanitized; keywords and builtins get ``_``.

    Example::

        >>> class_name("class"), class_name("Point")
        ('class_', 'Point')
    """
    out = identifier(name)
    if keyword.iskeyword(out) or keyword.issoftkeyword(out) or out in PY_BUILTINS:
        out += "_"
    return out


def pascal(name: str) -> str:
    """``snake_case`` → ``PascalCase``; names already starting upper-case keep their case.

    Example::

        >>> pascal("send_message"), pascal("oneU8"), pascal("Player")
        ('SendMessage', 'OneU8', 'Player')
    """
    parts = [p for p in identifier(name).split("_") if p]
    if not parts:
        return "_"
    return "".join(p[:1].upper() + p[1:] for p in parts)


def enum_member_name(name: str) -> str:
    """An ``enum.Enum`` member name for a variant: ``py_name``, avoiding enum machinery.

    Example::

        >>> enum_member_name("Active"), enum_member_name("value"), enum_member_name("_x")
        ('Active', 'value_', 'V_x')
    """
    out = py_name(name)
    if out.startswith("_"):
        out = "V" + out
    if out in _ENUM_RESERVED:
        out += "_"
    return out


def param_name(name: str, reserved: Iterable[str] = ("self", "callback")) -> str:
    """A function parameter for a reducer argument: ``py_name``, plus ``_`` if reserved.

    Example::

        >>> param_name("from"), param_name("self")
        ('from_', 'self_')
    """
    out = py_name(name)
    taken = set(reserved)
    while out in taken:
        out += "_"
    return out


class NameAllocator:
    """Hands out names unique within one namespace, adding ``_`` on collision.

    Example::

        >>> names = NameAllocator({"DbConnection"})
        >>> names.take("User"), names.take("User"), names.take("DbConnection")
        ('User', 'User_', 'DbConnection_')
    """

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(taken)

    def take(self, preferred: str) -> str:
        """``preferred``, or it with trailing underscores, whichever is free; now taken."""
        out = preferred
        while out in self.taken:
            out += "_"
        self.taken.add(out)
        return out

    def __contains__(self, name: object) -> bool:
        return name in self.taken
