"""Fuzzing the client's frame decoder with hypothesis: random and mutated recorded frames raise
only the documented errors, and never hang (see client_frames.py for the targets).

``SPACETIMEDB_FUZZ_EXAMPLES`` sets the number of examples per test (``make stress`` raises
it; see fuzzing.py).
"""

from __future__ import annotations

from client_frames import FRAMES, SEEDS, connected_core, run_targets
from fuzzing import FUZZ, mutate
from hypothesis import given
from hypothesis import strategies as st

from spacetimedb_sdk.protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A recorded frame with a few random edits (:func:`fuzzing.mutate`)."""
    return mutate(draw, draw(st.sampled_from(SEEDS)), SEEDS)


def test_seeds_are_accepted_by_the_prepared_core() -> None:
    """Each recorded server frame applies cleanly to a fresh prepared core, so mutations start
    from frames that reach deep into the codecs and the cache."""
    accepted = 0
    for path in sorted(FRAMES.glob("v*_*.bin")):
        if "client" in path.name or "InitialConnection" in path.name:
            continue
        core = connected_core(SUBPROTOCOL_V3 if path.name.startswith("v3") else SUBPROTOCOL_V2)
        assert core.receive_frame(path.read_bytes()), path.name
        accepted += 1
    assert accepted == 7


@FUZZ
@given(mutated())
def test_mutated_recorded_frames(data: bytes) -> None:
    run_targets(data)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=512),
        # A valid compression tag (none, brotli, gzip) followed by anything.
        st.tuples(st.sampled_from([b"\x00", b"\x01", b"\x02"]), st.binary(max_size=512)).map(
            b"".join
        ),
    )
)
def test_random_frames(data: bytes) -> None:
    run_targets(data)
