"""Shared pieces of the 0.7-API tests: paths, the example's bindings, bounded waits.

The in-process tests import the example's committed ``module_bindings`` package (the
one ``examples/compat-07-quickstart/main.py`` uses), so they exercise exactly the
generated code a 0.7 user runs.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "compat-07-quickstart"
CHAT_MODULE = ROOT / "examples" / "quickstart-chat" / "module.py"
T = 10.0  # seconds: the bound on every wait


def example_bindings() -> ModuleType:
    """The example's ``module_bindings`` package, imported under its own name as 0.7 did."""
    if str(EXAMPLE) not in sys.path:
        sys.path.insert(0, str(EXAMPLE))
    return importlib.import_module("module_bindings")


def binding(name: str) -> Any:
    """A submodule of the example's bindings (``user``, ``send_message_reducer``, ...)."""
    example_bindings()
    return importlib.import_module(f"module_bindings.{name}")


async def wait_for(event: asyncio.Event, what: str, timeout: float = T) -> None:
    """Wait for ``event``; fail naming ``what`` after ``timeout`` seconds."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}") from None


def pump(update: Callable[[], object], done: Callable[[], bool], what: str) -> None:
    """Call ``update()`` (a 0.7 game loop) until ``done()``; fail after ``T`` seconds."""
    deadline = time.monotonic() + T
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {T:g} s waiting for {what}")
        update()
