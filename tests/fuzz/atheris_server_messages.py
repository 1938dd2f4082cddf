"""Coverage-guided fuzzing of the server's client-message decoder with atheris (``make stress``).

Runs the targets of ``server_messages.py`` under libFuzzer, starting from the seed client
frames and the v1 JSON seeds (copied to a temporary corpus folder, so the repository is not
written to).  Each input is fed to the binary targets and, decoded as UTF-8, to the v1 text
target.  An exception other than ProtocolError / BsatnDecodeError, or an input that takes
longer than libFuzzer's ``-timeout`` (a hang), stops the run with the input saved as
``crash-*`` / ``timeout-*`` and a non-zero exit status.

Usage::

    python tests/fuzz/atheris_server_messages.py -runs=200000 -timeout=10

(libFuzzer options are passed through; atheris: ``pip install 'spacetimedb-sdk[fuzz]'``.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzzing import atheris_main

with atheris.instrument_imports(include=["spacetimedb_sdk", "server_messages"]):
    from server_messages import SEEDS, TEXT_SEEDS, run_targets


if __name__ == "__main__":
    atheris_main(atheris, sys.argv, [*SEEDS, *(t.encode() for t in TEXT_SEEDS)], run_targets)
