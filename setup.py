"""Build hook for the optional C extension; all other metadata is in pyproject.toml.

``spacetimedb_sdk._speedups._bsatn`` is built when a C compiler and the Python headers are
present.  ``optional=True`` turns a failed build into a warning: the package then installs
without it and uses its pure-Python code paths (same results, slower).

``python setup.py build_ext --inplace`` (``make ext``) rebuilds it next to its sources, e.g.
after editing the C, without reading pyproject.toml (so any setuptools will do) and failing
loudly if it cannot build.
"""

import sys

from setuptools import Distribution, Extension, setup

HERE = "src/spacetimedb_sdk/_speedups/"
SOURCES = [HERE + name for name in ("bsatn_module.c", "bsatn_program.c", "bsatn_decode.c", "bsatn_frames.c")]
# -O2 is the default; the warnings catch mistakes early, not at a user's install.
EXTRA = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]


def extensions(optional: bool) -> list[Extension]:
    extra = EXTRA if sys.platform != "win32" else []
    return [
        Extension(
            "spacetimedb_sdk._speedups._bsatn",
            sources=SOURCES,
            depends=[HERE + "bsatn.h"],
            extra_compile_args=extra,
            optional=optional,
        )
    ]


def build_in_place() -> None:
    dist = Distribution(
        {"name": "spacetimedb-sdk", "package_dir": {"": "src"}, "ext_modules": extensions(False)}
    )
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True
    cmd.ensure_finalized()
    cmd.run()
    for ext in dist.ext_modules:
        print(f"built {cmd.get_ext_fullpath(ext.name)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["build_ext", "--inplace"]:
        build_in_place()
    else:
        setup(ext_modules=extensions(True))
