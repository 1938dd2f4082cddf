"""Bindings the 0.7 CLI generated for a module with enums, structs, options and lists.

``real07_types/game_bindings`` are in the exact form the 0.7 CLI wrote them for the 0.7
version of :mod:`game07_module`: ``Player(data)`` reads 0.7's JSON (``Color(int(next(iter(
data[2])))+1)``, ``Position(data[3])``, ``{'0': name}``), the reducer functions encode their
arguments as 0.7 did (``{str(color.value-1): []}``, ``position.encode()``) and
``_decode_args`` decodes them.  They run unmodified over a 2.x connection, and the 0.7
client accepts what 0.7 accepted besides: dicts and lists for structs and arrays, callbacks
written before 0.7 added the caller's address.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from compat_support import T
from game07_module import module

from spacetimedb_sdk.compat._package import Names, translate_sql
from spacetimedb_sdk.errors import SpacetimeDBError
from spacetimedb_sdk.sats.sats_json import SatsJsonError
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.spacetimedb_async_client import SpacetimeDBAsyncClient
from spacetimedb_sdk.spacetimedb_client import Identity, SpacetimeDBClient

HERE = Path(__file__).resolve().parent / "real07_types"


def bindings(name: str = "") -> ModuleType:
    """The 0.7-generated ``game_bindings`` package (a namespace package, as 0.7 wrote it)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module("game_bindings" + (f".{name}" if name else ""))


@pytest.fixture
async def game() -> AsyncIterator[LocalServer]:
    async with LocalServer(module, database="game") as srv:
        yield srv
    SpacetimeDBClient.instance = None


