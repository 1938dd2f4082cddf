"""A type's JSON and BSATN forms read back as the same type (``sats.type_json`` and
``sats.type_bsatn``, split from ``sats.types``): hypothesis-drawn types of every kind, and
damaged bytes, which fail with a ``ValueError`` naming where, never with anything else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk.sats import AlgebraicType, Typespace
from strategies import algebraic_types, mutants


@given(algebraic_types(n_refs=3))
def test_json_form_round_trips(ty: AlgebraicType) -> None:
    assert AlgebraicType.from_json(ty.to_json()) == ty


@given(algebraic_types(n_refs=3))
def test_bsatn_form_round_trips(ty: AlgebraicType) -> None:
    data = ty.to_bsatn()
    assert AlgebraicType.from_bsatn(data) == ty
    assert AlgebraicType.from_bsatn(data).to_bsatn() == data


@given(st.lists(algebraic_types(), max_size=4))
def test_typespace_json_round_trips(types: list[AlgebraicType]) -> None:
    ts = Typespace(types)
    assert Typespace.from_json(ts.to_json()).to_json() == ts.to_json()


@given(st.data())
def test_damaged_bytes_fail_cleanly(data: st.DataObject) -> None:
    good = data.draw(algebraic_types(n_refs=2)).to_bsatn()
    bad = data.draw(mutants(good))
    try:
        ty = AlgebraicType.from_bsatn(bad)
    except ValueError as e:
        assert str(e)
    else:
        assert ty.to_bsatn() == bad  # a damage that still spells a type reads as that type
