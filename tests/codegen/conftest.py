"""Fixtures of the codegen tests (see :mod:`codegen_support`)."""

from __future__ import annotations

from codegen_support import generated

__all__ = ["generated"]
