"""``examples/quickstart-chat/client.py``, the interactive chat client, as a subprocess against a
local server: lines typed on its stdin reach another client (the Python API), what the other
client does is printed, and its saved credentials keep it the same user.

Every read of the client's output and every await is bounded; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk import credentials
from spacetimedb_sdk.codegen import generate, load_schema_from_server
from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.server.auth import TokenIssuer
from spacetimedb_sdk.server.local import LocalServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quickstart-chat"
T = 20.0  # seconds: the bound on each wait
READY = "Use /name to set your name, or type a message!"
GENERATED = "Using the generated bindings in module_bindings/."


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer(EXAMPLE / "module.py", database="quickstart-chat").start(timeout=T)
    try:
        yield srv
    finally:
        srv.stop(timeout=T)


@pytest.fixture
def creds_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The client's credentials folder, also this process's: nothing touches ~/."""
    folder = tmp_path / "credentials"
    monkeypatch.setenv("SPACETIMEDB_CLIENT_CREDENTIALS_DIR", str(folder))
    return folder


class ChatProcess:
    """client.py running with piped stdin/stdout; ``expect`` reads until a line appears."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def expect(self, line: str) -> None:
        async def read_until() -> None:
            assert self.proc.stdout is not None
            while line not in self.lines:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"client exited before printing {line!r}")
                self.lines.append(raw.decode().rstrip("\n"))

        try:
            await asyncio.wait_for(read_until(), T)
        except (AssertionError, asyncio.TimeoutError) as e:
            err = await self._stderr_if_exited()
            raise AssertionError(
                f"client.py did not print {line!r} ({e!r}); it printed {self.lines!r}; "
                f"stderr: {err!r}"
            ) from None

    async def type(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{s}\n" for s in lines).encode())
        await asyncio.wait_for(self.proc.stdin.drain(), T)

    async def finish(self) -> tuple[int, str]:
        """Close stdin (end of input); returns the exit status and stderr."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        rest = await asyncio.wait_for(self.proc.stdout.read(), T)
        self.lines += rest.decode().splitlines()
        code = await asyncio.wait_for(self.proc.wait(), T)
        return code, await self._stderr_if_exited()

    async def _stderr_if_exited(self) -> str:
        if self.proc.returncode is None or self.proc.stderr is None:
            return ""
        return (await asyncio.wait_for(self.proc.stderr.read(), T)).decode()

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def start_client(server: LocalServer, creds_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[ChatProcess] = []

    async def start(*args: str, script: Path = EXAMPLE / "client.py") -> ChatProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            "--server",
            server.url,
            "--database",
            server.database,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "SPACETIMEDB_CLIENT_CREDENTIALS_DIR": str(creds_dir)},
        )
        started.append(ChatProcess(proc))
        return started[-1]

    yield start
    for chat in started:
        chat.kill()
        await asyncio.wait_for(chat.proc.wait(), T)


class Observer:
    """A second chat user through the Python API, with a way to wait for its cache to change."""

    def __init__(self, conn: DbConnection) -> None:
        self.conn = conn
        self.changed = asyncio.Event()
        for table in (conn.db.user, conn.db.message):
            table.on_insert(lambda ctx, row: self.changed.set())
        conn.db.user.on_update(lambda ctx, old, new: self.changed.set())

    async def until(self, what: str, check: Callable[[], Any]) -> Any:
        async def poll() -> Any:
            while not (found := check()):
                self.changed.clear()
                await self.changed.wait()
            return found

        try:
            return await asyncio.wait_for(poll(), T)
        except asyncio.TimeoutError:
            raise AssertionError(f"the observer never saw {what}") from None

    def user_named(self, name: str) -> Any:
        return next((u for u in self.conn.db.user if u.name == name), None)


@pytest.fixture
async def observer(server: LocalServer) -> AsyncIterator[Observer]:
    builder = DbConnection.builder().with_uri(server.url).with_database_name(server.database)
    conn = await asyncio.wait_for(builder.connect(), T)
    try:
        await asyncio.wait_for(
            conn.subscription_builder()
            .add_query(lambda q: q.user)
            .add_query(lambda q: q.message)
            .subscribe(),
            T,
        )
        yield Observer(conn)
    finally:
        await asyncio.wait_for(conn.disconnect(), T)


