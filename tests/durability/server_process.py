"""A ``spacetimedb-py serve MODULE --data-dir DIR`` subprocess that tests can SIGKILL and restart.

The first start picks a free port; restarts reuse it, so clients built ``with_reconnect`` find
the server again.  The server's stderr goes to a file beside the data directory (shown when a
start fails).  Every wait is bounded.

Example::

    server = ServerProcess(MODULE_FILE, tmp_path / "data")
    await server.start()
    ...
    await server.kill()      # SIGKILL: no shutdown code runs
    await server.start()     # same port, same data directory
    await server.stop()
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

T = 30.0


class ServerProcess:
    """One local server process on a data directory (see the module docstring)."""

    def __init__(self, module_file: Path, data_dir: Path) -> None:
        self.module_file = module_file
        self.data_dir = data_dir
        self.port = 0
        self.url = ""
        self.owner_token = ""
        self.starts = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr = data_dir.with_name(data_dir.name + ".stderr")

    async def start(self) -> None:
        """Start the server and wait until it serves."""
        assert self._proc is None, "already running"
        self.starts += 1
        with open(self._stderr, "ab") as err:
            err.write(f"---- start {self.starts}\n".encode())
            err.flush()
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "spacetimedb_sdk", "serve", str(self.module_file),
                "--data-dir", str(self.data_dir), "--port", str(self.port),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=self._env(),
            )  # fmt: skip
        assert self._proc.stdout is not None
        try:
            while True:
                line = (await asyncio.wait_for(self._proc.stdout.readline(), T)).decode()
                if not line:
                    raise RuntimeError(f"the server exited: {self._stderr.read_text()[-3000:]}")
                if line.startswith("Serving database "):
                    self.url = line.rsplit(" at ", 1)[1].strip()
                    self.port = int(self.url.rsplit(":", 1)[1])
                elif line.startswith("Owner token: "):
                    self.owner_token = line.split(": ", 1)[1].strip()
                elif line.startswith("Press Ctrl-C"):
                    return
        except BaseException:
            await self.kill()
            raise

    def _env(self) -> dict[str, str]:
        """Our environment, with the module's folder importable (it may import its siblings)."""
        env = dict(os.environ)
        paths = [str(self.module_file.parent), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    async def kill(self) -> None:
        """SIGKILL the server (it gets no chance to flush or close anything)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                os.kill(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), T)

    async def stop(self) -> None:
        """Stop the server as Ctrl-C does, waiting for it to exit."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), T)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()

    async def rows(self, table: str) -> list[list[object]]:
        """``SELECT * FROM table`` over ``/sql`` as the owner."""
        async with httpx.AsyncClient(base_url=self.url, timeout=T) as http:
            r = await http.post(
                "/v1/database/durable/sql",
                content=f"SELECT * FROM {table}",
                headers={"Authorization": f"Bearer {self.owner_token}"},
            )
        r.raise_for_status()
        rows: list[list[object]] = r.json()[0]["rows"]
        return rows
