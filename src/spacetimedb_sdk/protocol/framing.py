"""WebSocket framing for v2 and v3, and the server's compression envelope.

A binary frame from the server is ``[compression tag][body]``: tag 0 = raw,
1 = Brotli, 2 = gzip (protocol.md §4.2).  After decompression the body holds
exactly one ``ServerMessage`` under ``v2.bsatn.spacetimedb`` and one or more
back to back under ``v3.bsatn.spacetimedb``.  Client frames have no tag byte:
v2 carries one ``ClientMessage``, v3 one or more.

Decompression is bounded: output is produced in steps and abandoned as soon as
it would exceed ``max_size``, so a small "bomb" never inflates fully into
memory.  The default for frames a client receives is
:data:`DEFAULT_MAX_DECOMPRESSED_SIZE` (256 MiB, room for a large initial
subscription); a server reading client frames should cap them at
:data:`SERVER_MAX_INCOMING_MESSAGE_SIZE` (32 MiB, upstream's default).

Example::

    >>> from spacetimedb_sdk.protocol.messages import TransactionUpdate
    >>> frame = encode_server_frame([TransactionUpdate([])], SUBPROTOCOL_V3, Compression.GZIP)
    >>> frame.hex()   # 5-byte body: below the 1024-byte threshold, so sent raw
    '000400000000'
    >>> decode_server_frame(frame, SUBPROTOCOL_V3)
    [TransactionUpdate(query_sets=[])]
"""

from __future__ import annotations

import enum
import gzip
import importlib
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ProtocolError
from .client_messages import decode_client_message, encode_client_message_into
from .fast import TableTx, decode_table_tx
from .messages import ClientMessage, ServerMessage
from .primitives import Buffer
from .server_messages import decode_server_message, encode_server_message_into

__all__ = [
    "COMPRESSION_THRESHOLD",
    "DEFAULT_MAX_DECOMPRESSED_SIZE",
    "SERVER_MAX_INCOMING_MESSAGE_SIZE",
    "SUBPROTOCOLS",
    "SUBPROTOCOL_V2",
    "SUBPROTOCOL_V3",
    "Compression",
    "brotli_available",
    "compress",
    "decode_client_frame",
    "decode_server_frame",
    "decode_server_frame_fast",
    "decompress",
    "encode_client_frame",
    "encode_server_frame",
]

SUBPROTOCOL_V2 = "v2.bsatn.spacetimedb"
"""One message per WebSocket frame."""
SUBPROTOCOL_V3 = "v3.bsatn.spacetimedb"
"""Same messages as v2; a frame may carry several back to back."""
SUBPROTOCOLS = (SUBPROTOCOL_V3, SUBPROTOCOL_V2)
"""The subprotocols we speak, most preferred first (the server's order too)."""

DEFAULT_MAX_DECOMPRESSED_SIZE = 256 * 1024 * 1024
"""Default bound on a server frame's decompressed body, for clients."""
SERVER_MAX_INCOMING_MESSAGE_SIZE = 32 * 1024 * 1024
"""Upstream's default cap on one incoming client message (``0x2000000``)."""
COMPRESSION_THRESHOLD = 1024
"""The server compresses a body only when it is longer than this many bytes."""

# Output produced per decompression step.  Brotli may return up to about twice the
# requested step, so this also bounds how far past max_size we can ever get.
_STEP = 256 * 1024
# For brotli < 1.2, which cannot bound its output: input fed per step.
_LEGACY_BROTLI_INPUT_STEP = 64


