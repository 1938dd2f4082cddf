"""Every error the SDK raises derives from :class:`SpacetimeDBError`.

Errors name what failed and, where it helps, what to do next.  Errors caused by
malformed bytes (:class:`BsatnDecodeError`, :class:`ProtocolError`) carry the
type path and byte offset so a bad frame can be located without a debugger.

Example::

    try:
        bsatn.decode(AlgebraicType.BOOL, b"\\x02")
    except BsatnDecodeError as e:
        print(e)   # invalid bool byte 0x02 at offset 0 (at <root>: Bool)
"""

from __future__ import annotations


class SpacetimeDBError(Exception):
    """Base class of every error raised by ``spacetimedb_sdk``.

    Example::

        try:
            await conn.reducers.set_name(name="")
        except SpacetimeDBError as e:  # any error of the SDK
            print(type(e).__name__, e)
    """


class BsatnDecodeError(SpacetimeDBError, ValueError):
    """BSATN bytes do not match the expected type.

    ``path`` is the dotted type path (``message.sender.__identity__``) and
    ``offset`` the byte offset at which decoding failed.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType, bsatn
        >>> try:
        ...     bsatn.decode(AlgebraicType.BOOL, b"\\x02")
        ... except BsatnDecodeError as e:
        ...     print(e.offset, e.path)
        0 <root>
    """

    def __init__(self, reason: str, *, path: str = "<root>", offset: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.offset = offset
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{reason}{where} (at {path})")


class BsatnEncodeError(SpacetimeDBError, ValueError):
    """A Python value cannot be encoded as the requested type.

    The message names the type path and what was wrong with the value.

    Example::

        >>> from spacetimedb_sdk.sats import AlgebraicType, bsatn
        >>> try:
        ...     bsatn.encode(AlgebraicType.U8, 300)
        ... except BsatnEncodeError as e:
        ...     print(e.path)
        <root>
    """

    def __init__(self, reason: str, *, path: str = "<root>") -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{reason} (at {path})")


class ProtocolError(SpacetimeDBError):
    """Malformed or unexpected data from the other side of the connection.

    The connection that received it is closed; ``on_disconnect`` gets this error.

    Example::

        builder.on_disconnect(lambda ctx, err: print("bad server data" if isinstance(err, ProtocolError) else err))
    """


class RowDecodeError(ProtocolError, BsatnDecodeError):
    """A row the server sent does not decode as its table's row type.

    Both a :class:`ProtocolError` (it ends the connection) and a
    :class:`BsatnDecodeError` (``path`` and ``offset`` say where in the row):
    ``table`` names the table.  Usually the bindings are older than the module.

    Example::

        except RowDecodeError as e:
            print(e.table, e.path, e.offset)   # user user.online 33
    """

    def __init__(self, table: str, reason: str, *, path: str, offset: int | None) -> None:
        BsatnDecodeError.__init__(self, reason, path=path, offset=offset)
        self.table = table
        where = f" at offset {offset} of the row" if offset is not None else ""
        self.args = (
            f"a row of table {table!r} does not decode: {reason}{where} (at {path}); "
            "are the bindings older than the module?",
        )


class ServerClosedError(ProtocolError):
    """The server closed the connection with an error close code (not 1000 or 1001).

    ``code`` and ``reason`` are the server's close frame.  1002, 1003, 1007, 1008 and
    1010 say the server does not accept what this client speaks, so a connection
    built ``with_reconnect`` stops; other codes (1011 server error, 1012 restart,
    1013 try again later, ...) are retried.

    Example::

        except ServerClosedError as e:
            print(e.code, e.reason)   # 1013 too many requests
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(
            f"server closed the connection with code {code}: {reason or 'no reason given'}"
        )
        self.code = code
        self.reason = reason


class ConnectError(SpacetimeDBError):
    """The connection could not be established (refused, rejected, bad token, ...).

    ``status`` is the HTTP status the server answered the WebSocket handshake with,
    when it answered one (``None`` when it could not be reached at all).

    Example::

        try:
            conn = await DbConnection.builder().with_uri(url).with_database_name(db).connect()
        except ConnectError as e:
            print("cannot connect:", e, e.status)
    """

    status: int | None = None


class ConnectTimeoutError(ConnectError, TimeoutError):
    """Connecting took longer than ``with_connect_timeout()`` allows (python-api.md §11).

    Both a :class:`ConnectError` and the builtin :class:`TimeoutError` (as the timeouts
    of ``httpx`` and ``websockets`` are), so ``except TimeoutError`` catches it too.  The
    message names the step that timed out (fetching the schema, the WebSocket handshake,
    waiting for ``InitialConnection``) and after how long.

    Example::

        try:
            conn = await builder.with_connect_timeout(5).connect()
        except TimeoutError as e:
            print(e)  # timed out after 5 s fetching the schema of 'chat' from http://...
    """


class ConnectionRejectedError(ConnectError):
    """The server refused the connection for a reason that retrying cannot fix.

    Raised for an HTTP 4xx answer to the WebSocket handshake (401: the token is
    not valid on this server; 403: this client is not allowed; 404: no such
    database), except 408 and 429.  A connection built ``with_reconnect`` stops
    retrying and ``on_disconnect`` receives this error; the message says what to
    do (use a new token, clear saved credentials, check the database name).

    Example::

        try:
            await builder.with_token(old_token).connect()
        except ConnectionRejectedError as e:
            print(e.status)   # 401
    """

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class DisconnectedError(SpacetimeDBError):
    """The connection closed while a call was in flight, or a call was made after it closed.

    Example::

        try:
            await conn.reducers.send_message(text="hi")
        except DisconnectedError:
            print("the connection dropped before the server answered")
    """


class SubscriptionError(SpacetimeDBError):
    """The server rejected a subscription or ended it with an error.

    Example::

        try:
            await conn.subscription_builder().subscribe("SELECT * FROM no_such_table")
        except SubscriptionError as e:
            print(e)  # no such table: `no_such_table` ...
    """


class ReducerError(SpacetimeDBError):
    """A reducer returned its own error (``Err`` / ``SenderError`` in the module).

    Example::

        try:
            await conn.reducers.set_name(name="")
        except ReducerError as e:
            print(e)  # Names must not be empty
    """


class InternalError(SpacetimeDBError):
    """The host failed a call: panic, unknown or private reducer, bad arguments, out of energy.

    Example::

        try:
            await conn.reducers.divide(a=1, b=0)   # the module raised
        except InternalError as e:
            print("module bug:", e)
    """


class ProcedureError(SpacetimeDBError):
    """A procedure call failed on the host.

    Example::

        try:
            await conn.procedures.bump(name="x", by=1)
        except ProcedureError as e:
            print(e)
    """


class QueryError(SpacetimeDBError):
    """A one-off query was rejected by the server (bad SQL, unknown table, no permission).

    Example::

        try:
            await conn.one_off_query("SELECT * FROM nope")
        except QueryError as e:
            print(e)
    """


class SchemaError(SpacetimeDBError, ValueError):
    """A module schema is malformed or refers to something that does not exist.

    Example::

        >>> from spacetimedb_sdk.schema import ModuleSchema
        >>> try:
        ...     ModuleSchema.from_json('{"not": "a schema"}')
        ... except SchemaError:
        ...     print("rejected")
        rejected
    """


__all__ = [
    "BsatnDecodeError",
    "BsatnEncodeError",
    "ConnectError",
    "ConnectTimeoutError",
    "ConnectionRejectedError",
    "DisconnectedError",
    "InternalError",
    "ProcedureError",
    "ProtocolError",
    "QueryError",
    "ReducerError",
    "RowDecodeError",
    "SchemaError",
    "ServerClosedError",
    "SpacetimeDBError",
    "SubscriptionError",
]
