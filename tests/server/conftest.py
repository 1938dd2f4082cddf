"""Fixtures the server tests share: a LocalServer of the host-test module and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from server_test_support import TIMEOUT, game

from spacetimedb_sdk.server.local import LocalServer


@pytest.fixture
async def srv() -> AsyncIterator[LocalServer]:
    async with LocalServer(game) as server:
        yield server


@pytest.fixture
async def http(srv: LocalServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as client:
        yield client
