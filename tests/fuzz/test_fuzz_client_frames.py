"""Fuzzing the client's frame decoder with hypothesis: random and mutated recorded frames raise
only the documented errors, and never hang (see client_frames.py for the targets).

``SPACETIMEDB_FUZZ_EXAMPLES`` sets the number of examples per test (``make stress`` raises
it); each example is bounded by a generous deadline, so a decoder that loops or blows up on
some input fails here instead of hanging a client.
"""

from __future__ import annotations

import os
from datetime import timedelta

from client_frames import FRAMES, SEEDS, connected_core, run_targets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacetimedb_sdk.protocol.framing import SUBPROTOCOL_V2, SUBPROTOCOL_V3
from strategies import mutants

EXAMPLES = int(os.environ.get("SPACETIMEDB_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # a hang guard, not a speed test: inputs are a few KB
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 500,  # make test: the same inputs every run; stress: new ones
)


def mutated() -> st.SearchStrategy[bytes]:
    """A recorded frame with a few random edits: flipped, overwritten, inserted or removed
    bytes, a truncation, a repeated piece, or a spliced piece of another seed."""
    seeds = tuple(SEEDS)
    return st.sampled_from(seeds).flatmap(lambda seed: mutants(seed, splice_from=seeds))


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
