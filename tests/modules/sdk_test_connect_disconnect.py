"""A Python port of upstream's ``modules/sdk-test-connect-disconnect`` (``src/lib.rs``).

The ``client_connected`` and ``client_disconnected`` lifecycle reducers record each caller's
identity in the public ``connected`` and ``disconnected`` tables, so a client can observe, after
reconnecting, that its earlier disconnect ran the module's lifecycle reducer.
"""

from __future__ import annotations

from spacetimedb_sdk import Identity
from spacetimedb_sdk.server import Module, ReducerContext

module = Module("sdk-test-connect-disconnect")


@module.table(public=True)
class Connected:
    identity: Identity


@module.table(public=True)
class Disconnected:
    identity: Identity


@module.client_connected
def identity_connected(ctx: ReducerContext) -> None:
    ctx.db.connected.insert(Connected(identity=ctx.sender))


@module.client_disconnected
def identity_disconnected(ctx: ReducerContext) -> None:
    ctx.db.disconnected.insert(Disconnected(identity=ctx.sender))
