"""``spacetimedb-py publish`` and ``spacetimedb-py logs`` against a running local server.

The requests are those of upstream's ``spacetime publish`` and ``spacetime logs``
(pre-publish first, ``policy=BreakClients`` with the plan's token when the user agrees, the
same log record format); see tests/server/test_official_cli_requests.py for their shapes.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PYTHON, TIMEOUT, Result

from spacetimedb_sdk.cli.logs import format_record
from spacetimedb_sdk.server.host import Database
from spacetimedb_sdk.server.local import LocalServer

SCORES = """
from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ReducerContext, column

module = Module("scores")


@module.table(public=True)
class Score:
    id: U32 = column(primary_key=True)
    points: U32


@module.reducer
def add(ctx: ReducerContext, id: U32, points: U32) -> None:
    print(f"adding {id}")
    ctx.db.score.insert(Score(id=id, points=points))
"""
WITH_BADGES = (
    SCORES
    + """

@module.table(public=True)
class Badge:
    id: U32 = column(primary_key=True)
"""
)
WITH_BONUS = SCORES.replace(
    "    points: U32\n", "    points: U32\n    bonus: U32 = column(default=3)\n"
).replace("points=points)", "points=points, bonus=0)")
WITHOUT_POINTS = SCORES.replace("    points: U32\n", "").replace(", points=points", "")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer(None).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for name, text in [
        ("scores", SCORES),
        ("badges", WITH_BADGES),
        ("bonus", WITH_BONUS),
        ("no_points", WITHOUT_POINTS),
    ]:
        files[name] = tmp_path / f"{name}.py"
        files[name].write_text(text)
    return files


def test_publish_creates_then_updates_and_logs_show_the_module(
    cli: Callable[..., Result], server: LocalServer, sources: dict[str, Path]
) -> None:
    url = server.url
    created = cli("publish", str(sources["scores"]), "--server", url, "--database", "scores")
    assert created.code == 0, created.err
    db = server.get_database("scores")
    assert (
        created.out == f"Created new database with name: scores, identity: {db.identity.to_hex()}\n"
    )
    # Without a token it made an identity, stored it, and that identity owns the database.
    assert created.err.startswith("Created identity ") and "stored in credentials" in created.err
    shown = cli("identity", "--server", url, "--json")
    assert json.loads(shown.out)["identity"] == db.owner_identity.to_hex()

    db.call_reducer("add", 1, 10)
    updated = cli("publish", str(sources["badges"]), "--server", url, "--database", "scores")
    assert updated.code == 0, updated.err
    assert "▸ Created user table: badge (public)" in updated.out
    assert updated.out.endswith(
        f"Updated database with name: scores, identity: {db.identity.to_hex()}\n"
    )
    assert [r.points for r in db.rows("score")] == [10]

    logs = cli("logs", "--server", url, "--database", "scores", "-n", "3")
    assert logs.code == 0, logs.err
    printed = [line.split(" ", 1)[1] for line in logs.out.splitlines()]
    assert printed[0].startswith(" INFO: Updated program to ")
    assert printed[1:] == [" INFO: Creating table `badge`", " INFO: Database updated"]
    raw = cli("logs", "--server", url, "--database", "scores", "--json")
    records = [json.loads(line) for line in raw.out.splitlines()]
    adding = next(r for r in records if r["message"] == "adding 1")
    assert adding["function"] == "add" and adding["level"] == "Info"
    assert format_record(adding) in cli("logs", "--server", url, "--database", "scores").out


def _scores_with_a_row(
    cli: Callable[..., Result], server: LocalServer, sources: dict[str, Path]
) -> tuple[str, Database]:
    assert cli("publish", str(sources["scores"]), "--server", server.url, "-d", "scores").code == 0
    db = server.get_database("scores")
    db.call_reducer("add", 1, 10)
    return server.url, db


def test_publish_refuses_what_needs_a_manual_migration_unless_clear(
    cli: Callable[..., Result], server: LocalServer, sources: dict[str, Path]
) -> None:
    url, db = _scores_with_a_row(cli, server, sources)
    refused = cli("publish", str(sources["no_points"]), "--server", url, "-d", "scores")
    assert refused.code == 1
    assert "Removing a column points from table score requires a manual migration" in refused.out
    assert refused.err == (
        "error: the new module cannot replace the running one without a manual migration; "
        "pass --clear to start the database empty instead (this deletes its data)\n"
    )
    assert [r.points for r in db.rows("score")] == [10]
    cleared = cli("publish", str(sources["no_points"]), "--server", url, "-d", "scores", "--clear")
    assert cleared.code == 0, cleared.err
    assert db.rows("score") == []


def test_publish_asks_before_disconnecting_everyone(
    cli: Callable[..., Result], server: LocalServer, sources: dict[str, Path]
) -> None:
    url, db = _scores_with_a_row(cli, server, sources)
    refused = cli("publish", str(sources["bonus"]), "--server", url, "-d", "scores")
    assert refused.code == 1
    assert "!!! Warning: All clients will be disconnected" in refused.out
    assert refused.err == (
        "error: the update disconnects every connected client; pass --break-clients to "
        "publish anyway\n"
    )
    agreed = cli(
        "publish", str(sources["bonus"]), "--server", url, "-d", "scores", "--break-clients"
    )
    assert agreed.code == 0, agreed.err
    assert [(r.points, r.bonus) for r in db.rows("score")] == [(10, 3)]


def test_publish_without_a_name_and_refusals(
    cli: Callable[..., Result], server: LocalServer, sources: dict[str, Path], tmp_path: Path
) -> None:
    url = server.url
    anonymous = cli("publish", str(sources["scores"]), "--server", url)
    assert anonymous.code == 0
    [db] = server.databases
    assert anonymous.out == f"Created new database with identity: {db.identity.to_hex()}\n"
    missing = cli("publish", str(tmp_path / "missing.py"), "--server", url, "-d", "x")
    assert (missing.code, missing.err) == (
        2,
        f"error: no module file at {str(tmp_path / 'missing.py')!r}\n",
    )
    broken = tmp_path / "broken.py"
    broken.write_text("module = (\n")
    failed = cli("publish", str(broken), "--server", url, "-d", "broken")
    assert failed.code == 1 and "syntax error at line 1" in failed.err
    # Someone else's database: the server's refusal, in one line.
    eve = server.issue_token("eve")
    other = cli(
        "publish",
        str(sources["scores"]),
        "--server",
        url,
        "-d",
        db.identity.to_hex(),
        "--token",
        eve,
    )
    assert other.code == 1 and other.err.startswith("error: permission denied: ")
    logs = cli("logs", "--server", url, "-d", db.identity.to_hex(), "--token", eve)
    assert logs.code == 1 and logs.err.startswith("error: permission denied: ")
    assert logs.err.rstrip().endswith("view module logs")
    unknown = cli("logs", "--server", url, "-d", "nowhere", "--token", server.owner_token)
    assert (unknown.code, unknown.err) == (1, f"error: database 'nowhere' not found on {url}\n")


async def test_logs_follow_until_the_database_goes(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    async with LocalServer(None) as srv:
        db = await srv.publish_async(sources["scores"], "scores")
        env = {**os.environ, "SPACETIMEDB_CLIENT_CREDENTIALS_DIR": str(tmp_path / "c")}
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "spacetimedb_sdk", "logs", "-f", "-n", "1",
            "--server", srv.url, "-d", "scores", "--token", srv.owner_token,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            first = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            assert first.decode().rstrip().endswith("INFO: Database initialized")
            await asyncio.to_thread(db.call_reducer, "add", 5, 50)
            added = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            assert "INFO: add " in added.decode() and added.decode().rstrip().endswith(": adding 5")
            srv.control.remove(db.identity)
            await asyncio.to_thread(db.delete)  # the log closes: the stream ends
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
            assert (proc.returncode, out, err) == (0, b"", b"")
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
