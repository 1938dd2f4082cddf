"""The package as a user without the repository gets it: built, installed, served, used.

One module-scoped fixture does the slow part once (about half a minute, most of it pip):

1. ``python -m build`` on a copy of the source tree (tests and all, so the sdist's exclusions
   are really exercised) writes the sdist and, from the sdist, the wheel;
2. a fresh virtual environment (``python -m venv``, no repository on ``sys.path``: other
   folder, no ``PYTHONPATH``) gets the README's install command without the ``[server]``
   extra, plus pytest; what the server commands do there is recorded;
3. the command the missing-extra error names, ``pip install 'spacetimedb-sdk[server]'``, is
   run as a user would, and must add the extra to the installed version.

The tests then check the records, and run the README quickstart against
``spacetimedb-py serve --example quickstart-chat`` from that environment.  pip needs the
package index for the dependencies (CI has it).
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from docs.doc_blocks import ROOT, Block, parse_file, shell_commands
from spacetimedb_sdk import __version__

PIP_TIMEOUT = 300.0  # seconds: a cold pip cache downloads every dependency
RUN_TIMEOUT = 30.0
INSTALL_HINT = "pip install 'spacetimedb-sdk[server]'"
# Not part of the source a user builds from; copying them would only cost time.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build", "dist",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis", "module_bindings",
    "*.so", "*.pyd",
)  # fmt: skip

pytestmark = pytest.mark.timeout(3 * PIP_TIMEOUT)  # the fixture's builds and installs count

PLUGIN_TESTS = """
def test_plain():
    assert True

def test_uses_the_fixture(spacetimedb_server):
    pass
"""


@dataclass
class Installed:
    """The built artifacts, the virtual environment, and what it did before the extra."""

    dist: Path
    venv: Path
    home: Path  # the working folder: not the repository
    without_extra: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def exe(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["SPACETIMEDB_CLIENT_CREDENTIALS_DIR"] = str(self.home / "credentials")
        env.pop("SPACETIMEDB_SERVER", None)
        env.pop("SPACETIMEDB_TOKEN", None)
        return env

    def run(self, *argv: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=self.home, env=self.env(), capture_output=True, text=True,
            timeout=timeout, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip

    def pip(self, *args: str) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "--python", self.exe("python"), *args],
            cwd=self.home, env=self.env(), capture_output=True, text=True,
            timeout=PIP_TIMEOUT, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"pip {shlex.join(args)} failed:\n{proc.stderr}"


def readme_block(section: str, lang: str) -> Block:
    """The first ``lang`` block under the README heading ``section``."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = text.index(f"## {section}") + 1
    end = next((i for i in range(start, len(text)) if text[i].startswith("## ")), len(text))
    for block in parse_file(ROOT / "README.md").blocks:
        if start < block.line <= end and block.lang == lang:
            return block
    raise AssertionError(f"README has no {lang} block under '## {section}'")


