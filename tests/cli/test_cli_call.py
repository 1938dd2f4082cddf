"""``spacetimedb-py call``: plain-JSON arguments, procedures' results and every error path."""

from __future__ import annotations

from collections.abc import Callable

from conftest import Result, on

from spacetimedb_sdk.http import HttpClient
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]
OWNER = "c2" * 32


def _rows(srv: LocalServer, query: str) -> list[list[object]]:
    with HttpClient(srv.url) as http:
        return http.sql(srv.database, query)[0].rows


def test_reducer_with_plain_json_arguments(cli: Cli, things: LocalServer) -> None:
    r = cli(
        *on(things, "call", "add_thing"),
        "7", '"darkGreen"', '{"circle": 3}', '{"x": 1, "y": -2}', '"01ff"',
        str((1 << 128) - 1), '"2024-01-01T00:00:00.000001Z"', f'"{OWNER}"',
    )  # fmt: skip
    assert (r.code, r.out, r.err) == (0, "", "")
    r = cli(*on(things, "sql", "SELECT * FROM thing", "--json"))
    (row,) = r.json_lines()
    assert row["color"] == "darkGreen" and row["shape"] == {"circle": 3}
    assert row["spot"] == {"x": 1, "y": -2} and row["big"] == (1 << 128) - 1
    assert row["at"] == "2024-01-01T00:00:00.000001Z" and row["owner"] == OWNER


def test_printed_rows_are_valid_arguments(cli: Cli, things: LocalServer) -> None:
    """What `sql --json` prints can be passed back to `call` unchanged."""
    import json

    cli(
        *on(things, "call", "add_thing"),
        "1",
        '"red"',
        '"empty"',
        "null",
        '""',
        "0",
        "0",
        f'"{OWNER}"',
    )
    (row,) = cli(*on(things, "sql", "SELECT * FROM thing", "--json")).json_lines()
    args = [
        "2",
        *(json.dumps(row[k]) for k in ("color", "shape", "spot", "blob", "big", "at", "owner")),
    ]
    assert cli(*on(things, "call", "add_thing"), *args).code == 0
    rows = cli(*on(things, "sql", "SELECT * FROM thing WHERE id = 2", "--json")).json_lines()
    assert rows == [{**row, "id": 2}]


def test_procedure_result_is_printed_as_json(cli: Cli, things: LocalServer) -> None:
    assert cli(*on(things, "call", "add", "2", "3")).out == "5\n"
    assert cli(*on(things, "call", "mirror", '{"x": 1, "y": 2}')).out == '{"x":2,"y":1}\n'


def test_chat_message_is_sent_as_the_stored_identity(cli: Cli, chat: LocalServer) -> None:
    created = cli("identity", "new", "--server", chat.url, "--json").json_lines()[0]
    assert cli(*on(chat, "call", "send_message", '"hello"')).code == 0
    (row,) = cli(*on(chat, "sql", "SELECT * FROM message", "--json")).json_lines()
    assert row["sender"] == created["identity"] and row["text"] == "hello"


def test_reducer_error(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "call", "fail"))
    assert (r.code, r.out, r.err) == (1, "", "error: fail failed: fail always fails\n")


def test_unknown_reducer_suggests_close_names(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "call", "ad_thing"))
    assert r.code == 1
    assert r.err == (
        "error: no reducer or procedure named 'ad_thing' in database 'cli-test'; "
        "did you mean add_thing, delete_thing?\n"
    )
    r = cli(*on(things, "call", "zzz"))
    assert "known: add_thing, set_ratio, delete_thing, add_nums, fail, add, mirror" in r.err


def test_lifecycle_reducers_cannot_be_called(cli: Cli, chat: LocalServer) -> None:
    r = cli(*on(chat, "call", "identity_connected"))
    assert r.code == 1
    assert r.err == (
        "error: identity_connected is the OnConnect lifecycle reducer: clients cannot call it\n"
    )


def test_bad_json_argument_is_a_usage_error(cli: Cli, chat: LocalServer) -> None:
    r = cli(*on(chat, "call", "send_message", "hello"))
    assert r.code == 2
    assert r.err == (
        "error: argument 1 (text: String) is not JSON: Expecting value "
        "(strings need JSON quotes: '\"text\"')\n"
    )


def test_argument_of_the_wrong_type(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "call", "add", "-1", "3"))
    assert r.code == 2
    assert r.err.startswith("error: argument 1 (a: U32): -1 is out of range for U32")
    r = cli(
        *on(things, "call", "add_thing"),
        "1",
        '"blue"',
        '"empty"',
        "null",
        '""',
        "0",
        "0",
        f'"{OWNER}"',
    )
    assert r.err.startswith(
        "error: argument 2 (color: Color): unknown variant 'blue'; expected one of red, darkGreen"
    )
    assert _rows(things, "SELECT * FROM thing") == []


def test_wrong_number_of_arguments(cli: Cli, things: LocalServer) -> None:
    r = cli(*on(things, "call", "add", "1"))
    assert (r.code, r.err) == (2, "error: add(a: U32, b: U32) takes 2 arguments, got 1\n")


def test_unknown_database(cli: Cli, things: LocalServer) -> None:
    r = cli("call", "--server", things.url, "--database", "nope", "add", "1", "2")
    assert (r.code, r.err) == (1, f"error: database 'nope' not found on {things.url}\n")
