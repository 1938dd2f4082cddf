"""The ``classes`` contract for typed bindings, and the Codec API around it."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

import pytest

from spacetimedb_sdk.errors import BsatnDecodeError, BsatnEncodeError
from spacetimedb_sdk.sats import (
    AlgebraicType,
    Identity,
    SumValue,
    Timestamp,
    Typespace,
    bsatn,
)

T = AlgebraicType


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"
    BLUE = "b"


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Message:
    sender: Identity
    sent: Timestamp
    text: str
    color: Color
    at: Point | None


class Renamed:
    """A product class whose attributes differ from the element names."""

    __sats_fields__ = ("first", "second")

    def __init__(self, first: int, second: str) -> None:
        self.first = first
        self.second = second

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Renamed) and (self.first, self.second) == (
            other.first,
            other.second,
        )


class Shape:
    """A sum with payloads: one class per variant, in tag order."""

    __sats_variants__: tuple[type, ...]


@dataclass(frozen=True)
class Circle(Shape):
    value: float


@dataclass(frozen=True)
class Nothing(Shape):
    pass


@dataclass(frozen=True)
class Poly(Shape):
    value: list[Point]


Shape.__sats_variants__ = (Circle, Nothing, Poly)

TS = Typespace(
    (
        T.sum({"Red": T.unit(), "Green": T.unit(), "Blue": T.unit()}),  # 0: Color
        T.product({"x": T.I32, "y": T.I32}),  # 1: Point
        T.product(  # 2: Message
            {
                "sender": T.identity(),
                "sent": T.timestamp(),
                "text": T.STRING,
                "color": T.ref(0),
                "at": T.option(T.ref(1)),
            }
        ),
        T.product({"a": T.U8, "b": T.STRING}),  # 3: Renamed
        T.sum({"Circle": T.F64, "Nothing": T.unit(), "Poly": T.array(T.ref(1))}),  # 4: Shape
        T.product({"shapes": T.array(T.ref(4)), "best": T.ref(0)}),  # 5: generic wrapper
    )
)
CLASSES: dict[int, type] = {0: Color, 1: Point, 2: Message, 3: Renamed, 4: Shape}


def roundtrip(index: int, value: Any) -> Any:
    codec = bsatn.codec_for(T.ref(index), TS, classes=CLASSES)
    data = codec.encode(value)
    generic = bsatn.decode(T.ref(index), data, TS)
    assert bsatn.encode(T.ref(index), generic, TS) == data  # same bytes as the generic path
    return codec.decode(data)


def test_product_class_is_built_positionally_and_read_by_attribute() -> None:
    msg = Message(Identity(9), Timestamp(5), "hi", Color.BLUE, Point(1, -2))
    got = roundtrip(2, msg)
    assert got == msg and type(got) is Message and type(got.at) is Point
    assert roundtrip(2, Message(Identity(9), Timestamp(5), "", Color.RED, None)).at is None


def test_fixed_size_product_class() -> None:
    codec = bsatn.codec_for(T.ref(1), TS, classes=CLASSES)
    assert codec.fixed_size == 8
    assert codec.decode_rows(codec.encode(Point(1, 2)) * 2) == [Point(1, 2), Point(1, 2)]


def test_plain_enum_members_in_tag_order() -> None:
    codec = bsatn.codec_for(T.ref(0), TS, classes=CLASSES)
    assert [codec.encode(c) for c in Color] == [b"\x00", b"\x01", b"\x02"]
    assert codec.decode(b"\x01") is Color.GREEN
    assert bsatn.decode(T.ref(0), b"\x01", TS) == SumValue("Green")


def test_sats_fields_names_the_attributes() -> None:
    assert roundtrip(3, Renamed(7, "x")) == Renamed(7, "x")


def test_sum_with_payloads_uses_variant_classes() -> None:
    assert roundtrip(4, Circle(2.5)) == Circle(2.5)
    assert roundtrip(4, Nothing()) == Nothing()
    assert roundtrip(4, Poly([Point(1, 2), Point(3, 4)])) == Poly([Point(1, 2), Point(3, 4)])
    codec = bsatn.codec_for(T.ref(4), TS, classes=CLASSES)
    assert codec.encode(Nothing()) == b"\x01"


def test_classes_apply_inside_generic_containers() -> None:
    value = {"shapes": [Circle(1.0), Nothing()], "best": Color.RED}
    assert roundtrip(5, value) == value


def test_unbound_refs_stay_generic() -> None:
    codec = bsatn.codec_for(T.ref(5), TS, classes={1: Point})
    value = {"shapes": [SumValue("Poly", [Point(0, 0)])], "best": SumValue("Blue")}
    assert codec.decode(codec.encode(value)) == value


def test_codecs_with_and_without_classes_are_cached_apart() -> None:
    typed = bsatn.codec_for(T.ref(1), TS, classes=CLASSES)
    assert bsatn.codec_for(T.ref(1), TS, classes=dict(CLASSES)) is typed
    assert bsatn.codec_for(T.ref(1), TS) is not typed
    assert bsatn.codec_for(T.ref(1), TS).decode(b"\x01\x00\x00\x00\x02\x00\x00\x00") == {
        "x": 1,
        "y": 2,
    }


def test_encode_errors_with_classes() -> None:
    codec = bsatn.codec_for(T.ref(2), TS, classes=CLASSES)
    with pytest.raises(BsatnEncodeError, match=r"expected Point, got dict .*\(at at.some\)"):
        codec.encode(Message(Identity(1), Timestamp(1), "x", Color.RED, {"x": 1, "y": 2}))  # type: ignore[arg-type]
    with pytest.raises(BsatnEncodeError, match=r"out of range for I32 \(at at.some.y\)"):
        codec.encode(Message(Identity(1), Timestamp(1), "x", Color.RED, Point(1, 1 << 40)))
    with pytest.raises(BsatnEncodeError, match=r"a member of Color, got str 'r' \(at color\)"):
        codec.encode(Message(Identity(1), Timestamp(1), "x", "r", None))  # type: ignore[arg-type]
    shapes = bsatn.codec_for(T.ref(4), TS, classes=CLASSES)
    with pytest.raises(BsatnEncodeError, match="one of the Shape variant classes"):
        shapes.encode(Point(1, 2))


def test_decode_errors_with_classes_name_the_path() -> None:
    codec = bsatn.codec_for(T.ref(2), TS, classes=CLASSES)
    data = codec.encode(Message(Identity(1), Timestamp(1), "x", Color.RED, None))
    bad = data[:-2] + b"\x07" + data[-1:]
    with pytest.raises(BsatnDecodeError, match=r"unknown sum tag 7 .* at offset 45 \(at color\)"):
        codec.decode(bad)


def test_an_error_raised_by_a_user_class_passes_through() -> None:
    class Strict:
        def __init__(self, x: int, y: int) -> None:
            if x < 0:
                raise ArithmeticError("negative")

    codec = bsatn.codec_for(T.ref(1), TS, classes={1: Strict})
    with pytest.raises(ArithmeticError, match="negative"):
        codec.decode(b"\xff\xff\xff\xff\x00\x00\x00\x00")


@pytest.mark.parametrize(
    ("classes", "message"),
    [
        ({0: Point}, "__sats_variants__"),
        ({4: Color}, "payload variants"),
        ({1: type("Bad", (), {"__sats_fields__": ("only",)})}, "__sats_fields__ has 1 names"),
    ],
)
def test_classes_that_do_not_fit_are_rejected_at_compile_time(
    classes: dict[int, type], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        bsatn.codec_for(T.ref(5) if 1 not in classes else T.ref(1), TS, classes=classes)


def test_enum_with_wrong_member_count() -> None:
    class Two(enum.Enum):
        A = 1
        B = 2

    with pytest.raises(TypeError, match="2 members, the sum type has 3"):
        bsatn.codec_for(T.ref(0), TS, classes={0: Two})


# ---- Codec API ------------------------------------------------------------------------------


def test_read_returns_the_new_offset_and_accepts_any_buffer() -> None:
    codec = bsatn.codec_for(T.product({"n": T.U16, "s": T.STRING}))
    data = b"xx" + codec.encode({"n": 1, "s": "ab"}) + codec.encode({"n": 2, "s": ""})
    v1, off = codec.read(memoryview(data), 2)
    v2, end = codec.read(bytearray(data), off)
    assert (v1, v2, off, end) == ({"n": 1, "s": "ab"}, {"n": 2, "s": ""}, 10, len(data))
    with pytest.raises(ValueError, match="outside the buffer"):
        codec.read(data, len(data) + 1)


def test_write_appends() -> None:
    out = bytearray(b"\x09")
    bsatn.codec_for(T.U16).write(out, 258)
    assert out == b"\x09\x02\x01"


def test_fixed_size() -> None:
    assert bsatn.codec_for(T.product({"a": T.U8, "b": T.F64, "c": T.identity()})).fixed_size == 41
    assert bsatn.codec_for(T.schedule_at()).fixed_size == 9
    assert bsatn.codec_for(T.unit()).fixed_size == 0
    assert bsatn.codec_for(T.option(T.U8)).fixed_size is None
    assert bsatn.codec_for(T.STRING).fixed_size is None


def test_decode_rows_of_zero_size_rows() -> None:
    codec = bsatn.codec_for(T.unit())
    assert codec.decode_rows(b"") == []
    with pytest.raises(BsatnDecodeError, match="0 bytes long"):
        codec.decode_rows(b"\x00")


def test_codec_is_cached_per_type_and_typespace() -> None:
    ty = T.product({"a": T.U8})
    assert bsatn.codec_for(ty) is bsatn.codec_for(T.product({"a": T.U8}))
    assert bsatn.codec_for(T.ref(1), TS) is bsatn.codec_for(T.ref(1), Typespace(TS.types))


def test_fixed_runs_are_fused_into_one_struct_call() -> None:
    """A row of numbers plus a string is read with one unpack (the length prefix joins it)."""
    ty = T.product({"a": T.U8, "b": T.I64, "ok": T.BOOL, "s": T.STRING, "f": T.F32})
    codec = bsatn.codec_for(ty)
    from spacetimedb_sdk.sats.bsatn import _programs

    ns = _programs[(None, ())].ns
    formats = {
        v.__self__.format
        for v in ns.values()
        if isinstance(getattr(v, "__self__", None), struct.Struct)
    }
    assert "<BqBI" in formats
    value = {"a": 1, "b": -2, "ok": True, "s": "é", "f": 0.5}
    assert codec.decode(codec.encode(value)) == value


def test_inputs_other_than_buffers_are_rejected() -> None:
    with pytest.raises(TypeError, match="bytes, bytearray or memoryview"):
        bsatn.decode(T.U8, "a")  # type: ignore[arg-type]


def test_large_and_odd_shapes() -> None:
    """65 536-char strings, deep arrays, 300 variants' worth of tags and unnamed members."""
    big = "é" * 65536
    assert bsatn.decode(T.STRING, bsatn.encode(T.STRING, big)) == big
    unnamed = T.product([(None, T.U8), ("b", T.STRING)])
    assert bsatn.decode(unnamed, b"\x01\x00\x00\x00\x00") == {"0": 1, "b": ""}
    anon = T.sum([(None, T.U8), (None, T.unit())])
    assert bsatn.decode(anon, b"\x00\x05") == SumValue("0", 5)
    assert bsatn.encode(anon, SumValue("1")) == b"\x01"


def test_docstring_examples_run() -> None:
    import doctest

    from spacetimedb_sdk.sats import _bsatn_gen, _bsatn_ref

    for module in (bsatn, _bsatn_gen, _bsatn_ref):
        result = doctest.testmod(module, extraglobs={"Ctx": _bsatn_ref.Ctx}, verbose=False)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_element_names_that_are_not_identifiers() -> None:
    class Odd:
        def __init__(self, a: int, b: str) -> None:
            setattr(self, "class", a)
            setattr(self, "my-field", b)

    ts = Typespace((T.product({"class": T.U8, "my-field": T.STRING}),))
    codec = bsatn.codec_for(T.ref(0), ts, classes={0: Odd})
    got = codec.decode(codec.encode(Odd(3, "x")))
    assert (getattr(got, "class"), getattr(got, "my-field")) == (3, "x")
    assert bsatn.decode(T.ref(0), codec.encode(Odd(3, "x")), ts) == {"class": 3, "my-field": "x"}
