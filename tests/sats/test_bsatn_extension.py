"""The compiled extension decodes exactly as the pure-Python codecs do (issue 14).

Differential tests: the same bytes through a codec with the extension's program and through
its pure-Python twin (``differential.pure``), comparing values (classes, float bits, memory)
and errors (type, message with type path and offset), over the official implementation's
value fixtures, hypothesis-drawn types and values, damaged copies of both, bound classes of
every kind, and values nested deeper than the extension recurses.  The row-list side
(frames, module definitions) is in ``tests/protocol/test_rows_extension.py``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from differential import EXT, PROPS, agree, assert_agree, outcome, pure, require_extension
from spacetimedb_sdk.sats import AlgebraicType, Some, SumValue, Typespace, bsatn
from spacetimedb_sdk.sats import _bsatn_ops as ops
from spacetimedb_sdk.sats import _bsatn_ref as ref
from strategies import LINKED_LIST, mutants, schemas, values

require_extension()
T = AlgebraicType
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bsatn" / "values.jsonl"
CASES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def cuts(data: bytes, every: int = 64) -> list[int]:
    """Every truncation point of short data; of long data, the first ``every`` and a spread."""
    return sorted({*range(min(len(data), every)), *range(0, len(data), max(1, len(data) // every))})


def case_codec(case: dict[str, Any]) -> tuple[bsatn.Codec, bytes]:
    ty = T.from_json(case["type"])
    ts = Typespace.from_json(case["typespace"]) if "typespace" in case else None
    return bsatn.codec_for(ty, ts), bytes.fromhex(case["hex"])


# ---- the official implementation's values ----------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_values_and_every_truncation(case: dict[str, Any]) -> None:
    codec, data = case_codec(case)
    assert_agree(codec, data)
    if codec.fixed_size != 0:
        assert_agree(codec, data * 3)
    for cut in cuts(data):
        assert_agree(codec, data[:cut], rows=cut % 4 == 0)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_values_with_each_byte_damaged(case: dict[str, Any]) -> None:
    codec, data = case_codec(case)
    for i in range(min(len(data), 48)):
        for b in {0x00, 0x02, 0x80, 0xFF, data[i] ^ 0x01}:
            assert_agree(codec, data[:i] + bytes([b]) + data[i + 1 :], rows=False)


# ---- drawn types and values, good and damaged -------------------------------------------


def typed_value_lists() -> st.SearchStrategy[tuple[tuple[AlgebraicType, Typespace], list[Any]]]:
    return schemas().flatmap(
        lambda s: st.tuples(st.just(s), st.lists(values(s[0], s[1]), min_size=1, max_size=4))
    )


@PROPS
@given(typed_value_lists(), st.data())
def test_drawn_values_and_damaged_copies(
    case: tuple[tuple[AlgebraicType, Typespace], list[Any]], data: st.DataObject
) -> None:
    (ty, ts), items = case
    codec = bsatn.codec_for(ty, ts)
    one = codec.encode(items[0])
    assert_agree(codec, one)
    assert_agree(codec, b"".join(codec.encode(v) for v in items))
    assert_agree(codec, data.draw(mutants(one)))


@PROPS
@given(st.data())
def test_drawn_types_on_random_bytes(data: st.DataObject) -> None:
    ty, ts = data.draw(schemas())
    assert_agree(bsatn.codec_for(ty, ts), data.draw(st.binary(max_size=64)))


@pytest.mark.parametrize("kind", ["F32", "F64"])
def test_float_bit_patterns_nan_payloads_included(kind: str) -> None:
    codec = bsatn.codec_for(T.array(getattr(T, kind)))
    size = 4 if kind == "F32" else 8
    patterns = [0x7F800001, 0x7FC00001, 0xFFBFFFFF, 0x7F800000, 0x80000000, 1, 0x7FFFFFFF]
    if size == 8:
        patterns = [0x7FF0000000000001, 0x7FF8000000000001, 0xFFF7FFFFFFFFFFFF, 1, 1 << 63]
    data = struct.pack("<I", len(patterns)) + b"".join(p.to_bytes(size, "little") for p in patterns)
    assert_agree(codec, data)
    for p in patterns:
        assert_agree(bsatn.codec_for(getattr(T, kind)), p.to_bytes(size, "little"))


# ---- bound classes -------------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1
    GREEN = 2


@dataclasses.dataclass(frozen=True, slots=True)
class Point:  # what the codegen emits: built by setting slots, not by calling __init__
    x: int
    y: int


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:  # __post_init__ must run: called
    x: int
    y: int

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ArithmeticError(f"negative x {self.x}")


@dataclasses.dataclass(slots=True)
class Mutable:  # not frozen: called
    x: int
    y: int


class Plain:  # not a dataclass: called
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y


class Shape:
    __sats_variants__: tuple[type, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Circle(Shape):
    value: float


@dataclasses.dataclass(frozen=True, slots=True)
class Empty(Shape):
    pass


@dataclasses.dataclass(frozen=True)
class Many(Shape):  # no slots: called
    value: list[Any]


Shape.__sats_variants__ = (Circle, Empty, Many)
POINT = T.product({"x": T.I32, "y": T.I32})
CLASS_TS = Typespace(
    (
        T.sum({"Red": T.unit(), "Green": T.unit()}),  # 0
        POINT,  # 1
        T.sum({"Circle": T.F64, "Empty": T.unit(), "Many": T.array(T.ref(1))}),  # 2
        T.product({"p": T.ref(1), "c": T.ref(0), "s": T.array(T.ref(2)), "t": T.STRING}),  # 3
        T.sum({"A": T.unit(), "B": T.unit()}),  # 4: a plain enum bound to variant classes
    )
)


@dataclasses.dataclass(frozen=True, slots=True)
class A:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class B:
    pass


class AB:
    __sats_variants__ = (A, B)


@pytest.mark.parametrize("point", [Point, Checked, Mutable, Plain])
def test_bound_classes_of_every_kind(point: type) -> None:
    classes = {0: Color, 1: point, 2: Shape, 4: AB}
    generic = bsatn.codec_for(T.ref(3), CLASS_TS)
    codec = bsatn.codec_for(T.ref(3), CLASS_TS, classes=classes)
    shapes = [SumValue("Circle", 2.5), SumValue("Empty"), SumValue("Many", [{"x": 3, "y": 4}])]
    value = {"p": {"x": 1, "y": -2}, "c": SumValue("Green"), "s": shapes, "t": "hé"}
    data = generic.encode(value)
    assert_agree(codec, data)
    assert_agree(codec, data * 2)
    negative = generic.encode({**value, "p": {"x": -1, "y": 0}})
    assert_agree(codec, negative)  # Checked raises: the same error both ways
    assert_agree(bsatn.codec_for(T.ref(4), CLASS_TS, classes=classes), b"\x01")
    for cut in cuts(data):
        assert_agree(codec, data[:cut], rows=False)


def test_which_classes_are_built_by_setting_slots() -> None:
    assert ops._fast_init(Point, 2) is not None
    assert ops._fast_init(Point, 3) is None  # the wrong number of fields
    assert ops._fast_init(Checked, 2) is None  # __post_init__
    assert ops._fast_init(Mutable, 2) is None  # not frozen
    assert ops._fast_init(Plain, 2) is None
    assert ops._fast_init(Many, 1) is None  # no slots
    assert ops._fast_init(Some, 1) is not None and ops._fast_init(SumValue, 2) is not None

    @dataclasses.dataclass(frozen=True, slots=True)
    class OwnInit:
        x: int

        def __init__(self, x: int) -> None:
            object.__setattr__(self, "x", x * 2)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class KwOnly:
        x: int

    assert ops._fast_init(OwnInit, 1) is None and ops._fast_init(KwOnly, 1) is None
    for cls in (OwnInit, KwOnly):
        codec = bsatn.codec_for(T.ref(0), Typespace((T.product({"x": T.I32}),)), classes={0: cls})
        assert_agree(codec, b"\x05\x00\x00\x00")


def test_a_class_that_raises_raises_the_same_both_ways() -> None:
    codec = bsatn.codec_for(T.ref(1), CLASS_TS, classes={1: Checked})
    bad = struct.pack("<ii", -3, 0)
    agree(outcome(codec.decode, bad), outcome(pure(codec).decode, bad), "decode")
    with pytest.raises(ArithmeticError, match="negative x -3"):
        codec.decode_rows(bad * 2)
    codec.validate(bad)  # checking bytes builds nothing: the class is not called
    assert codec.split_rows(bad * 2) == [bad, bad]


# ---- nesting, programs, switches ------------------------------------------------------------


def test_values_nested_deeper_than_the_extension_recurses() -> None:
    assert EXT is not None
    ts = Typespace((LINKED_LIST,))
    codec = bsatn.codec_for(T.ref(0), ts)
    value: Any = None
    for i in range(EXT.MAX_DEPTH):  # two levels (product, option) per element
        value = {"head": i, "tail": value}
    data = codec.encode(value)
    with pytest.raises(EXT.TooDeep):
        codec._c_program.decode(data)
    with pytest.raises(EXT.TooDeep):
        codec._c_program.check(data)
    assert_agree(codec, data)  # the Python decoder takes over: same value
    assert codec.decode(data) == value and codec.split_rows(data * 2) == [data, data]


def test_nesting_beyond_python_recursion_is_the_same_error() -> None:
    ts = Typespace((LINKED_LIST,))
    codec = bsatn.codec_for(T.ref(0), ts)
    data = b"\x00\x00\x00\x00\x00" * 100_000 + b"\x00\x00\x00\x00\x01"
    agree(outcome(codec.decode, data), outcome(pure(codec).decode, data), "decode")
    with pytest.raises(bsatn.BsatnDecodeError, match="nested too deeply"):
        codec.validate(data)


@pytest.mark.parametrize(
    "nodes",
    [
        [(99, -1, False, (), None, None, None, None)],  # unknown op
        [(ops.OP_ARRAY, -1, False, (5,), None, None, None, None)],  # child out of range
        [(ops.PRIM_OPS["U32"], 2, True, (), None, None, None, None)],  # wrong size
        [(ops.OP_STRING, -1, True, (), None, None, None, None)],  # trusted but not fixed
        [(ops.OP_PRODUCT, -1, False, (0,), {}, ("a", "b"), None, None)],  # keys != children
        [(ops.OP_SUM, 1, False, (-1,), ("A",), (None,), SumValue, None)],  # no constant
        [(ops.OP_SPECIAL, 8, True, (), int, (1,), None, None)],  # not a slotted class
        [(ops.OP_CLASS, -1, False, (), Point, (Point.__dict__["x"],), None, None)],  # 1 slot
        [(ops.OP_ENUM, 1, False, (), ("x",) * 300, None, None, None)],  # too many variants
        ["not a node"],
    ],
)
def test_a_malformed_program_is_refused(nodes: list[Any]) -> None:
    assert EXT is not None
    with pytest.raises(ValueError, match="bsatn program node 0"):
        EXT.Program(nodes, 0)


def test_programs_cannot_be_reinitialised_or_used_uninitialised() -> None:
    assert EXT is not None
    nodes, root = ops.build(ref.Ctx(None, {}), T.U8)
    prog = EXT.Program(nodes, root)
    with pytest.raises(TypeError, match="re-initialised"):
        prog.__init__(nodes, root)  # type: ignore[misc]
    bare = EXT.Program.__new__(EXT.Program)
    with pytest.raises(ValueError, match="not initialised"):
        bare.decode(b"\x01")
    with pytest.raises(TypeError, match="expected bytes"):
        prog.decode(bytearray(b"\x01"))  # type: ignore[arg-type]


def test_the_switch_forces_pure_python() -> None:
    code = (
        "from spacetimedb_sdk import _speedups as s; from spacetimedb_sdk.sats import bsatn, "
        "AlgebraicType as T; c = bsatn.codec_for(T.U8); "
        "print(s.bsatn is None, c._c_program is None, c.decode(b'\\x07'), s.status())"
    )
    env = {**os.environ, "SPACETIMEDB_SDK_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split(None, 3) == ["True", "True", "7", "compiled extension: off "
                                  "(SPACETIMEDB_SDK_NO_EXTENSIONS is set)\n"]  # fmt: skip
    env["SPACETIMEDB_SDK_NO_EXTENSIONS"] = "0"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split()[:3] == ["False", "False", "7"]


# ---- UTF-8: the skip's check is as strict as str(b, "utf-8") -----------------------------


EDGES = [
    b"\xc2\x80", b"\xc1\xbf", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe0\x9f\xbf", b"\xed\x9f\xbf",
    b"\xed\xa0\x80", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf0\x8f\xbf\xbf",
    b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80", b"\xc2", b"\xe0\xa0",
    b"\xf0\x90\x80", b"\xff", b"a" * 9 + b"\xc3\xa9" + b"b" * 9, b"",
]  # fmt: skip


def utf8_ok(b: bytes) -> bool:
    try:
        str(b, "utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("raw", EDGES)
def test_utf8_edges(raw: bytes) -> None:
    assert EXT is not None
    for data in (raw, b"abcdefgh" + raw, raw + b"abcdefgh"):
        assert EXT.utf8_valid(data) is utf8_ok(data), data
        assert_agree(bsatn.codec_for(T.STRING), struct.pack("<I", len(data)) + data)


@PROPS
@given(st.binary(max_size=40) | st.text(max_size=20).map(str.encode))
def test_utf8_check_matches_the_decoder(data: bytes) -> None:
    assert EXT is not None
    assert EXT.utf8_valid(data) is utf8_ok(data)
    codec = bsatn.codec_for(T.STRING)
    assert_agree(codec, struct.pack("<I", len(data)) + data)
