"""Generating a bindings package: render the files, write them, remove stale ones.

Example::

    result = generate(schema, "src/module_bindings")
    result.written, result.removed
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .._version import __version__
from ..schema import ModuleSchema
from .compat07 import emit_compat
from .emit import emit_package
from .plan import make_plan
from .writer import HEADER_MARK

__all__ = ["GenerateResult", "generate", "render"]


@dataclass(slots=True)
class GenerateResult:
    """What :func:`generate` did, as file names relative to the output directory.

    Example::

        >>> import tempfile
        >>> empty = ModuleSchema.from_json({"sections": []})
        >>> with tempfile.TemporaryDirectory() as out:
        ...     first, again = generate(empty, out), generate(empty, out)
        >>> "_tables.py" in first.written, again.written, "_tables.py" in again.unchanged
        (True, [], True)
    """

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def render(
    schema: ModuleSchema,
    *,
    include_private: bool = False,
    compat_07: bool = False,
    version: str = __version__,
) -> dict[str, str]:
    """Every file of the bindings package for ``schema``, by file name (no I/O).

    Example::

        >>> sorted(render(ModuleSchema.from_json({"sections": []})))[:2]
        ['__init__.py', '_connection.py']
    """
    plan = make_plan(schema, include_private=include_private)
    files = emit_package(plan, version=version)
    if compat_07:
        for name, text in emit_compat(plan, version=version).items():
            if name in files:
                raise ValueError(f"--compat-07 file {name!r} collides with a bindings file")
            files[name] = text
    return dict(sorted(files.items()))


def generate(
    schema: ModuleSchema,
    out_dir: str | os.PathLike[str],
    *,
    include_private: bool = False,
    compat_07: bool = False,
    version: str = __version__,
) -> GenerateResult:
    """Write the bindings package into ``out_dir`` (created if missing).

    Files whose content is unchanged are not rewritten; files in ``out_dir`` that
    carry the generated-file header but are no longer produced are removed.  Other
    files are never touched.

    Example::

        generate(load_schema("schema.json"), "module_bindings", include_private=True)
    """
    files = render(schema, include_private=include_private, compat_07=compat_07, version=version)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = GenerateResult()
    for name, text in files.items():
        path = out / name
        data = text.encode("utf-8")
        if path.is_file() and path.read_bytes() == data:
            result.unchanged.append(name)
            continue
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        result.written.append(name)
    for path in sorted(out.iterdir()):
        if path.name not in files and path.is_file() and _is_generated(path):
            path.unlink()
            result.removed.append(path.name)
    return result


def _is_generated(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            first = f.readline(len(HEADER_MARK) + 1)
    except OSError:
        return False
    return first.startswith(HEADER_MARK.encode("utf-8"))
