"""Validators (``Codec.validate`` / ``split_rows``) accept exactly the bytes decoding accepts.

The client cache keeps rows undecoded after validating them (issue 14), so a validator that
accepted bytes the decoder rejects would move a protocol error from the moment a message
arrives to the moment someone reads the row; one that rejected good bytes would refuse good
messages.  These properties pin the validators to the compiled decoders over the shared
type and value strategies, valid encodings, mutated encodings and arbitrary bytes.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.errors import BsatnDecodeError
from spacetimedb_sdk.sats import AlgebraicType, Typespace, bsatn
from spacetimedb_sdk.sats import AlgebraicType as T
from strategies import schemas, values

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
Schema = tuple[AlgebraicType, Typespace]


def outcome(fn: Any, data: bytes) -> tuple[bool, str]:
    """``(ok, error text)`` of ``fn(data)``: what a caller can observe."""
    try:
        fn(data)
    except BsatnDecodeError as e:
        return False, str(e)
    return True, ""


def agree(codec: bsatn.Codec, data: bytes) -> None:
    """validate and decode agree on ``data``: both accept, or both raise the same error."""
    assert outcome(codec.validate, data) == outcome(codec.decode, data)
    if codec.fixed_size != 0:
        split = outcome(codec.split_rows, data)
        assert split == outcome(codec.decode_rows, data)
        if split[0]:
            rows = codec.split_rows(data)
            assert b"".join(rows) == data
            assert [codec.decode(r) for r in rows] == codec.decode_rows(data)


@st.composite
def encodings(draw: st.DrawFn) -> tuple[Schema, list[bytes]]:
    schema = draw(schemas())
    ty, ts = schema
    items = draw(st.lists(values(ty, ts), min_size=1, max_size=4))
    codec = bsatn.codec_for(ty, ts)
    return schema, [codec.encode(v) for v in items]


@PROPS
@given(encodings())
def test_valid_encodings_validate_and_split_into_their_values(
    case: tuple[Schema, list[bytes]],
) -> None:
    (ty, ts), encoded = case
    codec = bsatn.codec_for(ty, ts)
    for data in encoded:
        codec.validate(data)
    if codec.fixed_size != 0:
        assert codec.split_rows(b"".join(encoded)) == encoded


@PROPS
@given(encodings(), st.data())
def test_mutated_encodings_are_judged_as_the_decoder_judges_them(
    case: tuple[Schema, list[bytes]], data: st.DataObject
) -> None:
    (ty, ts), encoded = case
    codec = bsatn.codec_for(ty, ts)
    blob = bytearray(b"".join(encoded))
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if kind == "flip" and blob:
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
        elif kind == "cut" and blob:
            del blob[data.draw(st.integers(0, len(blob) - 1)) :]
        else:
            blob += data.draw(st.binary(min_size=1, max_size=3))
    agree(codec, bytes(blob))
    agree(codec, encoded[0][: len(encoded[0]) // 2])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schemas(), st.binary(max_size=48))
def test_arbitrary_bytes_are_judged_as_the_decoder_judges_them(schema: Schema, data: bytes) -> None:
    ty, ts = schema
    agree(bsatn.codec_for(ty, ts), data)


@pytest.mark.parametrize(
    ("ty", "bad", "reason"),
    [
        (T.BOOL, b"\x02", "invalid Bool byte"),
        (T.STRING, b"\x02\x00\x00\x00\xc3\x28", "invalid UTF-8"),
        (T.sum({"A": T.unit(), "B": T.unit()}), b"\x05", "unknown sum tag 5"),
        (T.option(T.U8), b"\x02", "unknown Option tag 2"),
        (T.array(T.U32), b"\x02\x00\x00\x00\x01\x00\x00\x00", "needs at least 8 bytes"),
        (T.array(T.unit()), b"\xff\xff\xff\x00", "zero-size elements exceeds the limit"),
        (T.product({"x": T.U16}), b"\x01\x00\x00", "trailing bytes"),
    ],
)
def test_validate_raises_the_decoders_precise_error(
    ty: AlgebraicType, bad: bytes, reason: str
) -> None:
    codec = bsatn.codec_for(ty)
    with pytest.raises(BsatnDecodeError, match=reason) as got:
        codec.validate(bad)
    with pytest.raises(BsatnDecodeError) as want:
        codec.decode(bad)
    assert str(got.value) == str(want.value)


def test_split_rows_names_the_failing_row() -> None:
    codec = bsatn.codec_for(T.product({"ok": T.BOOL, "name": T.STRING}))
    good = codec.encode({"ok": True, "name": "a"})
    with pytest.raises(BsatnDecodeError, match=r"\[1\]\.ok"):
        codec.split_rows(good + b"\x07" + good[1:])


def test_lazy_safe_only_when_decoding_cannot_fail_on_valid_bytes() -> None:
    ts = Typespace((T.product({"head": T.I32, "tail": T.option(T.ref(0))}),))
    assert bsatn.codec_for(T.product({"n": T.U32, "s": T.STRING})).lazy_safe
    assert not bsatn.codec_for(T.ref(0), ts).lazy_safe  # recursive: depth limits differ

    point = T.product({"x": T.I32})
    ts2 = Typespace((point,))

    @dataclasses.dataclass(frozen=True, slots=True)
    class Point:
        x: int

    class Checked:
        def __init__(self, x: int) -> None:
            if x < 0:
                raise ValueError("negative")
            self.x = x

    @dataclasses.dataclass(frozen=True)
    class Posted:
        x: int

        def __post_init__(self) -> None:
            raise ValueError("never")

    class Color(enum.Enum):
        RED = 0

    assert bsatn.codec_for(T.ref(0), ts2, classes={0: Point}).lazy_safe
    assert not bsatn.codec_for(T.ref(0), ts2, classes={0: Checked}).lazy_safe
    assert not bsatn.codec_for(T.ref(0), ts2, classes={0: Posted}).lazy_safe
    ts3 = Typespace((T.sum({"RED": T.unit()}),))
    assert bsatn.codec_for(T.ref(0), ts3, classes={0: Color}).lazy_safe


def test_reader_at_reads_one_column_of_a_row() -> None:
    row = T.product({"id": T.U32, "who": T.identity(), "name": T.STRING})
    codec = bsatn.codec_for(row)
    value = {"id": 7, "who": bsatn.decode(T.identity(), bytes(range(32))), "name": "Ada"}
    data = codec.encode(value)
    assert bsatn.codec_for(T.U32).reader_at(0)(data) == 7
    assert bsatn.codec_for(T.identity()).reader_at(4)(data) == value["who"]
    assert bsatn.codec_for(T.STRING).reader_at(36)(data) == "Ada"
