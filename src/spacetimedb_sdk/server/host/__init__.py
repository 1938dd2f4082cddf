"""The host of one database: a module, its datastore, subscriptions and timers.

:class:`Database` runs every transaction **one at a time** on its database thread
(:mod:`.worker`; procedures run on threads of their own and take the database per
transaction, :mod:`.procedures`), each module call under a time budget, and, after
each commit, fans the changes out to the connected clients as upstream does
(protocol.md §4.6, §7.2-7.4):

* the caller of a reducer gets exactly one ``ReducerResult`` carrying its own
  subscription deltas; every other client with an affected query set gets a
  ``TransactionUpdate``; a failed reducer sends nothing to anyone else;
* procedures' inner transactions reach everyone (the caller included) as
  ``TransactionUpdate`` s, then the caller gets its ``ProcedureResult``;
* lifecycle reducers run on connect/disconnect (WebSocket and each HTTP call)
  and ``init`` once when the database starts;
* rows of scheduled tables arm timers (:class:`Scheduler`) that call the named
  reducer or procedure with the row; deleting the row cancels; intervals repeat.

Clients are :class:`ClientConnection` objects: the host only queues messages on
them; the web app (:mod:`..app`) writes them to the socket.  No I/O happens here,
so the host is testable with plain objects.

The package, each file importing only those above it:

- :mod:`.errors`: the errors the web app turns into close codes and statuses;
- :mod:`.clients`: :class:`ClientConnection`, a client's outgoing queue;
- :mod:`.module_log`: the module log (upstream's JSON lines, bounded, with followers);
- :mod:`.worker`: :class:`DatabaseThread`, the thread that owns the datastore;
- :mod:`.scheduler`: timers for scheduled rows;
- :mod:`.procedures`: procedures on their own threads;
- :mod:`.execution`: the database's state, running functions, broadcasting commits;
- :mod:`.lifecycle`: start/stop, connect/disconnect and their lifecycle reducers;
- :mod:`.client_messages`: WebSocket client messages;
- :mod:`.http_calls`: ``/call`` and ``/sql``, :class:`HttpResponse`;
- :mod:`.update`: replacing the module of a running database (hot swap, reset);
- :mod:`.database`: :class:`Database`, all of the above plus the direct API.

Example::

    >>> from spacetimedb_sdk.server import Module
    >>> db = Database(Module("empty"))
    >>> db.start()
    >>> db.name
    'empty'
"""

from .clients import ClientConnection
from .database import Database
from .errors import ConnectionOutOfEnergy, ConnectionRejected, FatalClientError, SqlFailed
from .execution import database_identity
from .http_calls import HttpResponse
from .scheduler import Scheduler

# Public helpers the old host module had outside __all__; still importable from here.
from .scheduler import abs_duration as abs_duration
from .scheduler import next_tick as next_tick
from .worker import DatabaseThread

__all__ = [
    "ClientConnection",
    "ConnectionOutOfEnergy",
    "ConnectionRejected",
    "Database",
    "DatabaseThread",
    "FatalClientError",
    "HttpResponse",
    "Scheduler",
    "SqlFailed",
    "database_identity",
]
