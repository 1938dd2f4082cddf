"""Modules from their program: what ``publish`` uploads, turned into a module the host runs.

Upstream's publish uploads a compiled program and names its kind with ``host_type`` (``Wasm``
or ``Js``).  This server runs modules written in Python, so its program is a Python module's
**source text** (UTF-8, content type ``text/x-python``), with ``host_type=Python``; other kinds
plug in with :func:`register_module_loader` (:mod:`.tsmodule.program` registers ``Js``, the
JavaScript bundles upstream's CLI uploads for TypeScript modules).  The hash of
the program (:func:`program_hash`) is what an update compares: publishing the same program
again changes nothing, as upstream.

A Python program runs as a fresh module (its own entry in ``sys.modules``, so dataclasses and
``typing`` resolve its names) and must define one :class:`~.module.Module`, preferably named
``module``; its source is registered with :mod:`linecache`, so tracebacks and log lines show its
lines.

Example::

    module = load_program("Python", source_bytes, label="chat")
"""

from __future__ import annotations

import hashlib
import importlib.util
import linecache
import os
import sys
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import SpacetimeDBError
from .module import Module

#: The ``host_type`` of Python source programs.
HOST_TYPE_PYTHON = "Python"
#: The content type a Python program is published with.
PYTHON_CONTENT_TYPE = "text/x-python"

ModuleLoader = Callable[[bytes, str], Module]
"""Turns a program (bytes) into a module; the string labels it in errors and tracebacks."""


class ModuleLoadError(SpacetimeDBError):
    """A program could not be turned into a module; the message says why and where.

    Example::

        >>> str(ModuleLoadError("the program is not UTF-8 text"))
        'the program is not UTF-8 text'
    """


def _load_python(program: bytes, label: str) -> Module:
    try:
        source = program.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModuleLoadError(
            f"the module source is not UTF-8 text (byte {e.start}): publish a Python file's "
            "source with host_type=Python"
        ) from None
    module = _exec_source(source, f"<published module {label}>", label)
    try:
        module.build()  # declarations are checked when built: report their errors now
    except SpacetimeDBError as e:
        raise ModuleLoadError(f"the module's declarations are invalid: {e}") from None
    return module


_LOADERS: dict[str, ModuleLoader] = {HOST_TYPE_PYTHON: _load_python}


def register_module_loader(host_type: str, loader: ModuleLoader) -> None:
    """Serve programs of ``host_type`` with ``loader`` (how another module language plugs in).

    Example::

        register_module_loader("Js", load_js_program)
    """
    _LOADERS[host_type] = loader


def host_types() -> list[str]:
    """The ``host_type`` values this server can run.

    Example::

        >>> "Python" in host_types()
        True
    """
    return sorted(_LOADERS)


def load_program(host_type: str, program: bytes, *, label: str = "module") -> Module:
    """The module of ``program`` (of kind ``host_type``); :class:`ModuleLoadError` if it cannot be
    loaded (an unknown kind, bad text, an error while running it, no module in it).

    Example::

        module = load_program("Python", Path("chat.py").read_bytes())
    """
    loader = _LOADERS.get(host_type)
    if loader is None:
        raise ModuleLoadError(
            f"this server cannot run {host_type} modules: it runs "
            f"{', '.join(host_types())} modules (publish a Python module's source with "
            "host_type=Python)"
        )
    return loader(program, label)


@dataclass(frozen=True)
class Program:
    """A published program: its kind (``host_type``) and its bytes, kept so that a server on a
    data directory can load it again after a restart.

    Example::

        >>> Program("Python", b"...").host_type
        'Python'
    """

    host_type: str
    source: bytes

    @property
    def hash(self) -> str:
        """Its :func:`program_hash`."""
        return program_hash(self.source)


def program_hash(program: bytes) -> str:
    """The hex hash of a program (upstream hashes programs to tell them apart).

    Example::

        >>> program_hash(b"")[:8]
        'e3b0c442'
    """
    return hashlib.sha256(program).hexdigest()


def module_hash(module: Module) -> str:
    """The program hash of a :class:`Module` given as an object rather than a program: its
    name and the object itself (publishing the same object again changes nothing).

    Example::

        >>> module_hash(module) == module_hash(module)  # doctest: +SKIP
        True
    """
    return hashlib.sha256(f"{module.name}:{id(module)}".encode()).hexdigest()


def load_module(path: str | os.PathLike[str]) -> Module:
    """Import a Python file and return the :class:`Module` it defines (preferably as ``module``).

    Example::

        module = load_module("examples/quickstart-chat/module.py")
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no module file at {str(file)!r}")
    name = _unique_name(file.stem)
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {str(file)!r} as a Python module")
    py_module = importlib.util.module_from_spec(spec)
    # Registered so dataclasses and typing can resolve the file's own names.
    sys.modules[name] = py_module
    spec.loader.exec_module(py_module)
    return _module_in(py_module, repr(str(file)), ImportError)


def _unique_name(stem: str) -> str:
    return f"_spacetimedb_module_{stem.replace('-', '_')}_{uuid.uuid4().hex[:8]}"


def _exec_source(source: str, filename: str, label: str) -> Module:
    try:
        code = compile(source, filename, "exec")
    except SyntaxError as e:
        raise ModuleLoadError(
            f"the module source has a syntax error at line {e.lineno}: {e.msg}"
        ) from None
    name = _unique_name("".join(c if c.isalnum() else "_" for c in label))
    py_module = types.ModuleType(name)
    py_module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.modules[name] = py_module
    try:
        exec(code, py_module.__dict__)
    except Exception as e:
        del sys.modules[name]
        raise ModuleLoadError(f"running the module source failed: {type(e).__name__}: {e}") from e
    return _module_in(py_module, "the module source", ModuleLoadError)


def _module_in(py_module: types.ModuleType, what: str, error: type[Exception]) -> Module:
    found = getattr(py_module, "module", None)
    if isinstance(found, Module):
        return found
    candidates = [v for v in vars(py_module).values() if isinstance(v, Module)]
    if len(candidates) == 1:
        return candidates[0]
    raise error(
        f"{what} must define a spacetimedb_sdk.server.Module named `module` "
        f"(found {len(candidates)} Module objects)"
    )
