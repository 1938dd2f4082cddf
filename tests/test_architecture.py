"""The shape of the package: imports flow one way, no file grows past a screenful of concepts.

These tests read the source with :mod:`ast` (nothing is imported), build the
file-level import graph (every ``import`` statement counts: module level,
inside functions, under ``if TYPE_CHECKING:``) and hold it to the layering
that docs/architecture.md describes.

An import of a package whose ``__init__.py`` only re-exports is counted as an
import of the submodule that defines the name: importing ``X.a`` runs
``X/__init__.py`` anyway, and such an ``__init__`` is an index, not code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "spacetimedb_sdk"
ROOT = SRC / PACKAGE

# Lower layers never import higher ones.  Each module's layer is that of the longest prefix
# listed here.  (The root ``spacetimedb_sdk`` facade may import anything: it is the top.)
LAYERS: dict[str, int] = {
    "errors": 0,
    "_log": 0,
    "_version": 0,
    "_speedups": 0,  # the optional compiled extension and its loader: imports nothing above
    "sats": 1,
    "schema": 2,
    "protocol": 3,
    "client": 4,
    "auth": 5,
    "credentials": 5,
    "http": 5,
    "query": 6,
    "connection": 7,
    "codegen": 8,
    "compat": 8,
    "spacetimedb_async_client": 8,
    "spacetimedb_client": 8,
    "local_config": 8,
    "cli": 9,
    "__main__": 9,
}
# The local server stands beside the client: it shares the value model, the schema and the
# wire protocol, and nothing of the client side.
SERVER_MAY_IMPORT = ("errors", "_log", "_speedups", "sats", "schema", "protocol", "server")
# Example modules shipped for `serve --example` are written as users write modules: they may
# import the public facade (``from spacetimedb_sdk import Identity``), like any module file.
USER_MODULES = f"{PACKAGE}.server.examples."
PURE_LAYERS = ("sats", "schema", "protocol")
NEVER_FROM_PURE = ("client", "server", "cli", "codegen", "connection")

# Files allowed past the length limit: code emitters (one function per emitted shape) and the
# SQL front end (one function per grammar rule is its clearest form).
MAX_LINES = 700
LENGTH_EXEMPT = ("sats._bsatn_gen", "codegen.emit", "server.sql.")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


MODULES = source_files()


def is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def imports_of(path: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def absolute(name: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package(name) else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def only_reexports(name: str) -> bool:
    """An ``__init__`` that holds nothing but imports, ``__all__`` and its docstring."""
    if not is_package(name):
        return False
    for stmt in ast.parse(MODULES[name].read_text()).body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
        return False
    return True


def reexport_source(package: str, attr: str) -> str | None:
    """The module a re-exporting ``__init__`` takes ``attr`` from."""
    for node in imports_of(MODULES[package]):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == attr:
                    return resolve(absolute(package, node), alias.name)
    return None


def resolve(target: str, attr: str | None) -> str | None:
    """The source module an import of ``target`` (``from target import attr``) depends on."""
    if not target.startswith(PACKAGE):
        return None  # the standard library or a third-party package
    if attr is not None and f"{target}.{attr}" in MODULES:
        return f"{target}.{attr}"
    if target not in MODULES:
        return None
    if attr is not None and only_reexports(target):
        return reexport_source(target, attr) or target
    return target


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for node in imports_of(path):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name, None) for alias in node.names]
            else:
                base = absolute(name, node)
                targets = [resolve(base, alias.name) for alias in node.names]
            graph[name].update(t for t in targets if t is not None and t != name)
    return graph


GRAPH = edges()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def area(module: str) -> str:
    """``spacetimedb_sdk.client.cache`` -> ``client``; the root facade -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_sees_the_package() -> None:
    # Guards the reader of the graph itself: if it found nothing, every test below would pass.
    assert len(MODULES) > 80
    assert f"{PACKAGE}.client.core" in GRAPH[f"{PACKAGE}.connection.db_connection"]
    assert f"{PACKAGE}.sats.types" in GRAPH[f"{PACKAGE}.schema.model"]
    # Through a re-exporting __init__ to the defining module:
    assert f"{PACKAGE}.connection.db_connection" in GRAPH[f"{PACKAGE}.compat._client"]


def test_find_cycle_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_layers_import_downwards_only() -> None:
    wrong = []
    for source, targets in GRAPH.items():
        src_area = area(source)
        if src_area == "" or source.endswith(".__main__"):
            continue  # the facade and the entry points (``python -m ...``) are tops
        for target in targets:
            dst_area = area(target)
            if src_area == "server":
                if source.startswith(USER_MODULES) and target == PACKAGE:
                    continue
                if dst_area not in SERVER_MAY_IMPORT:
                    wrong.append(f"{source} -> {target} (the server uses no client-side code)")
                continue
            if dst_area == "server":
                if src_area not in ("cli", "__main__"):
                    wrong.append(f"{source} -> {target} (only the CLI starts the server)")
                continue
            if dst_area == "" or LAYERS[dst_area] > LAYERS[src_area]:
                wrong.append(f"{source} -> {target} (upwards)")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("pure", PURE_LAYERS)
def test_pure_layers_never_import_the_client_side(pure: str) -> None:
    for source, targets in GRAPH.items():
        if area(source) == pure:
            bad = sorted(t for t in targets if area(t) in NEVER_FROM_PURE)
            assert not bad, f"{source} imports {bad}"


def test_every_area_has_a_layer() -> None:
    areas = {area(m) for m in MODULES} - {"", "server"}
    assert areas <= set(LAYERS), f"new top-level modules need a layer: {areas - set(LAYERS)}"


def test_no_source_file_is_over_the_length_limit() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
        and not name.removeprefix(PACKAGE + ".").startswith(LENGTH_EXEMPT)
    }
    assert not long, f"split these by concept (over {MAX_LINES} lines): {long}"
