"""Shared pieces of the 0.7-API tests: paths, the example's bindings, bounded waits.

The in-process tests import the example's committed ``module_bindings`` package (the
one ``examples/compat-07-quickstart/main.py`` uses), so they exercise exactly the
generated code a 0.7 user runs.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from spacetimedb_sdk.server.local import LocalServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "compat-07-quickstart"
CHAT_MODULE = ROOT / "examples" / "quickstart-chat" / "module.py"
T = 10.0  # seconds: the bound on every wait


def example_bindings() -> ModuleType:
    """The example's ``module_bindings`` package, imported under its own name as 0.7 did."""
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    return importlib.import_module("module_bindings")


def binding(name: str) -> Any:
    """A submodule of the example's bindings (``user``, ``send_message_reducer``, ...)."""
    example_bindings()
    return importlib.import_module(f"module_bindings.{name}")


async def wait_for(event: asyncio.Event, what: str, timeout: float = T) -> None:
    """Wait for ``event``; fail naming ``what`` after ``timeout`` seconds."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


def pump(update: Callable[[], object], done: Callable[[], bool], what: str) -> None:
    """Call ``update()`` (a 0.7 game loop) until ``done()``; fail after ``T`` seconds."""
    deadline = time.monotonic() + T
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {T:g} s waiting for {what}")
        update()


class ChatProcess:
    """A 0.7-style chat client in a subprocess: type lines, wait (bounded) for printed lines.

    It runs as a user runs it, ``python main.py`` in its folder, with ``HOME`` pointing at
    ``home`` so that ``local_config`` keeps its token there.
    """

    def __init__(self, srv: LocalServer, home: Path, script: Path) -> None:
        env = {
            **os.environ,
            "HOME": str(home),
            "SPACETIMEDB_HOST": f"localhost:{srv.port}",
            "CHAT_HOST": f"localhost:{srv.port}",
            "CHAT_DATABASE": srv.database,
            "PYTHONUNBUFFERED": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=script.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern: str) -> re.Match[str]:
        """The next printed line matching ``pattern`` (lines before it are kept in ``lines``)."""
        deadline = time.monotonic() + T
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern!r} in {T:g} s: {self.lines}"
                ) from None
            if line is None:
                raise AssertionError(f"the client exited before printing {pattern!r}: {self.lines}")
            self.lines.append(line)
            found = re.fullmatch(pattern, line)
            if found:
                return found

    def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def quit(self) -> None:
        self.type("")  # an empty line ends the 0.7 quickstart
        assert self.proc.wait(T) == 0, self.lines
        rest = self._queue.get(timeout=T)
        while rest is not None:
            self.lines.append(rest)
            rest = self._queue.get(timeout=T)
        assert not any("Traceback" in line or "ERROR" in line for line in self.lines), self.lines

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(T)
