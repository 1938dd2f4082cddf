"""Publishing a TypeScript module: upstream's ``Js`` programs, as modules the server hosts.

``spacetime publish`` builds a TypeScript module into one ES module (``dist/bundle.js``: the
module and the npm ``spacetimedb`` library together, its ``spacetime:sys@2.x`` imports left for
the host) and uploads it to ``POST /v1/database`` or ``PUT /v1/database/NAME`` with
``host_type=Js``.  :func:`load_js_program` turns such an upload into a :class:`~.module.TsModule`:
the bundle is written to a folder of this process, bundled once more with esbuild (which binds
its ``spacetime:sys`` imports to this host and lowers syntax Node 20 lacks), started and
described, as a module folder is.  :func:`register_js_loader` makes publishing accept it (the
local server registers it when it is imported; see :mod:`..module_source`).

Example::

    module = load_js_program(Path("dist/bundle.js").read_bytes(), "chat")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..module import Module
from ..module_source import ModuleLoadError, program_hash, register_module_loader
from .bundle import ModuleSource, TsModuleError, out_dir
from .module import load_ts_source

#: The ``host_type`` upstream's CLI publishes a JavaScript bundle with.
HOST_TYPE_JS = "Js"


def load_js_program(program: bytes, label: str) -> Module:
    """The module of a published JavaScript bundle (``label`` names it in errors and is its
    name); :class:`~..module_source.ModuleLoadError` saying why when it cannot be hosted.

    Example::

        module = load_js_program(bundle_bytes, "chat")
    """
    folder = out_dir() / "programs" / program_hash(program)
    entry = folder / "bundle.mjs"
    if not entry.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name first: two publishes of one program may race.
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(program)
        Path(tmp).replace(entry)
    source = ModuleSource(entry, folder, label, f"the published Js module {label!r}")
    try:
        # Nobody closes a published module: it keeps no Node process in reserve.
        return load_ts_source(source, reserve=False)
    except TsModuleError as e:
        raise ModuleLoadError(str(e)) from None


def register_js_loader() -> None:
    """Serve ``host_type=Js`` programs with :func:`load_js_program`.

    Example::

        register_js_loader()
        assert "Js" in host_types()
    """
    register_module_loader(HOST_TYPE_JS, load_js_program)
