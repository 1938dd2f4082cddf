"""Tokens from other issuers: OpenID Connect discovery and JWKS, as upstream validates them.

Upstream (``crates/core/src/auth/token_validation.rs``) first checks a token against the server's
own key, whatever its issuer (the server re-signs short-lived tokens of other issuers).  If that
fails and the token's ``iss`` is another issuer, it fetches ``{iss}/.well-known/openid-configuration``,
then the key set at its ``jwks_uri``, and checks the token with those keys: the key named by the
header's ``kid`` (``Specified key ID not found in JWKs`` when absent), or every key in turn when
there is no ``kid``.  Algorithms: ES256 and RS256 (a key verifies only its own family; HS256 has
no public JWK).  ``sub`` and ``iss`` are required, ``exp`` is checked with 60 s of leeway, the
audience is not checked, and the identity comes from ``iss`` and ``sub`` as for local tokens.
Key sets are cached per issuer: used for 5 minutes, then refreshed (the old set still serves for
up to 2 hours while the issuer cannot be reached).  Rejections are 401 with upstream's texts.

Fetching never blocks the event loop (``aiohttp``), is bounded (a timeout and a size limit per
document), verifies TLS, and concurrent requests for one issuer share one fetch.  Besides
upstream, the discovery document's own ``issuer`` must name the token's issuer (``Issuer
mismatch``), as OpenID Connect Discovery requires.

Example::

    validator = OidcValidator(issuer)
    claims = await validator.validate(token)    # local or OIDC, raises InvalidTokenError
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from .._log import get_logger
from .auth import Claims, InvalidTokenError, TokenIssuer

log = get_logger("spacetimedb_sdk.server")

REFRESH_SECONDS = 300.0
"""A key set older than this is fetched again before use (upstream's cache refresh)."""
EXPIRE_SECONDS = 7200.0
"""A key set older than this is not used even when the issuer cannot be reached."""
FETCH_TIMEOUT_SECONDS = 5.0
"""Time allowed for each of the two documents (discovery, key set)."""
MAX_DOCUMENT_BYTES = 1 << 20
"""The largest discovery document or key set accepted."""

_ALGORITHMS = ("ES256", "RS256", "HS256")
_KNOWN_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "ES256",
    "ES384",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)
"""The algorithms upstream's JWT library can name (its ``Algorithm`` enum)."""


@dataclass
class _KeySet:
    keys: list[tuple[str | None, jwt.PyJWK]]
    fetched_at: float


