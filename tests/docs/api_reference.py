"""Write docs/api.md, the API reference, from the docstrings of the public client API.

Run ``python tests/docs/api_reference.py`` after changing a public docstring or name;
``tests/docs/test_api_reference.py`` fails while the committed page differs from what this
writes, and while a public callable lacks a docstring with an example.

The public API is the ``__all__`` of :data:`MODULES`: each function and class, and each
class's own public methods and properties (protocols, which only describe what a part needs
of another, are listed without members).  Docstrings are reStructuredText-ish; the page turns
``::`` literal blocks into ``text`` code blocks (the docs tests leave those unchecked, as the
examples need a connection) and roles like ``:class:`X``` into code spans.

Example::

    python tests/docs/api_reference.py          # rewrites docs/api.md
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"
ROOT_PACKAGE = "spacetimedb_sdk"

#: The modules of the public client API, in the page's order.
MODULES = [
    "spacetimedb_sdk",
    "spacetimedb_sdk.connection",
    "spacetimedb_sdk.client.events",
    "spacetimedb_sdk.http",
    "spacetimedb_sdk.credentials",
]

HEADER = """\
# API reference

<!-- Generated from the docstrings by tests/docs/api_reference.py: do not edit by hand. -->
<!-- doctest: module=none -->

Every public name of the client API, with its signature and docstring, by module. The guides
([connecting](connecting.md), [subscriptions](subscriptions.md), [reducers](reducers.md), ...)
say how the pieces fit together; this page is for looking one up. The examples here are
fragments: `conn` is a connected `DbConnection`, `builder` a `DbConnection.builder()`, `http`
an `HttpClient`.
"""


@dataclass
class Entry:
    """One documented callable: where it is, its signature line and its object."""

    qualname: str  # module.Name or module.Name.member
    heading: str
    obj: Any
    level: int  # 3 for module-level names, 4 for members
    inherited: str = ""  # an override without a docstring shows its base method's, as help() does

    @property
    def doc(self) -> str:
        target = self.obj.fget if isinstance(self.obj, property) else self.obj
        return inspect.getdoc(target) or self.inherited


def _is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False)) and Protocol in cls.__mro__[1:]


def _annotation(ann: Any) -> str:
    if ann is inspect.Parameter.empty:
        return ""
    return ann if isinstance(ann, str) else inspect.formatannotation(ann)


def has_example(doc: str) -> bool:
    """Whether a docstring has an example: a doctest, or an ``Example::`` literal block.

    Example::

        >>> has_example("Do it.\n\nExample::\n\n    do_it()"), has_example("Do it.")
        (True, False)
    """
    return ">>>" in doc or re.search(r"Example[^\n]*::\n\n +\S", doc) is not None


def signature(obj: Any, name: str) -> str:
    """``name(a: int, *, b: str = 'x') -> bool``: a signature as the page shows it.

    Example::

        >>> signature(lambda a, b=1: a, "f")
        'f(a, b=1)'
    """
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    params = [
        p for i, p in enumerate(sig.parameters.values()) if i or p.name not in ("self", "cls")
    ]
    parts: list[str] = []
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not any(
            q.kind in (q.KEYWORD_ONLY, q.VAR_POSITIONAL) for q in params[:i]
        ):
            parts.append("*")
        text = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        ann = _annotation(p.annotation)
        if ann:
            text += f": {ann}"
        if p.default is not p.empty:
            text += f" = {p.default!r}" if ann else f"={p.default!r}"
        parts.append(text)
        following = params[i + 1] if i + 1 < len(params) else None
        if p.kind is p.POSITIONAL_ONLY and (following is None or following.kind is not p.kind):
            parts.append("/")
    ret = _annotation(sig.return_annotation)
    return f"{name}({', '.join(parts)})" + (f" -> {ret}" if ret else "")


def entries(modules: list[str] | None = None) -> Iterator[Entry]:
    """Every documented callable of ``modules`` (default :data:`MODULES`), each once (at its
    first public home)."""
    seen: set[int] = set()
    for module_name in MODULES if modules is None else modules:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            seen.add(id(obj))
            qual = f"{module_name}.{name}"
            if inspect.isfunction(obj):
                yield Entry(qual, signature(obj, name), obj, 3)
                continue
            kind = "protocol" if _is_protocol(obj) else "class"
            init = obj.__init__ if "__init__" in vars(obj) else None
            head = signature(init, name).replace(" -> None", "") if init else name
            yield Entry(qual, f"{kind} {head}", obj, 3)
            if kind == "protocol":
                continue
            yield from _members(obj, qual, name)


def _members(cls: type, qual: str, name: str) -> Iterator[Entry]:
    # Own members, then those of private base classes (``_HexInt`` gives ``Identity`` its
    # ``from_hex``), which users reach only through the public class.
    private_bases = [
        b
        for b in cls.__mro__[1:]
        if b.__name__.startswith("_") and b.__module__.startswith(ROOT_PACKAGE)
    ]
    done: set[str] = set()
    for member, value in [(m, v) for c in (cls, *private_bases) for m, v in vars(c).items()]:
        if member in done or (member.startswith("_") and member != "__call__"):
            continue
        done.add(member)
        target = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        base = _base_doc(cls, member)
        if isinstance(target, property):
            yield Entry(f"{qual}.{member}", f"{name}.{member} (property)", target, 4, base)
        elif inspect.isfunction(target):
            shown = name if member == "__call__" else f"{name}.{member}"
            prefix = "async " if inspect.iscoroutinefunction(target) else ""
            yield Entry(f"{qual}.{member}", prefix + signature(target, shown), target, 4, base)


def _base_doc(cls: type, member: str) -> str:
    # The docstring of the nearest base class member of that name (an override's contract).
    for base in cls.__mro__[1:]:
        value = vars(base).get(member)
        if value is None:
            continue
        value = value.__func__ if isinstance(value, classmethod | staticmethod) else value
        value = value.fget if isinstance(value, property) else value
        if inspect.isfunction(value) and (doc := inspect.getdoc(value)):
            return doc
    return ""


_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc):`~?\.*([^`]+)`")


def markdown(doc: str) -> str:
    """A docstring as Markdown: ``::`` blocks fenced as ``text``, roles and ````x```` as code.

    Example::

        >>> print(markdown("Use ``x``.\\n\\nExample::\\n\\n    f(x)"))
        Use `x`.
        <BLANKLINE>
        Example:
        <BLANKLINE>
        ```text
        f(x)
        ```
    """
    lines = doc.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            text = line.rstrip()[:-2].rstrip()
            out.append(_inline(text + ":" if text else ""))
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            body = inspect.cleandoc("\n".join(block))
            out += ["", "```text", *body.splitlines(), "```"]
            if i < len(lines):
                out.append("")
            continue
        out.append(_inline(line))
        i += 1
    return "\n".join(out).strip()


def _inline(text: str) -> str:
    text = _ROLE.sub(lambda m: f"``{m.group(1)}``", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def render() -> str:
    """The whole page."""
    parts = [HEADER]
    current = None
    for e in entries():
        module = e.qualname.rsplit(".", 2 if e.level == 4 else 1)[0]
        if module != current:
            current = module
            parts.append(f"## `{module}`\n")
        parts.append(f"{'#' * e.level} `{e.heading}`\n")
        if e.doc:
            parts.append(markdown(e.doc) + "\n")
    return "\n".join(parts).rstrip() + "\n"


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
