"""Hypothesis strategies for SATS types and values, shared by the test suites.

- :func:`algebraic_types` draws random types: primitives, the special products,
  ``ScheduleAt``, nested products (named and unnamed elements), sums, plain enums,
  options (nested too), results, arrays and bytes, and ``Ref``s when asked.
- :func:`schemas` draws ``(root_type, typespace)`` where the typespace holds a
  recursive linked list (index 0), a recursive tree (index 1) and random types
  that refer to earlier entries.
- :func:`values` draws values of a given type in the generic representation
  (see ``spacetimedb_sdk.sats.bsatn``); recursion is cut off by depth.
- :func:`strict_equal` compares values exactly: same classes, floats by bit pattern.
- :func:`mutants` draws damaged copies of good bytes (fuzzing, differential tests).

Example::

    @given(schemas().flatmap(lambda s: st.tuples(st.just(s), values(*s))))
    def test_roundtrip(case): ...
"""

from __future__ import annotations

import functools
import struct
import uuid
from typing import Any

from hypothesis import strategies as st

from spacetimedb_sdk.sats import (
    AlgebraicType,
    ArrayType,
    ConnectionId,
    Err,
    Identity,
    Ok,
    PrimitiveType,
    ProductType,
    RefType,
    ScheduleAt,
    Some,
    SumType,
    SumValue,
    TimeDuration,
    Timestamp,
    Typespace,
)

T = AlgebraicType

PRIMITIVES: list[AlgebraicType] = [
    T.BOOL, T.I8, T.U8, T.I16, T.U16, T.I32, T.U32, T.I64, T.U64,
    T.I128, T.U128, T.I256, T.U256, T.F32, T.F64, T.STRING,
]  # fmt: skip
SPECIALS: list[AlgebraicType] = [
    T.identity(),
    T.connection_id(),
    T.timestamp(),
    T.time_duration(),
    T.uuid(),
    T.schedule_at(),
]

_INT_RANGES = {
    "I8": 8, "I16": 16, "I32": 32, "I64": 64, "I128": 128, "I256": 256,
    "U8": 8, "U16": 16, "U32": 32, "U64": 64, "U128": 128, "U256": 256,
}  # fmt: skip

# The recursive entries every drawn typespace starts with.
LINKED_LIST = T.product({"head": T.I32, "tail": T.option(T.ref(0))})
TREE = T.sum({"Leaf": T.I32, "Node": T.array(T.ref(1))})
MAX_DEPTH = 3


def _product(members: list[tuple[AlgebraicType, bool]]) -> ProductType:
    return T.product([(f"f{i}" if named else None, t) for i, (t, named) in enumerate(members)])


def _sum(members: list[tuple[AlgebraicType, bool]]) -> SumType:
    return T.sum([(f"V{i}" if named else None, t) for i, (t, named) in enumerate(members)])


def _enum(n: int) -> SumType:
    return T.sum([(f"E{i}", T.unit()) for i in range(n)])


@functools.lru_cache(maxsize=64)  # building a recursive strategy is costly; reuse it
def algebraic_types(n_refs: int = 0, max_leaves: int = 10) -> st.SearchStrategy[AlgebraicType]:
    """Random types; ``Ref(i)`` leaves with ``i < n_refs`` when ``n_refs`` > 0."""
    leaf_list: list[AlgebraicType] = [*PRIMITIVES, *SPECIALS, T.unit(), T.array(T.U8)]
    leaves: st.SearchStrategy[AlgebraicType] = st.sampled_from(leaf_list)
    if n_refs:
        leaves = leaves | st.integers(0, n_refs - 1).map(RefType)

    def extend(
        children: st.SearchStrategy[AlgebraicType],
    ) -> st.SearchStrategy[AlgebraicType]:
        members = st.lists(st.tuples(children, st.booleans() | st.just(True)), max_size=4)
        return st.one_of(
            children.map(ArrayType),
            children.map(T.option),
            st.tuples(children, children).map(lambda p: T.result(p[0], p[1])),
            members.map(_product),
            members.filter(bool).map(_sum),
            st.integers(1, 5).map(_enum),
        )

    return st.recursive(leaves, extend, max_leaves=max_leaves)


@st.composite
def schemas(draw: st.DrawFn) -> tuple[AlgebraicType, Typespace]:
    """A root type and a typespace with recursive entries (list at 0, tree at 1)."""
    types: list[AlgebraicType] = [LINKED_LIST, TREE]
    for _ in range(draw(st.integers(0, 2))):
        types.append(draw(algebraic_types(n_refs=len(types), max_leaves=6)))
    root = draw(algebraic_types(n_refs=len(types)))
    return root, Typespace(tuple(types))


def _is_option(ty: AlgebraicType, ts: Typespace | None) -> bool:
    t = ts.resolve(ty) if ts is not None else ty
    return t.is_option()


