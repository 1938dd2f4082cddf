"""The public client API is documented: a docstring with an example on every callable, the
generated reference page (docs/api.md) up to date, the runnable examples right, and what
``help()`` and ``repr()`` show free of internals and secrets.
"""

from __future__ import annotations

import datetime
import doctest
import importlib
import pkgutil
import pydoc

import pytest
from api_reference import PAGE, Entry, entries, has_example, markdown, render, signature

import spacetimedb_sdk
from spacetimedb_sdk import DbConnection
from spacetimedb_sdk.connection.calls import Callables
from spacetimedb_sdk.connection.tables import Tables

# Every module of the package: its docstring examples written as doctests (``>>>``) must run
# as written (the compiled extension has none).
DOCTESTED = sorted(
    m.name
    for m in pkgutil.walk_packages(spacetimedb_sdk.__path__, "spacetimedb_sdk.")
    if not m.name.startswith("spacetimedb_sdk._speedups._")
)


def test_every_public_callable_has_a_docstring_with_an_example() -> None:
    missing = [e.qualname for e in entries() if not has_example(e.doc)]
    assert missing == [], "add a docstring with an `Example::` block to: " + ", ".join(missing)


def test_the_api_reference_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/api.md is stale: run `python tests/docs/api_reference.py`"
    )


def test_the_page_covers_the_connection_surface() -> None:
    names = {e.qualname for e in entries()}
    for expected in [
        "spacetimedb_sdk.DbConnection.subscription_builder",
        "spacetimedb_sdk.connection.DbConnectionBuilder.on_connect",
        "spacetimedb_sdk.connection.DbConnectionBuilder.with_connect_timeout",
        "spacetimedb_sdk.connection.SubscriptionBuilder.on_applied",
        "spacetimedb_sdk.connection.Pending.result",
        "spacetimedb_sdk.http.SqlResult.rows_as_dicts",
        "spacetimedb_sdk.Identity.from_hex",  # from the private base class
        "spacetimedb_sdk.ConnectTimeoutError",
    ]:
        assert expected in names


def test_the_doctests_cover_the_package() -> None:
    assert {"spacetimedb_sdk.sats.types", "spacetimedb_sdk.server.module.query"} <= set(DOCTESTED)
    assert len(DOCTESTED) > 200


@pytest.mark.parametrize("module", DOCTESTED)
def test_docstring_doctests_run(module: str) -> None:
    result = doctest.testmod(
        importlib.import_module(module), extraglobs={"datetime": datetime}, verbose=False
    )
    assert result.failed == 0


def test_markdown_and_signature_rendering() -> None:
    assert markdown("See :class:`~spacetimedb_sdk.Identity` and ``x``.") == (
        "See `spacetimedb_sdk.Identity` and `x`."
    )

    def f(a: int, /, b: str = "x", *, c: bool) -> None: ...

    assert signature(f, "f") == "f(a: int, /, b: str = 'x', *, c: bool) -> None"
    assert isinstance(next(iter(entries())), Entry)


# ---- what help() and repr() show -----------------------------------------------------------------


def test_help_of_dbconnection_lists_no_internals() -> None:
    text = pydoc.render_doc(DbConnection, renderer=pydoc.plaintext)
    for internal in [
        "__schema__",
        "__classes__",
        "__table_handles__",
        "__annotations__",
        "_config",
    ]:
        assert internal not in text
    for public in ["subscription_builder", "one_off_query", "identity", "try_identity"]:
        assert public in text


def test_builder_repr_shows_the_configuration_but_never_the_token() -> None:
    builder = (
        DbConnection.builder()
        .with_uri("http://127.0.0.1:3000")
        .with_database_name("quickstart-chat")
        .with_token("eyJhbGciOiJFUzI1NiJ9.secret.signature")
        .with_reconnect()
        .on_connect(lambda conn, identity, token: None)
    )
    text = repr(builder)
    assert "secret" not in text and "eyJ" not in text and "token=<set>" in text
    assert "'http://127.0.0.1:3000'" in text and "'quickstart-chat'" in text
    assert "schema=fetched at connect" in text and "callbacks=['connect']" in text
    assert "token=None" in repr(DbConnection.builder())


def test_db_and_reducers_reprs_name_what_is_there() -> None:
    assert repr(Tables({})) == "<conn.db: no tables>"
    assert repr(Callables("reducer", {})) == "<conn.reducers: none>"
