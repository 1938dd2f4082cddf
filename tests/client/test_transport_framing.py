"""The transport's own framing against ``websockets``' parser, byte for byte (issue 14).

Once the handshake's response is in, the transport's ``FrameReader`` splits the byte stream
into frames itself, delivers whole binary frames at once and hands the bytes of every other
frame to the ``websockets`` protocol.  Whatever the server sends and however TCP cuts it up, the result must
be what the protocol alone makes of the same bytes: the same messages in the same order, the
same frames written back (pongs, close echoes, the close that fails a broken stream) and the
same end state.  Both run here side by side on hypothesis-drawn streams: valid ones, ones that
break the rules (fragments out of order, masked or oversized frames, reserved bits), and
handshake responses with frames right behind them in the same read.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State
from websockets.uri import parse_uri

from spacetimedb_sdk.connection import frame_reader
from spacetimedb_sdk.connection.transport import _WireProtocol

MAX_SIZE = 300
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeTransport(asyncio.Transport):
    """What the wire protocol writes, and whether it asked to pause reading or close."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.written.append(b"<eof>")

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def opened(
    split: bool, loop: asyncio.AbstractEventLoop, max_size: int = MAX_SIZE
) -> tuple[_WireProtocol, FakeTransport, bytes]:
    """A wire protocol whose request is sent; returns it and the 101 response to feed it."""
    protocol = ClientProtocol(parse_uri("ws://x/"), extensions=None, max_size=max_size)
    request = protocol.connect()
    protocol.send_request(request)
    accept = base64.b64encode(
        hashlib.sha1((request.headers["Sec-WebSocket-Key"] + GUID).encode()).digest()
    ).decode()
    response = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()
    wire = _WireProtocol(protocol, loop, max_size)
    wire.reader.split_frames = split
    transport = FakeTransport()
    wire.connection_made(transport)  # type: ignore[arg-type]
    wire.write_out()
    transport.written.clear()  # the request
    return wire, transport, response


def written_frames(transport: FakeTransport) -> list[tuple[Any, ...]]:
    """The client's frames as the server reads them (masks differ run to run: unmasked)."""
    server = Protocol(Side.SERVER, state=State.OPEN, max_size=None)
    out: list[tuple[Any, ...]] = []
    for chunk in transport.written:
        if chunk == b"<eof>":
            out.append(("eof",))
            continue
        server.receive_data(chunk)
        out += [(e.opcode, e.fin, bytes(e.data)) for e in server.events_received()]
    return out


def outcome(
    stream: bytes,
    cuts: list[int],
    split: bool,
    eof: bool,
    *,
    in_stream: bool = False,
    max_size: int = MAX_SIZE,
) -> dict[str, Any]:
    """What the wire protocol made of the handshake's response then ``stream``, received in
    pieces cut at ``cuts`` (offsets into the response and stream, taken modulo their
    length; with ``in_stream``, offsets into the stream)."""
    loop = asyncio.new_event_loop()
    try:
        wire, transport, response = opened(split, loop, max_size)
        data = response + stream
        if in_stream:
            cuts = [len(response) + c for c in cuts]
        bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            if i % 2:  # a transport that hands over bytes
                wire.data_received(data[a:b])
                continue
            while a < b:  # asyncio's: reads into the protocol's buffer, as much as fits
                view = wire.get_buffer(-1)
                n = min(len(view), b - a)
                view[:n] = data[a : a + n]
                del view
                wire.buffer_updated(n)
                a += n
        if eof:
            wire.eof_received()
        protocol = wire.protocol
        return {
            "messages": list(wire.frames),
            "written": written_frames(transport),
            "state": protocol.state,
            "close_rcvd": str(protocol.close_rcvd),
            "close_sent": str(protocol.close_sent),
            "parser_exc": repr(protocol.parser_exc),
            "split": wire.reader.framing,
        }
    finally:
        loop.close()


