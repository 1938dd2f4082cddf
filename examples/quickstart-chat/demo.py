"""The scripted quickstart demo (``make demo``): two chat clients talk through a local server.

1. Starts the local server with this folder's ``module.py`` as ``quickstart-chat``.
2. Generates typed bindings from the running server with ``spacetimedb-py generate``
   (into ``module_bindings/`` beside this file unless ``--out-dir`` says otherwise;
   ``client.py`` uses them from there).
3. Connects Alice and Bob with the generated ``DbConnection``; each shows what it sees
   through ``client.py``'s :class:`ChatView`, prefixed with its name.
4. They set their names and exchange messages; each step waits until the other client
   has seen it.  Bob leaves, Alice sees him go, Alice leaves.
5. Prints a summary and exits 0, or 1 naming the step that failed.

Nothing is interactive and every wait is bounded, so it cannot hang.

Example::

    $ python examples/quickstart-chat/demo.py
    ...
    [bob] Alice: Hi Bob! Welcome to SpacetimeDB.
    ...
    Demo passed: each client saw the other's name and all 3 messages.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from client import ChatView, handle_line, subscribe_to_chat, user_label
from spacetimedb_sdk.connection import DbConnection
from spacetimedb_sdk.errors import SpacetimeDBError
from spacetimedb_sdk.server.local import LocalServer

HERE = Path(__file__).resolve().parent
MODULE = HERE / "module.py"
DATABASE = "quickstart-chat"
#: Seconds: each step (one client seeing what the other did), code generation, the whole demo.
STEP_TIMEOUT = 15.0
GENERATE_TIMEOUT = 120.0
TOTAL_TIMEOUT = 180.0

#: (who, what they type); after each line the other client must see its effect.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("alice", "/name Alice"),
    ("bob", "/name Bob"),
    ("alice", "Hi Bob! Welcome to SpacetimeDB."),
    ("bob", "Hi Alice! Your message got here in no time."),
    ("alice", "Great, see you later."),
)


class DemoError(Exception):
    """A step of the demo did not happen as scripted."""


class ScriptedClient:
    """One demo user: a connection, the lines its :class:`ChatView` printed, and a way to
    wait until a given line has been printed.

    Example::

        alice = await ScriptedClient.connect("alice", DbConnection, srv.url, "quickstart-chat")
        await alice.type("/name Alice")
        await bob.until("User c200... renamed to Alice.")
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[str] = []
        self.errors: list[str] = []
        self._changed = asyncio.Event()
        self._conn: DbConnection | None = None

    @classmethod
    async def connect(
        cls, name: str, connection_class: type[DbConnection], url: str, database: str
    ) -> ScriptedClient:
        """Connect anonymously, show the chat, subscribe to it."""
        client = cls(name)
        builder = connection_class.builder().with_uri(url).with_database_name(database)
        client._conn = await asyncio.wait_for(builder.connect(), STEP_TIMEOUT)
        client.show(f"(connected as {client.label})")
        view = ChatView(client._conn, client.show)
        view.attach()
        await subscribe_to_chat(client._conn, view)
        return client

    @property
    def conn(self) -> DbConnection:
        if self._conn is None:
            raise DemoError(f"{self.name} is not connected")
        return self._conn

    @property
    def label(self) -> str:
        """How the chat names this user (the start of the identity until a name is set)."""
        me = self.conn.db.user.identity.find(self.conn.identity)
        if me is not None:
            return user_label(me)
        return self.conn.identity.to_hex()[:16]

    def show(self, text: str) -> None:
        self.seen.append(text)
        print(f"[{self.name}] {text}", flush=True)
        self._changed.set()

    def _error(self, text: str) -> None:
        self.errors.append(text)
        print(f"[{self.name}] error: {text}", flush=True)

    async def type(self, line: str) -> None:
        """Enter a line as the interactive client would (``/name NAME`` or a message)."""
        print(f"[{self.name}] > {line}", flush=True)
        await handle_line(self.conn, line, self._error)

    async def until(self, line: str) -> None:
        """Wait until this client has shown ``line``; :class:`DemoError` after the step timeout."""

        async def shown() -> None:
            while line not in self.seen:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(shown(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            raise DemoError(
                f"{self.name} did not see {line!r} within {STEP_TIMEOUT:g} s; it saw {self.seen!r}"
            ) from None

    def messages(self) -> list[str]:
        """The chat messages this client showed (``Sender: text`` lines)."""
        return [s for s in self.seen if s.startswith(("Alice: ", "Bob: "))]

    async def leave(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(SpacetimeDBError, asyncio.TimeoutError):
                await asyncio.wait_for(self._conn.disconnect(), STEP_TIMEOUT)


async def chat(connection_class: type[DbConnection], url: str, database: str) -> None:
    """Alice and Bob meet, rename, talk and leave; raises :class:`DemoError` on a missed step."""
    clients: dict[str, ScriptedClient] = {}
    try:
        alice = clients["alice"] = await ScriptedClient.connect(
            "alice", connection_class, url, database
        )
        bob = clients["bob"] = await ScriptedClient.connect("bob", connection_class, url, database)
        await alice.until(f"User {bob.label} connected.")

        for who, line in SCRIPT:
            speaker = clients[who]
            listener = bob if speaker is alice else alice
            before = speaker.label
            await speaker.type(line)
            if speaker.errors:
                raise DemoError(f"{who} could not enter {line!r}: {speaker.errors[-1]}")
            if line.startswith("/name "):
                expected = f"User {before} renamed to {line[len('/name ') :]}."
            else:
                expected = f"{speaker.label}: {line}"
            await speaker.until(expected)
            await listener.until(expected)

        bob_label = bob.label  # read now: once Bob has left, his cache is gone
        print("[bob] (leaving)", flush=True)
        await bob.leave()
        await alice.until(f"User {bob_label} disconnected.")
    finally:
        for client in clients.values():
            await client.leave()
    summarize(alice, bob)


def summarize(alice: ScriptedClient, bob: ScriptedClient) -> None:
    """Print what each client saw and check both saw every message; :class:`DemoError` if not."""
    said = [line for _, line in SCRIPT if not line.startswith("/name ")]
    print("\nSummary:")
    for client in (alice, bob):
        print(f"  {client.name} saw {len(client.messages())} messages:")
        for text in client.messages():
            print(f"    {text}")
    for client in (alice, bob):
        texts = [m.split(": ", 1)[1] for m in client.messages()]
        if texts != said:
            raise DemoError(f"{client.name} saw messages {texts!r}, expected {said!r}")
    print(f"Demo passed: each client saw the other's name and all {len(said)} messages.")


def generate_bindings(url: str, database: str, out_dir: Path) -> ModuleType:
    """Run ``spacetimedb-py generate`` against the server and import the package it writes."""
    if not out_dir.name.isidentifier():
        raise DemoError(f"--out-dir must end in a Python package name, not {out_dir.name!r}")
    command = [sys.executable, "-m", "spacetimedb_sdk", "generate"]
    command += ["--server", url, "--database", database, "--out-dir", str(out_dir)]
    print("$ spacetimedb-py generate --server", url, "--database", database, "--out-dir", out_dir)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=GENERATE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"code generation took longer than {GENERATE_TIMEOUT:g} s") from None
    print(done.stdout.strip(), flush=True)
    if done.returncode != 0:
        raise DemoError(f"code generation failed (exit {done.returncode}): {done.stderr.strip()}")
    sys.path.insert(0, str(out_dir.parent))
    return importlib.import_module(out_dir.name)


def run(out_dir: Path) -> None:
    """The whole demo: server, bindings, chat; raises :class:`DemoError` on failure."""
    print(f"Starting the local server with {MODULE.name} ...", flush=True)
    server = LocalServer(MODULE, database=DATABASE).start(timeout=STEP_TIMEOUT)
    try:
        print(f"Serving database {server.database!r} at {server.url}", flush=True)
        bindings = generate_bindings(server.url, server.database, out_dir)
        connection_class = bindings.DbConnection
        print(f"Using the generated {connection_class.__module__}.DbConnection\n", flush=True)
        try:
            asyncio.run(
                asyncio.wait_for(chat(connection_class, server.url, server.database), TOTAL_TIMEOUT)
            )
        except asyncio.TimeoutError:
            raise DemoError(f"the chat did not finish within {TOTAL_TIMEOUT:g} s") from None
    finally:
        server.stop(timeout=STEP_TIMEOUT)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; returns 0 when both clients saw everything, else 1.

    Example::

        raise SystemExit(main(["--out-dir", "/tmp/demo/module_bindings"]))
    """
    parser = argparse.ArgumentParser(description="Two scripted chat clients on a local server.")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=HERE / "module_bindings",
        help="where to generate the bindings (default: module_bindings/ beside this file)",
    )
    args = parser.parse_args(argv)
    try:
        run(args.out_dir.resolve())
    except (DemoError, SpacetimeDBError, OSError) as e:
        print(f"Demo failed: {e}", file=sys.stderr, flush=True)
        return 1
    print(
        "\nTry it yourself: `spacetimedb-py serve examples/quickstart-chat/module.py`, then "
        "`python examples/quickstart-chat/client.py` in two terminals "
        "(the second with `--credentials bob`).",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