def readme_install_args() -> list[str]:
    """The README's ``pip install`` arguments, e.g. ``--find-links dist 'spacetimedb-sdk[server]==V'``."""
    for _, command, _ in shell_commands(readme_block("Installing", "bash")):
        argv = shlex.split(command, comments=True)
        if argv[:2] == ["pip", "install"] and any("[server]" in a for a in argv):
            return argv[2:]
    raise AssertionError("the README's install block has no `pip install ...[server]` line")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    source, home = base / "source", base / "home"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    home.mkdir()
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(home / "dist"), str(source)],
        capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False,
    )  # fmt: skip
    assert built.returncode == 0, f"python -m build failed:\n{built.stdout}\n{built.stderr}"
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    inst = Installed(home / "dist", venv, home)
    # The README's command, in `home` where dist/ is, without the extra at first.
    inst.pip("install", *(a.replace("[server]", "") for a in readme_install_args()), "pytest")
    (home / "test_plugin.py").write_text(PLUGIN_TESTS)
    inst.without_extra = {
        "serve": inst.run(inst.exe("spacetimedb-py"), "serve", "--example", "quickstart-chat"),
        "import": inst.run(
            inst.exe("python"), "-c", "from spacetimedb_sdk.server import LocalServer"
        ),
        "module api": inst.run(
            inst.exe("python"), "-c", "from spacetimedb_sdk.server import Module; print('ok')"
        ),
        "pytest": inst.run(inst.exe("python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"),
    }
    # What the error tells a user to run, taken from the error itself: it must add the extra
    # to this very version (pip keeps an installed version that satisfies the requirement).
    hint = shlex.split(inst.without_extra["serve"].stderr.rsplit(": ", 1)[-1])
    assert hint[:2] == ["pip", "install"], inst.without_extra["serve"].stderr
    inst.pip(*hint[1:])
    yield inst


TS_HOST = ("host.mjs", "build.mjs", "polyfills.mjs")


def test_sdist_holds_the_source_without_tests(installed: Installed) -> None:
    (sdist,) = installed.dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"} <= names
    assert "src/spacetimedb_sdk/server/examples/quickstart_chat.py" in names
    assert {f"src/spacetimedb_sdk/server/tsmodule/js/{n}" for n in TS_HOST} <= names
    stray = sorted(n for n in names if re.match(r"(tests|bench|node|\.ci)(/|$)", n))
    assert stray == []


def test_wheel_ships_the_example_and_the_license(installed: Installed) -> None:
    (wheel,) = installed.dist.glob("*.whl")
    # A platform wheel: the optional C extension is built for this interpreter.
    abi = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert re.fullmatch(
        rf"spacetimedb_sdk-{re.escape(__version__)}-{abi}-{abi}-\w+\.whl", wheel.name
    )
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        meta = whl.read(f"spacetimedb_sdk-{__version__}.dist-info/METADATA").decode()
    assert "spacetimedb_sdk/server/examples/quickstart_chat.py" in names
    # The TypeScript module host's Node side: a TS module cannot run without it.
    assert {f"spacetimedb_sdk/server/tsmodule/js/{n}" for n in TS_HOST} <= names
    assert f"spacetimedb_sdk-{__version__}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: Apache-2.0" in meta
    assert "Classifier: Typing :: Typed" in meta
    assert not any(n.startswith("tests/") for n in names)


def test_wheel_holds_the_compiled_extension_not_its_sources(installed: Installed) -> None:
    (wheel,) = installed.dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        speedups = sorted(n for n in whl.namelist() if n.startswith("spacetimedb_sdk/_speedups/"))
    assert not [n for n in speedups if n.endswith((".c", ".h"))], speedups
    assert "spacetimedb_sdk/_speedups/_bsatn.pyi" in speedups  # its types ship
    # This machine builds it (the test suite runs the extension: see tests/differential.py).
    assert [n for n in speedups if re.search(r"/_bsatn\.[^/]*\.(so|pyd)$", n)], speedups
    status = "from spacetimedb_sdk import _speedups; print(_speedups.status())"
    done = installed.run(installed.exe("python"), "-c", status)
    assert done.stdout == "compiled extension: on\n", done.stderr


def test_version(installed: Installed) -> None:
    done = installed.run(installed.exe("spacetimedb-py"), "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"spacetimedb-py {__version__}\n", "")


def test_without_the_extra_serve_is_one_line(installed: Installed) -> None:
    done = installed.without_extra["serve"]
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("error: the local server needs the [server] extra")
    assert done.stderr.count("\n") == 1 and done.stderr.rstrip().endswith(INSTALL_HINT)


def test_without_the_extra_the_library_raises_import_error(installed: Installed) -> None:
    done = installed.without_extra["import"]
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("spacetimedb_sdk.server.extra.ServerExtraMissing: the local server")
    assert last.endswith(INSTALL_HINT)
    assert "ModuleNotFoundError" not in done.stderr
    assert installed.without_extra["module api"].stdout == "ok\n"


def test_without_the_extra_the_pytest_plugin_fails_only_the_fixture(installed: Installed) -> None:
    done = installed.without_extra["pytest"]
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "1 error" in done.stdout
    errors = done.stdout.split(" ERRORS ", 1)[1].split(" short test summary info ", 1)[0]
    assert errors.splitlines()[2:-1] == [  # the one line: no traceback, no source listing
        "the local server needs the [server] extra (aiohttp is not installed): " + INSTALL_HINT
    ]


def test_the_hint_installs_the_extra_for_this_version(installed: Installed) -> None:
    code = "import aiohttp, jwt, blake3, spacetimedb_sdk as s; print(s.__version__)"
    done = installed.run(installed.exe("python"), "-c", code)
    assert (done.returncode, done.stdout) == (0, f"{__version__}\n"), done.stderr


def test_readme_quickstart_against_the_shipped_example(installed: Installed) -> None:
    (_, serve_command, _), *_ = shell_commands(readme_block("Quickstart", "bash"))
    argv = shlex.split(serve_command, comments=True)
    assert argv == ["spacetimedb-py", "serve", "--example", "quickstart-chat"]
    server = subprocess.Popen(
        [installed.exe(argv[0]), *argv[1:], "--port", "0"],
        cwd=installed.home, env=installed.env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = _served_url(server)
        hostport = url.split("://", 1)[1]
        script = readme_block("Quickstart", "python").code.replace("127.0.0.1:3000", hostport)
        (installed.home / "quickstart.py").write_text(script)
        done = installed.run(installed.exe("python"), "quickstart.py")
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == "Ada is online: True"
        _check_readme_console(installed, url)
        server.send_signal(signal.SIGINT)
        assert server.wait(RUN_TIMEOUT) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _served_url(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    for line in server.stdout:  # bounded: serve prints its banner or exits
        if line.startswith("Serving database"):
            return line.rsplit(" at ", 1)[1].strip()
    raise AssertionError(
        f"serve ended before its banner: {server.stderr.read() if server.stderr else ''}"
    )


def _check_readme_console(installed: Installed, url: str) -> None:
    """The README's ``spacetimedb-py sql`` example prints what it shows."""
    block = readme_block("Quickstart", "console")
    for _, command, expected in shell_commands(block):
        argv = shlex.split(command)
        done = installed.run(installed.exe(argv[0]), *argv[1:], "--server", url)
        assert done.returncode == 0, done.stderr
        want = "\n".join(expected).strip() + "\n"
        flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        assert doctest.OutputChecker().check_output(want, done.stdout.strip() + "\n", flags), (
            f"`{command}` printed:\n{done.stdout}"
        )