class Compression(enum.Enum):
    """Server-to-client compression: the frame's tag byte and the ``compression`` query value.

    Example::

        >>> Compression.GZIP.tag, Compression.GZIP.query_value
        (2, 'Gzip')
        >>> Compression.from_query_value("Brotli")
        <Compression.BROTLI: 1>
    """

    NONE = 0
    BROTLI = 1
    GZIP = 2

    @property
    def tag(self) -> int:
        """The byte that starts a server frame compressed this way."""
        return int(self.value)

    @property
    def query_value(self) -> str:
        """The value of the ``compression=`` query parameter (case-sensitive upstream)."""
        return _QUERY_VALUES[self.value]

    @classmethod
    def from_tag(cls, tag: int) -> Compression:
        """The compression of a frame's tag byte; :class:`ProtocolError` if unknown."""
        if 0 <= tag < len(_QUERY_VALUES):
            return cls(tag)
        raise ProtocolError(f"unknown compression tag {tag} (0 = none, 1 = brotli, 2 = gzip)")

    @classmethod
    def from_query_value(cls, value: str) -> Compression:
        """Parse ``None``/``Brotli``/``Gzip``; ``ValueError`` otherwise."""
        try:
            return cls(_QUERY_VALUES.index(value))
        except ValueError:
            raise ValueError(
                f"unknown compression {value!r}: expected one of {', '.join(_QUERY_VALUES)}"
            ) from None


_QUERY_VALUES = ("None", "Brotli", "Gzip")


# ---- compression -----------------------------------------------------------------------


def _import_brotli() -> Any:
    try:
        # Imported by name: it is optional and ships no type information.
        return importlib.import_module("brotli")
    except ImportError:
        raise ProtocolError(
            "brotli-compressed frame but the 'brotli' package is not installed:"
            " pip install 'spacetimedb-sdk[brotli]', or connect with compression=Gzip or None"
        ) from None


def brotli_available() -> bool:
    """Whether Brotli frames can be read and written (the optional ``brotli`` package).

    Example::

        >>> isinstance(brotli_available(), bool)
        True
    """
    try:
        _import_brotli()
    except ProtocolError:
        return False
    return True


def _too_big(what: str, max_size: int) -> ProtocolError:
    return ProtocolError(f"decompressed {what} body exceeds the {max_size}-byte limit")


