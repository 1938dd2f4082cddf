"""Identities and JSON Web Tokens for the local server (protocol.md §6).

A client's :class:`~spacetimedb_sdk.sats.Identity` is derived from the ``iss``
and ``sub`` claims of its token (:func:`identity_from_claims`).  The local
server signs its own tokens with an ES256 key held by :class:`TokenIssuer`,
which also validates the tokens clients present.

Tokens are credentials: nothing in this module logs them or puts them in a
``repr`` or an error message.

Example::

    >>> issuer = TokenIssuer.generate()
    >>> claims = issuer.validate(issuer.mint("alice"))
    >>> claims.identity == identity_from_claims("localhost", "alice")
    True
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import blake3
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import SpacetimeDBError
from ..sats.values import Identity

LOCAL_ISSUER = "localhost"
"""The ``iss`` of tokens minted by a standalone server (``crates/standalone``)."""

AUDIENCE: tuple[str, ...] = ("spacetimedb",)
"""The placeholder ``aud`` the server puts in the tokens it mints."""

WEBSOCKET_TOKEN_SECONDS = 60
"""Lifetime of the short tokens from ``POST /v1/identity/websocket-token``."""

MAX_CLAIM_BYTES = 128
"""``iss`` and ``sub`` longer than this (in UTF-8 bytes) are rejected."""

EXPIRY_LEEWAY_SECONDS = 60
"""Clock skew tolerated on ``exp`` (the default leeway of the server's JWT library)."""

_ALGORITHM = "ES256"


def identity_from_claims(issuer: str, subject: str) -> Identity:
    """The identity of the holder of a token with these ``iss`` and ``sub`` claims.

    BLAKE3 of ``"{issuer}|{subject}"`` gives 26 id bytes; a 4-byte BLAKE3 checksum
    of ``c2 00 ++ id`` follows the ``c200`` prefix (protocol.md §6.2).

    Example::

        >>> identity_from_claims("localhost", "alice").to_hex()[:8]
        'c2003560'
    """
    id_hash = blake3.blake3(f"{issuer}|{subject}".encode()).digest()[:26]
    checksum = blake3.blake3(b"\xc2\x00" + id_hash).digest()[:4]
    return Identity.from_be_bytes(b"\xc2\x00" + checksum + id_hash)


class InvalidTokenError(SpacetimeDBError, ValueError):
    """A token was rejected.  ``kind`` says why, for mapping to an HTTP status.

    Kinds: ``"malformed"`` (not a JWT, bad JSON, wrong claim types),
    ``"algorithm"`` (not ES256), ``"signature"`` (not signed by this server),
    ``"expired"``, ``"claims"`` (missing, empty or oversized ``sub``/``iss``,
    ``hex_identity`` mismatch) and ``"issuer"`` (another issuer: checked by OIDC
    discovery, see :mod:`.oidc`).  The message never contains the token.

    Example::

        >>> try:
        ...     TokenIssuer.generate().validate("not-a-jwt")
        ... except InvalidTokenError as e:
        ...     print(e.kind)
        malformed
    """

    def __init__(self, kind: str, reason: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Claims:
    """The validated claims of a token.

    ``identity`` is derived from ``issuer`` and ``subject``; ``claims`` is the
    whole payload as received (read-only), including any extra claims.

    Example::

        >>> issuer = TokenIssuer.generate()
        >>> issuer.validate(issuer.mint("bob")).subject
        'bob'
    """

    identity: Identity
    subject: str
    issuer: str
    claims: Mapping[str, Any] = field(hash=False)

    @property
    def audience(self) -> tuple[str, ...]:
        """``aud`` as a tuple (the claim may be a string, a list, or absent)."""
        aud = self.claims.get("aud")
        if aud is None:
            return ()
        return (aud,) if isinstance(aud, str) else tuple(aud)

    @property
    def issued_at(self) -> int:
        """``iat``, seconds since the Unix epoch."""
        return int(self.claims["iat"])

    @property
    def expires_at(self) -> int | None:
        """``exp``, seconds since the Unix epoch, or ``None`` for a long-lived token."""
        exp = self.claims.get("exp")
        return None if exp is None else int(exp)

    @property
    def extra(self) -> dict[str, Any]:
        """The claims other than the standard ones the server interprets."""
        standard = {"hex_identity", "sub", "iss", "aud", "iat", "exp"}
        return {k: v for k, v in self.claims.items() if k not in standard}


class TokenIssuer:
    """Mints and validates the local server's ES256 tokens.

    Create with :meth:`generate` (a fresh key pair) or :meth:`from_pem` (a
    PKCS#8 EC P-256 private key, to keep identities across restarts).  ``now``
    is the clock, in seconds since the epoch (injectable for tests).

    Tokens signed by this key are accepted whatever their issuer, as upstream
    does.  :meth:`validate` checks this key only: a token of another issuer fails
    with kind ``"issuer"``, and :class:`~.oidc.OidcValidator` (what the web app
    uses) then checks it against that issuer's OpenID Connect keys.

    Example::

        >>> issuer = TokenIssuer.generate()
        >>> token = issuer.mint()
        >>> issuer.validate(token).issuer
        'localhost'
    """

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        issuer: str = LOCAL_ISSUER,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError(f"ES256 needs a P-256 key, got curve {private_key.curve.name}")
        self._key = private_key
        self._public = private_key.public_key()
        self.issuer = issuer
        self._now = now

    @classmethod
    def generate(
        cls, *, issuer: str = LOCAL_ISSUER, now: Callable[[], float] = time.time
    ) -> TokenIssuer:
        """A new issuer with a freshly generated P-256 key pair."""
        return cls(ec.generate_private_key(ec.SECP256R1()), issuer=issuer, now=now)

    @classmethod
    def from_pem(
        cls,
        private_key_pem: bytes | str,
        *,
        issuer: str = LOCAL_ISSUER,
        now: Callable[[], float] = time.time,
    ) -> TokenIssuer:
        """Load a PEM EC private key (as written by :meth:`private_key_pem`)."""
        data = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"expected an EC private key, got {type(key).__name__}")
        return cls(key, issuer=issuer, now=now)

    def __repr__(self) -> str:
        return f"TokenIssuer(issuer={self.issuer!r})"

    def private_key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, to persist and reload later."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_key_pem(self) -> str:
        """The verification key as PEM (served by ``GET /v1/identity/public-key``)."""
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    # ---- minting -------------------------------------------------------------------

    def mint(
        self,
        subject: str | None = None,
        *,
        expires_in: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token for ``subject`` (a random UUID v4 when ``None``).

        ``expires_in`` seconds sets ``exp``; ``None`` mints a long-lived token
        with ``"exp": null`` like the server's anonymous tokens.
        """
        return self._sign(
            issuer=self.issuer,
            subject=subject if subject is not None else str(uuid.uuid4()),
            audience=list(AUDIENCE),
            expires_in=expires_in,
            extra=extra_claims or {},
        )

    def mint_websocket_token(self, claims: Claims) -> str:
        """Re-sign already validated claims with a 60-second expiry."""
        return self._sign(
            issuer=claims.issuer,
            subject=claims.subject,
            audience=list(claims.audience),
            expires_in=WEBSOCKET_TOKEN_SECONDS,
            extra=claims.extra,
        )

    def _sign(
        self,
        *,
        issuer: str,
        subject: str,
        audience: list[str],
        expires_in: float | None,
        extra: Mapping[str, Any],
    ) -> str:
        _check_claim("Issuer", issuer)
        _check_claim("Subject", subject)
        iat = int(self._now())
        payload: dict[str, Any] = {
            "hex_identity": identity_from_claims(issuer, subject).to_hex(),
            "sub": subject,
            "iss": issuer,
            "aud": audience,
            "iat": iat,
            "exp": None if expires_in is None else iat + int(expires_in),
        }
        payload.update(extra)
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM, headers={"typ": "JWT"})

    # ---- validation ----------------------------------------------------------------

    def validate(self, token: str) -> Claims:
        """Check a token's signature and claims; raise :class:`InvalidTokenError` if bad."""
        header = _header(token)
        try:
            payload = jwt.decode(
                token,
                self._public,
                algorithms=[_ALGORITHM],
                options={
                    # Claims are checked below, with the server's rules (exp may be null).
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise self._not_ours(token) from None
        except jwt.InvalidAlgorithmError:
            raise InvalidTokenError(
                "algorithm",
                f"Invalid token: algorithm {header.get('alg')!r} is not accepted; "
                "the local server signs and verifies ES256 only",
            ) from None
        except jwt.PyJWTError as e:
            raise InvalidTokenError("malformed", f"Invalid token: malformed JWT ({e})") from None
        return self._claims(payload)

    def _not_ours(self, token: str) -> InvalidTokenError:
        issuer = _unverified_issuer(token)
        if issuer is None or issuer == self.issuer:
            return InvalidTokenError(
                "signature", "Invalid token: InvalidSignature (not signed by this server's key)"
            )
        return InvalidTokenError(
            "issuer",
            f"Invalid token: issuer {issuer!r} is not this server and OIDC discovery "
            "is not supported by the local server",
        )

    def claims_of(self, payload: Any) -> Claims:
        """Check a verified payload with the server's claim rules and derive the identity.

        For tokens whose signature was checked elsewhere (another issuer's key, see
        :class:`~.oidc.OidcValidator`).

        Example::

            >>> TokenIssuer.generate().claims_of({"iss": "https://id.example", "sub": "u1",
            ...                                   "iat": 0}).subject
            'u1'
        """
        return self._claims(payload)

    def _claims(self, payload: Any) -> Claims:
        if not isinstance(payload, dict):
            raise InvalidTokenError("malformed", "Invalid token: payload is not a JSON object")
        for name in ("sub", "iss"):
            if name not in payload:
                raise InvalidTokenError("claims", f"Invalid token: Missing required claim: {name}")
            if not isinstance(payload[name], str):
                raise InvalidTokenError(
                    "malformed", f"Invalid token: claim {name!r} must be a string"
                )
        _check_times(payload, self._now())
        _check_audience(payload.get("aud"))
        issuer, subject = payload["iss"], payload["sub"]
        try:
            _check_claim("Issuer", issuer)
            _check_claim("Subject", subject)
        except ValueError as e:
            raise InvalidTokenError("claims", str(e)) from None
        derived = identity_from_claims(issuer, subject)
        if "hex_identity" in payload and payload["hex_identity"] is not None:
            _check_identity(payload["hex_identity"], derived)
        return Claims(derived, subject, issuer, MappingProxyType(dict(payload)))


def _check_claim(what: str, value: str) -> None:
    """Upstream's limits on ``iss``/``sub``: non-empty, at most 128 UTF-8 bytes."""
    if len(value.encode()) > MAX_CLAIM_BYTES:
        raise ValueError(f"{what} too long: {value[:40]!r}... ({len(value.encode())} bytes > 128)")
    if not value:
        raise ValueError(f"{what} empty")


def _check_times(payload: Mapping[str, Any], now: float) -> None:
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise InvalidTokenError("malformed", "Invalid token: 'iat' must be a number of seconds")
    exp = payload.get("exp")
    if exp is None:
        return
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise InvalidTokenError("malformed", "Invalid token: 'exp' must be a number or null")
    if exp < now - EXPIRY_LEEWAY_SECONDS:
        raise InvalidTokenError("expired", "Invalid token: ExpiredSignature")


def _check_audience(aud: Any) -> None:
    ok = aud is None or isinstance(aud, str)
    ok = ok or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    if not ok:
        raise InvalidTokenError("malformed", "Invalid token: 'aud' must be a string or a list")


def _check_identity(claimed: Any, derived: Identity) -> None:
    try:
        token_identity = Identity.from_hex(claimed) if isinstance(claimed, str) else None
    except ValueError:
        token_identity = None
    if token_identity is None:
        raise InvalidTokenError("malformed", "Invalid token: 'hex_identity' is not 64 hex digits")
    if token_identity != derived:
        raise InvalidTokenError(
            "claims",
            f"Identity mismatch: token identity {token_identity.to_hex()} does not match "
            f"computed identity {derived.to_hex()}",
        )


def _header(token: str) -> dict[str, Any]:
    if not isinstance(token, str):
        raise InvalidTokenError("malformed", "Invalid token: expected a string")
    try:
        return dict(jwt.get_unverified_header(token))
    except jwt.PyJWTError as e:
        raise InvalidTokenError("malformed", f"Invalid token: malformed JWT ({e})") from None


def _unverified_issuer(token: str) -> str | None:
    """``iss`` read without verification, only to choose the right error."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, json.JSONDecodeError):
        return None
    iss = payload.get("iss") if isinstance(payload, dict) else None
    return iss if isinstance(iss, str) else None


__all__ = [
    "AUDIENCE",
    "EXPIRY_LEEWAY_SECONDS",
    "LOCAL_ISSUER",
    "MAX_CLAIM_BYTES",
    "WEBSOCKET_TOKEN_SECONDS",
    "Claims",
    "InvalidTokenError",
    "TokenIssuer",
    "identity_from_claims",
]
