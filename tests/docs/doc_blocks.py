"""Run the code blocks of the Markdown documentation (README.md and docs/*.md) as tests.

The rules are written for doc authors in docs/README.md ("How the examples are tested"); in
short:

* Every fenced block names its language, one of :data:`CHECKED_LANGS`; anything else is an
  error, so nothing goes unchecked by accident.
* ``python`` blocks run in order, in one namespace per file.  Blocks with top-level ``await``
  run on one event loop per file that keeps running between blocks (as in a notebook); the
  others run on one worker thread per file, like a script.
* Each file gets a fresh :class:`LocalServer` for the quickstart-chat module, or for the module
  named by ``<!-- doctest: module=PATH -->`` (``module=none``: no server).  ``127.0.0.1:3000``
  and ``localhost:3000`` in blocks become the server's address; in command output the
  address goes back to port 3000 before it is compared.
* ``bash`` blocks are commands, ``console`` blocks ``$ command`` lines with their expected
  output (``...`` matches anything, whitespace runs are equal).  :func:`run_command` says how
  each kind of command is checked; unknown commands are errors.  Commands that serve until
  interrupted (``serve``, ``subscribe`` without ``--limit``/``--timeout``) are stopped with
  Ctrl-C once ready, and only their output until then is compared.
* ``text`` blocks are not checked; ``json`` and ``toml`` (Python 3.11+) blocks must parse.
* Block directives, on the line right before a block: ``<!-- doctest: file=NAME -->`` writes
  the block to NAME (a python block is also compiled), ``timeout=SECONDS`` (default
  :data:`BLOCK_TIMEOUT`), ``skip reason=WHY`` (the reason is required and is reported),
  ``typed`` (the block must also pass ``mypy --strict``: see ``doc_types.py``); several go in
  one comment (``<!-- doctest: typed file=app.py -->``).
* Each file runs in a fresh working folder holding a link to ``examples/``, with the
  credentials folder redirected into it; the folder is on ``sys.path`` (as the current
  folder is for a script), so generated bindings and written modules import.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextlib
import doctest
import inspect
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node_support import use_repo_node_modules

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODULE = "examples/quickstart-chat/module.py"
BLOCK_TIMEOUT = 15.0  # seconds, per block (and per command)
DEFAULT_PORT = "3000"
CHECKED_LANGS = {"python", "bash", "console", "text", "json", "toml"}
FILE_KEYS = {"module"}
BLOCK_KEYS = {"skip", "reason", "file", "timeout", "typed"}
FLAG_KEYS = {"skip", "typed"}  # directives without a value

# Any indentation: a fence indented under a list item must not slip through unchecked.
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*doctest:(?P<body>.*?)-->\s*$")
_SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1"}


class DocError(Exception):
    """A documentation file or block is malformed, or a block failed; the message says where."""


@dataclass
class Block:
    """One fenced code block: where it is, its language, text and directives."""

    path: Path
    line: int  # 1-based line of the first line of code (after the opening fence)
    lang: str
    code: str
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``docs/page.md:12``: the file and the block's first line of code."""
        return f"{rel(self.path)}:{self.line}"

    @property
    def typed(self) -> bool:
        """Marked ``<!-- doctest: typed -->``: must also pass ``mypy --strict`` (see doc_types.py)."""
        return "typed" in self.directives

    @property
    def skip_reason(self) -> str | None:
        """Why the block is skipped, or ``None`` when it runs."""
        return self.directives.get("reason") if "skip" in self.directives else None

    def listing(self) -> str:
        """The block's text with line numbers, for failure messages."""
        return "\n".join(
            f"{self.line + i:5} | {text}" for i, text in enumerate(self.code.splitlines())
        )


@dataclass
class DocFile:
    """A parsed Markdown file: its blocks and file-level directives."""

    path: Path
    blocks: list[Block]
    module: str | None  # a module file relative to the repository, or None for no server


