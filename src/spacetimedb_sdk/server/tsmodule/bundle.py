"""Finding a TypeScript module, its dependencies and Node, and bundling it with esbuild.

A TypeScript module is given as:

* a folder in the layout ``spacetime init --lang typescript`` creates: ``package.json``
  (depending on npm ``spacetimedb``) and ``src/index.ts``; or
* an entry file (``.ts``, ``.mts``, ``.tsx``, ``.js``, ``.mjs``) whose imports resolve from the
  ``node_modules`` folders above it or from ``NODE_PATH``.

:func:`bundle_module` makes one ES module of it (``js/build.mjs`` runs esbuild, the way the
official CLI's ``spacetime build`` bundles a module, see there), cached for the life of the
process until one of its input files changes.  A folder whose dependencies are not installed gets
them installed with ``npm install`` first (and a log line says so); esbuild itself comes from the
module's ``node_modules``, ``NODE_PATH``, ``$SPACETIMEDB_PY_ESBUILD`` or, failing those, a copy
installed once with npm into the user's cache folder.

Every failure is a :class:`TsModuleError` whose message names the module and says what to do.

Example::

    source = module_source("examples/quickstart-chat-ts")
    bundle = bundle_module(source)        # bundle.path: the .mjs file host.mjs loads
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..._log import get_logger
from ...errors import SpacetimeDBError

log = get_logger("spacetimedb_sdk.server")

BUILD_SCRIPT = Path(__file__).resolve().parent / "js" / "build.mjs"
ENTRY_SUFFIXES = frozenset({".ts", ".mts", ".tsx", ".js", ".mjs"})
#: The esbuild installed into the cache folder when no other is found (the project pins the same).
ESBUILD_VERSION = "0.28.2"
MIN_NODE_MAJOR = 20
_INSTALL_TIMEOUT = 600.0


class TsModuleError(SpacetimeDBError):
    """A TypeScript module cannot be bundled, loaded or run (the message names the module).

    Example::

        >>> str(TsModuleError("src/index.ts: the module threw while loading: Uncaught Error: x"))
        'src/index.ts: the module threw while loading: Uncaught Error: x'
    """


@dataclass(frozen=True)
class ModuleSource:
    """Where a TypeScript module is: its ``entry`` file, its ``project`` folder (the one holding
    ``package.json``, or the entry's folder), its ``name`` and how errors show it (``shown``)."""

    entry: Path
    project: Path
    name: str
    shown: str


def is_ts_module(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a TypeScript module (a module folder or a JS/TS entry file).

    Example::

        >>> is_ts_module("examples/quickstart-chat/module.py")
        False
    """
    p = Path(path)
    if p.is_dir():
        return (p / "package.json").is_file() or any(
            (p / "src" / f"index{s}").is_file() for s in ENTRY_SUFFIXES
        )
    return p.suffix in ENTRY_SUFFIXES


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _package_name(project: Path) -> str | None:
    try:
        data = json.loads((project / "package.json").read_text())
    except (OSError, ValueError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        return None
    return name.rsplit("/", 1)[-1]


def module_source(path: str | os.PathLike[str]) -> ModuleSource:
    """Resolve a module folder or entry file (see the module docstring).

    Raises ``FileNotFoundError`` when there is no module there.
    """
    p = Path(path).resolve()
    if p.is_dir():
        entries = [p / "src" / f"index{s}" for s in (".ts", ".mts", ".tsx", ".js", ".mjs")]
        entry = next((e for e in entries if e.is_file()), None)
        if entry is None:
            raise FileNotFoundError(
                f"{_shown(p)} has no src/index.ts: a TypeScript module folder has the layout "
                "`spacetime init --lang typescript` creates (package.json and src/index.ts)"
            )
        return ModuleSource(entry, p, _package_name(p) or p.name, _shown(entry))
    if not p.is_file():
        raise FileNotFoundError(f"no module file at {_shown(p)!r}")
    if p.suffix not in ENTRY_SUFFIXES:
        raise FileNotFoundError(
            f"{_shown(p)} is not a TypeScript or JavaScript module entry "
            f"({', '.join(sorted(ENTRY_SUFFIXES))})"
        )
    project = p.parent
    if (
        p.stem == "index"
        and p.parent.name == "src"
        and (p.parent.parent / "package.json").is_file()
    ):
        project = p.parent.parent
        name = _package_name(project) or project.name
    else:
        name = p.stem
    return ModuleSource(p, project, name, _shown(p))


# ---- Node, npm and esbuild ---------------------------------------------------------------------


def node_executable() -> str:
    """The ``node`` to run modules with; :class:`TsModuleError` if it is missing or too old."""
    node = shutil.which("node")
    if node is None:
        raise TsModuleError(
            f"TypeScript modules run in Node.js, which was not found on PATH: install Node "
            f"{MIN_NODE_MAJOR} or newer"
        )
    major = _node_major(node)
    if major is not None and major < MIN_NODE_MAJOR:
        raise TsModuleError(
            f"TypeScript modules need Node.js {MIN_NODE_MAJOR} or newer; {node} is version {major}"
        )
    return node


_NODE_MAJORS: dict[str, int | None] = {}


def _node_major(node: str) -> int | None:
    if node not in _NODE_MAJORS:
        try:
            out = subprocess.run(
                [node, "--version"], capture_output=True, text=True, timeout=30, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        m = re.match(r"v(\d+)\.", out.strip())
        _NODE_MAJORS[node] = int(m.group(1)) if m else None
    return _NODE_MAJORS[node]


def node_paths() -> list[str]:
    """The folders of ``NODE_PATH``, which module imports may resolve from, as in Node."""
    return [p for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]


def _search_dirs(start: Path) -> list[Path]:
    dirs = [d / "node_modules" for d in (start, *start.parents)]
    return [*dirs, *(Path(p) for p in node_paths())]


def _resolvable(package: str, start: Path) -> bool:
    return any((d / package / "package.json").is_file() for d in _search_dirs(start))


def ensure_dependencies(source: ModuleSource) -> None:
    """Install a module folder's npm dependencies if they are not there (saying so)."""
    manifest = source.project / "package.json"
    if not manifest.is_file() or (source.project / "node_modules").is_dir():
        return
    try:
        deps = json.loads(manifest.read_text()).get("dependencies") or {}
    except (OSError, ValueError, AttributeError) as e:
        raise TsModuleError(f"{_shown(manifest)} is not valid JSON: {e}") from None
    if all(_resolvable(name, source.project) for name in deps):
        return  # resolved from a node_modules folder above it or from NODE_PATH
    log.warning(
        "%s has no node_modules: installing its dependencies with npm install",
        _shown(source.project),
    )
    _npm(["install", "--no-audit", "--no-fund"], source.project, f"module {source.shown}")


def _npm(args: list[str], cwd: Path, what: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise TsModuleError(
            f"{what}: its npm dependencies are not installed and npm was not found on PATH; "
            f"run `npm install` in {_shown(cwd)}"
        )
    try:
        done = subprocess.run(
            [npm, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TsModuleError(
            f"{what}: `npm {' '.join(args)}` took over {_INSTALL_TIMEOUT:.0f} s"
        ) from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise TsModuleError(f"{what}: `npm {' '.join(args)}` in {_shown(cwd)} failed:\n{tail}")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spacetimedb-py" / f"esbuild-{ESBUILD_VERSION}"


_ESBUILD_LOCK = threading.Lock()


def find_esbuild(source: ModuleSource) -> Path:
    """The folder of the npm ``esbuild`` package to bundle with (installing one if needed)."""
    override = os.environ.get("SPACETIMEDB_PY_ESBUILD")
    if override:
        path = Path(override)
        if not (path / "package.json").is_file():
            raise TsModuleError(
                f"SPACETIMEDB_PY_ESBUILD={override} is not the folder of the npm esbuild package"
            )
        return path
    for d in _search_dirs(source.project):
        if (d / "esbuild" / "package.json").is_file():
            return d / "esbuild"
    cache = _cache_dir()
    found = cache / "node_modules" / "esbuild"
    with _ESBUILD_LOCK:
        if not (found / "package.json").is_file():
            cache.mkdir(parents=True, exist_ok=True)
            log.warning(
                "bundling TypeScript modules needs npm esbuild: installing esbuild@%s into %s",
                ESBUILD_VERSION,
                cache,
            )
            _npm(
                [
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(cache),
                    f"esbuild@{ESBUILD_VERSION}",
                ],
                cache,
                "installing esbuild",
            )
    return found


# ---- bundling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """A bundled module: the ``.mjs`` file and the input files it was made from (with mtimes)."""

    path: Path
    inputs: tuple[tuple[str, float], ...]

    def is_current(self) -> bool:
        """Whether no input changed since the bundle was made."""
        for name, mtime in self.inputs:
            try:
                if os.stat(name).st_mtime != mtime:
                    return False
            except OSError:
                return False
        return self.path.is_file()


_BUNDLES: dict[Path, Bundle] = {}
_BUNDLE_LOCK = threading.Lock()
_OUT_DIR: Path | None = None


def out_dir() -> Path:
    """The folder of this process's bundles (removed when it exits)."""
    global _OUT_DIR
    if _OUT_DIR is None:
        _OUT_DIR = Path(tempfile.mkdtemp(prefix="spacetimedb-py-ts-"))
        atexit.register(shutil.rmtree, _OUT_DIR, True)
    return _OUT_DIR


def bundle_module(source: ModuleSource) -> Bundle:
    """Bundle ``source`` (or reuse this process's bundle of it if its inputs are unchanged)."""
    with _BUNDLE_LOCK:
        found = _BUNDLES.get(source.entry)
        if found is not None and found.is_current():
            return found
        node = node_executable()
        ensure_dependencies(source)
        esbuild = find_esbuild(source)
        out = out_dir() / f"{len(_BUNDLES)}-{re.sub(r'[^A-Za-z0-9_.-]', '_', source.name)}.mjs"
        options = {
            "esbuild": str(esbuild),
            "entry": str(source.entry),
            "outfile": str(out),
            "cwd": str(source.project),
            "nodePaths": node_paths(),
        }
        try:
            done = subprocess.run(
                [node, str(BUILD_SCRIPT), json.dumps(options)],
                capture_output=True,
                text=True,
                timeout=_INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TsModuleError(
                f"{source.shown}: bundling took over {_INSTALL_TIMEOUT:.0f} s"
            ) from None
        try:
            result = json.loads(done.stdout)
        except ValueError:
            raise TsModuleError(
                f"{source.shown}: the bundler failed:\n{(done.stdout + done.stderr).strip()}"
            ) from None
        for warning in result["warnings"]:
            log.warning("%s: %s", source.shown, warning)
        if not result["ok"]:
            errors = "\n".join(result["errors"])
            raise TsModuleError(f"{source.shown} failed to bundle:\n{errors}")
        inputs = tuple((name, os.stat(name).st_mtime) for name in result["inputs"])
        bundle = _BUNDLES[source.entry] = Bundle(out, inputs)
        return bundle
