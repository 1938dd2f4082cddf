"""Module sources and HTTP helpers for the publishing tests.

The versions of the ``scores`` module differ as upstream's migration rules care about:
``V2`` adds a table (compatible), ``V3`` adds a column with a default (keeps the data but
disconnects clients), ``V4`` removes a column (needs a manual migration, or ``clear``).
"""

from __future__ import annotations

from typing import Any

import httpx

V1 = """
from spacetimedb_sdk.sats import U32
from spacetimedb_sdk.server import Module, ReducerContext, column

module = Module("scores")


@module.table(public=True)
class Score:
    id: U32 = column(primary_key=True)
    points: U32


@module.init
def init(ctx: ReducerContext) -> None:
    print("scores initialized")
    ctx.db.score.insert(Score(id=0, points=0))


@module.reducer
def add(ctx: ReducerContext, id: U32, points: U32) -> None:
    print(f"adding {id}")
    ctx.db.score.insert(Score(id=id, points=points))
"""

V2 = (
    V1
    + """

@module.table(public=True)
class Badge:
    id: U32 = column(primary_key=True)
    name: str


@module.reducer
def award(ctx: ReducerContext, id: U32, name: str) -> None:
    ctx.db.badge.insert(Badge(id=id, name=name))
"""
)

V3 = (
    V1.replace("    points: U32\n", "    points: U32\n    bonus: U32 = column(default=5)\n")
    .replace("Score(id=id, points=points)", "Score(id=id, points=points, bonus=1)")
    .replace("Score(id=0, points=0)", "Score(id=0, points=0, bonus=0)")
)

V4 = V1.replace("    points: U32\n", "").replace(", points=points", "").replace(", points=0", "")

BROKEN = "module = Module(\n"


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


async def publish(
    http: httpx.AsyncClient,
    source: str | bytes,
    name: str | None = None,
    *,
    token: str | None = None,
    migration_token: str | None = None,
    **params: Any,
) -> httpx.Response:
    """``PUT /v1/database/NAME`` (``POST /v1/database`` without a name) with a module's source;
    ``token`` authenticates, ``migration_token`` is the ``token`` query parameter."""
    body = source.encode() if isinstance(source, str) else source
    query = {"host_type": "Python"}
    query.update({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()})
    if migration_token is not None:
        query["token"] = migration_token
    headers = {"Content-Type": "text/x-python", **bearer(token)}
    if name is None:
        return await http.post("/v1/database", content=body, params=query, headers=headers)
    return await http.put(f"/v1/database/{name}", content=body, params=query, headers=headers)


async def pre_publish(
    http: httpx.AsyncClient, source: str, name: str, *, token: str | None, style: str = "NoColor"
) -> httpx.Response:
    return await http.post(
        f"/v1/database/{name}/pre_publish",
        content=source.encode(),
        params={"host_type": "Python", "style": style},
        headers={"Content-Type": "text/x-python", **bearer(token)},
    )