@functools.lru_cache(maxsize=4096)
def values(
    ty: AlgebraicType, typespace: Typespace | None = None, depth: int = 0
) -> st.SearchStrategy[Any]:
    """Values of ``ty`` in the generic representation; nesting through refs is bounded."""
    if isinstance(ty, RefType):
        assert typespace is not None
        depth += 1
    t = typespace.resolve(ty) if typespace is not None else ty
    deep = depth > MAX_DEPTH
    if isinstance(t, PrimitiveType):
        return _prim_values(t.kind)
    if isinstance(t, ArrayType):
        if t.is_bytes():
            return st.binary(max_size=24)
        if deep:
            return st.just([])
        return st.lists(values(t.elem, typespace, depth), max_size=4)
    if isinstance(t, ProductType):
        return _product_values(t, typespace, depth)
    assert isinstance(t, SumType)
    return _sum_values(t, typespace, depth, deep)


def _prim_values(kind: str) -> st.SearchStrategy[Any]:
    if kind == "Bool":
        return st.booleans()
    if kind == "String":
        return st.text(max_size=24)
    if kind == "F32":
        return st.floats(width=32, allow_nan=False)
    if kind == "F64":
        return st.floats(allow_nan=False)
    bits = _INT_RANGES[kind]
    if kind.startswith("I"):
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


def _product_values(
    t: ProductType, typespace: Typespace | None, depth: int
) -> st.SearchStrategy[Any]:
    special = t.special_kind()
    if special == "__identity__":
        return st.integers(0, (1 << 256) - 1).map(Identity)
    if special == "__connection_id__":
        return st.integers(0, (1 << 128) - 1).map(ConnectionId)
    if special == "__timestamp_micros_since_unix_epoch__":
        return st.integers(-(1 << 63), (1 << 63) - 1).map(Timestamp)
    if special == "__time_duration_micros__":
        return st.integers(-(1 << 63), (1 << 63) - 1).map(TimeDuration)
    if special == "__uuid__":
        return st.integers(0, (1 << 128) - 1).map(lambda i: uuid.UUID(int=i))
    return st.fixed_dictionaries(
        {
            name: values(e.algebraic_type, typespace, depth)
            for name, e in zip(t.names(), t.elements, strict=True)
        }
    )


def _sum_values(
    t: SumType, typespace: Typespace | None, depth: int, deep: bool
) -> st.SearchStrategy[Any]:
    if t.is_option():
        if deep:
            return st.none()
        inner_ty = t.variants[0].algebraic_type
        inner = values(inner_ty, typespace, depth)
        if _is_option(inner_ty, typespace):
            inner = inner.map(Some)
        return st.none() | inner
    if t.is_result():
        ok = values(t.variants[0].algebraic_type, typespace, depth)
        err = values(t.variants[1].algebraic_type, typespace, depth)
        return ok.map(Ok) | err.map(Err)
    if t.is_schedule_at():
        micros = st.integers(-(1 << 63), (1 << 63) - 1)
        return micros.map(lambda m: ScheduleAt.Interval(TimeDuration(m))) | micros.map(
            lambda m: ScheduleAt.Time(Timestamp(m))
        )
    options: list[st.SearchStrategy[SumValue]] = []
    for i, v in enumerate(t.variants):
        name = v.name if v.name is not None else str(i)
        resolved = (
            typespace.resolve(v.algebraic_type) if typespace is not None else v.algebraic_type
        )
        if resolved.is_unit():
            options.append(st.just(SumValue(name)))
        else:
            payload = values(v.algebraic_type, typespace, depth)
            options.append(st.builds(SumValue, st.just(name), payload))
    return st.one_of(options)


@st.composite
def mutants(
    draw: st.DrawFn, data: bytes, splice_from: tuple[bytes, ...] = (), max_edits: int = 8
) -> bytes:
    """``data`` with a few random edits: flipped, overwritten, inserted or removed bytes, a
    truncation, a repeated piece (a length prefix then often points past the end) or, given
    ``splice_from``, a piece of one of those spliced in."""
    out = bytearray(data)
    ops = ["flip", "set", "insert", "delete", "truncate", "repeat"]
    for _ in range(draw(st.integers(1, max_edits))):
        op = draw(st.sampled_from([*ops, "splice"] if splice_from else ops))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "flip" and out:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and out:
            out[pos] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x7F, 0x80, 0xC0, 0xED, 0xFF]))
        elif op == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and out:
            del out[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del out[pos:]
        elif op == "repeat":
            out[pos:pos] = out[pos : pos + draw(st.integers(1, 16))]
        elif op == "splice":
            other = draw(st.sampled_from(splice_from))
            start = draw(st.integers(0, len(other)))
            out[pos:pos] = other[start : start + draw(st.integers(1, 64))]
    return bytes(out)


def strict_equal(a: Any, b: Any) -> bool:
    """Exact equality: same classes all the way down, floats compared by bit pattern."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, SumValue):
        return a.tag == b.tag and strict_equal(a.value, b.value)
    if isinstance(a, (Ok, Some)):
        return strict_equal(a.value, b.value)
    if isinstance(a, Err):
        return strict_equal(a.error, b.error)
    if isinstance(a, ScheduleAt.Interval):
        return strict_equal(a.duration, b.duration)
    if isinstance(a, ScheduleAt.Time):
        return strict_equal(a.time, b.time)
    return bool(a == b)


__all__ = [
    "LINKED_LIST",
    "PRIMITIVES",
    "SPECIALS",
    "TREE",
    "algebraic_types",
    "mutants",
    "schemas",
    "strict_equal",
    "values",
]