def rel(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (for messages)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# ---- parsing ------------------------------------------------------------------------------------


def parse_directive(body: str, where: str) -> dict[str, str]:
    """``skip reason=needs a cloud server`` -> ``{"skip": "", "reason": "needs a cloud server"}``.

    Example::

        >>> parse_directive(" file=test_chat.py ", "x.md:1")
        {'file': 'test_chat.py'}
    """
    out: dict[str, str] = {}
    rest = body.strip()
    while rest:
        word, _, tail = rest.partition(" ")
        key, eq, value = word.partition("=")
        if key not in FILE_KEYS | BLOCK_KEYS:
            raise DocError(f"{where}: unknown doctest directive {key!r}")
        if key == "reason":  # the reason is the rest of the comment
            value, tail = (value + " " + tail).strip(), ""
        elif bool(eq) == (key in FLAG_KEYS):
            raise DocError(f"{where}: write {key if key in FLAG_KEYS else key + '=VALUE'}")
        out[key] = value
        rest = tail.strip()
    if "skip" in out and not out.get("reason"):
        raise DocError(f"{where}: a skipped block needs `reason=...` saying why")
    if "reason" in out and "skip" not in out:
        raise DocError(f"{where}: `reason=` belongs to `skip`")
    return out


def parse_file(path: Path) -> DocFile:
    """Find the fenced blocks of a Markdown file and the directives attached to them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    module: str | None = DEFAULT_MODULE
    pending: tuple[int, dict[str, str]] | None = None  # directives waiting for their block
    i = 0
    while i < len(lines):
        where = f"{rel(path)}:{i + 1}"
        d = _DIRECTIVE.match(lines[i])
        if d:
            found = parse_directive(d.group("body"), where)
            if "module" in found:
                if set(found) != {"module"}:
                    raise DocError(f"{where}: `module=` is a file directive; put it on its own")
                module = None if found["module"] == "none" else found["module"]
            else:
                pending = (i, found)
            i += 1
            continue
        f = _FENCE.match(lines[i])
        if not f:
            if pending is not None and lines[i].strip():
                raise DocError(
                    f"{rel(path)}:{pending[0] + 1}: the directive must come right before a code block"
                )
            i += 1
            continue
        fence, indent = f.group("fence"), len(f.group("indent"))
        lang = f.group("info").strip().split(" ")[0].lower()
        if not lang:
            raise DocError(f"{where}: name the block's language (one of {sorted(CHECKED_LANGS)})")
        if lang not in CHECKED_LANGS:
            raise DocError(
                f"{where}: block language {lang!r} is not one of {sorted(CHECKED_LANGS)}"
            )
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence[0] * len(fence))
            and not lines[end].strip().strip(fence[0])
        ):
            end += 1
        if end == len(lines):
            raise DocError(f"{where}: code block is never closed")
        body = [line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : end]]
        directives = pending[1] if pending is not None else {}
        if "file" in directives and lang not in ("python", "text", "json", "toml"):
            raise DocError(f"{where}: `file=` takes a python, text, json or toml block")
        blocks.append(Block(path, i + 2, lang, "\n".join(body) + "\n", directives))
        pending = None
        i = end + 1
    if pending is not None:
        raise DocError(
            f"{rel(path)}:{pending[0] + 1}: the directive is not followed by a code block"
        )
    return DocFile(path, blocks, module)


def shell_commands(block: Block) -> list[tuple[int, str, list[str]]]:
    """The commands of a bash or console block: ``(line, command, expected output lines)``."""
    commands: list[tuple[int, str, list[str]]] = []
    lines = block.code.splitlines()
    i = 0
    while i < len(lines):
        text, start = lines[i], block.line + i
        if block.lang == "console":
            if not text.startswith("$ "):
                if commands:
                    commands[-1][2].append(text)
                elif text.strip():
                    raise DocError(f"{rel(block.path)}:{start}: output before any `$ command`")
                i += 1
                continue
            text = text[2:]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i].strip()
        i += 1
        if text.strip() and not text.lstrip().startswith("#"):
            commands.append((start, text, []))
    return commands


# ---- running a file -----------------------------------------------------------------------------


class _Worker:
    """A daemon thread that runs the synchronous blocks of one file, in order.

    Daemon: a block that hangs past its time limit must not keep the test run alive.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]] | None] = (
            queue.Queue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, fut))
        return fut

    def close(self) -> None:
        self._jobs.put(None)


class _Loop:
    """The file's event loop, running on its own thread for the whole file (like a notebook's)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Any) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_rest(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class Context:
    """What a file's blocks run with: the server address, folder, environment."""

    workdir: Path
    server_url: str | None  # http://127.0.0.1:PORT of the file's local server
    env: dict[str, str]

    @property
    def hostport(self) -> str | None:
        return None if self.server_url is None else self.server_url.split("://", 1)[1]

    def substitute(self, text: str) -> str:
        hp = self.hostport
        if hp is None:
            return text
        return text.replace("127.0.0.1:" + DEFAULT_PORT, hp).replace(
            "localhost:" + DEFAULT_PORT, hp
        )

    def unsubstitute(self, text: str, *hostports: str) -> str:
        """Output as the docs show it: each server's port back to 3000 (``host:port``, and the
        ``host_port`` of the CLI's per-server credentials key)."""
        for hp in (self.hostport, *hostports):
            if hp:
                port = hp.rsplit(":", 1)[1]
                text = re.sub(
                    rf"127\.0\.0\.1([:_]){port}\b", rf"127.0.0.1\g<1>{DEFAULT_PORT}", text
                )
        return text


