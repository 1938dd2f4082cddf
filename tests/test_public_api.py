"""Every public name the API contract (python-api.md) and ``__all__`` promise can be imported.

Code outside the project uses these names, so a restructure that moves a module
must leave each of them where it was.  The list below is the contract's, by
import path; ``__all__`` of every public package is checked on top.
"""

from __future__ import annotations

import importlib

import pytest

from docs.api_reference import entries, has_example

# (module path, names the contract names there)
CONTRACT: list[tuple[str, tuple[str, ...]]] = [
    (
        "spacetimedb_sdk",
        (
            "DbConnection",
            "Range",
            "Identity",
            "ConnectionId",
            "Timestamp",
            "TimeDuration",
            "ScheduleAt",
            "Some",
            "Ok",
            "Err",
            "SumValue",
            "SpacetimeDBError",
            "ConnectError",
            "ConnectTimeoutError",
            "DisconnectedError",
            "ProtocolError",
            "SubscriptionError",
            "ReducerError",
            "InternalError",
            "ProcedureError",
            "BsatnDecodeError",
            "__version__",
        ),
    ),
    (
        "spacetimedb_sdk.sats",
        (
            "AlgebraicType",
            "Typespace",
            "Identity",
            "ConnectionId",
            "Timestamp",
            "TimeDuration",
            "ScheduleAt",
            "Some",
            "Ok",
            "Err",
            "SumValue",
            "to_plain",
            "from_plain",
            "U8",
            "U16",
            "U32",
            "U64",
            "U128",
            "U256",
            "I8",
            "I16",
            "I32",
            "I64",
            "I128",
            "I256",
            "F32",
            "F64",
        ),
    ),
    ("spacetimedb_sdk.sats.bsatn", ("encode", "decode")),
    ("spacetimedb_sdk.sats.sats_json", ("to_json", "from_json")),
    ("spacetimedb_sdk.schema", ("ModuleSchema",)),
    (
        "spacetimedb_sdk.connection",
        (
            "DbConnection",
            "DbConnectionBuilder",
            "Pending",
            "TableHandle",
            "ReducerCaller",
            "ProcedureCaller",
            "SubscriptionBuilder",
            "SubscriptionHandle",
            "ReconnectPolicy",
            "ChangeStream",
        ),
    ),
    (
        "spacetimedb_sdk.client.events",
        (
            "EventContext",
            "ReducerEventContext",
            "SubscriptionEventContext",
            "ErrorContext",
            "ReducerEvent",
            "Transaction",
            "SubscribeApplied",
            "UnsubscribeApplied",
            "SubscribeError",
            "Disconnected",
            "Committed",
            "Failed",
            "InternalFailure",
        ),
    ),
    ("spacetimedb_sdk.client.changes", ("Insert", "Delete", "Update")),
    ("spacetimedb_sdk.credentials", ("File", "CredentialsError")),
    ("spacetimedb_sdk.http", ("HttpClient", "AsyncHttpClient", "SqlResult", "HttpError")),
    ("spacetimedb_sdk.query", ("QueryBuilder", "Query", "Column", "TableRef")),
    ("spacetimedb_sdk.codegen", ("generate", "load_schema")),
    ("spacetimedb_sdk.codegen.runtime", ("TypedSubscriptionBuilder", "CallablesBase")),
    ("spacetimedb_sdk.spacetimedb_async_client", ("SpacetimeDBAsyncClient",)),
    ("spacetimedb_sdk.spacetimedb_client", ("SpacetimeDBClient", "Identity", "Address")),
    ("spacetimedb_sdk.local_config", ("init", "get_string", "set_string")),
    ("spacetimedb_sdk.cli", ("main",)),
    (
        "spacetimedb_sdk.server",
        ("Module", "ReducerContext", "SenderError", "Table", "column", "index", "LocalServer"),
    ),
    ("spacetimedb_sdk.server.pytest_plugin", ("spacetimedb_server",)),
]

PACKAGES_WITH_ALL = [
    "spacetimedb_sdk",
    "spacetimedb_sdk.sats",
    "spacetimedb_sdk.schema",
    "spacetimedb_sdk.protocol",
    "spacetimedb_sdk.client.events",
    "spacetimedb_sdk.connection",
    "spacetimedb_sdk.credentials",
    "spacetimedb_sdk.http",
    "spacetimedb_sdk.query",
    "spacetimedb_sdk.codegen",
    "spacetimedb_sdk.compat",
    "spacetimedb_sdk.cli",
    "spacetimedb_sdk.server",
]


@pytest.mark.parametrize(("module", "names"), CONTRACT, ids=[m for m, _ in CONTRACT])
def test_contract_names_import(module: str, names: tuple[str, ...]) -> None:
    mod = importlib.import_module(module)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{module} lacks {missing}"


@pytest.mark.parametrize("module", PACKAGES_WITH_ALL)
def test_everything_in_all_exists(module: str) -> None:
    mod = importlib.import_module(module)
    exported = getattr(mod, "__all__", None)
    assert exported, f"{module} has no __all__"
    missing = [n for n in exported if not hasattr(mod, n)]
    assert not missing, f"{module}.__all__ names what it lacks: {missing}"


def test_top_level_all_covers_the_contract() -> None:
    import spacetimedb_sdk

    top = dict(CONTRACT)["spacetimedb_sdk"]
    assert set(top) <= set(spacetimedb_sdk.__all__)


def test_the_07_and_user_paths_are_the_same_objects() -> None:
    # The thin modules kept at old paths must hand out the real objects, not copies.
    from spacetimedb_sdk import credentials
    from spacetimedb_sdk.auth import credentials as real_credentials
    from spacetimedb_sdk.connection import DbConnection
    from spacetimedb_sdk.connection.db_connection import DbConnection as real

    assert DbConnection is real
    assert credentials.File is real_credentials.File


def test_sql_result_decodes_rows() -> None:
    # python-api.md §11 names SqlResult.rows_as_dicts().
    from spacetimedb_sdk.http import SqlResult

    assert callable(SqlResult.rows_as_dicts)


def test_connect_timeout_error_is_a_connect_error_and_a_timeout_error() -> None:
    from spacetimedb_sdk import ConnectError, ConnectTimeoutError

    assert issubclass(ConnectTimeoutError, ConnectError)
    assert issubclass(ConnectTimeoutError, TimeoutError)


# ---- a docstring with an example on every public name -----------------------------------------

# Every package whose ``__all__`` is public API beyond the client surface that docs/api.md
# renders (tests/docs/test_api_reference.py checks that one).
DOCUMENTED_PACKAGES = [
    "spacetimedb_sdk.errors",
    "spacetimedb_sdk.client.changes",
    "spacetimedb_sdk.sats",
    "spacetimedb_sdk.sats.bsatn",
    "spacetimedb_sdk.sats.sats_json",
    "spacetimedb_sdk.schema",
    "spacetimedb_sdk.query",
    "spacetimedb_sdk.codegen",
    "spacetimedb_sdk.codegen.runtime",
    "spacetimedb_sdk.server",
    "spacetimedb_sdk.server.module",
]


def _lacking_an_example() -> set[str]:
    return {e.qualname for e in entries(DOCUMENTED_PACKAGES) if not has_example(e.doc)}


def test_every_public_name_and_method_has_an_example() -> None:
    lacking = sorted(_lacking_an_example())
    assert lacking == [], "add a docstring with an `Example::` block to: " + ", ".join(lacking)
