"""Row lists and module definitions through the compiled extension and through pure Python.

The other half of the differential tests (``tests/sats/test_bsatn_extension.py``): the
official implementation's frames, cut into rows by their size hints and checked or decoded
with the quickstart tables' codecs (``protocol.rows``), good and damaged; the official
module definitions (``RawModuleDef`` BSATN, a large recursive typespace), good and damaged;
every table row type of those modules with hypothesis-drawn rows and the run-time row
classes; and ``BsatnRowList.rows()`` slicing by every kind of hint.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from differential import (
    EXT,
    PROPS,
    agree,
    assert_agree,
    assert_rows_agree,
    outcome,
    pure,
    require_extension,
)
from spacetimedb_sdk.client.bindings import ModuleBindings
from spacetimedb_sdk.errors import BsatnDecodeError, ProtocolError
from spacetimedb_sdk.protocol import messages as m
from spacetimedb_sdk.protocol import rows as row_lists
from spacetimedb_sdk.protocol.framing import (
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    decode_server_frame,
    decompress,
)
from spacetimedb_sdk.sats import bsatn
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.schema.raw import RAW_MODULE_DEF, RAW_TYPESPACE
from strategies import mutants, values

require_extension()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FRAMES = sorted((FIXTURES / "protocol" / "frames").glob("v*_*.bin"))
MODULEDEFS = sorted((FIXTURES / "moduledefs").glob("*.v10.json"))


def bindings(path: Path) -> ModuleBindings:
    return ModuleBindings.from_schema(ModuleSchema.from_json(path.read_text()))


CHAT = bindings(FIXTURES / "moduledefs" / "quickstart-chat.v10.json")
CHAT_TABLES = {t.name: t for t in CHAT.tables.values()}  # by wire name, as frames name them


def row_lists_in(obj: Any, table: str | None = None) -> Iterator[tuple[str | None, m.BsatnRowList]]:
    """Every ``BsatnRowList`` in a decoded message, with the table it belongs to."""
    if isinstance(obj, m.BsatnRowList):
        yield table, obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from row_lists_in(x, table)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        table = getattr(obj, "table", None) or getattr(obj, "table_name", None) or table
        for f in dataclasses.fields(obj):
            yield from row_lists_in(getattr(obj, f.name), table)


def messages_of(frame: bytes) -> list[Any]:
    found: list[Any] = []
    for protocol in (SUBPROTOCOL_V2, SUBPROTOCOL_V3):
        with contextlib.suppress(ProtocolError, BsatnDecodeError):
            found.extend(decode_server_frame(frame, protocol))
    return found


def check_row_list(table: str | None, rl: m.BsatnRowList) -> int:
    """Both paths agree on the row list's rows; returns how many rows it had."""
    assert rl.rows() == _python_rows(rl), "slicing differs"
    if table not in CHAT_TABLES:
        return 0
    codec = CHAT_TABLES[table].codec
    rows = rl.rows()
    assert_rows_agree(codec, rows)
    assert_rows_agree(codec._without_classes(), rows)
    py = pure(codec)
    for fn in (row_lists.split_rows, row_lists.decode_rows):
        agree(outcome(fn, codec, rl), outcome(fn, py, rl), fn.__name__)
    return len(rows)


def _python_rows(rl: m.BsatnRowList) -> list[Any]:
    """``BsatnRowList.rows()`` without the extension (its slicing, written out)."""
    data, hint = rl.rows_data, rl.size_hint
    if isinstance(hint, m.FixedSize):
        n = hint.size
        return [data[i : i + n] for i in range(0, len(data), n)] if n else []
    offs = hint.offsets
    if not offs:
        return []
    return [data[s:e] for s, e in zip(offs, (*offs[1:], len(data)), strict=True)]


def uncompressed(frame: bytes) -> bytes:
    if frame[0] in (1, 2):
        return b"\x00" + decompress(frame[0], frame[1:])
    return frame


# ---- frames ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", FRAMES, ids=[p.name for p in FRAMES])
def test_recorded_frames_rows(path: Path) -> None:
    total = 0
    for msg in messages_of(path.read_bytes()):
        for table, rl in row_lists_in(msg):
            total += check_row_list(table, rl)
    if "InitialConnection" not in path.name and "OkEmpty" not in path.name:
        assert total or "client" in path.name, "the frame held no rows to compare"


SEEDS = [uncompressed(p.read_bytes()) for p in FRAMES if "client" not in p.name]


@PROPS
@given(st.sampled_from(SEEDS).flatmap(mutants))
def test_damaged_frames_rows(frame: bytes) -> None:
    for msg in messages_of(frame):
        for table, rl in row_lists_in(msg):
            check_row_list(table, rl)


@PROPS
@given(st.sampled_from(sorted(CHAT_TABLES)), st.data())
def test_damaged_rows_of_recorded_tables(table: str, data: st.DataObject) -> None:
    tb = CHAT_TABLES[table]
    codec = tb.codec
    ts = CHAT.schema.typespace
    row = codec._without_classes().encode(data.draw(values(tb.row_type, ts)))
    assert_agree(codec, row)
    assert_agree(codec, data.draw(mutants(row)))
    assert_rows_agree(codec, [row, data.draw(mutants(row)), row])


# ---- module definitions ------------------------------------------------------------------


RAW = bsatn.codec_for(RAW_MODULE_DEF, RAW_TYPESPACE)
DEFS = sorted((FIXTURES / "moduledefs").glob("*.bsatn"))


@pytest.mark.parametrize("path", DEFS, ids=[p.name for p in DEFS])
def test_module_definitions(path: Path) -> None:
    data = path.read_bytes()
    assert outcome(RAW.decode, data)[0] == "ok"
    assert_agree(RAW, data, rows=False)
    for cut in range(0, len(data), max(1, len(data) // 23)):
        assert_agree(RAW, data[:cut], rows=False)


@PROPS
@given(st.sampled_from([p.read_bytes() for p in DEFS]).flatmap(mutants))
def test_damaged_module_definitions(data: bytes) -> None:
    assert_agree(RAW, data, rows=False)


TABLES = [(p.name, name) for p in MODULEDEFS for name in sorted(bindings(p).tables)]
_BINDINGS = {p.name: bindings(p) for p in MODULEDEFS}


@pytest.mark.parametrize(("module", "table"), TABLES, ids=[f"{m_}/{t}" for m_, t in TABLES])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_table_row_type_with_row_classes(
    module: str, table: str, data: st.DataObject
) -> None:
    b = _BINDINGS[module]
    tb = b.tables[table]
    generic = tb.codec._without_classes()
    ts = b.schema.typespace
    rows = [generic.encode(data.draw(values(tb.row_type, ts))) for _ in range(3)]
    for codec in (tb.codec, generic):
        assert_agree(codec, rows[0])
        assert_agree(codec, b"".join(rows))
        assert_rows_agree(codec, rows)
        assert_agree(codec, data.draw(mutants(rows[0])), rows=False)


# ---- slicing by size hints ---------------------------------------------------------------


@PROPS
@given(
    st.binary(max_size=64),
    st.one_of(
        st.integers(0, 9).map(m.FixedSize),
        st.lists(st.integers(-2, 70), max_size=6).map(lambda o: m.RowOffsets(tuple(o))),
        st.lists(st.integers(0, 64), max_size=6).map(lambda o: m.RowOffsets((0, *sorted(o)))),
    ),
)
def test_slicing_by_any_hint_matches_python(data: bytes, hint: Any) -> None:
    rl = m.BsatnRowList(hint, data)
    assert rl.rows() == _python_rows(rl)
    assert EXT is not None
