"""``spacetimedb-py identity`` and how every command picks its token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Result, on

from spacetimedb_sdk import credentials
from spacetimedb_sdk.cli import default_credentials_key
from spacetimedb_sdk.server.local import LocalServer

Cli = Callable[..., Result]


def test_new_stores_a_rust_compatible_credentials_file(
    cli: Cli, chat: LocalServer, _isolated: Path
) -> None:
    r = cli("identity", "new", "--server", chat.url)
    assert r.code == 0 and r.err == ""
    key = default_credentials_key(chat.url)
    token = credentials.File(key).load()
    assert token is not None and token not in r.out
    lines = r.out.splitlines()
    assert lines[0].startswith("identity: c200") and len(lines[0].split()[1]) == 64
    assert lines[2] == f"path:     {_isolated / key}"
    assert (_isolated / key).stat().st_mode & 0o777 == 0o600


def test_new_refuses_to_replace_an_identity_without_force(cli: Cli, chat: LocalServer) -> None:
    first = cli("identity", "new", "--server", chat.url, "--json").json_lines()[0]
    r = cli("identity", "new", "--server", chat.url)
    assert r.code == 1 and r.out == ""
    assert f"already holds {first['identity']}; pass --force" in r.err
    second = cli("identity", "new", "--server", chat.url, "--force", "--json").json_lines()[0]
    assert second["identity"] != first["identity"]
    shown = cli("identity", "--server", chat.url, "--json").json_lines()[0]
    assert shown["identity"] == second["identity"]


def test_new_with_save_key_and_show_with_credentials_key(cli: Cli, chat: LocalServer) -> None:
    made = cli("identity", "new", "--server", chat.url, "--save", "bot", "--json").json_lines()[0]
    assert made["source"] == "credentials 'bot'"
    shown = cli("identity", "show", "--credentials", "bot", "--json").json_lines()[0]
    assert shown["identity"] == made["identity"] and "token" not in shown
    with_token = cli("identity", "show", "--credentials", "bot", "--show-token", "--json")
    assert with_token.json_lines()[0]["token"] == credentials.File("bot").load()


def test_show_without_any_identity(cli: Cli, chat: LocalServer) -> None:
    r = cli("identity", "--server", chat.url)
    assert r.code == 1
    assert r.err.startswith("error: no identity: no --token, no $SPACETIMEDB_TOKEN and nothing")
    assert f"identity new --server {chat.url}`" in r.err


def test_named_credentials_that_do_not_exist_are_an_error(cli: Cli, chat: LocalServer) -> None:
    r = cli(*on(chat, "sql", "SELECT * FROM user", "--credentials", "missing"))
    assert r.code == 1 and r.err.startswith("error: no stored credentials named 'missing'")


def test_token_precedence(cli: Cli, chat: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    stored = cli("identity", "new", "--server", chat.url, "--json").json_lines()[0]["identity"]
    owner = chat.owner_identity.to_hex()

    def who(*extra: str) -> Result:
        return cli("identity", "--server", chat.url, "--json", *extra)

    assert who().json_lines()[0]["identity"] == stored
    monkeypatch.setenv("SPACETIMEDB_TOKEN", chat.owner_token)
    env = who().json_lines()[0]
    assert env == {"identity": owner, "source": "$SPACETIMEDB_TOKEN"}
    other = cli("identity", "new", "--server", chat.url, "--save", "x", "--json")
    other_token = credentials.File("x").load()
    assert other_token is not None
    flag = who("--token", other_token).json_lines()[0]
    assert flag == {"identity": other.json_lines()[0]["identity"], "source": "--token"}


def test_commands_use_the_stored_token(cli: Cli, chat: LocalServer) -> None:
    # DML needs the owner's token: stored under the default key, `sql` finds it.
    credentials.File(default_credentials_key(chat.url)).save(chat.owner_token)
    r = cli(*on(chat, "sql", "DELETE FROM message"))
    assert (r.code, r.err) == (0, "")


def test_forget(cli: Cli, chat: LocalServer) -> None:
    cli("identity", "new", "--server", chat.url)
    r = cli("identity", "forget", "--server", chat.url)
    assert r.code == 0 and r.out.startswith("forgot ")
    assert credentials.File(default_credentials_key(chat.url)).load() is None
    assert cli("identity", "forget", "--server", chat.url).out.startswith("nothing stored at ")


def test_a_token_that_is_not_a_jwt(cli: Cli) -> None:
    r = cli("identity", "--token", "secret-value")
    assert (r.code, r.err) == (
        1,
        "error: the token from --token is not a SpacetimeDB token (JWT)\n",
    )


def test_new_when_the_server_is_down(cli: Cli, chat: LocalServer) -> None:
    url = chat.url
    chat.stop()
    r = cli("identity", "new", "--server", url)
    assert r.code == 1 and r.err.startswith(f"error: cannot reach SpacetimeDB at {url}")
    assert credentials.File(default_credentials_key(url)).load() is None
