"""The compression envelope: bounded gzip/Brotli decompression, the threshold, brotli missing."""

from __future__ import annotations

import gzip
import sys
import tracemalloc
import zlib
from collections.abc import Callable

import brotli  # type: ignore[import-untyped]
import pytest

from spacetimedb_sdk.errors import ProtocolError
from spacetimedb_sdk.protocol import (
    COMPRESSION_THRESHOLD,
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    Compression,
    brotli_available,
    compress,
    decode_server_frame,
    decompress,
    encode_server_frame,
)
from spacetimedb_sdk.protocol import messages as m

BOMB_SIZE = 64 * 1024 * 1024
LIMIT = 1024 * 1024


def _stream(compressor_factory: Callable[[], object]) -> bytes:
    """Compress BOMB_SIZE zero bytes without ever holding them all."""
    c = compressor_factory()
    zeros = bytes(1024 * 1024)
    parts = [c.process(zeros) if hasattr(c, "process") else c.compress(zeros) for _ in range(64)]  # type: ignore[attr-defined]
    parts.append(c.finish() if hasattr(c, "finish") else c.flush())  # type: ignore[attr-defined]
    return b"".join(parts)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    bomb = _stream(lambda: zlib.compressobj(9, zlib.DEFLATED, 31))
    assert len(bomb) < 100_000
    return bomb


@pytest.fixture(scope="module")
def brotli_bomb() -> bytes:
    bomb = _stream(lambda: brotli.Compressor(quality=1))
    assert len(bomb) < 100_000
    return bomb


def _peak_while(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as info:
            fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "exceeds the 1048576-byte limit" in str(info.value)
    return peak


@pytest.mark.parametrize(("tag", "name"), [(2, "gzip"), (1, "brotli")])
def test_bomb_is_abandoned_at_the_limit(
    tag: int, name: str, gzip_bomb: bytes, brotli_bomb: bytes
) -> None:
    bomb = gzip_bomb if tag == 2 else brotli_bomb
    peak = _peak_while(lambda: decompress(tag, bomb, max_size=LIMIT))
    # 64 MiB of output would be needed to inflate the bomb; we stop a step past 1 MiB.
    assert peak < 4 * LIMIT, peak
    with pytest.raises(
        ProtocolError, match=f"decompressed {name} body exceeds the 1048576-byte limit"
    ):
        decode_server_frame(bytes([tag]) + bomb, SUBPROTOCOL_V3, max_size=LIMIT)


@pytest.mark.parametrize("tag", [1, 2])
def test_exactly_at_the_limit_is_fine(tag: int) -> None:
    body = bytes(range(256)) * 16
    comp = Compression.from_tag(tag)
    assert decompress(tag, compress(comp, body), max_size=len(body)) == body
    with pytest.raises(ProtocolError, match="exceeds the 4095-byte limit"):
        decompress(tag, compress(comp, body), max_size=len(body) - 1)


def test_uncompressed_body_limit() -> None:
    with pytest.raises(ProtocolError, match="exceeds the 3-byte limit"):
        decode_server_frame(b"\x00\x04\x00\x00\x00\x00", SUBPROTOCOL_V2, max_size=3)
    assert decompress(0, b"abc", max_size=3) == b"abc"


def test_gzip_corrupt_truncated_and_multi_member() -> None:
    good = gzip.compress(b"hello world" * 100)
    with pytest.raises(ProtocolError, match="truncated gzip body"):
        decompress(2, good[:-10])
    with pytest.raises(ProtocolError, match="truncated gzip body"):
        decompress(2, b"")
    with pytest.raises(ProtocolError, match="invalid gzip body"):
        decompress(2, b"not gzip at all")
    with pytest.raises(ProtocolError, match="invalid gzip body"):
        decompress(2, good + b"\x00garbage")
    # RFC 1952 allows several members; gzip.decompress reads them all, so do we.
    assert decompress(2, gzip.compress(b"ab") + gzip.compress(b"cd")) == b"abcd"


def test_brotli_corrupt_and_truncated() -> None:
    good = brotli.compress(bytes(range(256)) * 40)
    with pytest.raises(ProtocolError, match="truncated brotli body"):
        decompress(1, good[: len(good) // 2])
    with pytest.raises(ProtocolError, match="brotli body"):
        decompress(1, b"\xff" * 20)
    with pytest.raises(ProtocolError, match="brotli body"):
        decompress(1, good + b"trailing")


def test_brotli_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = b"\x01" + brotli.compress(b"\x04\x00\x00\x00\x00")
    assert brotli_available()
    monkeypatch.setitem(sys.modules, "brotli", None)  # makes `import brotli` fail
    assert not brotli_available()
    with pytest.raises(ProtocolError, match=r"pip install 'spacetimedb-sdk\[brotli\]'"):
        decode_server_frame(frame, SUBPROTOCOL_V2)
    with pytest.raises(ProtocolError, match="not installed"):
        compress(Compression.BROTLI, b"x")


def test_compression_enum() -> None:
    assert [(c.tag, c.query_value) for c in Compression] == [
        (0, "None"),
        (1, "Brotli"),
        (2, "Gzip"),
    ]
    assert Compression.from_query_value("Gzip") is Compression.GZIP
    with pytest.raises(ValueError, match="unknown compression 'gzip'"):
        Compression.from_query_value("gzip")  # case-sensitive, like the server
    with pytest.raises(ProtocolError, match="unknown compression tag 3"):
        Compression.from_tag(3)


def _big_message(n: int) -> m.ProcedureResult:
    from spacetimedb_sdk.sats.values import TimeDuration, Timestamp

    return m.ProcedureResult(m.ProcedureReturned(b"a" * n), Timestamp(0), TimeDuration(0), 1)


@pytest.mark.parametrize("comp", [Compression.GZIP, Compression.BROTLI])
def test_threshold(comp: Compression) -> None:
    # ProcedureResult overhead: tag 1 + status tag 1 + len 4 + ts 8 + dur 8 + id 4 = 26 bytes.
    at = _big_message(COMPRESSION_THRESHOLD - 26)
    above = _big_message(COMPRESSION_THRESHOLD - 25)
    frame_at = encode_server_frame([at], SUBPROTOCOL_V2, comp)
    assert frame_at[0] == 0 and len(frame_at) == 1 + COMPRESSION_THRESHOLD
    frame_above = encode_server_frame([above], SUBPROTOCOL_V2, comp)
    assert frame_above[0] == comp.tag and len(frame_above) < 100
    assert decode_server_frame(frame_above, SUBPROTOCOL_V2) == [above]
    v3 = encode_server_frame([at, above, at], SUBPROTOCOL_V3, comp, threshold=0)
    assert v3[0] == comp.tag
    assert decode_server_frame(v3, SUBPROTOCOL_V3) == [at, above, at]
