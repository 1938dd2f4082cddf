"""BSATN against bytes made by the official implementation, and published test vectors.

``tests/fixtures/bsatn/values.jsonl`` (README §1–2) holds 219 typed values with
their BSATN from the official TypeScript package; every case must decode to the
value and encode back to the exact bytes.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from spacetimedb_sdk.sats import (
    AlgebraicType,
    ArrayType,
    ConnectionId,
    Err,
    Identity,
    Ok,
    PrimitiveType,
    ProductType,
    ScheduleAt,
    Some,
    SumType,
    SumValue,
    TimeDuration,
    Timestamp,
    Typespace,
    bsatn,
)
from spacetimedb_sdk.sats import _bsatn_ref as ref
from strategies import strict_equal

T = AlgebraicType
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "bsatn" / "values.jsonl"
CASES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
_WIDE = {"U64", "I64", "U128", "I128", "U256", "I256"}


def from_plain(ty: AlgebraicType, ts: Typespace | None, v: Any) -> Any:
    """The fixture's plain-JSON convention (README §1) → our Python representation."""
    t = ts.resolve(ty) if ts is not None else ty
    if isinstance(t, PrimitiveType):
        if t.kind in _WIDE:
            assert isinstance(v, str)
            return int(v)
        if t.kind in ("F32", "F64"):
            return float(v)
        return v
    if isinstance(t, ArrayType):
        if t.is_bytes():
            return bytes.fromhex(v)
        return [from_plain(t.elem, ts, x) for x in v]
    if isinstance(t, ProductType):
        return _product(t, ts, v)
    assert isinstance(t, SumType) and isinstance(v, dict) and len(v) == 1
    ((name, payload),) = v.items()
    tag = t.variant_index(name)
    pty = t.variants[tag].algebraic_type
    if t.is_option():
        if name == "none":
            return None
        inner = from_plain(pty, ts, payload)
        return Some(inner) if (ts.resolve(pty) if ts else pty).is_option() else inner
    if t.is_result():
        inner = from_plain(pty, ts, payload)
        return Ok(inner) if name == "ok" else Err(inner)
    if t.is_schedule_at():
        inner = from_plain(pty, ts, payload)
        return ScheduleAt.Interval(inner) if name == "Interval" else ScheduleAt.Time(inner)
    if (ts.resolve(pty) if ts else pty).is_unit():
        assert payload == []
        return SumValue(name)
    return SumValue(name, from_plain(pty, ts, payload))


def _product(t: ProductType, ts: Typespace | None, v: Any) -> Any:
    kind = t.special_kind()
    if kind is not None:
        raw = v[kind]
        if kind == "__identity__":
            return Identity.from_hex(raw)
        if kind == "__connection_id__":
            return ConnectionId.from_hex(raw)
        if kind == "__uuid__":
            return uuid.UUID(hex=raw)
        cls = Timestamp if kind == "__timestamp_micros_since_unix_epoch__" else TimeDuration
        return cls(int(raw))
    if not t.elements:
        assert v == []
        return {}
    assert list(v) == t.names()
    return {
        name: from_plain(e.algebraic_type, ts, v[name])
        for name, e in zip(t.names(), t.elements, strict=True)
    }


def _case(case: dict[str, Any]) -> tuple[AlgebraicType, Typespace | None, Any, bytes]:
    ty = AlgebraicType.from_json(case["type"])
    ts = Typespace.from_json(case["typespace"]) if "typespace" in case else None
    return ty, ts, from_plain(ty, ts, case["value"]), bytes.fromhex(case["hex"])


def test_fixture_file_has_all_cases() -> None:
    assert len(CASES) == 219
    assert len({c["name"] for c in CASES}) == 219


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fixture_decodes_and_encodes_exactly(case: dict[str, Any]) -> None:
    ty, ts, value, data = _case(case)
    decoded = bsatn.decode(ty, data, ts)
    assert strict_equal(decoded, value), (decoded, value)
    assert bsatn.encode(ty, value, ts) == data
    # The generated fast path handles the case itself (no fallback to the walker).
    codec = bsatn.codec_for(ty, ts)
    out = bytearray()
    codec._write(out, value)
    assert bytes(out) == data
    assert strict_equal(codec._read(data, 0), (value, len(data)))
    # The reference walker agrees with the compiled codec.
    ctx = ref.Ctx(ts, {})
    assert strict_equal(ref.decode_value(ctx, ty, data), value)
    out = bytearray()
    ref.encode_into(ctx, ty, value, out)
    assert bytes(out) == data


