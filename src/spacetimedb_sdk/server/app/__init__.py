"""The local server's web app: the ``/v1`` HTTP API and the WebSocket endpoint.

Routes, status codes and error texts follow upstream's ``client-api`` crate
(protocol.md §4.1, §5, §6).  Every ``/v1/database/...`` request is
authenticated like upstream's ``anon_auth_middleware``: a valid bearer token (the
``Authorization`` header, else ``?token=``) or, without one, a brand-new
anonymous identity minted for that request; the response carries
``spacetime-identity`` and ``spacetime-identity-token`` either way.  A token
that fails validation is answered with 401.

The WebSocket endpoint ``GET /v1/database/{db}/subscribe`` picks the
subprotocol by the *server's* preference (``v3`` over ``v2``), runs
``client_connected`` after the upgrade (a rejection drops the socket without a
close frame), sends ``InitialConnection`` first, pings every ``ping_interval``
seconds (when the previous ping was answered), drops a connection that sends
nothing for ``idle_timeout`` seconds, and closes with 1011 and the error text
when a client message cannot be handled.

The package: :mod:`.state` (settings, the server's control state), :mod:`.requests`
(authentication, refusals, CORS), :mod:`.bodies` (bodies and query values as upstream's
extractors read them), :mod:`.resolve` (the database a request names), the HTTP routes
(:mod:`.identity_routes`, :mod:`.database_routes`, :mod:`.name_routes`, :mod:`.publish_routes`,
:mod:`.logs_route`, :mod:`.misc_routes`, :mod:`.mcp_routes`), :mod:`.websocket` (the endpoint
and one socket's session), :mod:`.websocket_frames` (encoding outgoing frames) and
:mod:`.application` (:func:`create_app`, the route table).

Example::

    app = create_app([Database(module)], issuer)
    web.run_app(app, host="127.0.0.1", port=3000)
"""

from .application import create_app
from .state import ServerSettings

# A public helper the old app module had outside __all__; still importable from here.
from .websocket_frames import encode_once as encode_once

__all__ = ["ServerSettings", "create_app"]