def _gunzip(body: Buffer, max_size: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    data = bytes(body)
    # RFC 1952 allows several members back to back; read them all under one bound.
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while True:
            try:
                chunk = d.decompress(data, min(max_size - total + 1, _STEP))
            except zlib.error as e:
                raise ProtocolError(f"invalid gzip body: {e}") from None
            total += len(chunk)
            if total > max_size:
                raise _too_big("gzip", max_size)
            chunks.append(chunk)
            data = d.unconsumed_tail
            if d.eof or not (data or chunk):
                break
        if not d.eof:
            raise ProtocolError("truncated gzip body: the stream ends before its end marker")
        data = d.unused_data
        if not data:
            return b"".join(chunks)


def _unbrotli(body: Buffer, max_size: int) -> bytes:
    brotli = _import_brotli()
    d = brotli.Decompressor()
    chunks: list[bytes] = []
    total = 0
    try:
        if hasattr(d, "can_accept_more_data"):
            chunk = d.process(bytes(body), output_buffer_limit=_STEP)
            while True:
                total += len(chunk)
                if total > max_size:
                    raise _too_big("brotli", max_size)
                chunks.append(chunk)
                if d.can_accept_more_data():
                    break
                chunk = d.process(b"", output_buffer_limit=_STEP)
        else:  # pragma: no cover - brotli < 1.2 cannot bound one call's output
            view = memoryview(bytes(body))
            for i in range(0, len(view), _LEGACY_BROTLI_INPUT_STEP):
                chunk = d.process(view[i : i + _LEGACY_BROTLI_INPUT_STEP])
                total += len(chunk)
                if total > max_size:
                    raise _too_big("brotli", max_size)
                chunks.append(chunk)
        finished = d.is_finished()
    except brotli.error as e:
        raise ProtocolError(f"invalid brotli body: {str(e) or 'decoder error'}") from None
    if not finished:
        raise ProtocolError("truncated brotli body: the stream ends before its last block")
    return b"".join(chunks)


def decompress(tag: int, body: Buffer, *, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE) -> bytes:
    """Undo the server's compression for tag 0/1/2, never producing more than ``max_size`` bytes.

    Raises :class:`ProtocolError` for an unknown tag, a corrupt or truncated stream, a
    body whose decompressed size would exceed ``max_size``, or a Brotli body when the
    optional ``brotli`` package is missing.  Gzip and Brotli are decompressed in
    bounded steps: a bomb is abandoned at about ``max_size`` bytes of output.

    Example::

        >>> decompress(2, gzip.compress(b"hello"))
        b'hello'
    """
    comp = Compression.from_tag(tag)
    if comp is Compression.NONE:
        if len(body) > max_size:
            raise ProtocolError(
                f"uncompressed body of {len(body)} bytes exceeds the {max_size}-byte limit"
            )
        return bytes(body)
    if comp is Compression.GZIP:
        return _gunzip(body, max_size)
    return _unbrotli(body, max_size)


def compress(compression: Compression, body: Buffer) -> bytes:
    """Compress ``body`` as the server does: gzip level 1, Brotli quality 1 (no tag byte).

    Example::

        >>> decompress(Compression.GZIP.tag, compress(Compression.GZIP, b"abc"))
        b'abc'
    """
    if compression is Compression.NONE:
        return bytes(body)
    if compression is Compression.GZIP:
        return gzip.compress(bytes(body), compresslevel=1, mtime=0)
    return bytes(_import_brotli().compress(bytes(body), quality=1))


# ---- frames ----------------------------------------------------------------------------


def _is_v3(protocol: str) -> bool:
    if protocol == SUBPROTOCOL_V3:
        return True
    if protocol == SUBPROTOCOL_V2:
        return False
    raise ProtocolError(
        f"unsupported subprotocol {protocol!r}: expected {SUBPROTOCOL_V2!r} or {SUBPROTOCOL_V3!r}"
    )


def _in_frame(e: ProtocolError, where: str) -> ProtocolError:
    return ProtocolError(f"{e} ({where})")


def decode_server_frame(
    frame: Buffer, protocol: str, *, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE
) -> list[ServerMessage]:
    """Split one binary WebSocket message from the server into its ``ServerMessage``s.

    Reads the compression tag, decompresses within ``max_size``, then decodes
    exactly one message (v2: trailing bytes are an error) or one or more (v3: an
    empty body is an error).  Offsets in errors count from the start of the frame
    for uncompressed frames and from the start of the decompressed body otherwise.

    Example::

        >>> decode_server_frame(bytes.fromhex("000400000000"), SUBPROTOCOL_V2)
        [TransactionUpdate(query_sets=[])]
    """
    return _decode_server_frame(frame, protocol, max_size, None)  # type: ignore[return-value]


def decode_server_frame_fast(
    frame: Buffer, protocol: str, *, max_size: int = DEFAULT_MAX_DECOMPRESSED_SIZE
) -> list[ServerMessage | TableTx]:
    """:func:`decode_server_frame`, with one-table transactions as :class:`~.fast.TableTx`.

    What the client core reads: the commonest message skips the generic message tree (see
    :mod:`.fast`); everything else, and every error, is exactly as decode_server_frame's.

    Example::

        >>> decode_server_frame_fast(bytes.fromhex("000400000000"), SUBPROTOCOL_V2)
        [TransactionUpdate(query_sets=[])]
    """
    if type(frame) is bytes and frame[:1] == b"\x00" and len(frame) <= max_size:
        # An uncompressed frame of one one-table transaction (v2, or v3 with one message).
        got = decode_table_tx(frame, 1)
        if got is not None and got[1] == len(frame):
            return [got[0]]
    return _decode_server_frame(frame, protocol, max_size, decode_table_tx)


def _decode_server_frame(
    frame: Buffer,
    protocol: str,
    max_size: int,
    fast: Callable[[bytes, int], tuple[TableTx, int] | None] | None,
) -> list[ServerMessage | TableTx]:
    v3 = _is_v3(protocol)
    data = frame if type(frame) is bytes else bytes(frame)
    if not data:
        raise ProtocolError("empty server frame: no compression tag")
    tag = data[0]
    if tag == 0:
        # Decode in place instead of copying the body out of the frame.
        if len(data) - 1 > max_size:
            raise ProtocolError(
                f"uncompressed body of {len(data) - 1} bytes exceeds the {max_size}-byte limit"
            )
        body, start = data, 1
    else:
        body, start = decompress(tag, memoryview(data)[1:], max_size=max_size), 0
    if not v3:
        got = fast(body, start) if fast is not None else None
        if got is not None and got[1] == len(body):
            return [got[0]]
        try:
            msg, end = decode_server_message(body, start)
        except ProtocolError as e:
            raise _in_frame(e, "in a v2 server frame") from None
        if end != len(body):
            raise ProtocolError(
                f"{len(body) - end} trailing bytes at offset {end} after the ServerMessage in a"
                " v2 server frame (v2 carries exactly one message per frame)"
            )
        return [msg]
    if start == len(body):
        raise ProtocolError("empty v3 server frame: the body holds no ServerMessage")
    out: list[ServerMessage | TableTx] = []
    pos = start
    size = len(body)
    while pos < size:
        if fast is not None:
            got = fast(body, pos)
            if got is not None:
                out.append(got[0])
                pos = got[1]
                continue
        try:
            msg, pos = decode_server_message(body, pos)
        except ProtocolError as e:
            raise _in_frame(e, f"message {len(out)} of a v3 server frame") from None
        out.append(msg)
    return out


def encode_server_frame(
    messages: Sequence[ServerMessage],
    protocol: str,
    compression: Compression = Compression.NONE,
    *,
    threshold: int = COMPRESSION_THRESHOLD,
) -> bytes:
    """Build one binary WebSocket message from the server (the local server's side).

    The body is compressed with ``compression`` only when longer than
    ``threshold`` bytes, like upstream; otherwise tag 0.  v2 takes exactly one
    message; v3 one or more, concatenated under one tag.

    Example::

        >>> from spacetimedb_sdk.protocol.messages import TransactionUpdate
        >>> encode_server_frame([TransactionUpdate([])], SUBPROTOCOL_V2).hex()
        '000400000000'
    """
    _check_count(len(messages), _is_v3(protocol), "server")
    out = bytearray(1)
    for msg in messages:
        encode_server_message_into(out, msg)
    if compression is Compression.NONE or len(out) - 1 <= threshold:
        return bytes(out)
    return bytes((compression.tag,)) + compress(compression, memoryview(out)[1:])


def _check_count(n: int, v3: bool, side: str) -> None:
    if v3 and n == 0:
        raise ValueError(f"a v3 {side} frame needs at least one message")
    if not v3 and n != 1:
        raise ValueError(
            f"a v2 {side} frame carries exactly one message, got {n}; batching needs v3"
        )


def encode_client_frame(messages: Sequence[ClientMessage], protocol: str) -> bytes:
    """Build one binary WebSocket message from the client: v2 one message, v3 one or more.

    Example::

        >>> from spacetimedb_sdk.protocol.messages import Unsubscribe
        >>> encode_client_frame([Unsubscribe(2, 7)], SUBPROTOCOL_V2).hex()
        '01020000000700000001'
    """
    _check_count(len(messages), _is_v3(protocol), "client")
    out = bytearray()
    for msg in messages:
        encode_client_message_into(out, msg)
    return bytes(out)


def decode_client_frame(frame: Buffer, protocol: str) -> list[ClientMessage]:
    """Split one binary WebSocket message from a client into its ``ClientMessage``s (server side).

    v2: the first message only.  **Bytes after it are ignored**, exactly as the
    upstream server does (it decodes with ``bsatn::from_slice``, which does not
    check for leftovers; protocol.md §4.2 and §9.15), so a v2 client that batches
    silently loses every message but the first.  v3: messages are decoded until
    the frame is exhausted; an empty frame is an error.

    Example::

        >>> decode_client_frame(bytes.fromhex("01020000000700000001ff"), SUBPROTOCOL_V2)
        [Unsubscribe(request_id=2, query_set_id=7, flags=<UnsubscribeFlags.SEND_DROPPED_ROWS: 1>)]
    """
    v3 = _is_v3(protocol)
    data = frame if type(frame) is bytes else bytes(frame)
    if not v3:
        try:
            return [decode_client_message(data)[0]]
        except ProtocolError as e:
            raise _in_frame(e, "in a v2 client frame") from None
    if not data:
        raise ProtocolError("empty v3 client frame: it holds no ClientMessage")
    out: list[ClientMessage] = []
    pos = 0
    while pos < len(data):
        try:
            msg, pos = decode_client_message(data, pos)
        except ProtocolError as e:
            raise _in_frame(e, f"message {len(out)} of a v3 client frame") from None
        out.append(msg)
    return out