def test_fixture_rows_decode_back_to_back() -> None:
    """decode_rows over many concatenated fixture values of one type gives them all back."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in CASES:
        groups.setdefault(json.dumps([c["type"], c.get("typespace")]), []).append(c)
    checked = 0
    for cases in groups.values():
        ty, ts, _, _ = _case(cases[0])
        items = [_case(c) for c in cases]
        data = b"".join(d for *_, d in items)
        codec = bsatn.codec_for(ty, ts)
        if codec.fixed_size == 0:
            continue
        rows = codec.decode_rows(data)
        assert len(rows) == len(items)
        assert all(strict_equal(r, v) for r, (_, _, v, _) in zip(rows, items, strict=True))
        checked += 1
    assert checked > 50


# ---- published vectors: protocol.md §1.6 and upstream-tests.md §1.6 --------------------------

VECTORS: list[tuple[str, AlgebraicType, Any, str]] = [
    ("true", T.BOOL, True, "01"),
    ("u16 258", T.U16, 258, "0201"),
    ("i64 -2", T.I64, -2, "feffffffffffffff"),
    ("f32 1.5", T.F32, 1.5, "0000c03f"),
    ("f64 1.5", T.F64, 1.5, "000000000000f83f"),
    ("u128 1", T.U128, 1, "01" + "00" * 15),
    ("i128 -1", T.I128, -1, "ff" * 16),
    ("string Bob", T.STRING, "Bob", "03000000426f62"),
    ("bytes", T.array(T.U8), b"\xaa\xbb", "02000000aabb"),
    ("option some", T.option(T.U32), 5, "0005000000"),
    ("option none", T.option(T.U32), None, "01"),
    ("result ok", T.result(T.U32, T.STRING), Ok(7), "0007000000"),
    ("result err", T.result(T.U32, T.STRING), Err("x"), "010100000078"),
    ("timestamp", T.timestamp(), Timestamp(1_700_000_000_000_000), "00401e18240a0600"),
    (
        "struct id name",
        T.product({"id": T.U64, "name": T.STRING}),
        {"id": 1, "name": "Bob"},
        "0100000000000000" + "03000000426f62",
    ),
    (
        "schedule 1s",
        T.schedule_at(),
        ScheduleAt.Interval(TimeDuration(1_000_000)),
        "0040420f0000000000",
    ),
    (
        "identity localhost/alice",
        T.identity(),
        Identity.from_hex("c20035600353a2e93544d898c6ed0eac323e200c0468300f22958f8b472a265d"),
        "5d262a478b8f95220f3068040c203e32ac0eedc698d84435e9a253036035" + "00c2",
    ),
    ("ts i32", T.I32, -799760706, bytes([190, 158, 84, 208]).hex()),
    ("ts u16", T.U16, 14776, bytes([184, 57]).hex()),
    ("ts string", T.STRING, "héllo ☃", "0a000000" + "héllo ☃".encode().hex()),
    ("ts product foo", T.product({"foo": T.STRING}), {"foo": "foobar"}, "06000000666f6f626172"),
    ("ts sum bar", T.sum({"bar": T.U32, "baz": T.STRING}), SumValue("bar", 5), "0005000000"),
    (
        "ts schedule interval",
        T.schedule_at(),
        ScheduleAt.Interval(TimeDuration(1234567890123456789)),
        "00" + "1581e97df4102211",
    ),
    (
        "ts schedule time",
        T.schedule_at(),
        ScheduleAt.Time(Timestamp(1234567890123456789)),
        "01" + "1581e97df4102211",
    ),
    ("ts connection id max", T.connection_id(), ConnectionId((1 << 128) - 1), "ff" * 16),
    (
        "ts uuid",
        T.uuid(),
        uuid.UUID(int=0x1234567890ABCDEF1234567890ABCDEF),
        (0x1234567890ABCDEF1234567890ABCDEF).to_bytes(16, "little").hex(),
    ),
]


@pytest.mark.parametrize(
    ("ty", "value", "hex_"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_known_vector(ty: AlgebraicType, value: Any, hex_: str) -> None:
    data = bytes.fromhex(hex_)
    assert bsatn.encode(ty, value) == data
    assert strict_equal(bsatn.decode(ty, data), value)


def test_identity_vector_from_typescript_tests() -> None:
    data = bsatn.encode(T.identity(), Identity(1234567890123456789012345678901234567890))
    assert len(data) == 32
    assert data[:4] == bytes.fromhex("d20a3fce")
    assert data == (1234567890123456789012345678901234567890).to_bytes(32, "little")


def test_rust_integer_vectors_all_widths() -> None:
    """Little-endian two's complement at every width, as Rust's bsatn::to_vec writes it."""
    for bits in (8, 16, 32, 64, 128, 256):
        for signed in (False, True):
            kind = f"{'I' if signed else 'U'}{bits}"
            ty = getattr(T, kind)
            n = -799760706 % (1 << (bits - 1)) if not signed else -(0x5EAD_BEEF % (1 << (bits - 1)))
            data = bsatn.encode(ty, n)
            assert data == n.to_bytes(bits // 8, "little", signed=signed)
            assert bsatn.decode(ty, data) == n
