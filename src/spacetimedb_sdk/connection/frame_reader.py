"""The receive side of the WebSocket transport: one read buffer, and the frames cut from it.

asyncio reads the socket straight into a buffer (the transport's protocol is an
``asyncio.BufferedProtocol``): no ``bytes`` object is allocated per read. A plain
``Protocol`` would get each read as a new ``bytes`` of up to 256 KiB, which glibc maps and
unmaps around every small frame (three system calls and page faults per read). The buffer is
shared by the thread's connections; one keeps a buffer of its own only while it holds an
incomplete frame.

Until the handshake's response is in, every byte goes to the ``websockets`` protocol (the
sink's :meth:`FrameSink.feed`). After a ``101`` the reader splits the stream into frames
itself: a whole, final, unmasked binary frame (what the server sends) is handed over at once
(:meth:`FrameSink.deliver`); the bytes of any other frame go to the protocol as they come,
which answers pings, handles close frames and fails on what breaks the rules exactly as when
it reads every byte (tests/client/test_transport_framing.py holds the two ways to the same
outcome). The protocol only gets whole frames, or the rest of the one it is reading, so it
is always where this code is in the stream. Parsing the common frame here costs a fraction
of the protocol's generator-based parser.

Example::

    reader = FrameReader(sink, max_size=1 << 20)
    view = reader.get_buffer()      # the socket is read into this
    reader.received(nbytes)         # then the frames in it go to the sink
"""

from __future__ import annotations

import threading
from typing import Protocol

from websockets.frames import Opcode

#: The size of each thread's shared read buffer.
_READ_SIZE = 256 * 1024
#: The least room a connection's own buffer offers a read (it doubles as a frame needs).
_OWN_READ_SIZE = 16 * 1024
#: Each thread's shared read buffer (see :func:`_shared_buffer`).
_SHARED = threading.local()
#: The opcodes a frame may have (RFC 6455 5.2); any other fails the connection.
_OPCODES = frozenset(int(op) for op in Opcode)
#: Final, no extension bits, binary: the frame the server sends.
_WHOLE_BINARY = 0x82


class FrameSink(Protocol):
    """Where a :class:`FrameReader` sends what it reads (the transport's wire protocol)."""

    def feed(self, data: bytes) -> None:
        """Bytes for the ``websockets`` protocol."""

    def deliver(self, payload: bytes) -> None:
        """The payload of a whole binary frame."""

    def responded(self) -> bool:
        """Whether the handshake's response has been read."""

    def may_split(self) -> bool:
        """Whether the next whole binary frame may bypass the protocol (it is open, and not
        in the middle of a fragmented message)."""


