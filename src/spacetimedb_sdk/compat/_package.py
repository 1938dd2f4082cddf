"""What the 0.7 runtime reads from a ``module_bindings`` package, and 0.7 names to 2.x names.

The 0.7 client found its tables and reducers by walking the bindings package (its
``ClientCache``): a module ``<name>_reducer.py`` is a reducer (its ``reducer_name`` and
``_decode_args``), a module ``user_profile.py`` defining ``UserProfile`` with
``is_table_class = True`` is a table whose rows are built with ``UserProfile(json)``.
:class:`Package07` does the same for bindings written by the 0.7 CLI and for those of
``spacetimedb-py generate --compat-07``.

0.7 modules named tables after their Rust structs (``User``); 2.x modules publish
snake_case canonical names (``user``).  :class:`Names` maps the one to the other where the
match is unambiguous, and :func:`translate_sql` rewrites the table names of 0.7 queries
(``SELECT * FROM User`` → ``SELECT * FROM user``).

Example::

    names = Names("table", {"user": "User", "message": "Message"})
    names.resolve("User")                                  # 'user'
    translate_sql("SELECT * FROM User", names.resolve_or_none)   # 'SELECT * FROM user'
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

from ..client.bindings import python_name
from ..errors import SpacetimeDBError
from ..schema.names import to_snake_case

__all__ = ["Names", "Package07", "adapt_callback", "snake_to_camel", "translate_sql"]


def snake_to_camel(name: str) -> str:
    """The 0.7 rule from a bindings file name to its class name.

    Example::

        >>> snake_to_camel("user_profile"), snake_to_camel("message")
        ('UserProfile', 'Message')
    """
    return name.replace("_", " ").title().replace(" ", "")


class Package07:
    """The table classes and reducer modules of a ``module_bindings`` package, as 0.7 found them.

    Example::

        package = Package07(module_bindings)
        package.table_classes["User"]          # the class whose User(json) builds a row
        package.reducers["send_message"]       # the send_message_reducer module
    """

    def __init__(self, package: ModuleType | None) -> None:
        self.table_classes: dict[str, type] = {}
        self.reducers: dict[str, ModuleType] = {}
        if package is None or not hasattr(package, "__path__"):
            return
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg:
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            if info.name.endswith("_reducer"):
                name = getattr(module, "reducer_name", None) or info.name[: -len("_reducer")]
                self.reducers[str(name)] = module
                continue
            cls = getattr(module, snake_to_camel(info.name), None)
            if isinstance(cls, type) and getattr(cls, "is_table_class", False):
                self.table_classes[cls.__name__] = cls

    def decode_args(self, reducer: str) -> Callable[[list[Any]], Any] | None:
        """The reducer module's ``_decode_args(json_args)``, if the package has one."""
        module = self.reducers.get(reducer)
        fn = getattr(module, "_decode_args", None) if module is not None else None
        return fn if callable(fn) else None


def _key(name: str) -> str:
    return name.replace("_", "").casefold()


class Names:
    """0.7 names of a kind of thing (``"table"``, ``"reducer"``) to the module's canonical names.

    ``known`` maps each canonical name to its accessor (source) name.  A name resolves to the
    canonical name it equals, else the one whose accessor it equals, else its snake_case
    (``UserProfile`` → ``user_profile``, as a 2.x module names the table), else the only one
    it equals ignoring case and underscores.  Two candidates at the first level that has any
    is an error, as is none at all.

    Example::

        >>> Names("table", {"user_profile": "UserProfile", "user": "user"}).resolve("UserProfile")
        'user_profile'
    """

    def __init__(self, kind: str, known: Mapping[str, str]) -> None:
        self.kind = kind
        self.known = dict(known)

    def candidates(self, name: str) -> list[str]:
        """The canonical names ``name`` could mean, at the first level that has any."""
        # The snake_case a 2.x module makes of the 0.7 name (upstream's, and the Python
        # spelling that keeps digits on their word: Player1 -> player_1 / player1).
        snakes = {to_snake_case(name), python_name(name)}
        tiers: list[Callable[[str, str], bool]] = [
            lambda canon, acc: canon == name,
            lambda canon, acc: acc == name,
            lambda canon, acc: canon in snakes,
            lambda canon, acc: _key(canon) == _key(name) or _key(acc) == _key(name),
        ]
        for matches in tiers:
            found = sorted(c for c, a in self.known.items() if matches(c, a))
            if found:
                return found
        return []

    def resolve(self, name: str) -> str:
        """The canonical name for ``name``; raises :class:`SpacetimeDBError` saying why not."""
        found = self.candidates(name)
        if len(found) == 1:
            return found[0]
        if found:
            raise SpacetimeDBError(
                f"{self.kind} name {name!r} could mean any of {', '.join(map(repr, found))}: "
                f"use the module's exact {self.kind} name"
            )
        raise SpacetimeDBError(
            f"no {self.kind} named {name!r} in the module (its {self.kind}s: "
            f"{', '.join(sorted(self.known))})"
        )

    def resolve_or_none(self, name: str) -> str | None:
        """:meth:`resolve`, but ``None`` for a name that matches nothing (ambiguity still raises)."""
        found = self.candidates(name)
        return None if not found else self.resolve(name)


_TOKEN = re.compile(
    r"""(?P<skip>'(?:[^']|'')*'|"(?:[^"]|"")*"|\s+|--[^\n]*)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>.)""",
    re.S,
)


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        yield kind, m.group(0)


def translate_sql(sql: str, resolve: Callable[[str], str | None]) -> str:
    """Rewrite the table names of a query (after ``FROM``/``JOIN``, and before ``.``) that
    ``resolve`` maps to another name; quoted names, strings and the rest stay as written.

    Example::

        >>> names = {"User": "user"}
        >>> translate_sql("SELECT * FROM User WHERE User.online = 'User'", names.get)
        "SELECT * FROM user WHERE user.online = 'User'"
    """
    toks = list(_tokens(sql))
    out: list[str] = []
    previous = ""  # the last significant token, upper-cased
    for i, (kind, text) in enumerate(toks):
        if kind == "id":
            following = next((t for k, t in toks[i + 1 :] if k != "skip"), "")
            if previous in ("FROM", "JOIN") or following == ".":
                text = resolve(text) or text
        out.append(text)
        if kind != "skip":
            previous = text.upper()
    return "".join(out)


def adapt_callback(callback: Callable[..., object], *args: Any, optional: int) -> tuple[Any, ...]:
    """The arguments to call ``callback`` with: all of ``args``, or, for a callback written for
    an older signature that lacks the parameter at index ``optional``, ``args`` without it.

    0.7 added the caller's address to reducer callbacks (``(identity, address, status,
    message, *args)``); callbacks written before take ``(identity, status, message, *args)``.

    Example::

        >>> adapt_callback(lambda who, status, msg, text: None, "me", "addr", "ok", "", "hi",
        ...                optional=1)
        ('me', 'ok', '', 'hi')
    """
    try:
        drop = _drops(callback, len(args), optional)
    except TypeError:  # unhashable callable: decide each time
        drop = _drops.__wrapped__(callback, len(args), optional)
    return args[:optional] + args[optional + 1 :] if drop else args


@functools.lru_cache(maxsize=512)
def _drops(callback: Callable[..., object], nargs: int, optional: int) -> bool:
    try:
        sig = inspect.signature(callback)
    except (TypeError, ValueError):
        return False
    full = [None] * nargs
    try:
        sig.bind(*full)
        return False
    except TypeError:
        pass
    try:
        sig.bind(*full[1:])
    except TypeError:
        return False  # fits neither: the call raises, naming the callback
    return True
