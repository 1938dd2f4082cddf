"""Helpers of the resource benchmarks (not a benchmark itself): the server child and RSS.

Example::

    async with ResourceServer(["--reducer-timeout", "2"]) as srv:
        print(srv.url, rss_mb(srv.pid))
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from _util import ROOT

SERVER_SCRIPT = ROOT / "bench" / "_resource_server.py"


def rss_mb(pid: int | None = None) -> float:
    """The resident set size of process ``pid`` (this one by default), in MB (Linux)."""
    path = f"/proc/{pid or os.getpid()}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in {path}")


class ResourceServer:
    """``bench/_resource_server.py`` in a process of its own, for the length of a block."""

    def __init__(self, args: Sequence[str] = ()) -> None:
        self.args = list(args)
        self.info: dict[str, Any] = {}
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    @property
    def database(self) -> str:
        return str(self.info["database"])

    @property
    def owner_token(self) -> str:
        return str(self.info["owner_token"])

    @property
    def ws_url(self) -> str:
        # Uncompressed: what the server queues and what the socket carries are the same size.
        return "ws" + self.url[4:] + f"/v1/database/{self.database}/subscribe?compression=None"

    async def __aenter__(self) -> ResourceServer:
        # The child inherits PYTHONPATH: it runs the same spacetimedb_sdk as this process.
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVER_SCRIPT),
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), 60)
        if not line:
            raise RuntimeError("the resource server exited before it started")
        self.info = json.loads(line)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self._proc
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