def frame_bytes(opcode: Opcode, data: bytes, fin: bool = True, **bits: bool) -> bytes:
    """A server's (unmasked) frame; a close frame's data becomes code 1000 and a reason."""
    if opcode is Opcode.CLOSE and data:
        data = (1000).to_bytes(2, "big") + data[:100]
    frame = Frame(opcode, data, fin, **bits)
    return frame.serialize(mask=False) if not bits else _serialize_unchecked(frame)


def _serialize_unchecked(frame: Frame) -> bytes:
    """A frame with reserved bits set (``Frame.serialize`` checks them)."""
    head = (0x80 if frame.fin else 0) | (0x40 if frame.rsv1 else 0) | (0x20 if frame.rsv2 else 0)
    head |= (0x10 if frame.rsv3 else 0) | frame.opcode
    n = len(frame.data)
    if n < 126:
        length = bytes([n])
    elif n < 65536:
        length = bytes([126]) + n.to_bytes(2, "big")
    else:
        length = bytes([127]) + n.to_bytes(8, "big")
    return bytes([head]) + length + bytes(frame.data)


payloads = st.one_of(st.binary(max_size=20), st.binary(min_size=120, max_size=400))
good_frames = st.one_of(
    st.builds(lambda d: frame_bytes(Opcode.BINARY, d), payloads),
    st.builds(lambda d: frame_bytes(Opcode.BINARY, d), payloads),
    st.builds(
        lambda parts: b"".join(
            frame_bytes(Opcode.BINARY if i == 0 else Opcode.CONT, p, i == len(parts) - 1)
            for i, p in enumerate(parts)
        ),
        st.lists(st.binary(max_size=30), min_size=2, max_size=4),
    ),
    st.builds(lambda d: frame_bytes(Opcode.PING, d), st.binary(max_size=20)),
    st.builds(lambda d: frame_bytes(Opcode.PONG, d), st.binary(max_size=20)),
)
bad_frames = st.one_of(
    st.builds(lambda d: frame_bytes(Opcode.TEXT, d.encode()), st.text(max_size=10)),
    st.builds(lambda d: frame_bytes(Opcode.CONT, d), st.binary(max_size=10)),
    st.builds(lambda d: frame_bytes(Opcode.BINARY, d, False), st.binary(max_size=10)),
    st.builds(lambda d: frame_bytes(Opcode.BINARY, d, rsv1=True), st.binary(max_size=10)),
    st.builds(lambda d: frame_bytes(Opcode.CLOSE, d.encode()), st.text(max_size=10)),
    st.builds(  # masked: a server must not mask
        lambda d: Frame(Opcode.BINARY, d).serialize(mask=True), st.binary(max_size=40)
    ),
    st.builds(
        lambda d: frame_bytes(Opcode.BINARY, d),
        st.binary(min_size=MAX_SIZE + 1, max_size=MAX_SIZE + 50),
    ),
    st.binary(min_size=1, max_size=6),  # garbage
)
streams = st.lists(st.one_of(good_frames, good_frames, bad_frames), max_size=12).map(b"".join)
cut_points = st.lists(st.integers(0, 10_000), max_size=8)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, cut_points, st.booleans())
def test_the_transport_frames_bytes_as_the_protocol_does(
    stream: bytes, cuts: list[int], eof: bool
) -> None:
    ours, reference = outcome(stream, cuts, True, eof), outcome(stream, cuts, False, eof)
    assert reference.pop("split") is False
    split = ours.pop("split")
    assert ours == reference
    assert split or ours["state"] is not State.OPEN  # framing is only ever given up on failure


def test_frames_right_behind_the_handshake_response_are_split_here() -> None:
    stream = frame_bytes(Opcode.BINARY, b"one") + frame_bytes(Opcode.BINARY, b"two")
    got = outcome(stream, [], True, False)
    assert got["messages"] == [b"one", b"two"] and got["split"] is True


