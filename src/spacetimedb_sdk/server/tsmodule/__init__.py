"""TypeScript modules on the local server: the npm ``spacetimedb`` module library, run in Node.

A TypeScript module is JavaScript that reaches its host through the virtual modules
``spacetime:sys@2.0`` and ``@2.1``; SpacetimeDB runs it in V8.  Here it runs in a Node
process (``js/host.mjs``) whose implementation of those syscalls asks the local server's own
datastore, so tables, transactions, indexes, sequences, constraints, subscriptions, RLS and
scheduling are the same code for Python and TypeScript modules.  See ``docs/local-server.md``
for how to use it and what differs from SpacetimeDB's V8 host.

The package, each file importing only those above it in this list:

- :mod:`.bundle`: finding the module, Node, npm dependencies and esbuild; bundling;
- :mod:`.process`: one Node process and the frames exchanged with it;
- :mod:`.rows`: row classes made from the module's row types;
- :mod:`.definition`: the module's description as the datastore and host need it;
- :mod:`.sql_names`: a query view's SQL, from source to canonical names;
- :mod:`.http_wire`: ``procedure_http_request`` through :class:`~..module.HttpClient`;
- :mod:`.syscalls`: the datastore syscalls, answered on the datastore;
- :mod:`.runner`: :class:`TsRunner`, one database's calls (main process, procedure pool, budget);
- :mod:`.module`: :class:`TsModule` and :func:`load_ts_module`;
- :mod:`.program`: published ``host_type=Js`` programs (upstream's CLI uploads), registered with
  :func:`~..module_source.register_module_loader` when this package is imported.

Example::

    from spacetimedb_sdk.server import LocalServer

    with LocalServer("examples/quickstart-chat-ts") as srv:
        print(srv.url)
"""

from .bundle import TsModuleError, is_ts_module
from .module import TsModule, load_ts_module
from .program import HOST_TYPE_JS, load_js_program, register_js_loader
from .runner import TsCallError, TsRunner

__all__ = [
    "HOST_TYPE_JS",
    "TsCallError",
    "TsModule",
    "TsModuleError",
    "TsRunner",
    "is_ts_module",
    "load_js_program",
    "load_ts_module",
]

register_js_loader()  # publishing accepts upstream's JavaScript bundles (host_type=Js)
