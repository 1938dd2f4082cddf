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

Example::

    app = create_app([Database(module)], issuer)
    web.run_app(app, host="127.0.0.1", port=3000)
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from .._log import get_logger
from ..errors import ProtocolError
from ..protocol import messages as m
from ..protocol.codec import decode_client_message, encode_server_message
from ..protocol.framing import (
    COMPRESSION_THRESHOLD,
    SERVER_MAX_INCOMING_MESSAGE_SIZE,
    SUBPROTOCOL_V2,
    SUBPROTOCOL_V3,
    Compression,
    brotli_available,
    compress,
    decode_client_frame,
)
from ..sats.sats_json import to_json
from ..sats.types import AlgebraicType
from ..sats.values import ConnectionId, Identity
from .auth import Claims, InvalidTokenError, TokenIssuer
from .host import (
    ClientConnection,
    ConnectionRejected,
    Database,
    FatalClientError,
    HttpResponse,
)
from .host.clients import _Close

log = get_logger("spacetimedb_sdk.server")

__all__ = ["ServerSettings", "create_app"]

_V3_FRAME_TARGET = 512 * 1024
"""v3 frames gather queued messages up to about this many uncompressed bytes (as upstream)."""
_MAX_CLOSE_REASON = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8."""


@dataclass
class ServerSettings:
    """Timers and limits of the WebSocket endpoint (upstream's ``WebSocketOptions``).

    Example::

        >>> ServerSettings(ping_interval=1.0).idle_timeout
        30.0
    """

    ping_interval: float = 15.0
    idle_timeout: float = 30.0
    max_message_size: int = SERVER_MAX_INCOMING_MESSAGE_SIZE
    close_timeout: float = 2.0
    compression_threshold: int = COMPRESSION_THRESHOLD


@dataclass
class _State:
    issuer: TokenIssuer
    databases: list[Database]
    settings: ServerSettings
    sockets: set[asyncio.Task[None]] = field(default_factory=set)

    def find(self, name_or_identity: str) -> Database | None:
        ident = _parse_identity(name_or_identity)
        for db in self.databases:
            if db.name == name_or_identity or (ident is not None and ident == db.identity):
                return db
        return None


_STATE = web.AppKey("spacetimedb_state", _State)


def create_app(
    databases: Database | Sequence[Database],
    issuer: TokenIssuer,
    settings: ServerSettings | None = None,
) -> web.Application:
    """The aiohttp application serving ``databases`` (by name or identity), signing with ``issuer``.

    Every database should use the same ``issuer`` (the server has one key).

    Example::

        app = create_app(Database(module, issuer=issuer), issuer)
    """
    dbs = [databases] if isinstance(databases, Database) else list(databases)
    app = web.Application(middlewares=[_cors])
    app[_STATE] = _State(issuer, dbs, settings or ServerSettings())
    app.router.add_post("/v1/identity", _create_identity)
    app.router.add_post("/v1/identity/websocket-token", _websocket_token)
    app.router.add_get("/v1/identity/public-key", _public_key)
    app.router.add_get("/v1/identity/{identity}/verify", _verify)
    app.router.add_get("/v1/identity/{identity}/databases", _databases_of)
    app.router.add_get("/v1/ping", _ping)
    app.router.add_get("/v1/database/{db}", _db_info)
    app.router.add_get("/v1/database/{db}/identity", _db_identity)
    app.router.add_get("/v1/database/{db}/schema", _schema)
    app.router.add_post("/v1/database/{db}/call/{name}", _call)
    app.router.add_post("/v1/database/{db}/sql", _sql)
    app.router.add_get("/v1/database/{db}/subscribe", _subscribe)
    app.on_shutdown.append(_close_sockets)
    return app


# ---- helpers -----------------------------------------------------------------------------------


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


def _parse_identity(text: str) -> Identity | None:
    try:
        return Identity.from_hex(text)
    except ValueError:
        return None


def _from_http(resp: HttpResponse) -> web.Response:
    out = web.Response(status=resp.status, headers=resp.headers)
    if isinstance(resp.body, bytes):
        out.body = resp.body
    else:
        out.text = resp.body
    out.content_type = resp.content_type.split(";")[0]
    if "charset=" in resp.content_type:
        out.charset = resp.content_type.split("charset=")[1]
    return out


@dataclass
class _Auth:
    claims: Claims
    token: str

    def headers(self) -> dict[str, str]:
        return {
            "spacetime-identity": self.claims.identity.to_hex(),
            "spacetime-identity-token": self.token,
        }


class _Refused(Exception):
    """Ends a request early with ``response`` (bad token, bad parameter, unknown database)."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


def _presented_token(request: web.Request) -> str | None:
    """The bearer token of the request: the header wins over ``?token=``."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _Refused(_text(400, "Authorization is invalid: malformed token"))
        return token.strip()
    return request.query.get("token")


def _authenticate(request: web.Request, *, anonymous: bool) -> _Auth | None:
    """Validate the presented token; mint an anonymous one if allowed and none was given."""
    issuer = request.app[_STATE].issuer
    token = _presented_token(request)
    if token is None:
        if not anonymous:
            return None
        token = issuer.mint()
    try:
        return _Auth(issuer.validate(token), token)
    except InvalidTokenError as e:
        raise _Refused(_text(401, e.reason)) from None


def _with_auth(response: web.StreamResponse, auth: _Auth) -> web.StreamResponse:
    response.headers.update(auth.headers())
    return response


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Any origin may call the API, as upstream's permissive CORS layer allows."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return web.Response(
            status=200,
            headers={
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
                "Access-Control-Allow-Headers": request.headers.get(
                    "Access-Control-Request-Headers", "*"
                ),
            },
        )
    try:
        response = await handler(request)
    except _Refused as e:
        response = e.response
    if not response.prepared:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
    return response


def _database(request: web.Request) -> Database:
    db = request.app[_STATE].find(request.match_info["db"])
    if db is None:
        raise _Refused(_text(404, "No such database."))
    return db


def _query_bool(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value in ("true", "false"):
        return value == "true"
    raise _Refused(
        _text(400, "Failed to deserialize query string: provided string was not `true` or `false`")
    )


# ---- /v1/identity and /v1/ping -----------------------------------------------------------------


async def _create_identity(request: web.Request) -> web.StreamResponse:
    issuer = request.app[_STATE].issuer
    token = issuer.mint()
    identity = issuer.validate(token).identity
    return web.json_response({"identity": identity.to_hex(), "token": token})


async def _websocket_token(request: web.Request) -> web.StreamResponse:
    auth = _authenticate(request, anonymous=False)
    if auth is None:
        return _text(401, "Authorization required")
    token = request.app[_STATE].issuer.mint_websocket_token(auth.claims)
    return web.json_response({"token": token})


async def _public_key(request: web.Request) -> web.StreamResponse:
    pem = request.app[_STATE].issuer.public_key_pem()
    return web.Response(
        body=pem.encode(), headers={"Content-Type": "application/pem-certificate-chain"}
    )


async def _verify(request: web.Request) -> web.StreamResponse:
    identity = _parse_identity(request.match_info["identity"])
    if identity is None:
        return _text(400, "Invalid identity: expected 64 hex digits")
    auth = _authenticate(request, anonymous=False)
    if auth is None:
        return _text(401, "Authorization required")
    if auth.claims.identity != identity:
        return web.Response(status=400)
    return web.Response(status=204)


async def _databases_of(request: web.Request) -> web.StreamResponse:
    identity = _parse_identity(request.match_info["identity"])
    if identity is None:
        return _text(400, "Invalid identity: expected 64 hex digits")
    owned = [db.identity.to_hex() for db in request.app[_STATE].databases if db.is_owner(identity)]
    return web.json_response({"identities": owned})


async def _ping(request: web.Request) -> web.StreamResponse:
    _authenticate(request, anonymous=False)
    return web.Response(status=200)


# ---- /v1/database/{db} -------------------------------------------------------------------------


async def _db_info(request: web.Request) -> web.StreamResponse:
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    identity_type = AlgebraicType.identity()
    program = hashlib.sha256(db.module.name.encode()).hexdigest()
    body = {
        "database_identity": to_json(identity_type, db.identity),
        "owner_identity": to_json(identity_type, db.owner_identity),
        "host_type": {"Wasm": []},
        "initial_program": program,
    }
    return _with_auth(web.json_response(body), auth)


async def _db_identity(request: web.Request) -> web.StreamResponse:
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    return _with_auth(_text(200, _database(request).identity.to_hex()), auth)


async def _schema(request: web.Request) -> web.StreamResponse:
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    version = request.query.get("version")
    if version is None:
        return _text(400, "Failed to deserialize query string: missing field `version`")
    if version not in ("9", "10"):
        return _text(
            400,
            f"Failed to deserialize query string: unknown variant `{version}`, expected `9` or `10`",
        )
    doc = db.module.describe_v9() if version == "9" else db.module.describe_v10()
    return _with_auth(web.json_response(doc), auth)


async def _call(request: web.Request) -> web.StreamResponse:
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    content_type = request.headers.get("Content-Type")
    if content_type is None:
        return _with_auth(_text(400, "Header of type `content-type` was missing"), auth)
    if content_type.strip().lower() != "application/json":
        return _with_auth(
            _text(415, "Expected request with `Content-Type: application/json`"), auth
        )
    body = await request.read()
    result = db.http_call(auth.claims.identity, request.match_info["name"], body)
    return _with_auth(_from_http(result), auth)


async def _sql(request: web.Request) -> web.StreamResponse:
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    db = _database(request)
    _query_bool(request, "confirmed")  # accepted; an in-memory database is always durable
    try:
        sql = (await request.read()).decode()
    except UnicodeDecodeError:
        return _with_auth(_text(400, "Request body didn't contain valid UTF-8"), auth)
    return _with_auth(_from_http(db.http_sql(auth.claims.identity, sql)), auth)


# ---- the WebSocket -----------------------------------------------------------------------------


def _negotiate(request: web.Request) -> str | None:
    offered: list[str] = []
    for header in request.headers.getall("Sec-WebSocket-Protocol", []):
        offered.extend(p.strip() for p in header.split(","))
    for protocol in (SUBPROTOCOL_V3, SUBPROTOCOL_V2):
        if protocol in offered:
            return protocol
    return None


def _compression(request: web.Request) -> Compression:
    value = request.query.get("compression", "Brotli")
    try:
        compression = Compression.from_query_value(value)
    except ValueError:
        raise _Refused(
            _text(
                400,
                f"Failed to deserialize query string: unknown variant `{value}`, "
                "expected one of `None`, `Brotli`, `Gzip`",
            )
        ) from None
    if compression is Compression.BROTLI and not brotli_available():
        raise _Refused(
            _text(
                400,
                "Brotli compression needs the 'brotli' package on the server: "
                "pip install 'spacetimedb-sdk[brotli]', or connect with compression=Gzip or None",
            )
        )
    return compression


def _connection_id(request: web.Request) -> ConnectionId:
    value = request.query.get("connection_id")
    if value is None:
        return ConnectionId.random()
    try:
        connection_id = ConnectionId.from_hex(value)
    except ValueError as e:
        raise _Refused(_text(400, f"Failed to deserialize query string: {e}")) from None
    if connection_id.is_zero():
        raise _Refused(_text(400, "Invalid connection ID: the all-zeros ConnectionId is reserved."))
    return connection_id


async def _subscribe(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    auth = _authenticate(request, anonymous=True)
    assert auth is not None
    compression = _compression(request)
    connection_id = _connection_id(request)
    _query_bool(request, "confirmed")  # accepted: nothing here waits for durability
    _query_bool(request, "light")  # v1 only
    db = _database(request)
    protocol = _negotiate(request)
    if protocol is None:
        return _text(400, "no valid protocol selected")
    settings = state.settings
    ws = web.WebSocketResponse(
        protocols=(protocol,),
        autoping=False,
        compress=False,
        max_msg_size=settings.max_message_size,
        timeout=settings.close_timeout,
    )
    ws.headers.update(auth.headers())
    await ws.prepare(request)
    client = ClientConnection(
        auth.claims.identity,
        connection_id,
        auth.token,
        is_owner=db.is_owner(auth.claims.identity),
        protocol=protocol,
        compression=compression,
        loop=asyncio.get_running_loop(),
    )
    try:
        db.connect(client)
    except ConnectionRejected as e:
        log.info("client %s rejected: %s", client.identity, e.message)
        _drop(request)
        return ws
    task = asyncio.current_task()
    if task is not None:
        state.sockets.add(task)
    try:
        client.send(m.InitialConnection(client.identity, connection_id, auth.token))
        await _Session(request, ws, db, client, settings).run()
    finally:
        if task is not None:
            state.sockets.discard(task)
        db.disconnect(client)
    return ws


def _drop(request: web.Request) -> None:
    """Close the TCP connection without a close frame (clients see an abnormal close)."""
    if request.transport is not None:
        request.transport.close()


class _Session:
    """One accepted WebSocket: a reader (this task), a writer and a pinger."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        db: Database,
        client: ClientConnection,
        settings: ServerSettings,
    ) -> None:
        self.request = request
        self.ws = ws
        self.db = db
        self.client = client
        self.settings = settings
        self.v3 = client.protocol == SUBPROTOCOL_V3
        self.got_pong = True

    async def run(self) -> None:
        writer = asyncio.create_task(self._write())
        pinger = asyncio.create_task(self._ping())
        try:
            await self._read()
        finally:
            pinger.cancel()
            if not self.client.closing:
                self.client.closing = True
                writer.cancel()
            try:
                await asyncio.wait_for(writer, self.settings.close_timeout + 1)
            except (asyncio.CancelledError, asyncio.TimeoutError, ConnectionError):
                pass
            except Exception:  # the socket is gone; nothing more to tell anyone
                log.debug("websocket writer ended with an error", exc_info=True)

    async def _read(self) -> None:
        ws = self.ws
        while True:
            try:
                msg = await ws.receive(timeout=self.settings.idle_timeout)
            except asyncio.TimeoutError:
                log.info("closing idle connection of %s", self.client.identity)
                _drop(self.request)
                return
            if msg.type is WSMsgType.BINARY:
                try:
                    self._handle_frame(msg.data)
                except FatalClientError as e:
                    self.client.close(1011, str(e))
                    return
            elif msg.type is WSMsgType.TEXT:
                version = "v3" if self.v3 else "v2"
                self.client.close(1011, f"{version} websocket does not support text messages")
                return
            elif msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                self.got_pong = True
            else:  # CLOSE, CLOSING, CLOSED, ERROR (e.g. a message over the size limit)
                return

    def _handle_frame(self, data: bytes) -> None:
        if not self.v3:
            try:
                (message,) = decode_client_frame(data, SUBPROTOCOL_V2)
            except ProtocolError as e:
                raise FatalClientError(str(e)) from None
            self.db.handle(self.client, message)
            return
        if not data:
            raise FatalClientError(
                "v3 websocket binary payload must contain at least one v2 client message"
            )
        # Each message runs before the next is decoded, so a bad tail spares the head (as upstream).
        pos = 0
        while pos < len(data):
            try:
                message, pos = decode_client_message(data, pos)
            except ProtocolError as e:
                raise FatalClientError(str(e)) from None
            self.db.handle(self.client, message)

    async def _write(self) -> None:
        client, ws = self.client, self.ws
        while True:
            batch = await client.next_batch()
            pending: list[m.ServerMessage] = []
            for item in batch:
                if isinstance(item, _Close):
                    await self._send(pending)
                    await ws.close(code=item.code, message=_close_reason(item.reason))
                    return
                pending.append(item)
            await self._send(pending)

    async def _send(self, messages: list[m.ServerMessage]) -> None:
        if not messages:
            return
        client, threshold = self.client, self.settings.compression_threshold
        bodies = [encode_once(msg) for msg in messages] if not self.v3 else _v3_bodies(messages)
        for body in bodies:
            if client.compression is Compression.NONE or len(body) <= threshold:
                frame = b"\x00" + body
            else:
                frame = bytes((client.compression.tag,)) + compress(client.compression, body)
            await self.ws.send_bytes(frame)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.ping_interval)
            if self.got_pong and not self.ws.closed:
                self.got_pong = False
                await self.ws.ping()


