"""A seeded TCP proxy that misbehaves like a bad network: cuts, stalls, delays, split writes.

:class:`FaultProxy` listens on a local port and forwards each accepted connection to a target.
Every connection draws its faults from its own ``random.Random(f"{seed}/{n}")`` (``n`` counts
connections), so a seed names one schedule of faults, chunk by chunk:

* **cut**: each connection gets a byte budget (2-60 KB) for the server-to-client direction;
  once it is spent, maybe inside a frame, both sockets are aborted (an RST, no close
  handshake).  Some connections are cut before anything passes (the handshake fails and the
  client must retry);
* **stall**: now and then a chunk waits 50-400 ms before it goes on;
* **delay**: many chunks wait a few milliseconds;
* **split**: many chunks are written in 2-8 pieces, with the event loop turning in between, so
  WebSocket frames arrive cut at arbitrary byte boundaries.

:meth:`FaultProxy.calm` stops new faults (connections opened after it are faithful, and running
ones stop cutting and stalling), so a test can let the client settle and then compare.
The proxy counts what it did (:attr:`FaultProxy.counts`).

Example::

    async with FaultProxy("127.0.0.1", server_port, seed=7) as proxy:
        conn = await DbConnection.builder().with_uri(proxy.url)...
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from types import TracebackType

_CHUNK = 64 * 1024


class FaultProxy:
    """A TCP proxy to ``host:port`` that injects faults drawn from ``seed`` (module docstring).

    ``faulty=False`` starts it calm (call :meth:`unleash` to start the faults).
    """

    def __init__(self, host: str, port: int, *, seed: int, faulty: bool = True) -> None:
        self.target = (host, port)
        self.seed = seed
        self.faulty = faulty
        self.counts: Counter[str] = Counter()
        self._connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        #: Set when a connection is first cut (inside the stream or at connect).
        self.has_cut = asyncio.Event()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, the address clients use instead of the target's."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def calm(self) -> None:
        """No more faults from now on (in running connections too)."""
        self.faulty = False

    def unleash(self) -> None:
        """Faults from now on."""
        self.faulty = True

    async def calm_after_a_cut(self, done: asyncio.Event, timeout: float) -> None:
        """Stay faulty until a connection was cut or ``done`` is set, then :meth:`calm`.

        A writer may finish long before its bytes have passed the proxy (on a busy machine the
        server sends late), so calming as soon as the writer is done could let most of the
        stream through calm, and no cut would be tested.
        """
        waits = [asyncio.ensure_future(e.wait()) for e in (self.has_cut, done)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        self.calm()

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            _abort(writer)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- one connection

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        n = self._connections
        self._connections += 1
        rng = random.Random(f"{self.seed}/{n}")
        self._writers.add(client_w)
        server_w: asyncio.StreamWriter | None = None
        try:
            if self.faulty and rng.random() < 0.08:
                self.counts["cut at connect"] += 1
                self.has_cut.set()
                return
            try:
                server_r, server_w = await asyncio.open_connection(*self.target)
            except OSError:
                return
            self._writers.add(server_w)
            # The byte budget of the server-to-client direction, after which it is cut.
            budget = rng.randint(2_000, 60_000)
            cut = asyncio.Event()
            up = asyncio.create_task(self._pump(client_r, server_w, rng, None, cut, "up"))
            down = asyncio.create_task(self._pump(server_r, client_w, rng, budget, cut, "down"))
            cutting = asyncio.create_task(cut.wait())
            await asyncio.wait({up, down, cutting}, return_when=asyncio.FIRST_COMPLETED)
            for t in (up, down, cutting):
                t.cancel()
            await asyncio.gather(up, down, cutting, return_exceptions=True)
            if cut.is_set():
                self.counts["cut"] += 1
                self.has_cut.set()
        finally:
            for w in (client_w, server_w):
                if w is not None:
                    self._writers.discard(w)
                    _abort(w)
            self._tasks.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        rng: random.Random,
        budget: int | None,
        cut: asyncio.Event,
        direction: str,
    ) -> None:
        passed = 0
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                chunk = await reader.read(_CHUNK)
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                if self.faulty:
                    if budget is not None and passed + len(chunk) > budget:
                        # Let part of this chunk through: cuts land inside frames too.
                        writer.write(chunk[: max(0, budget - passed)])
                        cut.set()
                        return
                    roll = rng.random()
                    if roll < 0.01:
                        self.counts[f"stall {direction}"] += 1
                        await asyncio.sleep(rng.uniform(0.05, 0.4))
                    elif roll < 0.2:
                        self.counts[f"delay {direction}"] += 1
                        await asyncio.sleep(rng.uniform(0.0, 0.005))
                    if rng.random() < 0.3 and len(chunk) > 1:
                        self.counts[f"split {direction}"] += 1
                        for piece in _pieces(chunk, rng):
                            writer.write(piece)
                            await writer.drain()
                            await asyncio.sleep(0)
                        passed += len(chunk)
                        continue
                writer.write(chunk)
                await writer.drain()
                passed += len(chunk)


def _pieces(chunk: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(chunk)), min(len(chunk) - 1, rng.randint(1, 7))))
    bounds = [0, *cuts, len(chunk)]
    return [chunk[a:b] for a, b in itertools.pairwise(bounds)]


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    with contextlib.suppress(Exception):
        transport.abort()