class OidcValidator:
    """Validates tokens signed by the local server's key or by an OpenID Connect issuer.

    ``issuer`` is the local :class:`TokenIssuer`; ``now`` the clock (seconds since the
    epoch), ``fetch_timeout`` and ``max_bytes`` bound each fetched document.

    Example::

        claims = await OidcValidator(TokenIssuer.generate()).validate(token)
    """

    def __init__(
        self,
        issuer: TokenIssuer,
        *,
        now: Callable[[], float] = time.time,
        fetch_timeout: float = FETCH_TIMEOUT_SECONDS,
        max_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.issuer = issuer
        self._now = now
        self._timeout = fetch_timeout
        self._max_bytes = max_bytes
        self._cache: dict[str, _KeySet] = {}
        self._inflight: dict[str, asyncio.Future[_KeySet]] = {}

    def __repr__(self) -> str:
        return f"OidcValidator(local issuer={self.issuer.issuer!r}, cached={sorted(self._cache)})"

    async def validate(self, token: str) -> Claims:
        """The token's claims, or :class:`InvalidTokenError` with upstream's text."""
        try:
            return await self._validate(token)
        except RecursionError:
            # JSON nested deeper than the parser goes, in the header or the payload.
            raise InvalidTokenError(
                "malformed", "Invalid token: JSON error: recursion limit exceeded"
            ) from None

    async def _validate(self, token: str) -> Claims:
        alg = _header(token).get("alg")
        if alg not in _KNOWN_ALGORITHMS:
            # Upstream's JWT library cannot even parse such a header.
            raise InvalidTokenError(
                "algorithm",
                f"Invalid token: JSON error: unknown variant `{alg}`, expected one of "
                + ", ".join(f"`{a}`" for a in _KNOWN_ALGORITHMS),
            )
        try:
            return self.issuer.validate(token)
        except InvalidTokenError as local_error:
            iss = _unverified_issuer(token)
            if iss == self.issuer.issuer:
                raise  # our own issuer: the local key was the only candidate
            del local_error
        keys = await self._keys(iss)
        return self._check_with(keys, token, iss)

    # -- keys

    async def _keys(self, iss: str) -> _KeySet:
        cached = self._cache.get(iss)
        age = None if cached is None else self._now() - cached.fetched_at
        if cached is not None and age is not None and age < REFRESH_SECONDS:
            return cached
        try:
            return await self._fetch_shared(iss)
        except InvalidTokenError:
            if cached is not None and age is not None and age < EXPIRE_SECONDS:
                return cached
            raise

    async def _fetch_shared(self, iss: str) -> _KeySet:
        pending = self._inflight.get(iss)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(iss))
            self._inflight[iss] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(iss, None))
        return await asyncio.shield(pending)

    async def _fetch(self, iss: str) -> _KeySet:
        failed = InvalidTokenError("issuer", f"Error fetching public key for issuer {iss}")
        url = f"{iss.rstrip('/')}/.well-known/openid-configuration"
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                config = await self._get_json(session, url)
                jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
                if not isinstance(jwks_uri, str):
                    raise ValueError(f"{url} has no jwks_uri")
                doc_issuer = config.get("issuer")
                jwks = await self._get_json(session, jwks_uri)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            log.warning("error fetching public keys for issuer %s: %s", iss, e)
            raise failed from None
        if isinstance(doc_issuer, str) and doc_issuer.rstrip("/") != iss.rstrip("/"):
            raise InvalidTokenError(
                "issuer",
                f"Issuer mismatch: got {json.dumps(iss)}, expected {json.dumps(doc_issuer)}",
            )
        keys = _parse_jwks(jwks)
        if not keys:
            log.warning("issuer %s publishes no usable ES256/RS256 keys", iss)
            raise failed
        key_set = _KeySet(keys, self._now())
        self._cache[iss] = key_set
        return key_set

    async def _get_json(self, session: aiohttp.ClientSession, url: str) -> Any:
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        async with session.get(url, allow_redirects=True, max_redirects=3) as resp:
            if resp.status != 200:
                raise ValueError(f"{url} answered HTTP {resp.status}")
            body = await resp.content.read(self._max_bytes + 1)
            if len(body) > self._max_bytes:
                raise ValueError(f"{url} is larger than {self._max_bytes} bytes")
            return json.loads(body)

    # -- checking

    def _check_with(self, key_set: _KeySet, token: str, iss: str) -> Claims:
        kid = _header(token).get("kid")
        if kid is not None:
            match = [k for k in key_set.keys if k[0] == kid]
            if not match:
                raise InvalidTokenError("signature", "Specified key ID not found in JWKs")
            return self._check_one(match[0][1], token, iss)
        last: InvalidTokenError = InvalidTokenError("signature", "No kid found")
        for _, key in key_set.keys:
            try:
                return self._check_one(key, token, iss)
            except InvalidTokenError as e:
                last = e
        raise last

    def _check_one(self, key: jwt.PyJWK, token: str, iss: str) -> Claims:
        alg = _header(token).get("alg")
        if alg not in _ALGORITHMS or alg != key.algorithm_name:
            raise InvalidTokenError("algorithm", "Invalid token: InvalidAlgorithm")
        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                leeway=60,
                options={
                    "require": ["sub", "iss"],
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("expired", "Invalid token: ExpiredSignature") from None
        except jwt.InvalidSignatureError:
            raise InvalidTokenError("signature", "Invalid token: InvalidSignature") from None
        except jwt.MissingRequiredClaimError as e:
            raise InvalidTokenError(
                "claims", f"Invalid token: Missing required claim: {e.claim}"
            ) from None
        except jwt.PyJWTError as e:
            raise InvalidTokenError("malformed", f"Invalid token: {e}") from None
        if payload.get("iss") != iss:
            raise InvalidTokenError(
                "issuer",
                f"Issuer mismatch: got {json.dumps(payload.get('iss'))}, expected {json.dumps(iss)}",
            )
        return self.issuer.claims_of(payload)


def _header(token: str) -> dict[str, Any]:
    try:
        return dict(jwt.get_unverified_header(token))
    except jwt.PyJWTError as e:
        raise InvalidTokenError("malformed", f"Invalid token: {e}") from None


def _unverified_issuer(token: str) -> str:
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError) as e:
        raise InvalidTokenError("malformed", f"Invalid token: {e}") from None
    iss = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(iss, str):
        raise InvalidTokenError("claims", "Invalid token: Missing required claim: iss")
    return iss


def _parse_jwks(jwks: Any) -> list[tuple[str | None, jwt.PyJWK]]:
    """The ES256/RS256 keys of a JWK set (others are skipped, as upstream cannot use them)."""
    entries = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(entries, list):
        return []
    keys: list[tuple[str | None, jwt.PyJWK]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        if key.algorithm_name in ("ES256", "RS256"):
            kid = entry.get("kid")
            keys.append((kid if isinstance(kid, str) else None, key))
    return keys


__all__ = ["EXPIRE_SECONDS", "FETCH_TIMEOUT_SECONDS", "REFRESH_SECONDS", "OidcValidator"]
