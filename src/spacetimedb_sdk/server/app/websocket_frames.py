"""Outgoing WebSocket frames: each broadcast message encoded once, v3 batching, close reasons.

A commit's ``TransactionUpdate`` object is shared by every client it goes to; encoding it once
instead of once per client roughly halves the server's work when many clients subscribe to the
same rows.  v3 frames gather queued messages into bodies of about 512 KiB.  Another wire
protocol (v1's JSON) would add its encoding here.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator

from ...protocol import messages as m
from ...protocol.codec import encode_server_message

_V3_FRAME_TARGET = 512 * 1024
"""v3 frames gather queued messages up to about this many uncompressed bytes (as upstream)."""
_MAX_CLOSE_REASON = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8."""

# Recently encoded broadcast messages, by identity: one commit's TransactionUpdate object is
# shared by every client it goes to, and encoding it once instead of once per client roughly
# halves the server's work when many clients subscribe to the same rows.  Messages are encoded
# by the thread that queues them (the database thread, procedure threads, the event loop).
_ENCODED: collections.OrderedDict[int, tuple[m.ServerMessage, bytes]] = collections.OrderedDict()
_ENCODED_MAX = 64  # a commit's fan-out shares a few messages; big ones must not linger
_ENCODED_LOCK = threading.Lock()


def encode_once(msg: m.ServerMessage) -> bytes:
    """``encode_server_message(msg)``, remembered for the last few broadcast messages.

    Thread-safe.

    Example::

        >>> encode_once(m.TransactionUpdate([]))
        b'\\x04\\x00\\x00\\x00\\x00'
    """
    if not isinstance(msg, m.TransactionUpdate):
        return encode_server_message(msg)
    key = id(msg)
    with _ENCODED_LOCK:
        hit = _ENCODED.get(key)
    if hit is not None and hit[0] is msg:
        return hit[1]
    data = encode_server_message(msg)
    with _ENCODED_LOCK:
        _ENCODED[key] = (msg, data)
        if len(_ENCODED) > _ENCODED_MAX:
            _ENCODED.popitem(last=False)
    return data


def _v3_bodies(encoded: list[bytes | str]) -> Iterator[tuple[int, bytes]]:
    """Encoded messages gathered into bodies of about 512 KiB (a big message stays whole):
    ``(messages in the body, body)``, oldest first."""
    current = bytearray()
    count = 0
    for data in encoded:
        assert isinstance(data, bytes)
        if count and len(current) + len(data) > _V3_FRAME_TARGET:
            yield count, bytes(current)
            current = bytearray()
            count = 0
        if not count and len(data) >= _V3_FRAME_TARGET:
            yield 1, data  # no copy of a big message
            continue
        current += data
        count += 1
    if count:
        yield count, bytes(current)


def _close_reason(reason: str) -> bytes:
    data = reason.encode()
    if len(data) <= _MAX_CLOSE_REASON:
        return data
    cut = data[: _MAX_CLOSE_REASON - 3]
    return cut.decode(errors="ignore").encode() + b"..."
