"""Tokens never reach log output."""

import logging

import pytest

from spacetimedb_sdk._log import get_logger, redact

JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_redact_jwt_and_query_param() -> None:
    assert JWT not in redact(f"token is {JWT}")
    assert redact("ws://h/v1/database/x/subscribe?compression=Gzip&token=abc.def") == (
        "ws://h/v1/database/x/subscribe?compression=Gzip&token=<redacted>"
    )


def test_child_logger_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("spacetimedb_sdk.test")
    with caplog.at_level(logging.DEBUG, logger="spacetimedb_sdk"):
        log.debug("connecting with %s", JWT)
    assert caplog.records
    assert JWT not in caplog.text
    assert "<redacted>" in caplog.text


def test_every_client_side_logger_has_the_redacting_filter() -> None:
    """A logger made with logging.getLogger bypasses the filter (the client cache's did)."""
    import spacetimedb_sdk.cli.parser
    import spacetimedb_sdk.client.cache
    import spacetimedb_sdk.connection  # noqa: F401
    from spacetimedb_sdk._log import RedactingFilter

    loggers = {
        name: lg
        for name, lg in logging.Logger.manager.loggerDict.items()
        if name.startswith("spacetimedb_sdk")
        and not name.startswith("spacetimedb_sdk.server")
        and isinstance(lg, logging.Logger)
    }
    assert "spacetimedb_sdk.client.cache" in loggers
    unfiltered = [
        n
        for n, lg in loggers.items()
        if not any(isinstance(f, RedactingFilter) for f in lg.filters)
    ]
    assert unfiltered == []
