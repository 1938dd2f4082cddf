"""Publishing TypeScript modules to a running local server.

Over HTTP as upstream's CLI does it (``crates/cli/src/subcommands/publish.rs``): the module built
into one ES module (``crates/cli/src/tasks/javascript.rs`` bundles ``src/index.ts`` into
``dist/bundle.js``, ``spacetime:sys*`` left as imports), uploaded as the raw body of
``PUT /v1/database/NAME?host_type=Js`` without a content type.  From Python, with
``LocalServer.publish(PATH)`` on a module folder.  Both create databases and hot-swap the module
of a running one (its rows kept, the new code answering the next call).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from publish_support import bearer
from server_test_support import TIMEOUT
from ts_support import logged, needs_node

from node_support import CHAT_TS, ROOT, use_repo_node_modules
from spacetimedb_sdk.server.host import Database
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.server.module import CallResult

pytestmark = needs_node()

ESBUILD = ROOT / "node" / "node_modules" / ".bin" / "esbuild"


def cli_bundle(entry: Path, out: Path) -> bytes:
    """What ``spacetime build`` makes of a module: one ES module, browser-neutral, with
    ``spacetime:sys*`` left external and an inline source map (esbuild standing in for the
    CLI's rolldown, with the same settings)."""
    env = {**os.environ, "NODE_PATH": str(ROOT / "node" / "node_modules")}
    subprocess.run(
        [
            str(ESBUILD),
            str(entry),
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--main-fields=module,main",
            "--external:spacetime:sys*",
            "--sourcemap=inline",
            "--log-level=error",
            f"--outfile={out}",
        ],
        check=True,
        env=env,
        timeout=120,
    )
    return out.read_bytes()


@pytest.fixture(scope="module")
def chat_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("dist") / "bundle.js"
    program = cli_bundle(CHAT_TS / "src" / "index.ts", out)
    assert b'from "spacetime:sys@2.0"' in program  # the host's imports, as the CLI leaves them
    return program


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    use_repo_node_modules()  # esbuild, for binding the bundle to this host
    async with LocalServer(None) as server:
        yield server


async def call(db: Database, reducer: str, *args: Any) -> CallResult:
    """A reducer call from outside the server's loop thread (it waits for the module)."""
    return await asyncio.to_thread(db.call_reducer, reducer, *args)


async def put_js(srv: LocalServer, name: str, program: bytes) -> httpx.Response:
    """The CLI's upload: the bundle as the body, ``host_type=Js``, no content type."""
    async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http:
        return await http.put(
            f"/v1/database/{name}",
            content=program,
            params={"host_type": "Js"},
            headers=bearer(srv.owner_token),
        )


async def test_the_cli_upload_of_a_js_bundle_creates_and_updates_a_database(
    srv: LocalServer, chat_bundle: bytes
) -> None:
    created = await put_js(srv, "chat", chat_bundle)
    assert created.status_code == 200, created.text
    assert created.json()["Success"]["op"] == "created"
    db = srv.get_database("chat")
    assert type(db.module).__name__ == "TsModule"
    assert (await call(db, "send_message", "hello")).ok
    assert [m.text for m in db.rows("message")] == ["hello"]
    refused = await call(db, "set_name", "")
    assert (refused.status, refused.message) == ("err", "Names must not be empty")

    # The same program again changes nothing; a changed one is hot-swapped, rows kept, and the
    # next call runs the new code.
    again = await put_js(srv, "chat", chat_bundle)
    assert again.json()["Success"]["op"] == "updated"
    changed = chat_bundle.replace(b"Names must not be empty", b"A name needs a letter")
    assert changed != chat_bundle
    updated = await put_js(srv, "chat", changed)
    assert updated.status_code == 200, updated.text
    assert [m.text for m in db.rows("message")] == ["hello"]
    refused = await call(db, "set_name", "")
    assert refused.message == "A name needs a letter"
    assert ("Info", "__spacetimedb__", "Database updated") in logged(db)


async def test_a_bundle_that_cannot_be_hosted_is_refused_naming_it(srv: LocalServer) -> None:
    broken = await put_js(srv, "broken", b"export default {\n")
    assert broken.status_code == 500
    assert broken.text.startswith("the published Js module 'broken' failed to bundle:")
    no_library = await put_js(srv, "bare", b"export default 1;\n")
    assert no_library.status_code == 500
    assert "doesn't import the `spacetimedb/server` package" in no_library.text
    assert srv.databases == []


async def test_local_server_publishes_a_typescript_module_folder(tmp_path: Path) -> None:
    use_repo_node_modules()
    async with LocalServer(None) as srv:
        db = await srv.publish_async(CHAT_TS, "chat-ts")
        assert (await call(db, "send_message", "from a folder")).ok
        assert srv.get_database("chat-ts") is db
        program = db.program_hash
        assert await srv.publish_async(CHAT_TS, "chat-ts") is db  # unchanged: nothing happens
        assert db.program_hash == program
        assert [m.text for m in db.rows("message")] == ["from a folder"]

        # clear=True starts afresh with the module (its init runs in a scratch database first).
        await srv.publish_async(CHAT_TS, "chat-ts", clear=True)
        assert db.rows("message") == []
        assert (await call(db, "send_message", "after the reset")).ok
        assert [m.text for m in db.rows("message")] == ["after the reset"]
        lines = [json.loads(line)["message"] for line in db.log.tail(None)]
        assert "Database initialized" in lines