def each_cut(data: bytes) -> Iterator[list[int]]:
    for i in range(len(data) + 1):
        yield [i]


@pytest.mark.parametrize("payload", [b"", b"x" * 125, b"y" * 126, b"z" * 299])
def test_a_frame_cut_anywhere_arrives_whole(payload: bytes) -> None:
    stream = frame_bytes(Opcode.BINARY, payload) + frame_bytes(Opcode.PING, b"p")
    for cut in each_cut(stream):
        got = outcome(stream, cut, True, False, in_stream=True)
        assert got["messages"] == [payload]
        assert got["written"] == [(Opcode.PONG, True, b"p")]


SAMPLES = {
    "binary": frame_bytes(Opcode.BINARY, b"bin"),
    "binary-126": frame_bytes(Opcode.BINARY, b"b" * 200),
    "first-fragment": frame_bytes(Opcode.BINARY, b"frag", False),
    "continuation": frame_bytes(Opcode.CONT, b"ment", False),
    "last-fragment": frame_bytes(Opcode.CONT, b"ed"),
    "text": frame_bytes(Opcode.TEXT, b"txt"),
    "ping": frame_bytes(Opcode.PING, b"p"),
    "pong": frame_bytes(Opcode.PONG, b"q"),
    "close": frame_bytes(Opcode.CLOSE, b"bye"),
    "masked": Frame(Opcode.BINARY, b"m").serialize(mask=True),
    "rsv1": frame_bytes(Opcode.BINARY, b"r", rsv1=True),
    "too-big": frame_bytes(Opcode.BINARY, b"x" * (MAX_SIZE + 1)),
    "bad-opcode": b"\x83\x00",
}


@pytest.mark.parametrize("first", list(SAMPLES))
def test_every_pair_of_frame_kinds_cut_anywhere(first: str) -> None:
    # Every kind after every kind (and a third, so a failure is seen to stop the stream),
    # cut at every byte of the pair: the same outcome as the protocol alone.
    for second in SAMPLES:
        stream = SAMPLES[first] + SAMPLES[second] + SAMPLES["binary"]
        for cut in range(len(SAMPLES[first]) + len(SAMPLES[second]) + 1):
            ours = outcome(stream, [cut], True, False, in_stream=True)
            reference = outcome(stream, [cut], False, False, in_stream=True)
            assert ours.pop("split") or ours["state"] is not State.OPEN
            reference.pop("split")
            assert ours == reference, (first, second, cut)


def test_frames_bigger_than_a_read_grow_the_buffer_and_it_shrinks_again() -> None:
    shared = frame_reader._shared_buffer()
    big = bytes(range(256)) * 5000  # 1.28 MB: twenty reads of 64 KiB, past the kept size
    stream = frame_bytes(Opcode.BINARY, big) + frame_bytes(Opcode.BINARY, b"after")
    for cuts in ([], [7, 70_000], [len(stream) - 3]):
        ours = outcome(stream, cuts, True, False, in_stream=True, max_size=2_000_000)
        reference = outcome(stream, cuts, False, False, in_stream=True, max_size=2_000_000)
        assert ours.pop("split") is True
        reference.pop("split")
        assert ours == reference
        assert ours["messages"] == [big, b"after"]
    loop = asyncio.new_event_loop()
    try:
        wire, _, response = opened(True, loop, 2_000_000)
        wire.data_received(response + stream[:100_000])
        assert wire.get_buffer(-1).obj is not shared  # it holds an incomplete frame
        wire.data_received(stream[100_000:])
        assert list(wire.frames) == [big, b"after"]
        assert wire.get_buffer(-1).obj is shared  # its own buffer was let go
    finally:
        loop.close()


def test_idle_connections_share_one_read_buffer() -> None:
    loop = asyncio.new_event_loop()
    try:
        wires = [opened(True, loop)[0] for _ in range(3)]
        assert len({id(w.get_buffer(-1).obj) for w in wires}) == 1
    finally:
        loop.close()
