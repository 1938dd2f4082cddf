"""``with_connect_timeout()`` and ``with_ssl_context()`` cover every step of connecting.

A silent server (it accepts TCP connections and never answers) must fail the schema
fetch and the WebSocket handshake within the builder's timeout, with a
:class:`ConnectTimeoutError` that is also a builtin ``TimeoutError`` and says what timed
out.  A TLS server whose certificate comes from a private CA (made here with
``cryptography``) must be reachable, schema fetch included, with an SSL context that
trusts that CA, and refused without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from spacetimedb_sdk import ConnectError, ConnectTimeoutError, DbConnection, SpacetimeDBError
from spacetimedb_sdk.http import AsyncHttpClient, HttpClient
from spacetimedb_sdk.schema import ModuleSchema
from spacetimedb_sdk.server.local import LocalServer, load_module

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ModuleSchema.from_json(
    (ROOT / "tests" / "fixtures" / "moduledefs" / "quickstart-chat.v10.json").read_text()
)
CHAT = load_module(ROOT / "examples" / "quickstart-chat" / "module.py")
BOUND = 10.0  # seconds: no test may wait longer than this for anything


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections, reads nothing and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(BOUND)
        for s in [*accepted, listener]:
            s.close()


def _timed_out_in(e: BaseException, seconds: float, what: str) -> None:
    assert isinstance(e, ConnectTimeoutError), repr(e)
    assert isinstance(e, ConnectError) and isinstance(e, TimeoutError)
    assert isinstance(e, SpacetimeDBError)
    assert what in str(e) and f"after {seconds:g} s" in str(e), str(e)


# ---- timeouts ---------------------------------------------------------------------------------


async def test_schema_fetch_from_a_silent_server_times_out_with_the_builder_timeout() -> None:
    errors: list[Exception] = []
    with silent_server() as uri:
        builder = (
            DbConnection.builder()  # no schema: it is fetched over HTTP first
            .with_uri(uri)
            .with_database_name("chat")
            .with_connect_timeout(0.4)
            .on_connect_error(lambda ctx, e: errors.append(e))
        )
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            await asyncio.wait_for(builder.connect(), BOUND)
        elapsed = time.monotonic() - started
    _timed_out_in(caught.value, 0.4, "fetching the schema of 'chat'")
    assert uri in str(caught.value)
    assert errors == [caught.value]  # on_connect_error got the same error
    # One timeout, not one per schema version tried (v10 then v9).
    assert elapsed < 0.4 * 2, elapsed


async def test_websocket_handshake_with_a_silent_server_times_out() -> None:
    with silent_server() as uri:
        builder = (
            DbConnection.builder(schema=SCHEMA)  # no schema fetch: straight to the WebSocket
            .with_uri(uri)
            .with_database_name("chat")
            .with_connect_timeout(0.4)
        )
        with pytest.raises(ConnectTimeoutError) as caught:
            await asyncio.wait_for(builder.connect(), BOUND)
    _timed_out_in(caught.value, 0.4, "opening ws://127.0.0.1:")


def test_connect_sync_reports_the_step_that_timed_out() -> None:
    with silent_server() as uri:
        builder = (
            DbConnection.builder()
            .with_uri(uri)
            .with_database_name("chat")
            .with_connect_timeout(0.4)
        )
        with pytest.raises(ConnectTimeoutError) as caught:
            builder.connect_sync()
    _timed_out_in(caught.value, 0.4, "fetching the schema")


async def test_http_client_timeouts_are_timeout_errors() -> None:
    with silent_server() as uri:
        async with AsyncHttpClient(uri, timeout=0.3) as http:
            with pytest.raises(ConnectTimeoutError) as caught:
                await asyncio.wait_for(http.ping(), BOUND)
        _timed_out_in(caught.value, 0.3, "GET " + uri + "/v1/ping")
        with HttpClient(uri, timeout=0.3) as blocking, pytest.raises(TimeoutError):
            blocking.ping()


def test_connect_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DbConnection.builder().with_connect_timeout(0)


# ---- TLS with a private CA --------------------------------------------------------------------


class PrivateCA:
    """A CA and a certificate it signed for 127.0.0.1, as files."""

    def __init__(self, folder: Path) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test private CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = folder / "ca.pem"
        self.cert_file = folder / "server.pem"
        self.key_file = folder / "server.key"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


@contextlib.asynccontextmanager
async def tls_front(ca: PrivateCA, backend_port: int) -> AsyncIterator[str]:
    """A TLS terminator in front of a plain local server: ``https://127.0.0.1:PORT``."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ca.server_context())
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_ssl_context_is_used_by_the_schema_fetch_and_the_websocket(tmp_path: Path) -> None:
    ca = PrivateCA(tmp_path)
    async with LocalServer(CHAT, database="quickstart-chat") as srv, tls_front(ca, srv.port) as uri:
        conn = await asyncio.wait_for(
            DbConnection.builder()  # dynamic: the schema comes over https first
            .with_uri(uri)
            .with_database_name("quickstart-chat")
            .with_ssl_context(ca.client_context())
            .connect(),
            BOUND,
        )
        try:
            assert conn.is_active
            assert "user" in {t.name for t in conn.schema.tables}
            await asyncio.wait_for(conn.reducers.set_name(name="tls"), BOUND)
        finally:
            await asyncio.wait_for(conn.disconnect(), BOUND)


async def test_private_ca_without_the_ssl_context_is_refused(tmp_path: Path) -> None:
    ca = PrivateCA(tmp_path)
    async with LocalServer(CHAT, database="quickstart-chat") as srv, tls_front(ca, srv.port) as uri:
        builder = DbConnection.builder().with_uri(uri).with_database_name("quickstart-chat")
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(builder.connect(), BOUND)
        # With a schema, the WebSocket handshake alone also verifies the certificate.
        with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(
                DbConnection.builder(schema=SCHEMA)
                .with_uri(uri)
                .with_database_name("quickstart-chat")
                .connect(),
                BOUND,
            )


def test_clients_without_a_context_share_one_that_verifies() -> None:
    from spacetimedb_sdk.http.client import _default_tls

    ctx = _default_tls()
    assert ctx is _default_tls()  # built once: reading the CA bundle costs ~45 ms a client
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
