"""Whether the official TypeScript client can run here, for the tests that drive it.

``pytestmark = requires_node()`` skips a module's tests, with the reason, where Node or
``node/node_modules`` is missing: a user without Node still gets the whole Python suite
(``make test`` installs the npm packages only when npm exists, and says so when it does
not).  CI sets ``SPACETIMEDB_REQUIRE_NODE=1`` (``.ci/run``): there a missing Node is a
collection error, so the conformance tests can never be skipped silently.

Example::

    pytestmark = requires_node()
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIRE_ENV = "SPACETIMEDB_REQUIRE_NODE"
NODE = shutil.which("node")


def node_missing() -> str | None:
    """Why the TypeScript client cannot run here, or ``None`` when it can."""
    if NODE is None:
        return "node is not on PATH (install Node 20 and npm, then `make node`)"
    if not (ROOT / "node" / "node_modules" / "spacetimedb").is_dir():
        return "node/node_modules missing: run `make node`"
    return None


def requires_node() -> pytest.MarkDecorator:
    """A ``skipif`` mark for tests that run Node; a failure instead under ``$SPACETIMEDB_REQUIRE_NODE``."""
    reason = node_missing()
    if reason is not None and os.environ.get(REQUIRE_ENV):
        pytest.fail(f"${REQUIRE_ENV} is set (CI), but {reason}", pytrace=False)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


TS_MODULES = ROOT / "tests" / "modules_ts"
CHAT_PY = ROOT / "examples" / "quickstart-chat" / "module.py"
CHAT_TS = ROOT / "examples" / "quickstart-chat-ts"


def use_repo_node_modules() -> None:
    """Let TypeScript modules without a ``node_modules`` of their own (``tests/modules_ts``,
    ``examples/quickstart-chat-ts``) resolve ``spacetimedb`` and esbuild from ``node/``, as
    Node's ``NODE_PATH`` does."""
    repo = str(ROOT / "node" / "node_modules")
    paths = [p for p in os.environ.get("NODE_PATH", "").split(os.pathsep) if p]
    if repo not in paths:
        os.environ["NODE_PATH"] = os.pathsep.join([repo, *paths])


def module_langs(config: pytest.Config) -> tuple[str, ...]:
    """The module languages selected with ``--module-lang``."""
    chosen = config.getoption("--module-lang")
    if chosen is None:
        chosen = (
            "py"
            if node_missing() is not None and not os.environ.get("SPACETIMEDB_REQUIRE_NODE")
            else "both"
        )
    if chosen == "python":
        chosen = "py"
    return ("py", "ts") if chosen == "both" else (chosen,)


_LOADED: dict[Path, object] = {}


def load_once(path: Path) -> object:
    """The module at ``path`` (Python or TypeScript), loaded once per session."""
    found = _LOADED.get(path)
    if found is None:
        use_repo_node_modules()
        from spacetimedb_sdk.server.local import load_module

        found = _LOADED[path] = load_module(path)
    return found


def chat_module(lang: str) -> object:
    """The quickstart-chat module in ``lang`` (``py`` or ``ts``), loaded once per session."""
    return load_once(CHAT_TS if lang == "ts" else CHAT_PY)
