"""Malformed BSATN and unencodable values give errors naming the type path and offset."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from spacetimedb_sdk.errors import BsatnDecodeError, BsatnEncodeError, SchemaError
from spacetimedb_sdk.sats import (
    AlgebraicType,
    Identity,
    Some,
    SumValue,
    Timestamp,
    Typespace,
    bsatn,
)

T = AlgebraicType
MESSAGE = T.product({"sender": T.identity(), "sent": T.timestamp(), "text": T.STRING})
CODEC = bsatn.codec_for(MESSAGE)
ROW = CODEC.encode({"sender": Identity(7), "sent": Timestamp(1), "text": "héllo"})  # 51 bytes
# A table row type whose message type sits behind a Ref, as in a real schema.
TS = Typespace((T.product({"id": T.U32, "message": T.ref(1)}), MESSAGE))


def decode_error(fn: Any) -> BsatnDecodeError:
    with pytest.raises(BsatnDecodeError) as info:
        fn()
    err = info.value
    assert isinstance(err, ValueError)
    assert f"(at {err.path})" in str(err)
    assert f"at offset {err.offset}" in str(err)
    return err


def test_row_is_the_expected_size() -> None:
    assert len(ROW) == 32 + 8 + 4 + len("héllo".encode())


def test_truncated_input_names_path_and_offset() -> None:
    err = decode_error(lambda: CODEC.decode(ROW[:36]))
    assert err.path == "sent.__timestamp_micros_since_unix_epoch__"
    assert err.offset == 32
    assert "truncated" in str(err)


def test_truncated_row_in_decode_rows_names_the_row() -> None:
    err = decode_error(lambda: CODEC.decode_rows(ROW * 3 + ROW[:10]))
    assert err.path == "[3].sender.__identity__"
    assert err.offset == 3 * len(ROW)


def test_truncated_through_a_ref() -> None:
    codec = bsatn.codec_for(T.ref(0), TS)
    data = codec.encode(
        {"id": 1, "message": {"sender": Identity(1), "sent": Timestamp(2), "text": "x"}}
    )
    err = decode_error(lambda: codec.decode(data[:-1]))
    assert err.path == "message.text"
    assert err.offset == 4 + 32 + 8  # the length prefix that points past the end


def test_trailing_bytes() -> None:
    err = decode_error(lambda: CODEC.decode(ROW + b"\x00\x00"))
    assert err.path == "<root>"
    assert err.offset == len(ROW)
    assert "2 trailing bytes" in str(err)


def test_unknown_sum_tag() -> None:
    ty = T.product({"shape": T.sum({"Circle": T.F64, "Point": T.unit()})})
    err = decode_error(lambda: bsatn.decode(ty, b"\x07"))
    assert err.path == "shape"
    assert err.offset == 0
    assert "unknown sum tag 7" in str(err) and "Circle, Point" in str(err)


def test_unknown_option_tag_inside_array() -> None:
    ty = T.array(T.option(T.I32))
    data = b"\x03\x00\x00\x00" + b"\x01" + b"\x00\x05\x00\x00\x00" + b"\x02"
    err = decode_error(lambda: bsatn.decode(ty, data))
    assert err.path == "[2]"
    assert err.offset == 10
    assert "Option tag 2" in str(err)


def test_error_inside_some_names_the_variant() -> None:
    ty = T.product({"name": T.option(T.STRING)})
    err = decode_error(lambda: bsatn.decode(ty, b"\x00\x05\x00\x00\x00ab"))
    assert err.path == "name.some"
    assert err.offset == 1


def test_error_inside_a_variant_payload_names_the_variant() -> None:
    ty = T.sum({"A": T.U8, "Named": T.product({"flag": T.BOOL})})
    err = decode_error(lambda: bsatn.decode(ty, b"\x01\x09"))
    assert err.path == "Named.flag"
    assert err.offset == 1


def test_invalid_utf8() -> None:
    bad = ROW[:-2] + b"\xc3\x28"
    err = decode_error(lambda: CODEC.decode_rows(ROW + bad))
    assert err.path == "[1].text"
    assert err.offset == len(ROW) + len(ROW) - 2
    assert "UTF-8" in str(err)


@pytest.mark.parametrize("ty", [T.BOOL, T.product({"a": T.U8, "ok": T.BOOL})])
def test_bool_byte_2(ty: AlgebraicType) -> None:
    data = b"\x02" if ty == T.BOOL else b"\x01\x02"
    err = decode_error(lambda: bsatn.decode(ty, data))
    assert err.path == ("<root>" if ty == T.BOOL else "ok")
    assert err.offset == len(data) - 1
    assert "Bool byte 0x02" in str(err)


def test_bool_byte_2_in_bool_array_and_fixed_rows() -> None:
    err = decode_error(lambda: bsatn.decode(T.array(T.BOOL), b"\x02\x00\x00\x00\x01\x03"))
    assert err.path == "[1]" and err.offset == 5
    codec = bsatn.codec_for(T.product({"x": T.U16, "b": T.BOOL}))
    assert codec.fixed_size == 3
    err = decode_error(lambda: codec.decode_rows(b"\x01\x00\x01" * 2 + b"\x01\x00\xff"))
    assert err.path == "[2].b" and err.offset == 8


def test_length_prefix_beyond_buffer() -> None:
    data = ROW[:40] + struct.pack("<I", 1000) + ROW[44:]
    err = decode_error(lambda: CODEC.decode(data))
    assert err.path == "text"
    assert err.offset == 40
    assert "length prefix 1000" in str(err)


def test_array_count_beyond_buffer_fails_fast() -> None:
    err = decode_error(lambda: bsatn.decode(T.array(T.STRING), b"\xff\xff\xff\xff\x00"))
    assert err.path == "<root>" and err.offset == 0
    assert "length prefix 4294967295" in str(err)


def test_never_a_raw_struct_or_index_error() -> None:
    """Every truncation of a rich row fails with BsatnDecodeError only."""
    ty = T.product(
        {
            "a": T.array(T.option(T.STRING)),
            "b": T.result(T.U128, T.array(T.I16)),
            "c": T.schedule_at(),
            "d": T.array(T.product({"x": T.F32, "y": T.BOOL})),
        }
    )
    from spacetimedb_sdk.sats import Ok, ScheduleAt, TimeDuration

    value = {
        "a": ["x", None, "yz"],
        "b": Ok(5),
        "c": ScheduleAt.Interval(TimeDuration(3)),
        "d": [{"x": 1.5, "y": True}],
    }
    data = bsatn.encode(ty, value)
    for cut in range(len(data)):
        err = decode_error(lambda cut=cut: bsatn.decode(ty, data[:cut]))
        assert err.offset is not None and err.offset <= cut


def test_deep_recursion_is_a_decode_error() -> None:
    ts = Typespace((T.product({"next": T.option(T.ref(0))}),))
    data = b"\x00" * 100_000 + b"\x01"
    with pytest.raises(BsatnDecodeError, match="nested too deeply"):
        bsatn.decode(T.ref(0), data, ts)


# ---- encoding -------------------------------------------------------------------------------


def encode_error(ty: AlgebraicType, value: Any, ts: Typespace | None = None) -> BsatnEncodeError:
    with pytest.raises(BsatnEncodeError) as info:
        bsatn.encode(ty, value, ts)
    assert isinstance(info.value, ValueError)
    return info.value


def test_out_of_range_int_names_type_and_path() -> None:
    ty = T.product({"message": T.product({"n": T.U8})})
    err = encode_error(ty, {"message": {"n": 256}})
    assert str(err) == "value 256 out of range for U8 (at message.n)"
    assert err.path == "message.n"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("I8", -129),
        ("U16", -1),
        ("I64", 1 << 63),
        ("U64", 1 << 64),
        ("U128", -1),
        ("I256", 1 << 255),
    ],
)
def test_out_of_range_each_width(kind: str, value: int) -> None:
    err = encode_error(getattr(T, kind), value)
    assert f"out of range for {kind}" in str(err)


def test_out_of_range_inside_array_of_rows() -> None:
    ty = T.array(T.product({"id": T.U32, "tags": T.array(T.I8)}))
    err = encode_error(ty, [{"id": 1, "tags": []}, {"id": 2, "tags": [1, 200]}])
    assert err.path == "[1].tags[1]"
    assert "value 200 out of range for I8" in str(err)


@pytest.mark.parametrize(
    ("ty", "value", "expected"),
    [
        (T.U32, "5", "expected int for U32, got str"),
        (T.U32, 1.0, "expected int for U32, got float"),
        (T.U32, True, "expected int for U32, got bool"),
        (T.BOOL, 1, "expected bool for Bool, got int"),
        (T.F64, "1.5", "expected float for F64, got str"),
        (T.STRING, b"x", "expected str for String, got bytes"),
        (T.array(T.U8), "ab", "expected bytes for Array<U8>, got str"),
        (T.array(T.U32), "ab", "expected list or tuple for Array, got str"),
        (T.identity(), 5, "expected Identity, got int"),
        (T.timestamp(), 5, "expected Timestamp, got int"),
        (T.result(T.U8, T.U8), 5, "expected Ok(...) or Err(...)"),
        (T.product({"a": T.U8}), [1], "expected dict with fields ['a'], got list"),
        (T.sum({"A": T.U8}), 5, "expected SumValue(tag, value), got int"),
        (T.option(T.option(T.U8)), 5, "expected None or Some(...) for a nested Option"),
    ],
)
def test_wrong_python_types(ty: AlgebraicType, value: Any, expected: str) -> None:
    err = encode_error(ty, value)
    assert expected in str(err)
    assert str(err).endswith("(at <root>)")


def test_missing_and_extra_dict_fields() -> None:
    ty = T.product({"sender": T.identity(), "text": T.STRING})
    err = encode_error(ty, {"sender": Identity(1)})
    assert "missing field(s) 'text'" in str(err)
    err = encode_error(ty, {"sender": Identity(1), "text": "x", "txt": "y"})
    assert "unexpected field(s) 'txt'" in str(err)


def test_unknown_sum_value_tag() -> None:
    ty = T.product({"shape": T.sum({"Circle": T.F64, "Point": T.unit()})})
    err = encode_error(ty, {"shape": SumValue("Square", 1.0)})
    assert str(err) == "unknown variant 'Square' (variants: Circle, Point) (at shape)"


def test_unit_variant_with_a_payload() -> None:
    err = encode_error(T.sum({"A": T.unit(), "B": T.U8}), SumValue("A", 3))
    assert "unit variant takes no payload" in str(err) and err.path == "A"


def test_error_inside_some_and_nested_some() -> None:
    err = encode_error(T.option(T.option(T.U8)), Some(300))
    assert err.path == "some.some" and "out of range for U8" in str(err)


def test_failed_write_leaves_the_buffer_unchanged() -> None:
    out = bytearray(b"keep")
    with pytest.raises(BsatnEncodeError):
        CODEC.write(out, {"sender": Identity(1), "sent": Timestamp(1), "text": 5})
    assert out == b"keep"


def test_unencodable_string_and_f32_overflow() -> None:
    assert "UTF-8" in str(encode_error(T.STRING, "\ud800"))
    assert "out of range for F32" in str(encode_error(T.F32, 1e300))


def test_ref_without_typespace_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="needs a typespace"):
        bsatn.codec_for(T.array(T.ref(0)))
    with pytest.raises(SchemaError, match="outside the typespace"):
        bsatn.codec_for(T.ref(3), TS)


def test_huge_count_of_zero_size_elements_is_refused() -> None:
    """Units take no bytes, so only a cap stops a hostile count from exhausting memory."""
    ty = T.array(T.unit())
    assert bsatn.decode(ty, struct.pack("<I", 3)) == [{}, {}, {}]
    err = decode_error(lambda: bsatn.decode(ty, b"\xff\xff\xff\xff"))
    assert "zero-size elements exceeds the limit" in str(err)
    assert err.path == "<root>" and err.offset == 0
