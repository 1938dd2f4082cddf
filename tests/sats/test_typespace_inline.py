"""``Typespace.inline``: every ``Ref`` replaced by its type (what upstream's table schemas hold)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk.errors import SchemaError
from spacetimedb_sdk.sats import AlgebraicType, Typespace, bsatn
from spacetimedb_sdk.sats.types import ArrayType, ProductType, RefType, SumType
from strategies import algebraic_types, values


def _refs(ty: AlgebraicType) -> int:
    if isinstance(ty, RefType):
        return 1
    if isinstance(ty, ArrayType):
        return _refs(ty.elem)
    if isinstance(ty, ProductType):
        return sum(_refs(e.algebraic_type) for e in ty.elements)
    if isinstance(ty, SumType):
        return sum(_refs(v.algebraic_type) for v in ty.variants)
    return 0


@st.composite
def acyclic_schemas(draw: st.DrawFn) -> tuple[AlgebraicType, Typespace]:
    """A root type over a typespace whose entries only refer to earlier ones (no recursion)."""
    types: list[AlgebraicType] = []
    for _ in range(draw(st.integers(0, 3))):
        types.append(draw(algebraic_types(n_refs=len(types), max_leaves=5)))
    return draw(algebraic_types(n_refs=len(types))), Typespace(tuple(types))


@given(acyclic_schemas().flatmap(lambda s: values(*s).map(lambda v: (s, v))))
def test_inlined_type_encodes_like_the_original(
    case: tuple[tuple[AlgebraicType, Typespace], object],
) -> None:
    (ty, ts), value = case
    inlined = ts.inline(ty)
    assert _refs(inlined) == 0
    # Self-contained: no typespace needed, and the same bytes.
    assert bsatn.encode(inlined, value) == bsatn.encode(ty, value, ts)


def test_nested_refs_and_recursion() -> None:
    ts = Typespace(
        (
            AlgebraicType.product({"a": AlgebraicType.ref(1)}),
            AlgebraicType.array(AlgebraicType.U8),
            AlgebraicType.option(AlgebraicType.ref(2)),
        )
    )
    assert ts.inline(AlgebraicType.ref(0)) == AlgebraicType.product(
        {"a": AlgebraicType.array(AlgebraicType.U8)}
    )
    with pytest.raises(SchemaError, match="Ref\\(2\\) is recursive"):
        ts.inline(AlgebraicType.ref(2))