# Recently encoded broadcast messages, by identity: one commit's TransactionUpdate object is
# shared by every client it goes to, and encoding it once instead of once per client roughly
# halves the server's work when many clients subscribe to the same rows.
_ENCODED: collections.OrderedDict[int, tuple[m.ServerMessage, bytes]] = collections.OrderedDict()
_ENCODED_MAX = 1024


def encode_once(msg: m.ServerMessage) -> bytes:
    """``encode_server_message(msg)``, remembered for the last few broadcast messages."""
    if not isinstance(msg, m.TransactionUpdate):
        return encode_server_message(msg)
    hit = _ENCODED.get(id(msg))
    if hit is not None and hit[0] is msg:
        return hit[1]
    data = encode_server_message(msg)
    _ENCODED[id(msg)] = (msg, data)
    if len(_ENCODED) > _ENCODED_MAX:
        _ENCODED.popitem(last=False)
    return data


def _v3_bodies(messages: list[m.ServerMessage]) -> list[bytes]:
    """Concatenate encoded messages into bodies of about 512 KiB (a big message stays whole)."""
    bodies: list[bytes] = []
    current = bytearray()
    for msg in messages:
        data = encode_once(msg)
        if current and len(current) + len(data) > _V3_FRAME_TARGET:
            bodies.append(bytes(current))
            current = bytearray()
        current += data
    if current:
        bodies.append(bytes(current))
    return bodies


def _close_reason(reason: str) -> bytes:
    data = reason.encode()
    if len(data) <= _MAX_CLOSE_REASON:
        return data
    cut = data[: _MAX_CLOSE_REASON - 3]
    return cut.decode(errors="ignore").encode() + b"..."


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, tell clients the module exited and give them a moment to go."""
    state = app[_STATE]
    for db in state.databases:
        db.stop()
    tasks = list(state.sockets)
    if tasks:
        await asyncio.wait(tasks, timeout=state.settings.close_timeout + 1)
