"""The compiled extension against the pure-Python codecs: same values, same errors.

Used by the differential tests (``tests/sats/test_bsatn_extension.py``,
``tests/protocol/test_rows_extension.py``).  :func:`pure` gives a codec's twin without the
extension; :func:`assert_agree` runs every decoding entry point of both on the same bytes
and compares the outcomes: values exactly (classes, float bits, dict key order; dicts and
strs no bigger in memory, lists no bigger), errors by type and message (type path and
offset included).  ``strategies.mutants`` draws the damaged copies of good bytes they compare on.

Example::

    codec = bsatn.codec_for(T.STRING)
    assert_agree(codec, codec.encode("hé"))
"""

from __future__ import annotations

import dataclasses
import enum
import os
import struct
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from spacetimedb_sdk import _speedups
from spacetimedb_sdk.sats.bsatn import Codec, _python_only

EXT = _speedups.bsatn


def require_extension() -> None:
    """Skip the calling test module where the extension was not built, unless
    ``SPACETIMEDB_REQUIRE_EXTENSION`` is set (CI sets it: there the comparison must run)."""
    if EXT is not None:
        return
    why = f"the compiled extension is not loaded ({_speedups.status()})"
    if os.environ.get("SPACETIMEDB_REQUIRE_EXTENSION"):
        pytest.fail(why + ", and SPACETIMEDB_REQUIRE_EXTENSION is set", pytrace=False)
    pytest.skip(why, allow_module_level=True)


def pure(codec: Codec) -> Codec:
    """The same codec with the extension's program left out: the generated Python decodes."""
    return _python_only(codec)


Outcome = tuple[str, Any]


def outcome(fn: Callable[..., Any], *args: Any) -> Outcome:
    try:
        return ("ok", fn(*args))
    except Exception as e:
        return ("error", (type(e), str(e)))


def same(a: Any, b: Any, path: str = "value") -> str | None:
    """Where ``a`` (extension) differs from ``b`` (Python), or ``None``; memory included."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, float):
        ok = struct.pack("<d", a) == struct.pack("<d", b)
        return None if ok else f"{path}: {a!r} != {b!r} (bits)"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        if sys.getsizeof(a) != sys.getsizeof(b):
            return f"{path}: dict of {sys.getsizeof(a)} bytes != {sys.getsizeof(b)}"
        return next((d for k in a if (d := same(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        if sys.getsizeof(a) > sys.getsizeof(b):  # a list made at its final size may be smaller
            return f"{path}: list of {sys.getsizeof(a)} bytes > {sys.getsizeof(b)}"
        return next((d for i, x in enumerate(a) if (d := same(x, b[i], f"{path}[{i}]"))), None)
    if isinstance(a, str):
        ok = a == b and sys.getsizeof(a) == sys.getsizeof(b)
        return None if ok else f"{path}: {a!r} != {b!r}"
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            d = same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
            if d:
                return d
        return None
    if isinstance(a, enum.Enum):
        return None if a is b else f"{path}: {a!r} is not {b!r}"
    if hasattr(a, "__dict__") and not isinstance(a, type):  # a plain user class
        return same(dict(vars(a)), dict(vars(b)), path)
    return None if a == b else f"{path}: {a!r} != {b!r}"


def agree(x: Outcome, y: Outcome, what: str) -> None:
    if x[0] != y[0]:
        raise AssertionError(f"{what}: extension {x[0]} {x[1]!r}, Python {y[0]} {y[1]!r}")
    if x[0] == "error":
        assert x[1] == y[1], f"{what}: extension raised {x[1]!r}, Python {y[1]!r}"
        return
    diff = same(x[1], y[1])
    assert diff is None, f"{what}: {diff}"


def assert_agree(codec: Codec, data: bytes, *, rows: bool = True) -> None:
    """Every decoding entry point of ``codec`` and of its pure twin, on ``data``."""
    assert codec._c_program is not None, "the codec has no compiled program"
    py = pure(codec)
    agree(outcome(codec.decode, data), outcome(py.decode, data), "decode")
    agree(outcome(codec.validate, data), outcome(py.validate, data), "validate")
    if len(data) > 0:
        off = len(data) // 2
        agree(outcome(codec.read, data, off), outcome(py.read, data, off), "read")
    if rows:
        agree(outcome(codec.decode_rows, data), outcome(py.decode_rows, data), "decode_rows")
        agree(outcome(codec.split_rows, data), outcome(py.split_rows, data), "split_rows")
        cut = [data[: len(data) // 3], data[len(data) // 3 :]]
        agree(outcome(codec.validate_rows, cut), outcome(py.validate_rows, cut), "validate_rows")
        agree(outcome(codec.decode_each, cut), outcome(py.decode_each, cut), "decode_each")


def assert_rows_agree(codec: Codec, rows: list[bytes]) -> None:
    """The row-list entry points on rows cut by a size hint (each must be one value)."""
    py = pure(codec)
    agree(outcome(codec.validate_rows, rows), outcome(py.validate_rows, rows), "validate_rows")
    agree(outcome(codec.decode_each, rows), outcome(py.decode_each, rows), "decode_each")
    joined = b"".join(rows)
    agree(outcome(codec.split_rows, joined), outcome(py.split_rows, joined), "split_rows")
    agree(outcome(codec.decode_rows, joined), outcome(py.decode_rows, joined), "decode_rows")


PROPS = settings(
    max_examples=int(os.environ.get("SPACETIMEDB_EXT_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Hypothesis settings of the differential tests (``SPACETIMEDB_EXT_EXAMPLES`` for more)."""


__all__ = [
    "EXT",
    "PROPS",
    "agree",
    "assert_agree",
    "assert_rows_agree",
    "outcome",
    "pure",
    "require_extension",
    "same",
]
