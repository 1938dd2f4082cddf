"""Property tests: compiled BSATN codecs round-trip and agree with the reference walker."""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.errors import BsatnDecodeError
from spacetimedb_sdk.sats import AlgebraicType, Typespace, bsatn
from spacetimedb_sdk.sats import _bsatn_ref as ref
from strategies import algebraic_types, schemas, strict_equal, values

Case = tuple[tuple[AlgebraicType, Typespace], Any]
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def typed_values() -> st.SearchStrategy[Case]:
    return schemas().flatmap(lambda s: st.tuples(st.just(s), values(s[0], s[1])))


def typed_value_lists() -> st.SearchStrategy[tuple[tuple[AlgebraicType, Typespace], list[Any]]]:
    return schemas().flatmap(
        lambda s: st.tuples(st.just(s), st.lists(values(s[0], s[1]), min_size=1, max_size=5))
    )


@PROPS
@given(typed_values())
def test_encode_then_decode_gives_the_value_back(case: Case) -> None:
    (ty, ts), value = case
    codec = bsatn.codec_for(ty, ts)
    data = codec.encode(value)
    assert strict_equal(codec.decode(data), value)
    if codec.fixed_size is not None:
        assert len(data) == codec.fixed_size


@PROPS
@given(typed_values())
def test_decode_then_encode_gives_the_bytes_back(case: Case) -> None:
    (ty, ts), value = case
    data = bsatn.encode(ty, value, ts)
    assert bsatn.encode(ty, bsatn.decode(ty, data, ts), ts) == data


@PROPS
@given(typed_values())
def test_compiled_codec_agrees_with_reference_walker(case: Case) -> None:
    (ty, ts), value = case
    ctx = ref.Ctx(ts, {})
    out = bytearray()
    ref.encode_into(ctx, ty, value, out)
    codec = bsatn.codec_for(ty, ts)
    # Call the generated functions directly: Codec.encode/decode would fall back to the
    # walker if the fast path failed, hiding a fast-path bug.
    fast_out = bytearray()
    codec._write(fast_out, value)
    assert bytes(fast_out) == bytes(out)
    fast_value, end = codec._read(bytes(out), 0)
    assert end == len(out)
    assert strict_equal(fast_value, ref.decode_value(ctx, ty, bytes(out)))
    assert strict_equal(fast_value, value)


@PROPS
@given(typed_value_lists())
def test_decode_rows_and_read_walk_concatenated_values(
    case: tuple[tuple[AlgebraicType, Typespace], list[Any]],
) -> None:
    (ty, ts), items = case
    codec = bsatn.codec_for(ty, ts)
    out = bytearray()
    for v in items:
        codec.write(out, v)
    data = bytes(out)
    if codec.fixed_size != 0:
        rows = codec.decode_rows(data)
        assert len(rows) == len(items)
        assert all(strict_equal(r, v) for r, v in zip(rows, items, strict=True))
    off = 0
    for v in items:
        got, off = codec.read(memoryview(data), off)
        assert strict_equal(got, v)
    assert off == len(data)


def _has_f32(ty: AlgebraicType, ts: Typespace | None) -> bool:
    return "F32" in repr(ty) + repr(ts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schemas(), st.binary(max_size=48))
def test_arbitrary_bytes_fail_cleanly_or_reencode_exactly(
    schema: tuple[AlgebraicType, Typespace], data: bytes
) -> None:
    ty, ts = schema
    codec = bsatn.codec_for(ty, ts)
    ctx = ref.Ctx(ts, {})
    try:
        value = codec.decode(data)
    except BsatnDecodeError as e:
        # The reference walker rejects the same bytes with the same diagnosis.
        try:
            ref.decode_value(ctx, ty, data)
        except BsatnDecodeError as e2:
            assert str(e) == str(e2)
        else:
            raise AssertionError("reference walker accepted bytes the codec rejected") from e
        assert e.offset is None or 0 <= e.offset <= len(data)
        return
    assert strict_equal(value, ref.decode_value(ctx, ty, data))
    if not _has_f32(ty, ts):  # an F32 signalling NaN is quieted on the way through a double
        assert codec.encode(value) == data


@settings(max_examples=60, deadline=None)
@given(
    algebraic_types().flatmap(
        lambda t: st.tuples(st.just(t), st.lists(values(t), min_size=1, max_size=4))
    )
)
def test_fixed_size_matches_every_encoding(case: tuple[AlgebraicType, list[Any]]) -> None:
    ty, items = case
    codec = bsatn.codec_for(ty)
    sizes = {len(codec.encode(v)) for v in items}
    if codec.fixed_size is not None:
        assert sizes == {codec.fixed_size}


@given(st.integers(0, (1 << 32) - 1))
def test_f32_bit_patterns_survive(bits: int) -> None:
    """Every F32 bit pattern that is not a signalling NaN round-trips exactly."""
    data = struct.pack("<I", bits)
    value = bsatn.decode(AlgebraicType.F32, data)
    is_snan = math.isnan(value) and not bits & 0x0040_0000
    if not is_snan:
        assert bsatn.encode(AlgebraicType.F32, value) == data


@given(st.integers(0, (1 << 64) - 1))
def test_f64_bit_patterns_survive(bits: int) -> None:
    data = struct.pack("<Q", bits)
    assert bsatn.encode(AlgebraicType.F64, bsatn.decode(AlgebraicType.F64, data)) == data
