"""HTTP JSON uses the canonical names the schema publishes (variant and field names)."""

from __future__ import annotations

import enum
import json

import httpx

from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ProcedureContext, ReducerContext
from spacetimedb_sdk.server.local import LocalServer

m = Module("names")


class Mood(enum.Enum):
    VERY_HAPPY = 0
    Sad = 1


@m.table(public=True)
class Feeling:
    mood: Mood
    score: U32


@m.reducer
def feel(ctx: ReducerContext, mood: Mood, score: U32) -> None:
    ctx.db.feeling.insert(Feeling(mood=mood, score=score))


@m.procedure
def echo_mood(ctx: ProcedureContext, mood: Mood) -> Mood:
    return mood


async def test_call_accepts_the_published_variant_names() -> None:
    async with LocalServer(m) as srv, httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
        schema = (
            await http.get(f"/v1/database/{srv.database}/schema", params={"version": 9})
        ).json()
        variants = [
            v["name"]["some"]
            for t in schema["typespace"]["types"]
            if "Sum" in t
            for v in t["Sum"]["variants"]
        ]
        assert variants == ["veryHappy", "sad"]
        headers = {"Content-Type": "application/json"}
        r = await http.post(
            f"/v1/database/{srv.database}/call/feel",
            content=json.dumps({"mood": {"veryHappy": []}, "score": 3}),
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert [(f.mood, f.score) for f in srv.db.rows("feeling")] == [(Mood.VERY_HAPPY, 3)]
        r = await http.post(
            f"/v1/database/{srv.database}/call/echo_mood",
            content=json.dumps([{"sad": []}]),
            headers=headers,
        )
        assert r.status_code == 200 and r.json() == [1, []]
