"""The 0.7 quickstart client of examples/compat-07-quickstart, run with this folder's bindings.

``module_bindings`` here are in the exact form the 0.7 CLI (``spacetime generate --lang
python``) wrote for the quickstart chat module; the client's code is the example's,
unchanged, so the same 0.7 program runs with the bindings the 0.7 CLI wrote and with those of
``spacetimedb-py generate --compat-07``.  ``SPACETIMEDB_HOST`` picks the server.
"""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "examples" / "compat-07-quickstart" / "main.py"

if __name__ == "__main__":
    sys.path.insert(0, str(HERE))  # `import module_bindings` finds the 0.7 CLI's
    runpy.run_path(str(EXAMPLE), run_name="__main__")
