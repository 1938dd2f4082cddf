"""Decoding many rows pauses the cyclic garbage collector, and leaves it as it found it.

``Codec.decode_rows`` / ``decode_each`` switch the collector off while they build values (no
cycles among them; its passes would only cost time) and on again after; a big batch's values
are moved to its oldest generation first (``gc.freeze()`` + ``gc.unfreeze()``), unless the
program froze objects of its own, which must stay frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from spacetimedb_sdk.sats import AlgebraicType, bsatn

CODEC = bsatn.codec_for(AlgebraicType.array(AlgebraicType.U32))
WIDTH = bsatn._PROMOTE_BYTES // bsatn._PROMOTE_ROWS // 4 + 1  # u32s per row
ROWS = [CODEC.encode(list(range(i, i + WIDTH))) for i in range(bsatn._PROMOTE_ROWS)]
DATA = b"".join(ROWS)  # over _PROMOTE_BYTES
assert len(DATA) >= bsatn._PROMOTE_BYTES


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("small", [True, False])
@pytest.mark.parametrize("each", [True, False])
def test_the_collector_is_on_again_after_decoding(small: bool, each: bool) -> None:
    gc.enable()
    rows = ROWS[:3] if small else ROWS
    decoded = CODEC.decode_each(rows) if each else CODEC.decode_rows(b"".join(rows))
    assert decoded[-1] == list(range(len(rows) - 1, len(rows) - 1 + WIDTH))
    assert gc.isenabled()


def test_a_collector_switched_off_stays_off() -> None:
    gc.disable()
    CODEC.decode_rows(DATA)
    CODEC.decode_each(ROWS)
    assert not gc.isenabled()


def test_a_big_batch_goes_to_the_oldest_generation() -> None:
    gc.enable()
    gc.collect()
    rows = CODEC.decode_rows(DATA)
    assert gc.get_count()[0] < 100  # no young collection of every row is due
    assert any(r is rows for r in gc.get_objects(generation=2))


def test_objects_the_program_froze_stay_frozen() -> None:
    gc.enable()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    CODEC.decode_rows(DATA)
    CODEC.decode_each(ROWS)
    assert gc.get_freeze_count() == frozen
    assert gc.isenabled()


def test_cycles_are_still_collected() -> None:
    gc.enable()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    CODEC.decode_rows(DATA)  # the cycle made just before is promoted with the rows
    assert gc.collect() >= 2
