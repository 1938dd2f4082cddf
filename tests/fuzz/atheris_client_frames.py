"""Coverage-guided fuzzing of the client's frame decoder with atheris (``make stress``).

Runs the targets of ``client_frames.py`` under libFuzzer, starting from the recorded frames
(copied to a temporary corpus folder, so the repository is not written to).  An exception
other than ProtocolError / BsatnDecodeError, or an input that takes longer than libFuzzer's
``-timeout`` (a hang), stops the run with the input saved as ``crash-*`` / ``timeout-*`` in
the current folder and a non-zero exit status.

Usage::

    python tests/fuzz/atheris_client_frames.py -runs=200000 -timeout=10

(libFuzzer options are passed through; atheris: ``pip install 'spacetimedb-sdk[fuzz]'``.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing import atheris_main

with atheris.instrument_imports(include=["spacetimedb_sdk", "client_frames"]):
    from client_frames import SEEDS, run_targets


if __name__ == "__main__":
    atheris_main(atheris, sys.argv, SEEDS, run_targets)
