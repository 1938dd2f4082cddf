"""Tokens from a second, local OpenID Connect issuer (discovery + JWKS served over HTTP here).

Upstream (``crates/core/src/auth/token_validation.rs``, ``crates/client-api/src/auth.rs``)
accepts any issuer whose discovery document and key set it can fetch, derives the identity from
``iss``/``sub``, caches the keys, and answers rejected tokens with 401 and its error text.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from server_test_support import TIMEOUT, WsClient, game

from spacetimedb_sdk.server.auth import InvalidTokenError, TokenIssuer, identity_from_claims
from spacetimedb_sdk.server.local import LocalServer
from spacetimedb_sdk.server.oidc import OidcValidator


@dataclass
class Issuer:
    """A minimal OIDC issuer: an ES256 and an RS256 key, discovery and JWKS routes."""

    url: str = ""
    es_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    rs_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    discovery_hits: int = 0
    claimed_issuer: str | None = None  # the `issuer` the discovery document names
    gate: asyncio.Event | None = None  # when set, discovery waits for it
    reached: asyncio.Event = field(default_factory=asyncio.Event)  # discovery was asked
    padding: int = 0  # bytes of junk added to the key set

    def jwks(self) -> dict[str, Any]:
        es = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.es_key.public_key()))
        rs = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rs_key.public_key()))
        keys = [{**es, "kid": "es-1", "alg": "ES256"}, {**rs, "kid": "rs-1", "alg": "RS256"}]
        doc: dict[str, Any] = {"keys": keys}
        if self.padding:
            doc["padding"] = "x" * self.padding
        return doc

    def token(
        self,
        sub: str = "alice",
        *,
        kid: str | None = "es-1",
        alg: str = "ES256",
        key: Any = None,
        iss: str | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {"iss": iss or self.url, "sub": sub, "iat": now, "aud": "my-app", **claims}
        if key is None:
            key = self.es_key if alg.startswith("ES") else self.rs_key
        headers = {"kid": kid} if kid is not None else {}
        return jwt.encode(payload, key, algorithm=alg, headers=headers)


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    state = Issuer()

    async def discovery(request: web.Request) -> web.Response:
        state.discovery_hits += 1
        state.reached.set()
        if state.gate is not None:
            await state.gate.wait()
        issuer_name = state.claimed_issuer or state.url
        return web.json_response({"issuer": issuer_name, "jwks_uri": f"{state.url}/jwks"})

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(state.jwks())

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        if state.gate is not None:
            state.gate.set()
        await runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[tuple[LocalServer, httpx.AsyncClient]]:
    async with (
        LocalServer(game) as srv,
        httpx.AsyncClient(base_url=srv.url, timeout=TIMEOUT) as http,
    ):
        yield srv, http


async def _sql(http: httpx.AsyncClient, srv: LocalServer, token: str) -> httpx.Response:
    return await http.post(
        f"/v1/database/{srv.database}/sql",
        content="SELECT * FROM counter",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_tokens_of_another_issuer_are_accepted(
    issuer: Issuer, server: tuple[LocalServer, httpx.AsyncClient]
) -> None:
    srv, http = server
    expected = identity_from_claims(issuer.url, "alice")
    for token in (
        issuer.token(),
        issuer.token(kid=None, alg="RS256"),
        issuer.token(alg="RS256", kid="rs-1"),
    ):
        r = await _sql(http, srv, token)
        assert r.status_code == 200, r.text
        assert r.headers["spacetime-identity"] == expected.to_hex()
    assert issuer.discovery_hits == 1  # the key set is cached
    # Over the WebSocket too, and a websocket token minted from it keeps the identity.
    c = await WsClient.connect(srv.ws_url, token=issuer.token(sub="bob"))
    hello = await c.initial()
    assert hello.identity == identity_from_claims(issuer.url, "bob")
    await c.close()
    r = await http.post(
        "/v1/identity/websocket-token", headers={"Authorization": f"Bearer {issuer.token()}"}
    )
    short = srv.issuer.validate(r.json()["token"])
    assert (short.identity, short.issuer) == (expected, issuer.url)


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("make", "text"),
    [
        (
            lambda i: i.token(key=ec.generate_private_key(ec.SECP256R1())),
            "Invalid token: InvalidSignature",
        ),
        (lambda i: i.token(kid="nope"), "Specified key ID not found in JWKs"),
        (lambda i: i.token(exp=int(time.time()) - 3600), "Invalid token: ExpiredSignature"),
        (
            lambda i: i.token(alg="ES384", key=ec.generate_private_key(ec.SECP384R1())),
            "Invalid token: InvalidAlgorithm",
        ),
        (lambda i: i.token(alg="PS256", kid="rs-1"), "Invalid token: InvalidAlgorithm"),
        (
            lambda i: (
                f"{_b64({'alg': 'none', 'typ': 'JWT'})}."
                f"{_b64({'iss': i.url, 'sub': 'mallory', 'iat': 0})}."
            ),
            "Invalid token",
        ),
        (lambda i: i.token(sub=""), "Subject empty"),
    ],
    ids=["bad-signature", "unknown-kid", "expired", "es384", "ps256", "alg-none", "empty-sub"],
)
async def test_tokens_that_must_be_rejected(
    issuer: Issuer, server: tuple[LocalServer, httpx.AsyncClient], make: Any, text: str
) -> None:
    srv, http = server
    r = await _sql(http, srv, make(issuer))
    assert r.status_code == 401
    assert r.text.startswith(text), r.text
    assert "eyJ" not in r.text  # the token never appears in an error
    # Nothing is lost: a good token still works.
    assert (await _sql(http, srv, issuer.token())).status_code == 200


async def test_issuer_mismatch_and_unreachable_issuer(
    issuer: Issuer, server: tuple[LocalServer, httpx.AsyncClient]
) -> None:
    srv, http = server
    issuer.claimed_issuer = "https://someone-else.example"
    r = await _sql(http, srv, issuer.token())
    assert r.status_code == 401
    assert r.text == (
        f'Issuer mismatch: got "{issuer.url}", expected "https://someone-else.example"'
    )
    # An issuer nobody serves (a port that was just closed).
    probe = web.AppRunner(web.Application())
    await probe.setup()
    site = web.TCPSite(probe, "127.0.0.1", 0)
    await site.start()
    gone = f"http://127.0.0.1:{probe.addresses[0][1]}"
    await probe.cleanup()
    r = await _sql(http, srv, issuer.token(iss=gone))
    assert (r.status_code, r.text) == (401, f"Error fetching public key for issuer {gone}")
    # A token naming our own issuer but not signed by us is a bad signature, never fetched.
    r = await _sql(http, srv, issuer.token(iss="localhost"))
    assert r.status_code == 401
    assert r.text.startswith("Invalid token: InvalidSignature")


async def test_fetching_is_bounded_and_does_not_block(
    issuer: Issuer, server: tuple[LocalServer, httpx.AsyncClient]
) -> None:
    srv, http = server
    issuer.gate = asyncio.Event()
    pending = asyncio.gather(*(_sql(http, srv, issuer.token()) for _ in range(3)))
    # While the issuer holds its answer, the server keeps serving others.
    await asyncio.wait_for(issuer.reached.wait(), TIMEOUT)
    assert (await http.get("/v1/ping")).status_code == 200
    r = await _sql(http, srv, srv.owner_token)
    assert r.status_code == 200
    issuer.gate.set()
    assert [x.status_code for x in await pending] == [200, 200, 200]
    assert issuer.discovery_hits == 1  # concurrent validations shared one fetch


async def test_timeout_and_size_limit(issuer: Issuer) -> None:
    local = TokenIssuer.generate()
    slow = OidcValidator(local, fetch_timeout=0.2)
    issuer.gate = asyncio.Event()  # never set: the issuer never answers
    with pytest.raises(InvalidTokenError, match="Error fetching public key"):
        await slow.validate(issuer.token())
    issuer.gate.set()
    issuer.gate = None
    issuer.padding = 4096
    small = OidcValidator(local, max_bytes=2048)
    with pytest.raises(InvalidTokenError, match="Error fetching public key"):
        await small.validate(issuer.token())
    roomy = OidcValidator(local, max_bytes=1 << 20)
    claims = await roomy.validate(issuer.token(sub="carol"))
    assert claims.identity == identity_from_claims(issuer.url, "carol")


async def test_cached_keys_refresh_and_survive_an_outage(issuer: Issuer) -> None:
    clock = [1000.0]
    validator = OidcValidator(TokenIssuer.generate(), now=lambda: clock[0], fetch_timeout=0.5)
    await validator.validate(issuer.token())
    await validator.validate(issuer.token(sub="erin"))
    assert issuer.discovery_hits == 1
    clock[0] += 301  # past the refresh period: fetched again
    await validator.validate(issuer.token())
    assert issuer.discovery_hits == 2
    issuer.gate = asyncio.Event()  # the issuer stops answering
    clock[0] += 400  # stale: the refresh fails, the old keys still serve
    claims = await validator.validate(issuer.token(sub="dave"))
    assert claims.subject == "dave"
    clock[0] += 7200  # expired as well: refused
    with pytest.raises(InvalidTokenError, match="Error fetching public key"):
        await validator.validate(issuer.token())
