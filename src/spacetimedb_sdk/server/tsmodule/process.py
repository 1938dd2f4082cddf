"""One Node process running a module bundle, and the frames exchanged with it.

:class:`NodeProcess` starts ``node host.mjs`` (``js/host.mjs``) on a bundle and talks to it over
two pipes of its own (not stdin/stdout, which the module's stray output may use): Python writes
frames to one, Node to the other.  A frame is a little-endian ``u32`` length, a ``u8`` kind and
a payload; the kinds are the constants below and ``host.mjs`` has the same table.  Reads block
(the database thread waits for Node while a call runs, as SpacetimeDB's host thread waits for
V8), so a call is stopped by killing the process (:meth:`NodeProcess.kill`): the pending read
then ends with :class:`NodeExited`.

The process's stdout and stderr go to ``on_output`` line by line (the database's module log), and
the last lines are kept to explain an exit (:attr:`NodeProcess.output_tail`).

Example::

    proc = NodeProcess(Path("bundle.mjs"), "chat", print)
    kind, payload = proc.recv()          # K_READY with the module's description
"""

from __future__ import annotations

import collections
import contextlib
import os
import struct
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from ..._log import get_logger

log = get_logger("spacetimedb_sdk.server")

HOST_SCRIPT = Path(__file__).resolve().parent / "js" / "host.mjs"

# Python -> Node
K_CONFIG = 1
K_CALL_REDUCER = 2
K_CALL_VIEW = 3
K_CALL_VIEW_ANON = 4
K_CALL_PROCEDURE = 5
K_REPLY = 6
K_EXIT = 7
# Node -> Python
K_READY = 10
K_LOAD_FAILED = 11
K_SYSCALL = 12
K_LOG = 13
K_RESULT = 14
K_SCHEDULE = 15

# Result statuses (K_RESULT's first byte).
R_OK = 0
R_SENDER_ERROR = 1
R_ERROR = 2
R_TRAP = 3

_HEADER = struct.Struct("<IB")
_U32 = struct.Struct("<I")
_READ_SIZE = 1 << 16


class NodeExited(Exception):
    """The Node process ended (it crashed, was killed, or its pipe closed) during an exchange."""


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One frame: length, kind, payload.

    Example::

        >>> frame(K_EXIT)
        b'\\x01\\x00\\x00\\x00\\x07'
    """
    return _HEADER.pack(len(payload) + 1, kind) + payload


class NodeProcess:
    """A running ``host.mjs`` on ``bundle``; ``label`` names it in logs and errors.

    ``node`` is the Node executable.  Not thread-safe: one thread talks to it at a time.
    """

    def __init__(
        self,
        bundle: Path,
        label: str,
        on_output: Callable[[str], None],
        node: str = "node",
    ) -> None:
        self.label = label
        self.killed = False
        self.output_tail: collections.deque[str] = collections.deque(maxlen=30)
        to_node_r, to_node_w = os.pipe()
        from_node_r, from_node_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [
                    node,
                    "--enable-source-maps",
                    str(HOST_SCRIPT),
                    str(to_node_r),
                    str(from_node_w),
                    str(bundle),
                ],
                pass_fds=(to_node_r, from_node_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=bundle.parent,
            )
        except BaseException:
            for fd in (to_node_r, to_node_w, from_node_r, from_node_w):
                os.close(fd)
            raise
        os.close(to_node_r)
        os.close(from_node_w)
        self._out = to_node_w
        self._in = from_node_r
        self._buf = bytearray()
        self._pos = 0
        self._closed = False
        self._on_output = on_output
        self._reader = threading.Thread(
            target=self._pump_output, name=f"node-output[{label}]", daemon=True
        )
        self._reader.start()

    def __repr__(self) -> str:
        state = "exited" if self._proc.poll() is not None else "running"
        return f"NodeProcess({self.label!r}, pid={self._proc.pid}, {state})"

    def retarget(self, on_output: Callable[[str], None]) -> None:
        """Send the process's further output lines to ``on_output``."""
        self._on_output = on_output

    @property
    def pid(self) -> int:
        """The process id."""
        return self._proc.pid

    def _pump_output(self) -> None:
        stream = self._proc.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.output_tail.append(line)
            try:
                self._on_output(line)
            except Exception:  # a failing log sink must not stop the pump (Node would block)
                log.exception("logging the output of %s failed", self.label)
        stream.close()

    # -- frames

    def send(self, data: bytes) -> None:
        """Write one or more whole frames; :class:`NodeExited` if the process is gone."""
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._out, view)
                view = view[written:]
        except (BrokenPipeError, OSError) as e:
            raise NodeExited(self._exit_text()) from e

    def recv(self) -> tuple[int, bytes]:
        """The next frame as ``(kind, payload)``; blocks; :class:`NodeExited` at the end."""
        buf = self._buf
        pos = self._pos
        if len(buf) - pos < 5:
            self._fill(5)
            buf, pos = self._buf, self._pos
        (length,) = _U32.unpack_from(buf, pos)
        end = pos + 4 + length
        if len(buf) < end:
            self._fill(4 + length)
            buf, pos = self._buf, self._pos
            end = pos + 4 + length
        kind = buf[pos + 4]
        payload = bytes(buf[pos + 5 : end])
        if end == len(buf):
            buf.clear()
            self._pos = 0
        else:
            self._pos = end
        return kind, payload

    def _fill(self, need: int) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        while len(self._buf) < need:
            try:
                chunk = os.read(self._in, max(_READ_SIZE, need - len(self._buf)))
            except OSError as e:
                raise NodeExited(self._exit_text()) from e
            if not chunk:
                raise NodeExited(self._exit_text())
            self._buf += chunk

    # -- ending

    def _exit_text(self) -> str:
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self._reader.join(timeout=1)
        if self.killed:
            what = "was stopped"
        elif code is None:
            what = "stopped answering"
        elif code < 0:
            what = f"was killed by signal {-code}"
        else:
            what = f"exited with status {code}"
        tail = "\n".join(self.output_tail)
        return f"the Node process running {self.label} {what}" + (
            f"; its last output:\n{tail}" if tail else ""
        )

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._proc.poll() is None

    def kill(self) -> None:
        """Stop the process now (any thread; a blocked read then raises :class:`NodeExited`)."""
        self.killed = True
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()

    def close(self) -> None:
        """Ask the process to exit, kill it if it does not, and release the pipes."""
        if self._closed:
            return
        self._closed = True
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                os.write(self._out, frame(K_EXIT))
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()
                self._proc.wait(timeout=5)
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._reader.join(timeout=2)
