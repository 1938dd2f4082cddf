"""``DbConnection``: one client connection, driven by asyncio, a thread or ``frame_tick``.

A connection owns a sans-I/O core (:mod:`spacetimedb_sdk.client`) and turns its
events into user callbacks and finished calls.  Its parts, one per module:

- :mod:`.db_connection`: :class:`DbConnection`, the facade users hold;
- :mod:`.builder`: :class:`DbConnectionBuilder`, its configuration;
- :mod:`.session`: the network side (WebSocket reader/writer, lifecycle);
- :mod:`.transport`: the WebSocket itself (over ``websockets``);
- :mod:`.drivers`: where it runs: the caller's loop, a thread, or ``frame_tick``;
- :mod:`.calls`: reducer and procedure callers, the calls in flight;
- :mod:`.subscriptions`: subscription builder, handles and their registry;
- :mod:`.tables`: ``conn.db`` table handles and change streams;
- :mod:`.pending`: :class:`Pending`, a call in flight (await it or ``.result()``);
- :mod:`.reconnect`: the backoff policy and reconnect loop;
- :mod:`.callbacks`: how user callbacks are run.

The three front ends differ only in *where* frames are applied:

- ``await builder.connect()``: on the caller's event loop;
- ``builder.connect_sync(mode="thread")``: on a background thread with its own
  loop (callbacks run there; guard shared state);
- ``builder.connect_sync(mode="tick")``: the network runs on a background
  thread, but frames are applied and callbacks run only inside
  ``conn.frame_tick()`` on the caller's thread (game loops).

Calls return a :class:`Pending`: ``await`` it in asyncio code, or call
``.result(timeout)`` in synchronous code.  Reducer calls resolve after this
client's row callbacks for that call have run.

Example: see :class:`DbConnection`.
"""

from .builder import DbConnectionBuilder
from .calls import ProcedureCaller, ReducerCaller
from .db_connection import DbConnection
from .pending import Pending
from .reconnect import ReconnectPolicy
from .subscriptions import SubscriptionBuilder, SubscriptionHandle
from .tables import ChangeStream, TableHandle

__all__ = [
    "ChangeStream",
    "DbConnection",
    "DbConnectionBuilder",
    "Pending",
    "ProcedureCaller",
    "ReconnectPolicy",
    "ReducerCaller",
    "SubscriptionBuilder",
    "SubscriptionHandle",
    "TableHandle",
]
