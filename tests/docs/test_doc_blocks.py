"""Every code block in README.md and docs/*.md runs (see doc_blocks.py for the rules).

One test per Markdown file runs its blocks in order against a fresh local server; each block
skipped with ``<!-- doctest: skip reason=... -->`` shows up as a skipped test with its reason.
The runner itself is tested on small synthetic files below.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from doc_blocks import (
    ROOT,
    CommandFailed,
    Context,
    DocError,
    FileRun,
    doc_files,
    parse_file,
    run_command,
)
from doc_types import typecheck

DOCS = ROOT / "docs"


def _skipped_blocks() -> list[object]:
    params: list[object] = []
    for path in doc_files():
        try:
            blocks = parse_file(path).blocks
        except DocError:
            continue  # test_doc_file reports it
        for b in blocks:
            if b.skip_reason is not None:
                params.append(
                    pytest.param(
                        b.where,
                        id=b.where,
                        marks=pytest.mark.skip(reason=f"{b.where}: {b.skip_reason}"),
                    )
                )
    return params or [
        pytest.param("", id="none", marks=pytest.mark.skip(reason="no skipped blocks"))
    ]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working folder like a reader's checkout: examples/, own credentials, on sys.path."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SPACETIMEDB_CLIENT_CREDENTIALS_DIR", str(tmp_path / "credentials"))
    monkeypatch.delenv("SPACETIMEDB_TOKEN", raising=False)
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:  # generated bindings, test files the docs wrote
        file = getattr(sys.modules[name], "__file__", None) or ""
        if file.startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every page: only the first check pays for analysing the SDK."""
    return tmp_path_factory.mktemp("mypy-cache")


def run_doc(path: Path, workdir: Path, mypy_cache: Path | None = None) -> FileRun:
    doc = parse_file(path)
    env = {"SPACETIMEDB_CLIENT_CREDENTIALS_DIR": str(workdir / "credentials")}
    with FileRun(doc, workdir, env) as run:
        run.run()
    if mypy_cache is not None:
        typecheck(doc, workdir, mypy_cache)
    return run


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_file(path: Path, workdir: Path, mypy_cache: Path) -> None:
    failed = None
    try:
        run_doc(path, workdir, mypy_cache)
    except DocError as e:
        failed = str(e)
    if failed is not None:  # outside the except: the message alone, without a chained traceback
        pytest.fail(failed, pytrace=False)


@pytest.mark.parametrize("where", _skipped_blocks())
def test_skipped_block(where: str) -> None:
    raise AssertionError("skipped blocks never run")  # pragma: no cover


# ---- the documents' shape -----------------------------------------------------------------------


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("```bash")
    block = lines[start + 1 : lines.index("```", start + 1)]
    assert [line.split("#")[0].strip() for line in block] == ["make demo", "make test"]
    assert all("#" in line for line in block), "each command has a one-line comment"
    assert all(not line.strip() or line.startswith("#") for line in lines[:start])


def test_docs_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    linked = set(re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]*)?\)", index))
    assert pages - linked == set(), "pages missing from docs/README.md"


def test_relative_links_resolve() -> None:
    broken = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            file = target.split("#", 1)[0]
            if file == "migrating-from-0.7.md" or file.endswith("/migrating-from-0.7.md"):
                continue  # written separately; checked once it exists (it is then a doc file)
            if not (path.parent / file).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


# ---- the runner ---------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "page.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_blocks_share_a_namespace_with_top_level_await_and_the_server_url(
    tmp_path: Path, workdir: Path
) -> None:
    page = write(
        tmp_path,
        "# t\n\n```python\nurl = 'http://127.0.0.1:3000'\n```\n\n"
        "```python\nimport asyncio\nawait asyncio.sleep(0)\nseen = url\n```\n",
    )
    run = run_doc(page, workdir)
    assert run.namespace["seen"] == run.ctx.server_url != "http://127.0.0.1:3000"


def test_a_failing_block_reports_file_line_text_and_traceback(
    tmp_path: Path, workdir: Path
) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n\n```python\nx = 1\n```\n\n"
        "Text.\n\n```python\ny = 2\nraise ValueError('boom')\n```\n",
    )
    with pytest.raises(DocError) as e:
        run_doc(page, workdir)
    message = str(e.value)
    assert message.startswith(f"{page}:10: python block failed: ValueError: boom")
    assert "   11 | raise ValueError('boom')" in message
    assert f'File "{page}", line 11' in message


def test_a_block_that_hangs_fails_at_its_timeout(tmp_path: Path, workdir: Path) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n<!-- doctest: timeout=0.2 -->\n"
        "```python\nimport asyncio\nawait asyncio.Event().wait()\n```\n",
    )
    with pytest.raises(DocError, match=r"page.md:4: .*ran longer than 0.2 s"):
        run_doc(page, workdir)