class FileRun:
    """Runs the blocks of one :class:`DocFile`; use as a context manager around :meth:`run`."""

    def __init__(self, doc: DocFile, workdir: Path, env: dict[str, str]) -> None:
        self.doc = doc
        self.workdir = workdir
        self.env = env
        self.server: Any = None
        self.ctx = Context(workdir, None, env)
        name = "doc_" + re.sub(r"\W", "_", rel(doc.path))
        self.module = types.ModuleType(name)
        self.module.__file__ = str(workdir / f"{name}.py")
        self.namespace = self.module.__dict__
        self._worker: _Worker | None = None
        self._loop: _Loop | None = None

    def __enter__(self) -> FileRun:
        # TypeScript modules in the docs (examples/quickstart-chat-ts) resolve the npm packages
        # from node/, as they would from their own node_modules after `npm install`.
        use_repo_node_modules()
        if self.doc.module is not None:
            from spacetimedb_sdk.server.local import LocalServer

            self.server = LocalServer(ROOT / self.doc.module).start()
            self.ctx.server_url = self.server.url
        # Registered so that dataclasses and typing resolve the names blocks define.
        sys.modules[self.module.__name__] = self.module
        self._worker = _Worker(f"doc-worker[{rel(self.doc.path)}]")
        self._loop = _Loop(f"doc-loop[{rel(self.doc.path)}]")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.close()
        if self._worker is not None:
            self._worker.close()
        if self.server is not None:
            self.server.stop()
        sys.modules.pop(self.module.__name__, None)

    def run(self) -> None:
        for block in self.doc.blocks:
            if block.skip_reason is not None:
                continue
            try:
                self.run_block(block)
            except DocError:
                raise
            except BaseException as e:
                raise DocError(failure(block, e)) from None

    def run_block(self, block: Block) -> None:
        timeout = float(block.directives.get("timeout", BLOCK_TIMEOUT))
        if "file" in block.directives:
            target = self.workdir / block.directives["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.ctx.substitute(block.code), encoding="utf-8")
            if block.lang == "python":  # at least valid, even if no later block runs it
                compile("\n" * (block.line - 1) + block.code, str(block.path), "exec")
        elif block.lang == "python":
            self.run_python(block, timeout)
        elif block.lang in ("bash", "console"):
            for line, command, expected in shell_commands(block):
                try:
                    out = run_command(command, self.ctx, timeout)
                except CommandFailed as e:
                    raise DocError(failure(block, e, line=line)) from None
                if block.lang == "console":
                    check_output(block, line, command, expected, out, self.ctx)
        elif block.lang == "json":
            json.loads(block.code)
        elif block.lang == "toml" and sys.version_info >= (3, 11):
            import tomllib

            tomllib.loads(block.code)

    def run_python(self, block: Block, timeout: float) -> None:
        assert self._worker is not None and self._loop is not None
        # Padding keeps line numbers equal to the Markdown file's, so tracebacks point there.
        source = "\n" * (block.line - 1) + self.ctx.substitute(block.code)
        code = compile(
            source, str(block.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        if code.co_flags & inspect.CO_COROUTINE:
            fut = self._loop.submit(_as_coroutine(code, self.namespace))
        else:
            fut = self._worker.submit(lambda: exec(code, self.namespace))
        concurrent.futures.wait([fut], timeout)
        if not fut.done():
            fut.cancel()  # stops an awaiting block; a blocked thread is left behind (daemon)
            raise DocError(failure(block, TimeoutError(f"the block ran longer than {timeout:g} s")))
        fut.result()


async def _as_coroutine(code: types.CodeType, namespace: dict[str, Any]) -> None:
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result


def failure(block: Block, exc: BaseException, *, line: int | None = None) -> str:
    """The message for a failed block: where, what, the block's text and the traceback."""
    where = f"{rel(block.path)}:{line or block.line}"
    lines = [f"{where}: {block.lang} block failed: {type(exc).__name__}: {exc}", block.listing()]
    if not isinstance(exc, CommandFailed | TimeoutError):
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        # Keep the frames from the first one in the documentation file on.
        start = next((i for i, t in enumerate(tb) if str(block.path) in t), 1)
        lines.append("".join(tb[:1] + tb[start:]).rstrip())
    return "\n".join(lines)


# ---- shell commands -----------------------------------------------------------------------------


class CommandFailed(Exception):
    """A documented command failed or could not be checked."""


def split_command(command: str) -> tuple[dict[str, str], list[str], str | None]:
    """Environment assignments, argv and the ``> FILE`` target of one documented command line.

    Example::

        >>> split_command("A=1 spacetimedb-py describe --raw > schema.json  # save it")
        ({'A': '1'}, ['spacetimedb-py', 'describe', '--raw'], 'schema.json')
    """
    try:
        words = shlex.split(command, comments=True)
    except ValueError as e:
        raise CommandFailed(f"cannot parse {command!r}: {e}") from None
    redirect = None
    if len(words) >= 2 and words[-2] == ">":
        redirect, words = words[-1], words[:-2]
    if any(w in _SHELL_OPERATORS for w in words):
        raise CommandFailed(
            f"pipes, `&&` and redirections other than `> FILE` are not checked: {command!r}"
        )
    env: dict[str, str] = {}
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words, redirect


def run_command(command: str, ctx: Context, timeout: float) -> str:
    """Check one documented command; returns its output (empty when it is not run).

    ``spacetimedb-py ...`` (or ``python -m spacetimedb_sdk ...``) runs against the file's
    server: its arguments are parsed by the CLI's own parser first, and client commands without
    ``--server`` get the server's URL.  ``python FILE`` and ``pytest ...`` run in the working
    folder.  ``pip install`` is checked against the package's extras and version, ``python -m
    build`` against pyproject.toml's build system, and ``make`` against the Makefile's targets;
    none is run (CI runs make; tests/packaging builds, installs and runs the wheel).  A trailing ``> FILE`` writes the output
    to FILE.  Every other command raises :class:`CommandFailed`.

    Example::

        run_command("spacetimedb-py sql -d quickstart-chat 'SELECT * FROM user'", ctx, 15.0)
    """
    env, argv, redirect = split_command(command)
    out = _check_command([ctx.substitute(a) for a in argv], ctx, env, timeout)
    if redirect is None:
        return out
    (ctx.workdir / redirect).write_text(out, encoding="utf-8")
    return ""


def _check_command(argv: list[str], ctx: Context, env: dict[str, str], timeout: float) -> str:
    if not argv:
        return ""
    head = argv[0]
    if head == "spacetimedb-py":
        return _spacetimedb_py(argv[1:], ctx, env, timeout)
    if head in ("python", "python3") and argv[1:3] == ["-m", "spacetimedb_sdk"]:
        return _spacetimedb_py(argv[3:], ctx, env, timeout)
    if head == "pytest" or (head in ("python", "python3") and argv[1:3] == ["-m", "pytest"]):
        args = argv[1:] if head == "pytest" else argv[3:]
        return _run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], ctx, env, timeout
        )
    if head in ("python", "python3") and argv[1:3] == ["-m", "build"]:
        check_build_system()
        return ""
    if head in ("python", "python3"):
        return _run([sys.executable, *argv[1:]], ctx, env, timeout)
    if head == "pip" and argv[1:2] == ["install"]:
        check_pip_install(argv[2:])
        return ""
    if head == "make":
        check_make_targets(argv[1:])
        return ""
    raise CommandFailed(
        f"no rule checks {head!r} commands (tests/docs/doc_blocks.py); "
        "add one, or skip the block with a reason"
    )


def _spacetimedb_py(args: list[str], ctx: Context, env: dict[str, str], timeout: float) -> str:
    from spacetimedb_sdk.cli import build_parser

    parsed = build_parser().parse_known_args(args)[0]  # a typo in the docs fails here
    cmd = [sys.executable, "-m", "spacetimedb_sdk", *args]
    client = parsed.command in (
        "describe",
        "sql",
        "call",
        "subscribe",
        "identity",
        "generate",
        "publish",
        "logs",
    )
    if client and "--server" not in args and ctx.server_url is not None:
        cmd += ["--server", ctx.server_url]
    if parsed.command == "serve":
        cmd = _with_free_port(cmd)
        return _run_until(cmd, ctx, env, timeout, lambda line: line.startswith("Press Ctrl-C"))
    if parsed.command == "subscribe" and parsed.limit is None and parsed.timeout is None:
        # Ctrl-C is how a reader ends it; the shell's status for that is 130.
        return _run_until(cmd, ctx, env, timeout, _is_applied_line, status=130)
    return _run(cmd, ctx, env, timeout)


def _is_applied_line(line: str) -> bool:
    try:
        return bool(json.loads(line).get("op") == "applied")
    except (ValueError, AttributeError):
        return False


def _with_free_port(cmd: list[str]) -> list[str]:
    if "--port" in cmd:
        i = cmd.index("--port")
        return [*cmd[: i + 1], "0", *cmd[i + 2 :]]
    return [*cmd, "--port", "0"]


def _env(ctx: Context, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **ctx.env, **extra, "PYTHONUNBUFFERED": "1"}


def _run(cmd: list[str], ctx: Context, env: dict[str, str], timeout: float) -> str:
    try:
        done = subprocess.run(
            cmd,
            cwd=ctx.workdir,
            env=_env(ctx, env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        # The partial output is bytes even with text=True (a CPython quirk).
        partial = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        raise CommandFailed(
            f"still running after {timeout:g} s: {shlex.join(cmd)}\n{partial or ''}"
        ) from None
    if done.returncode != 0:
        raise CommandFailed(
            f"exit status {done.returncode}: {shlex.join(cmd)}\n"
            f"--- stdout ---\n{done.stdout}--- stderr ---\n{done.stderr}"
        )
    return done.stdout


def _run_until(
    cmd: list[str],
    ctx: Context,
    env: dict[str, str],
    timeout: float,
    ready: Callable[[str], bool],
    *,
    status: int = 0,
) -> str:
    """Run a command that serves until interrupted: wait for its ready line, then Ctrl-C it;
    it must then exit with ``status``."""
    with tempfile.TemporaryFile("w+") as errors:  # a file: a full stderr pipe cannot block it
        proc = subprocess.Popen(
            cmd,
            cwd=ctx.workdir,
            env=_env(ctx, env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        lines: list[str] = []
        timer = threading.Timer(timeout, proc.kill)  # bounds the wait for the ready line
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if ready(line):
                    break
            else:
                proc.wait()
                raise CommandFailed(
                    f"ended (status {proc.returncode}) before it was ready: {shlex.join(cmd)}\n"
                    f"--- stdout ---\n{''.join(lines)}--- stderr ---\n{_read(errors)}"
                )
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=timeout)  # what it prints on the way out is not compared
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != status:
            raise CommandFailed(
                f"exit status {proc.returncode} after Ctrl-C (not {status}): {shlex.join(cmd)}\n"
                f"{_read(errors)}"
            )
    port = re.search(r"127\.0\.0\.1:(\d+)", "".join(lines))
    return ctx.unsubstitute("".join(lines), port.group(0) if port else "")


def _read(file: Any) -> str:
    file.seek(0)
    return str(file.read())


def check_output(
    block: Block, line: int, command: str, expected: list[str], out: str, ctx: Context
) -> None:
    """Compare a console block's expected output (``...`` matches anything)."""
    want = "\n".join(expected).strip()
    if not want:
        return
    got = ctx.unsubstitute(out).strip()
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    if not checker.check_output(want + "\n", got + "\n", flags):
        raise DocError(
            f"{rel(block.path)}:{line}: the output of `{command}` differs from the docs\n"
            f"--- documented ---\n{want}\n--- actual ---\n{got}"
        )


def check_pip_install(requirements: list[str]) -> None:
    """``pip install 'spacetimedb-sdk[server]==VERSION'`` or ``-e '.[server]'``: the extras must
    exist, and a pinned version must be this package's version."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([A-Za-z0-9_-]+)\s*=", section, re.M))
    for req in requirements:
        m = re.fullmatch(r"(?:spacetimedb-sdk|\.)(?:\[([^\]]*)\])?(?:==(?P<version>\S+))?", req)
        if req.startswith("-") or m is None:
            continue  # another package or a pip option: nothing of ours to check
        unknown = {e.strip() for e in (m.group(1) or "").split(",") if e.strip()} - extras
        if unknown:
            raise CommandFailed(
                f"pyproject.toml has no extra {sorted(unknown)} (has {sorted(extras)})"
            )
        if m.group("version") is not None:
            from spacetimedb_sdk import __version__

            if m.group("version") != __version__:
                raise CommandFailed(f"{req!r} pins a version other than {__version__}")


def check_build_system() -> None:
    """``python -m build``: pyproject.toml declares the build system it needs."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if "[build-system]" not in text or "build-backend" not in text:
        raise CommandFailed("pyproject.toml has no [build-system] for `python -m build`")


def check_make_targets(targets: list[str]) -> None:
    """``make demo``: the Makefile must have the target (CI runs it; the docs test does not)."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in targets:
        if not re.search(rf"^{re.escape(target)}\s*:", text, re.M):
            raise CommandFailed(f"the Makefile has no target {target!r}")


def doc_files() -> list[Path]:
    """README.md and every docs/*.md (the 0.7 migration guide included when it exists)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
