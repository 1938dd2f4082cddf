"""``spacetimedb-py sql`` against the local server: tables, JSON lines and errors."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from conftest import Result, on

from spacetimedb_sdk.http import HttpClient
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]
OWNER = "c2" * 32


def _add_things(srv: LocalServer) -> None:
    with HttpClient(srv.url) as http:
        http.call(
            srv.database,
            "add_thing",
            [
                1,
                [0, []],
                [0, 3],
                [0, [1, -2]],
                "01ff",
                (1 << 128) - 1,
                [1_704_067_200_000_001],
                [f"0x{OWNER}"],
            ],
        )
        http.call(
            srv.database, "add_thing", [2, [1, []], [1, []], [1, []], "", 0, [0], [f"0x{OWNER}"]]
        )


def test_json_lines_use_plain_values(cli: Cli, things: LocalServer) -> None:
    _add_things(things)
    r = cli(*on(things, "sql", "SELECT * FROM thing WHERE id = 1", "--json"))
    assert r.code == 0 and r.err == ""
    assert r.json_lines() == [
        {
            "id": 1,
            "owner": OWNER,
            "at": "2024-01-01T00:00:00.000001Z",
            "wait": 1500,
            "color": "red",
            "shape": {"circle": 3},
            "spot": {"x": 1, "y": -2},
            "blob": "01ff",
            "big": (1 << 128) - 1,
            "ratio": 0.5,
            "tags": ["a", "b"],
        }
    ]


def test_table_output(cli: Cli, things: LocalServer) -> None:
    _add_things(things)
    r = cli(*on(things, "sql", "SELECT id, color, shape, spot FROM thing"))
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == " id | color     | shape        | spot"
    assert lines[1] == "-" + "-+-".join("-" * w for w in (2, 9, 12, 14)) + "-"
    assert sorted(lines[2:4]) == [
        ' 1  | red       | {"circle":3} | {"x":1,"y":-2}',
        " 2  | darkGreen | empty        | null",
    ]
    assert lines[4] == "(2 rows)"


def test_strings_are_quoted_in_tables_and_identities_are_not(cli: Cli, chat: LocalServer) -> None:
    with HttpClient(chat.url, token=chat.owner_token) as http:
        http.call(chat.database, "send_message", ["null"])
    r = cli(*on(chat, "sql", "SELECT sender, text FROM message"))
    assert r.out.splitlines()[2] == f' {chat.owner_identity.to_hex()} | "null"'
    assert r.out.splitlines()[3] == "(1 row)"


def test_query_from_stdin(cli: Cli, chat: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT * FROM message"))
    r = cli(*on(chat, "sql", "-"))
    assert r.code == 0 and r.out.splitlines()[-1] == "(0 rows)"


def test_dml_needs_the_owner(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "sql", "INSERT INTO num (n) VALUES (5)", "--token", things.owner_token))
    assert (r.code, r.out) == (0, "OK (1 inserted)\n")
    r = cli(*on(things, "sql", "INSERT INTO num (n) VALUES (6)"))
    assert r.code == 1
    assert r.err.startswith("error: SQL error: Caller ") and "not authorized" in r.err


def test_bad_sql(cli: Cli, chat: LocalServer) -> None:
    r = cli(*on(chat, "sql", "SELEC * FROM user"))
    assert r.code == 1 and r.out == ""
    assert r.err.startswith("error: SQL error: sql parser error: ")
    assert r.err.count("\n") == 1


def test_empty_sql_is_a_usage_error(cli: Cli, chat: LocalServer) -> None:
    assert cli(*on(chat, "sql", "  ")).code == 2


def test_rejected_token_is_never_printed(cli: Cli, chat: LocalServer) -> None:
    # A well-formed JWT from another issuer: the server names why it is rejected.
    other = chat.owner_token.rsplit(".", 1)[0] + ".c2lnbmF0dXJl"
    r = cli(*on(chat, "sql", "SELECT * FROM user", "--token", other))
    assert r.code == 1
    assert r.err.startswith("error: the server rejected the token (")
    assert other not in r.err and other.split(".")[1] not in r.err


def test_unknown_database(cli: Cli, chat: LocalServer) -> None:
    r = cli("sql", "--server", chat.url, "--database", "nope", "SELECT * FROM user")
    assert (r.code, r.err) == (1, f"error: database 'nope' not found on {chat.url}\n")
