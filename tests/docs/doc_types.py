"""Type-check the documentation's examples marked ``<!-- doctest: typed -->`` with ``mypy --strict``.

The examples people copy into typed code must type-check as they are.  After a page's blocks
ran (so the bindings it generated exist in its working folder), its typed blocks are checked:

* typed blocks without ``file=`` are joined, in page order, into one module (a later typed block
  may use what an earlier one defined; names from untyped blocks are not there, so a typed
  example is complete on its own).  When one of them uses top-level ``await``, the module is
  the body of an ``async def`` (as the page's event loop runs it);
* a typed ``file=NAME`` block (a module, a test file) is checked as the file it was written to.

Errors are reported at the Markdown file's lines.

Example::

    problems = typecheck(parse_file(Path("docs/codegen.md")), workdir, cache_dir)
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

from doc_blocks import ROOT, Block, DocError, DocFile, rel

MYPY_TIMEOUT = 300.0  # seconds; a cold cache takes a few, a warm one well under one
_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?:\d+:)? (?P<kind>error|note): (?P<msg>.*)$")


def _is_async(block: Block) -> bool:
    code = compile(
        block.code, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    return bool(code.co_flags & inspect.CO_COROUTINE)


def joined_module(blocks: list[Block]) -> tuple[str, list[str]]:
    """The source of one module made of ``blocks``, and for each of its lines where it came from.

    Example::

        >>> b = Block(Path("p.md"), 3, "python", "x: int = 1\\n")
        >>> joined_module([b])
        ('x: int = 1\\n', ['p.md:3'])
    """
    wrap = any(_is_async(b) for b in blocks)
    lines: list[str] = []
    origin: list[str] = []
    if wrap:
        lines.append("async def __doc_example__() -> None:")
        origin.append(f"{rel(blocks[0].path)}:{blocks[0].line}")
    for b in blocks:
        for i, text in enumerate(b.code.splitlines()):
            lines.append(("    " + text if text.strip() else "") if wrap else text)
            origin.append(f"{rel(b.path)}:{b.line + i}")
    return "\n".join(lines) + "\n", origin


def typecheck(doc: DocFile, workdir: Path, cache_dir: Path) -> None:
    """Run ``mypy --strict`` over the page's typed blocks; raise :class:`DocError` listing errors.

    Must run after the page's blocks ran in ``workdir`` (they write ``file=`` blocks and
    generate bindings there).
    """
    typed = [b for b in doc.blocks if b.lang == "python" and b.typed and b.skip_reason is None]
    if not typed:
        return
    files: dict[str, list[str]] = {}  # file checked -> doc location of each of its lines
    inline = [b for b in typed if "file" not in b.directives]
    if inline:
        source, origin = joined_module(inline)
        name = "_typed_" + re.sub(r"\W", "_", doc.path.stem) + ".py"
        (workdir / name).write_text(source, encoding="utf-8")
        files[name] = origin
    for b in typed:
        if "file" in b.directives:
            files[b.directives["file"]] = [
                f"{rel(b.path)}:{b.line + i}" for i in range(len(b.code.splitlines()))
            ]
    env = {
        **os.environ,
        "MYPYPATH": os.pathsep.join([str(ROOT / "src"), str(workdir)]),
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--show-column-numbers",
            "--cache-dir",
            str(cache_dir),
            *files,
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode == 0:
        return
    problems = []
    for line in done.stdout.splitlines():
        m = _ERROR.match(line)
        if m is None or m["file"] not in files:
            problems.append(line)
            continue
        origin = files[m["file"]]
        where = origin[min(int(m["line"]), len(origin)) - 1]
        problems.append(f"{where}: {m['kind']}: {m['msg']}")
    raise DocError(
        f"{rel(doc.path)}: examples marked `<!-- doctest: typed -->` fail `mypy --strict`:\n"
        + "\n".join(problems or [done.stdout + done.stderr])
    )
