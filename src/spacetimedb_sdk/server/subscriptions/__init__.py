"""The local server's subscription engine, one-off queries and ``/sql`` execution.

:class:`SubscriptionManager` keeps every client's query sets (protocol.md §4.6)
and, after each commit, computes what each of them must be told:

* queries are compiled with the subscription grammar, then expanded by
  row-level security (each table's RLS filters, with ``:sender`` = the
  subscriber, unless the subscriber owns the database) into *fragments*
  whose results form a bag union, as upstream;
* identical queries are shared across clients: a query is keyed by its SQL
  text, the owner flag and, only when it depends on the caller (``:sender``,
  RLS filters using it, per-caller views), the caller's identity.  A commit
  evaluates each affected query once, encodes each row once, and hands the
  same row lists to every subscriber;
* single-table queries are found from the changed rows, through a hash of
  their ``column = constant`` terms when they have one, so a commit costs
  O(changed rows × matching queries); joins (and views) go through
  :meth:`~.sql.eval.CompiledFragment.delta` (incremental, bag semantics);
* views are re-evaluated after every non-empty commit, once per view and
  caller (anonymous views once), and diffed against their previous rows;
* event-table rows reach matching subscribers as ``EventTableRows``.

Messages follow upstream's shapes: ``SubscribeApplied``/``UnsubscribeApplied``
rows carry one ``SingleTableRows`` per (query, fragment) whose tables are all
non-empty; an update carries, per query set (ascending id), one
``TableUpdate`` per table (by name) holding one rows entry per contributing
query fragment.  Errors carry upstream's texts (``<error>, executing:
`<sql>```).

:func:`execute_sql` runs one HTTP ``/sql`` statement.

Example::

    manager = SubscriptionManager(module, datastore)
    rows = manager.subscribe(conn, identity, 1, ["SELECT * FROM user"])
    result = module.call_reducer(datastore, "set_name", ["Ann"], sender=identity)
    updates = manager.on_commit(result.tx)       # {conn: [QuerySetUpdate(...)]}
    for client, failed in updates.failures.items(): ...   # send these first

The package, each file importing only those above it:

- :mod:`.errors`: the errors, with upstream's texts;
- :mod:`.catalog`: per-datastore caches (SQL schema, table infos, codecs, RLS fragments);
- :mod:`.queries`: the shared compiled query and a view's last rows;
- :mod:`.encoding`: fan-out, rows encoded once per commit, :class:`CommitUpdates`;
- :mod:`.registry`: planning and registration of queries (the engine's state);
- :mod:`.delta`: evaluating a commit against the registered queries;
- :mod:`.manager`: :class:`SubscriptionManager`, the API the host calls;
- :mod:`.sql_statements`: :func:`execute_sql`, one ``/sql`` statement.
"""

from .encoding import CommitUpdates
from .errors import DuplicateQuerySet, SqlExecutionError, SubscriptionFailure, UnknownQuerySet
from .manager import PreparedQuery, SubscriptionManager
from .sql_statements import SqlStatementResult, execute_sql

__all__ = [
    "CommitUpdates",
    "DuplicateQuerySet",
    "PreparedQuery",
    "SqlExecutionError",
    "SqlStatementResult",
    "SubscriptionFailure",
    "SubscriptionManager",
    "UnknownQuerySet",
    "execute_sql",
]