def test_a_synchronous_block_that_hangs_fails_at_its_timeout(tmp_path: Path, workdir: Path) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n<!-- doctest: timeout=0.2 -->\n"
        "```python\nimport threading\ngate = threading.Event()\ngate.wait()\n```\n",
    )
    doc = parse_file(page)
    with FileRun(doc, workdir, {}) as run:
        with pytest.raises(DocError, match=r"ran longer than 0\.2 s"):
            run.run()
        run.namespace["gate"].set()  # let the worker thread go


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("```\nx\n```\n", "name the block's language"),
        ("```rust\nx\n```\n", "'rust' is not one of"),
        ("<!-- doctest: skip -->\n```python\nx\n```\n", "needs `reason=...`"),
        (
            "<!-- doctest: skpi reason=x -->\n```python\nx\n```\n",
            "unknown doctest directive 'skpi'",
        ),
        ("<!-- doctest: file=a.py -->\n\nprose\n```python\nx\n```\n", "must come right before"),
        ("```python\nx\n", "never closed"),
    ],
)
def test_malformed_pages_are_errors(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(DocError, match=re.escape(error)):
        parse_file(write(tmp_path, text))


def test_skip_and_file_directives(tmp_path: Path, workdir: Path) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n"
        "<!-- doctest: skip reason=needs a real SpacetimeDB -->\n```bash\nspacetime publish\n```\n"
        "<!-- doctest: file=hello.py -->\n```python\nprint('hello from a file')\n```\n"
        "```console\n$ python hello.py\nhello from ...\n```\n",
    )
    blocks = parse_file(page).blocks
    assert blocks[0].skip_reason == "needs a real SpacetimeDB"
    run_doc(page, workdir)
    assert (workdir / "hello.py").read_text() == "print('hello from a file')\n"


def test_console_output_is_compared(tmp_path: Path, workdir: Path) -> None:
    write(workdir, "print('actual output')\n", "say.py")
    page = write(
        tmp_path, "<!-- doctest: module=none -->\n```console\n$ python say.py\nexpected\n```\n"
    )
    with pytest.raises(DocError, match="differs from the docs"):
        run_doc(page, workdir)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("curl http://127.0.0.1:3000", "no rule checks 'curl'"),
        ("pip install 'spacetimedb-sdk[nope]'", "no extra ['nope']"),
        ("pip install --find-links dist 'spacetimedb-sdk==0.7.0'", "pins a version other than"),
        ("make nonsense", "no target 'nonsense'"),
        ("spacetimedb-py sql --json | jq", "pipes, `&&` and redirections"),
    ],
)
def test_unchecked_or_wrong_commands_fail(tmp_path: Path, command: str, error: str) -> None:
    with pytest.raises(CommandFailed, match=re.escape(error)):
        run_command(command, Context(tmp_path, None, {}), 5.0)


def test_a_file_block_must_at_least_compile(tmp_path: Path, workdir: Path) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n<!-- doctest: file=broken.py -->\n"
        "```python\ndef f(:\n    pass\n```\n",
    )
    with pytest.raises(DocError, match=r"page\.md:4: python block failed: SyntaxError"):
        run_doc(page, workdir)


def test_typed_blocks_are_checked_with_mypy_strict_at_their_doc_lines(
    tmp_path: Path, workdir: Path, mypy_cache: Path
) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n"
        "```python\nuntyped = lambda x: x  # not checked\n```\n"
        "<!-- doctest: typed -->\n```python\nimport asyncio\n\n"
        "def twice(n: int) -> int:\n    return 2 * n\n\nawait asyncio.sleep(0)\n```\n"
        "<!-- doctest: typed -->\n```python\nprint(twice(2))\nname: str = twice(3)\n```\n",
    )
    assert [b.typed for b in parse_file(page).blocks] == [False, True, True]
    with pytest.raises(DocError) as e:
        run_doc(page, workdir, mypy_cache)
    # Only the bad line of the second typed block, at its line in the page.
    problems = [line for line in str(e.value).splitlines() if ": error: " in line]
    assert problems == [
        f"{page}:17: error: Incompatible types in assignment "
        '(expression has type "int", variable has type "str")  [assignment]'
    ]


def test_typed_file_blocks_are_checked_as_their_file(
    tmp_path: Path, workdir: Path, mypy_cache: Path
) -> None:
    page = write(
        tmp_path,
        "<!-- doctest: module=none -->\n"
        "<!-- doctest: typed file=app.py -->\n```python\ndef f(x):\n    return x\n```\n",
    )
    with pytest.raises(DocError, match=r"page\.md:4: error: Function is missing a type annotation"):
        run_doc(page, workdir, mypy_cache)


def test_pinned_installs_and_builds_are_checked_not_run(tmp_path: Path) -> None:
    from spacetimedb_sdk import __version__

    ctx = Context(tmp_path, None, {})
    run_command(f"pip install --find-links dist 'spacetimedb-sdk[server]=={__version__}'", ctx, 5.0)
    run_command("python -m build", ctx, 5.0)
    assert list(tmp_path.iterdir()) == []  # nothing was built here: tests/packaging does that


# ---- pages that once misled readers -------------------------------------------------------------


def test_sync_and_tick_prints_the_new_message_on_a_non_empty_database(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = parse_file(DOCS / "sync-and-tick.md")
    env = {"SPACETIMEDB_CLIENT_CREDENTIALS_DIR": str(workdir / "credentials")}
    with FileRun(doc, workdir, env) as run:
        run.server.db.call_reducer("send_message", "an old message")
        capsys.readouterr()
        run.run()
    assert capsys.readouterr().out.splitlines()[0] == "from a thread"


def test_reconnection_says_why_it_reconnects(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    run_doc(DOCS / "reconnection.md", workdir)
    out = capsys.readouterr().out
    assert out.startswith("reconnecting (attempt 1) after: ")
    assert "None" not in out