class FrameReader:
    """The transport's read buffer and frame splitter (see the module docstring).

    Example::

        reader = FrameReader(sink, max_size=None)
        reader.write(b"HTTP/1.1 101 Switching Protocols\\r\\n...\\r\\n\\r\\n\\x82\\x02hi")
    """

    #: Whether frames may be split here at all; the tests compare both ways.
    split_frames = True

    def __init__(self, sink: FrameSink, max_size: int | None) -> None:
        self.sink = sink
        #: The protocol's limit on a message's size (it checks it too; this is for framing).
        self.max_size = max_size
        #: This connection's own buffer: only while it holds an incomplete frame.
        self._buf: bytearray | None = None
        #: Bytes of ``_buf`` holding data not handled yet (at its start).
        self._size = 0
        #: Whether this splits frames (after a 101; off for good once the protocol fails).
        self.framing = False
        #: Bytes of the frame the protocol is reading that it has not been given yet.
        self._owed = 0
        #: The reading thread's shared buffer, once :meth:`get_buffer` handed it out.
        self._shared: bytearray | None = None

    # ---- filling the buffer -------------------------------------------------------------

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Room for the next read (``BufferedProtocol.get_buffer``): the thread's shared
        read buffer, or this connection's own after an incomplete frame."""
        if self._buf is None:
            shared = self._shared
            if shared is None:  # the first read: on the thread that reads this connection
                shared = self._shared = _shared_buffer()
            return memoryview(shared)
        self._room(_OWN_READ_SIZE)
        return memoryview(self._buf)[self._size :]

    def received(self, nbytes: int) -> None:
        """A read wrote ``nbytes`` into :meth:`get_buffer`'s view: hand on what they make."""
        if self._buf is None:
            assert self._shared is not None
            self._take(self._shared, nbytes)
        else:
            self._size += nbytes
            self._take(self._buf, self._size)

    def write(self, data: bytes) -> None:
        """Bytes from a transport that does not read into buffers (or from a test)."""
        if self._buf is None:
            self._take(data, len(data))
            return
        self._room(len(data))
        self._buf[self._size : self._size + len(data)] = data
        self._size += len(data)
        self._take(self._buf, self._size)

    def _room(self, n: int) -> None:
        buf, size = self._buf, self._size
        assert buf is not None
        if len(buf) - size < n:
            # A new buffer, never a resized one: the last read's view of it may still exist.
            grown = bytearray(max(2 * len(buf), size + n))
            grown[:size] = buf[:size]
            self._buf = grown

    def flush(self) -> None:
        """The socket ended: let the protocol see what it would have held (an incomplete
        frame, the tail of a handshake), so it reports the end as it would have."""
        if self._buf is not None and self._size:
            rest = bytes(self._buf[: self._size])
            self._buf, self._size = None, 0
            self.sink.feed(rest)

    # ---- handing it on ------------------------------------------------------------------

    def _take(self, buf: bytes | bytearray, size: int) -> None:
        """Hand on what ``buf[:size]`` holds; keep an incomplete rest in this connection's
        own buffer (the shared one is the next connection's), and drop that once emptied."""
        if self.framing:
            pos = self._frames(buf, 0, size)
        elif not self.sink.responded():
            pos = self._handshake(buf, size)
        else:
            pos = size
            self.sink.feed(bytes(buf[:pos]))
        rest = size - pos
        if not rest:
            self._buf, self._size = None, 0
        elif buf is self._buf:
            if pos:
                buf[:rest] = buf[pos:size]  # the same size: never a resize
            self._size = rest
        else:
            self._buf = bytearray(rest + _OWN_READ_SIZE)
            self._buf[:rest] = buf[pos:size]
            self._size = rest

    def _handshake(self, buf: bytes | bytearray, size: int) -> int:
        """Bytes while the handshake's response is awaited: to the protocol, up to the end
        of the response's head; once that opened the connection, what follows is frames.
        Returns how many bytes were handled."""
        end = buf.find(b"\r\n\r\n", 0, size)
        if end < 0:
            keep = min(3, size)  # where the head's end may begin
            if size > keep:
                self.sink.feed(bytes(buf[: size - keep]))
            return size - keep
        cut = end + 4
        self.sink.feed(bytes(buf[:cut]))
        # A 101 response has no body, so the protocol stopped at its head: from here on
        # frames start where it is (any other answer keeps everything in the protocol).
        self.framing = self.split_frames and self.sink.may_split()
        if self.framing:
            return self._frames(buf, cut, size)
        if cut < size:
            self.sink.feed(bytes(buf[cut:size]))
        return size

    def _frames(self, buf: bytes | bytearray, pos: int, size: int) -> int:
        """Split ``buf[pos:size]`` into frames; returns where the unhandled part starts."""
        with memoryview(buf) as view:
            while pos < size:
                if self._owed:  # the rest of a frame the protocol is reading
                    take = min(self._owed, size - pos)
                    self._owed -= take
                    pos += take
                    self.sink.feed(bytes(view[pos - take : pos]))
                    continue
                if size - pos < 2:
                    break
                first, second = view[pos], view[pos + 1]
                if second & 0x80 or (first & 0x0F) not in _OPCODES:
                    # Masked, or no such opcode: the protocol fails on these two bytes alone.
                    return self._give_up(view, pos, size)
                length = second & 0x7F
                head = 2
                if length == 126:
                    if size - pos < 4:
                        break
                    length = int.from_bytes(view[pos + 2 : pos + 4], "big")
                    head = 4
                elif length == 127:
                    if size - pos < 10:
                        break
                    length = int.from_bytes(view[pos + 2 : pos + 10], "big")
                    head = 10
                if self.max_size is not None and length > self.max_size:
                    # Too big: the protocol fails on the header.
                    return self._give_up(view, pos, size)
                end = pos + head + length
                if first == _WHOLE_BINARY and self.sink.may_split():
                    if end > size:
                        break
                    payload = bytes(view[pos + head : end])
                    pos = end
                    self.sink.deliver(payload)
                else:
                    self._owed = end - pos
        return pos

    def _give_up(self, view: memoryview, pos: int, size: int) -> int:
        """The protocol takes every byte from ``pos`` on (it is failing the connection)."""
        self.framing = False
        self.sink.feed(bytes(view[pos:size]))
        return size


def _shared_buffer() -> bytearray:
    """The read buffer every connection of this thread reads into when it holds no incomplete
    frame: an event loop reads one socket at a time and hands the bytes on before the next
    read (frames leave it as copies), so a thousand idle connections hold no buffer each."""
    buf: bytearray | None = getattr(_SHARED, "buf", None)
    if buf is None:
        buf = _SHARED.buf = bytearray(_READ_SIZE)
    return buf


__all__ = ["FrameReader", "FrameSink"]
