"""Fuzzing the server's client-message decoder with hypothesis: random and mutated client frames
(v2, v3, v1 BSATN and v1 JSON) raise only the documented errors and never hang (see
server_messages.py for the targets).  The live counterpart, garbage frames closing their
connection with 1011 while others are served, is ``tests/server/test_ws_garbage.py``.

``SPACETIMEDB_FUZZ_EXAMPLES`` sets the number of examples per test (``make stress`` raises it;
see fuzzing.py).
"""

from __future__ import annotations

import json

from fuzzing import FUZZ, mutate
from hypothesis import given
from hypothesis import strategies as st
from server_messages import SEEDS, TEXT_SEEDS, run_targets, run_text


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed frame with a few random edits (:func:`fuzzing.mutate`)."""
    return mutate(draw, draw(st.sampled_from(SEEDS)), SEEDS)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A v1 JSON seed with byte edits (kept valid UTF-8, as a text frame is), or with one of its
    values swapped for another JSON value, deeply nested ones included."""
    seed = draw(st.sampled_from(TEXT_SEEDS))
    if draw(st.booleans()):
        pieces = [t.encode() for t in TEXT_SEEDS]
        return mutate(draw, seed.encode(), pieces).decode("utf-8", errors="replace")
    depth = draw(st.integers(0, 5000))
    value = draw(
        st.one_of(
            st.just("[" * depth + "]" * depth),
            st.just('{"a":' * depth + "1" + "}" * depth),
            st.from_type(type(None)).map(json.dumps),
            st.integers().map(json.dumps),
            st.text(max_size=20).map(json.dumps),
        )
    )
    # Replace one scalar (a number, a string) of the seed with the drawn value.
    tokens = [i for i, ch in enumerate(seed) if ch in '0123456789"']
    at = draw(st.sampled_from(tokens))
    return seed[:at] + value + seed[at + 1 :]


@FUZZ
@given(mutated())
def test_mutated_client_frames(data: bytes) -> None:
    run_targets(data)


@FUZZ
@given(st.binary(max_size=512))
def test_random_client_frames(data: bytes) -> None:
    run_targets(data)


@FUZZ
@given(st.one_of(mutated_text(), st.text(max_size=256)))
def test_mutated_and_random_v1_text_frames(text: str) -> None:
    run_text(text)