class Seen:
    """Callback records, and a bounded wait for one to arrive."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self._changed = asyncio.Event()

    def record(self, tag: str) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            self.items.append((tag, *args))
            self._changed.set()

        return callback

    async def until(self, tag: str, count: int = 1) -> list[tuple[Any, ...]]:
        async def wait() -> None:
            while sum(1 for i in self.items if i[0] == tag) < count:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), T)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {tag!r} in {T:g} s; saw {self.items}") from None
        return [i[1:] for i in self.items if i[0] == tag]


async def test_07_rows_and_arguments_of_every_kind(game: LocalServer) -> None:
    Player = bindings("player").Player
    Color = bindings("color").Color
    Position = bindings("position").Position
    join_reducer, move_to_reducer = bindings("join_reducer"), bindings("move_to_reducer")
    seen = Seen()
    client = SpacetimeDBAsyncClient(bindings())
    client.register_on_subscription_applied(seen.record("applied"))
    Player.register_row_update(seen.record("player"))

    # Before 0.7 reducer callbacks had no address: (identity, status, message, *args).
    def joined_old_style(
        sender: Any, status: str, message: str, name: str, color: Any, position: Any
    ) -> None:
        seen.record("joined")(sender, status, message, name, color, position)

    join_reducer.register_on_join(joined_old_style)
    move_to_reducer.register_on_move_to(seen.record("moved"))
    identities: list[Identity] = []
    runner = asyncio.create_task(
        client.run(
            None,
            f"localhost:{game.port}",
            "game",
            False,
            lambda token, identity: identities.append(identity),
            ["SELECT * FROM Player"],  # the 0.7 module's table name
        )
    )
    try:
        await seen.until("applied")
        [me] = identities
        join_reducer.join("Ann", Color.Green, Position([1, -2]))  # a struct built as 0.7 did
        [(who, status, message, name, color, position)] = await seen.until("joined")
        assert (who, status, message, name, color) == (me, "committed", "", "Ann", Color.Green)
        assert isinstance(position, Position) and (position.x, position.y) == (1, -2)

        row = Player.filter_by_identity(me)
        [only] = Player.iter()
        assert row is not None and row is only  # one 0.7 object per cached row
        assert (row.name, row.color, row.position.x, row.position.y) == ("Ann", Color.Green, 1, -2)
        assert row.data["color"] is Color.Green and row.scores == [] and row.joined > 0
        assert set(row.data) == {"identity", "name", "color", "position", "scores", "joined"}
        [(op, old, new, event)] = await seen.until("player")
        assert (op, old, new) == ("insert", None, row)
        assert (event.reducer_name, event.status, event.caller_identity) == (
            "join",
            "committed",
            me,
        )
        assert event.args == ["Ann", {"1": []}, [1, -2]]  # 0.7's JSON shapes

        # 0.7 call_reducer took dicts and lists for structs and arrays.
        result = await client.call_reducer("move_to", {"x": 5, "y": 6})
        assert result.reducer_event.status == "committed"
        [(who, address, status, _, moved_to)] = await seen.until("moved")
        assert (who, address, status) == (me, client.address, "committed")
        assert (moved_to.x, moved_to.y) == (5, 6)
        await client.call_reducer("set_scores", [3, 1, 2])
        _, old, new, _ = (await seen.until("player", 3))[-1]
        assert (
            old.scores == [] and new.scores == [3, 1, 2] and new.position.data == {"x": 5, "y": 6}
        )
        assert Player.filter_by_scores([3, 1, 2]) == [new]

        # Arguments that fit nowhere say which reducer and where.
        with pytest.raises(SatsJsonError, match=r"move_to.*y"):
            client.client.call_reducer("move_to", {"x": 1, "y": "up"})
        with pytest.raises(TypeError, match=r"takes 1 argument\(s\) \(position\), got 2"):
            client.client.call_reducer("move_to", [1, 2], [3, 4])
        failed = await client.call_reducer("join", "Again", {"0": []}, [0, 0])
        assert (failed.reducer_event.status, failed.reducer_event.message) == (
            "failed",
            "already joined",
        )
    finally:
        client.force_close()
        await asyncio.wait_for(runner, T)


async def test_table_caches_by_07_name_before_and_after_connecting(game: LocalServer) -> None:
    client = SpacetimeDBAsyncClient(bindings())
    cache = SpacetimeDBClient.instance._get_table_cache("Player")
    assert cache.values() == [] and cache.table_class is bindings("player").Player
    await asyncio.wait_for(client.connect(None, f"localhost:{game.port}", "game", False), T)
    try:
        await client.call_reducer("join", "Bo", {"0": []}, {"x": 0, "y": 0})
        applied = asyncio.Event()
        client.register_on_subscription_applied(applied.set)
        client.subscribe(["SELECT * FROM Player"])
        await asyncio.wait_for(applied.wait(), T)
        [bo] = cache.values()
        assert bo.name == "Bo" and bo.color is bindings("color").Color.Red
        with pytest.raises(SpacetimeDBError, match=r"no table named 'Nope'.*player"):
            SpacetimeDBClient.instance._get_table_cache("Nope").values()
    finally:
        await client.close()


def test_07_names_map_to_canonical_ones_only_when_unambiguous() -> None:
    names = Names(
        "table",
        {
            "user_name": "user_name",
            "username": "username",
            "player": "Player",
            "ab_c": "",
            "a_bc": "",
        },
    )
    assert names.resolve("Player") == "player" and names.resolve("player") == "player"
    assert names.resolve("username") == "username"  # an exact match wins
    assert names.resolve("UserName") == "user_name"  # the snake_case a 2.x module makes
    with pytest.raises(SpacetimeDBError, match="could mean any of 'a_bc', 'ab_c'"):
        names.resolve("ABC")
    with pytest.raises(SpacetimeDBError, match="no table named 'Nope'"):
        names.resolve("Nope")
    assert translate_sql(
        'SELECT * FROM Player p JOIN "Player" ON p.x = 1', names.resolve_or_none
    ) == (
        'SELECT * FROM player p JOIN "Player" ON p.x = 1'  # quoted names are exact
    )
