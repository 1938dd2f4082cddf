"""Drive ``node/src/chat_client.mjs`` (the official TypeScript client) from asyncio tests.

The client runs as a subprocess: commands go to its stdin as JSON lines, events come back on its
stdout as JSON lines (the protocol is in the header comment of ``chat_client.mjs``).
:meth:`TsChatClient.expect` returns the next event of a kind whose fields match, keeping the
events it skips so a later ``expect`` can still claim them: events of different clients or
tables may interleave in any order, and tests should not depend on that order. Every wait has a
timeout and nothing sleeps.

Example::

    async with TsChatClient.launch(srv.url, "quickstart-chat", compression="none") as alice:
        await alice.subscribe("s1", "SELECT * FROM user")
        assert (await alice.call("set_name", name="Alice"))["status"] == "ok"
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from node_support import NODE, node_missing

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SCRIPT = ROOT / "node" / "src" / "chat_client.mjs"
TIMEOUT = 15.0
"""Seconds any single wait may take; generous for a loaded 2-core CI machine."""

Event = dict[str, Any]


def ws_base(http_url: str) -> str:
    """``http://host:port`` → ``ws://host:port`` (what ``--uri`` expects).

    Example::

        >>> ws_base("http://127.0.0.1:3000")
        'ws://127.0.0.1:3000'
    """
    if not http_url.startswith("http"):
        raise ValueError(f"expected an http:// or https:// URL, got {http_url!r}")
    return "ws" + http_url[4:]


def matches(event: Event, kind: str, fields: dict[str, Any]) -> bool:
    """Whether ``event`` is of ``kind`` and has every field equal to ``fields``' value.

    A field value that is callable is a predicate on the event's value instead.

    Example::

        >>> matches({"event": "insert", "table": "user"}, "insert", {"table": "user"})
        True
    """
    if event.get("event") != kind:
        return False
    for key, want in fields.items():
        if key not in event:
            return False
        have = event[key]
        if callable(want):
            if not want(have):
                return False
        elif have != want:
            return False
    return True


class TsChatClient:
    """One running ``chat_client.mjs``: send commands, await events."""

    def __init__(self, proc: asyncio.subprocess.Process, label: str) -> None:
        self.proc = proc
        self.label = label
        self.backlog: list[Event] = []
        """Events read but not yet claimed by :meth:`expect`, oldest first."""
        self.history: list[Event] = []
        """Every event read, for failure messages."""
        self.identity = ""
        self.connection_id = ""
        self.token = ""
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._ids = 0

    # ---- life

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(
        cls,
        url: str,
        database: str,
        *,
        token: str | None = None,
        compression: str = "gzip",
        protocols: str = "v3,v2",
        label: str = "client",
        script: Path = CLIENT_SCRIPT,
        extra_args: tuple[str, ...] = (),
    ) -> AsyncIterator[TsChatClient]:
        """Start the client against ``url`` (http:// or ws://) and wait for ``connected``.

        ``script`` is the driver (``chat_client.mjs``, or ``v1_chat_client.mjs`` for the
        1.x SDK), ``extra_args`` its own options.  On exit the client is asked to
        disconnect, then killed if it has not ended.
        """
        reason = node_missing()
        if reason is not None:
            raise RuntimeError(f"cannot run the TypeScript client: {reason}")
        assert NODE is not None
        uri = ws_base(url) if url.startswith("http") else url
        args = ["--uri", uri, "--db", database, "--compression", compression]
        args += ["--protocols", protocols]
        if token is not None:
            args += ["--token", token]
        args += extra_args
        proc = await asyncio.create_subprocess_exec(
            NODE,
            str(script),
            *args,
            cwd=ROOT / "node",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        client = cls(proc, label)
        try:
            connected = await client.expect("connected")
            client.identity = connected["identity"]
            client.connection_id = connected["connection_id"]
            client.token = connected["token"]
            yield client
        finally:
            await client.close()

    async def close(self) -> None:
        """End the process: close stdin (the client disconnects), kill it if it lingers."""
        proc = self.proc
        if proc.returncode is None:
            if proc.stdin is not None and not proc.stdin.is_closing():
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), TIMEOUT)
            except asyncio.TimeoutError:
                proc.kill()
                await asyncio.wait_for(proc.wait(), TIMEOUT)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stderr_task, TIMEOUT)

    async def _drain_stderr(self) -> None:
        # Read continuously so a chatty client never blocks on a full pipe.
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr += chunk

    # ---- commands

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    async def send(self, command: dict[str, Any]) -> None:
        """Write one command line to the client."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await asyncio.wait_for(self.proc.stdin.drain(), TIMEOUT)

    async def subscribe(self, sub_id: str, *queries: str) -> Event:
        """Subscribe to ``queries`` and wait until the subscription is applied."""
        await self.send({"cmd": "subscribe", "id": sub_id, "queries": list(queries)})
        return await self.expect_one_of(
            ("subscription_applied", {"id": sub_id}), ("subscription_error", {"id": sub_id})
        )

    async def unsubscribe(self, sub_id: str) -> Event:
        """Unsubscribe and wait for ``unsubscribe_applied``."""
        await self.send({"cmd": "unsubscribe", "id": sub_id})
        return await self.expect("unsubscribe_applied", id=sub_id)

    async def call(self, reducer: str, **args: Any) -> Event:
        """Call a reducer and wait for its ``reducer_result``."""
        call_id = self._next_id("c")
        await self.send({"cmd": "call", "id": call_id, "reducer": reducer, "args": args})
        return await self.expect("reducer_result", id=call_id)

    async def cache(self, table: str) -> list[Any]:
        """The rows of ``table`` in the client's cache, as the client sees them now."""
        await self.send({"cmd": "cache", "table": table})
        return list((await self.expect("cache", table=table))["rows"])

    async def disconnect(self) -> Event:
        """Disconnect and wait for the process to report it and exit."""
        await self.send({"cmd": "disconnect"})
        event = await self.expect("disconnected")
        await asyncio.wait_for(self.proc.wait(), TIMEOUT)
        return event

    # ---- events

    async def expect(self, kind: str, *, timeout: float = TIMEOUT, **fields: Any) -> Event:
        """The first unclaimed event of ``kind`` whose fields match (see :func:`matches`)."""
        return await self.expect_one_of((kind, fields), timeout=timeout)

    async def expect_one_of(
        self, *wanted: tuple[str, dict[str, Any]], timeout: float = TIMEOUT
    ) -> Event:
        """The first unclaimed event matching any of the ``(kind, fields)`` pairs."""

        def hit(event: Event) -> bool:
            return any(matches(event, kind, fields) for kind, fields in wanted)

        try:
            return await asyncio.wait_for(self._claim(hit), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"{self.label}: no event matching {wanted} within {timeout} s; "
                f"unclaimed: {self.backlog}"
            ) from None

    async def _claim(self, hit: Callable[[Event], bool]) -> Event:
        for i, event in enumerate(self.backlog):
            if hit(event):
                return self.backlog.pop(i)
        while True:
            event = await self._read()
            if hit(event):
                return event
            self.backlog.append(event)

    async def _read(self) -> Event:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            await asyncio.wait_for(self.proc.wait(), TIMEOUT)
            raise AssertionError(
                f"{self.label}: the client exited (code {self.proc.returncode}); "
                f"events: {self.history}\nstderr: {self.stderr()}"
            )
        event: Event = json.loads(line)
        if event.get("event") == "error":
            # A command the driver rejected is a bug in the test, never an expected event.
            raise AssertionError(f"{self.label}: the client rejected a command: {event}")
        self.history.append(event)
        return event

    def unclaimed(self, kind: str, **fields: Any) -> list[Event]:
        """Events already read and not claimed that match ``kind`` and ``fields``."""
        return [e for e in self.backlog if matches(e, kind, fields)]

    def stderr(self) -> str:
        """What the client wrote to stderr so far."""
        return self._stderr.decode(errors="replace")