def with_generated_bindings(server: LocalServer, folder: Path) -> Path:
    """A copy of client.py with bindings generated from ``server`` beside it."""
    folder.mkdir()
    shutil.copy(EXAMPLE / "client.py", folder / "client.py")
    generate(
        load_schema_from_server(server.url, server.database, timeout=T), folder / "module_bindings"
    )
    return folder / "client.py"


@pytest.mark.parametrize("bindings", ["dynamic", "generated"])
async def test_typed_lines_reach_other_clients_and_their_changes_are_printed(
    bindings: str,
    server: LocalServer,
    start_client: Callable[..., Any],
    observer: Observer,
    tmp_path: Path,
) -> None:
    if bindings == "generated":
        chat = await start_client(script=with_generated_bindings(server, tmp_path / "app"))
    else:
        chat = await start_client("--dynamic")
    await chat.expect(READY)
    assert (GENERATED in chat.lines) == (bindings == "generated")

    # What the client types reaches the other user: its new name, then its message under it.
    await chat.type("/name Alice", "hello")
    alice = await observer.until("the rename", lambda: observer.user_named("Alice"))
    assert alice.online
    hello = await observer.until(
        "the message", lambda: [m for m in observer.conn.db.message if m.text == "hello"]
    )
    assert [m.sender for m in hello] == [alice.identity]
    await chat.expect("Alice: hello")

    # What the other user does is printed: a message under its short identity, a rename,
    # then messages under the new name.
    me = observer.conn.identity
    assert me is not None
    await asyncio.wait_for(observer.conn.reducers.send_message("hi from the test"), T)
    await chat.expect(f"{me.to_hex()[:16]}: hi from the test")
    await asyncio.wait_for(observer.conn.reducers.set_name("Bob"), T)
    await chat.expect(f"User {me.to_hex()[:16]} renamed to Bob.")
    await asyncio.wait_for(observer.conn.reducers.send_message("bye"), T)
    await chat.expect("Bob: bye")

    # The module's refusals are reported, and the client carries on.
    await chat.type("/name ", "still here")
    await chat.expect("Alice: still here")

    # End of input: a clean goodbye, and the other user sees Alice go offline.
    code, stderr = await chat.finish()
    assert code == 0, stderr
    assert "Disconnected." in chat.lines
    assert "Failed to set name to '': Names must not be empty" in stderr
    await observer.until(
        "Alice go offline", lambda: not observer.conn.db.user.identity.find(alice.identity).online
    )


async def test_saved_credentials_keep_the_user_and_stale_ones_are_replaced(
    server: LocalServer, start_client: Callable[..., Any], creds_dir: Path
) -> None:
    # A token from a server that no longer exists (another signing key), saved earlier.
    stale = credentials.File("mine")
    stale.save(TokenIssuer.generate().mint("someone"))

    first = await start_client("--credentials", "mine", "--dynamic")
    await first.expect(READY)
    who = connected_as(first)
    await first.type("/name Carol")
    await first.expect(f"User {who} renamed to Carol.")
    code, stderr = await first.finish()
    assert code == 0, stderr
    assert "rejected the saved credentials 'mine'" in stderr
    replaced = stale.load()
    assert replaced is not None

    # The next run is the same user, whom the server still knows by name.
    second = await start_client("--credentials", "mine", "--dynamic")
    await second.expect(READY)
    assert connected_as(second) == who
    await second.expect("User Carol connected.")
    code, stderr = await second.finish()
    assert code == 0, stderr
    assert "rejected" not in stderr
    assert stale.load() == replaced


def connected_as(chat: ChatProcess) -> str:
    """The short identity from the client's ``Connected to ... as ID.`` line."""
    line = next(s for s in chat.lines if s.startswith("Connected to "))
    return line.rsplit(" as ", 1)[1].rstrip(".")
