"""``DbConnectionBuilder``: everything a connection is configured with, set fluently.

``DbConnection.builder()`` returns one; its ``with_*`` methods set the server,
database, token, compression, reconnection and TLS options, its ``on_*``
methods register the connection's lifecycle hooks, and ``connect()`` /
``connect_sync()`` / ``build()`` make the connection.  The builder stays the
connection's configuration afterwards (read-only by convention).

Example::

    conn = await (DbConnection.builder()
        .with_uri("http://127.0.0.1:3000")
        .with_database_name("quickstart-chat")
        .with_token(saved_token)
        .on_connect(lambda conn, identity, token: save(token))
        .connect())
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Literal, Protocol, TypeVar

from ..client.events import ErrorContext
from ..protocol.framing import Compression
from ..sats.values import Identity
from ..schema import ModuleSchema
from .drivers import Mode
from .reconnect import ReconnectPolicy
from .transport import DEFAULT_SUBPROTOCOLS


class Startable(Protocol):
    """What a builder builds: a connection class made from the builder, started by it."""

    def __init__(self, config: DbConnectionBuilder[Any]) -> None: ...

    async def _start(self, mode: Mode) -> None: ...

    def _start_sync(self, mode: Mode, timeout: float | None) -> None: ...


_C = TypeVar("_C", bound=Startable)


class DbConnectionBuilder(Generic[_C]):
    """Configure, then ``await .connect()`` or ``.connect_sync(mode=...)`` (python-api.md §3).

    Generic in the connection class it builds, so ``await GeneratedDbConnection.builder()
    ...connect()`` is typed as the generated subclass.  The ``with_*`` and ``on_*`` methods
    return the builder, so calls chain.

    Example::

        conn = await (DbConnection.builder()
            .with_uri("http://127.0.0.1:3000")
            .with_database_name("quickstart-chat")
            .with_token(saved_token)
            .on_disconnect(lambda ctx, error: print("closed:", error))
            .connect())
    """

    def __init__(
        self,
        cls: type[_C],
        schema: ModuleSchema | None,
        classes: Mapping[int, type] | None,
    ) -> None:
        self._cls = cls
        self.schema = schema
        self.classes = classes
        self.uri: str | None = None
        self.database: str | None = None
        self.token: str | None = None
        self.compression = Compression.GZIP
        self.confirmed: bool | None = None
        self.reconnect: ReconnectPolicy | None = None
        self.subprotocols: tuple[str, ...] = DEFAULT_SUBPROTOCOLS
        self.connect_timeout = 10.0
        self.ssl_context: ssl.SSLContext | None = None
        self.max_frame_size = 256 * 1024 * 1024
        self.callbacks: dict[str, Callable[..., object]] = {}

    def __repr__(self) -> str:
        # The token is a secret: only whether one is set.
        schema = (
            "fetched at connect"
            if self.schema is None
            else f"given ({len(self.schema.tables)} tables)"
        )
        parts = [
            f"uri={self.uri!r}",
            f"database={self.database!r}",
            f"token={'<set>' if self.token else None}",
            f"compression={self.compression.query_value.lower()!r}",
            f"schema={schema}",
        ]
        if self.reconnect is not None:
            parts.append(f"reconnect={self.reconnect!r}")
        if self.confirmed is not None:
            parts.append(f"confirmed_reads={self.confirmed}")
        if self.ssl_context is not None:
            parts.append("ssl_context=<custom>")
        if self.callbacks:
            parts.append(f"callbacks={sorted(self.callbacks)}")
        return f"<{type(self).__name__} for {self._cls.__qualname__}: {', '.join(parts)}>"

    def with_uri(self, uri: str) -> DbConnectionBuilder[_C]:
        """``http(s)://`` or ``ws(s)://`` base URL of the server.

        Example::

            builder.with_uri("https://maincloud.spacetimedb.com")
        """
        self.uri = uri
        return self

    def with_database_name(self, name: str) -> DbConnectionBuilder[_C]:
        """The database's name or hex identity (``with_module_name`` is an alias).

        Example::

            builder.with_database_name("quickstart-chat")
        """
        self.database = name
        return self

    with_module_name = with_database_name

    def with_token(self, token: str | None) -> DbConnectionBuilder[_C]:
        """Reuse a saved token (same identity); ``None`` gets a new anonymous identity.

        Example::

            builder.with_token(credentials.File("my-app").load())
        """
        self.token = token
        return self

    def with_compression(
        self, compression: Literal["none", "gzip", "brotli"] | Compression
    ) -> DbConnectionBuilder[_C]:
        """How the server compresses large messages: ``"gzip"`` (default), ``"brotli"`` or ``"none"``.

        Example::

            builder.with_compression("none")
        """
        if isinstance(compression, Compression):
            self.compression = compression
            return self
        try:
            self.compression = {
                "none": Compression.NONE,
                "gzip": Compression.GZIP,
                "brotli": Compression.BROTLI,
            }[compression.lower()]
        except KeyError:
            raise ValueError(
                f"compression must be 'none', 'gzip' or 'brotli', not {compression!r}"
            ) from None
        if self.compression is Compression.BROTLI:
            from ..protocol.framing import brotli_available

            if not brotli_available():
                raise ValueError(
                    "brotli compression needs the brotli package: pip install 'spacetimedb-sdk[brotli]'"
                )
        return self

    def with_confirmed_reads(self, confirmed: bool) -> DbConnectionBuilder[_C]:
        """Hold updates until durable (server default when not set: on).

        Example::

            builder.with_confirmed_reads(False)   # lower latency, may show changes a crash loses
        """
        self.confirmed = confirmed
        return self

    def with_reconnect(
        self, min_delay: float = 1.0, max_delay: float = 30.0, jitter: float = 0.5
    ) -> DbConnectionBuilder[_C]:
        """Reconnect after unexpected drops with exponential backoff, keeping subscriptions and identity.

        Example::

            builder.with_reconnect(min_delay=0.5, max_delay=10)
        """
        if not 0 < min_delay <= max_delay or not 0 <= jitter < 1:
            raise ValueError("need 0 < min_delay <= max_delay and 0 <= jitter < 1")
        self.reconnect = ReconnectPolicy(min_delay, max_delay, jitter)
        return self

    def with_subprotocols(self, subprotocols: Sequence[str]) -> DbConnectionBuilder[_C]:
        """Offer other WebSocket subprotocols (default v3 then v2).

        Example::

            builder.with_subprotocols(["v2.bsatn.spacetimedb"])   # v2 only
        """
        self.subprotocols = tuple(subprotocols)
        return self

    def with_connect_timeout(self, seconds: float) -> DbConnectionBuilder[_C]:
        """The time limit (seconds, default 10) of each step of connecting.

        The steps are fetching the schema (dynamic connections only), the WebSocket
        handshake and waiting for the server's ``InitialConnection``; a step that takes
        longer raises :class:`~spacetimedb_sdk.errors.ConnectTimeoutError` (also a
        builtin ``TimeoutError``) naming it.

        Example::

            conn = await builder.with_connect_timeout(3.0).connect()
        """
        if not seconds > 0:
            raise ValueError(f"the connect timeout must be positive, not {seconds!r}")
        self.connect_timeout = seconds
        return self

    def with_ssl_context(self, context: ssl.SSLContext) -> DbConnectionBuilder[_C]:
        """A custom TLS context for ``https``/``wss`` servers: the schema fetch and the WebSocket.

        Verification stays on unless the context turns it off; use it to trust a private CA.

        Example::

            ctx = ssl.create_default_context(cafile="my-ca.pem")
            conn = await builder.with_uri("https://db.internal").with_ssl_context(ctx).connect()
        """
        self.ssl_context = context
        return self

    def _on(self, name: str, cb: Callable[..., object]) -> DbConnectionBuilder[_C]:
        self.callbacks[name] = cb
        return self

    def on_connect(self, cb: Callable[[_C, Identity, str], object]) -> DbConnectionBuilder[_C]:
        """Call ``cb(conn, identity, token)`` once the server accepted the connection.

        Runs once, before ``connect()`` returns (not again after a reconnect); save the token
        here to keep the identity.

        Example::

            builder.on_connect(lambda conn, identity, token: credentials.File("app").save(token))
        """
        return self._on("connect", cb)

    def on_connect_error(
        self, cb: Callable[[ErrorContext, Exception], object]
    ) -> DbConnectionBuilder[_C]:
        """Call ``cb(ctx, error)`` when connecting fails (``connect()`` raises the same error).

        Example::

            builder.on_connect_error(lambda ctx, error: print("cannot connect:", error))
        """
        return self._on("connect_error", cb)

    def on_disconnect(
        self, cb: Callable[[ErrorContext, Exception | None], object]
    ) -> DbConnectionBuilder[_C]:
        """Call ``cb(ctx, error)`` when the connection ends: ``error`` is ``None`` after
        ``disconnect()``, else what ended it.

        Example::

            builder.on_disconnect(lambda ctx, error: print("closed", error or "cleanly"))
        """
        return self._on("disconnect", cb)

    def on_callback_error(self, cb: Callable[[Exception], object]) -> DbConnectionBuilder[_C]:
        """Call ``cb(exception)`` when one of your callbacks raises (it is logged as well).

        Example::

            errors = []
            builder.on_callback_error(errors.append)
        """
        return self._on("callback_error", cb)

    def on_reconnecting(
        self, cb: Callable[[_C, Exception | None, int], object]
    ) -> DbConnectionBuilder[_C]:
        """With ``with_reconnect``: call ``cb(conn, error, attempt)`` before each reconnection attempt.

        Example::

            builder.on_reconnecting(lambda conn, error, attempt: print(f"attempt {attempt}: {error}"))
        """
        return self._on("reconnecting", cb)

    def on_reconnected(self, cb: Callable[[_C], object]) -> DbConnectionBuilder[_C]:
        """With ``with_reconnect``: call ``cb(conn)`` once a reconnection succeeded and resubscribed.

        Example::

            builder.on_reconnected(lambda conn: print("back online as", conn.identity))
        """
        return self._on("reconnected", cb)

    def build(self) -> _C:
        """An unstarted connection: ``await conn.run()`` or ``async with conn:`` starts it.

        Example::

            async with builder.build() as conn:
                await conn.reducers.send_message(text="hi")
        """
        if not self.uri:
            raise ValueError("with_uri(...) is required")
        if not self.database:
            raise ValueError("with_database_name(...) is required")
        return self._cls(self)

    async def connect(self) -> _C:
        """Connect and wait for the server's ``InitialConnection``; raises :class:`ConnectError`.

        A step that takes longer than ``with_connect_timeout`` raises ``ConnectTimeoutError``.

        Example::

            conn = await builder.connect()
        """
        conn = self.build()
        await conn._start("async")
        return conn

    def connect_sync(
        self, mode: Literal["thread", "tick"] = "thread", *, timeout: float | None = None
    ) -> _C:
        """Connect from synchronous code; the two modes are described in :mod:`.drivers`.

        ``"thread"`` runs the network and callbacks on a background thread; ``"tick"`` applies
        messages and runs callbacks only inside ``conn.frame_tick()``.  ``timeout`` bounds the
        whole wait (by default, the connect timeout of each step plus a margin).

        Example::

            conn = builder.connect_sync(mode="thread")
            conn.reducers.send_message(text="hi").result(timeout=5)
        """
        if mode not in ("thread", "tick"):
            raise ValueError(f"mode must be 'thread' or 'tick', not {mode!r}")
        conn = self.build()
        if timeout is None:  # a backstop behind the timeout of each step (with_connect_timeout)
            steps = 2 if self.schema is not None else 3
            timeout = steps * self.connect_timeout + 5
        conn._start_sync(mode, timeout)
        return conn


__all__ = ["DbConnectionBuilder", "Startable"]
