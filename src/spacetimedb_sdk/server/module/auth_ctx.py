"""``ctx.sender_auth``: who called a reducer, as upstream's ``AuthCtx`` and ``JwtClaims``.

A call made by a client (WebSocket or HTTP) carries the claims of the token the client
connected with; a call the database makes itself (``init``, scheduled functions) is *internal*
and has no token, as upstream's ``AuthCtx::internal()``.  A direct call from the local server's
Python API (``srv.db.call_reducer``) has no token either.

``raw_payload`` is the token's payload exactly as it was signed (the JSON text of the middle
segment), like upstream's ``JwtClaims::raw_payload``; the other properties parse it lazily.

Example::

    >>> claims = JwtClaims('{"iss": "localhost", "sub": "alice", "aud": "spacetimedb"}')
    >>> claims.subject, claims.issuer, claims.audience
    ('alice', 'localhost', ['spacetimedb'])
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cached_property
from typing import Any

from ...sats.values import Identity


class JwtClaims:
    """The claims of the caller's token (upstream ``JwtClaims``).

    Example::

        >>> JwtClaims('{"iss": "a", "sub": "b"}').raw_payload
        '{"iss": "a", "sub": "b"}'
    """

    __slots__ = ("__dict__", "raw_payload")

    def __init__(self, raw_payload: str) -> None:
        self.raw_payload = raw_payload

    def __repr__(self) -> str:
        return f"JwtClaims(issuer={self.issuer!r}, subject={self.subject!r})"

    @cached_property
    def payload(self) -> dict[str, Any]:
        """The whole payload as a dict (custom claims included)."""
        value = json.loads(self.raw_payload)
        if not isinstance(value, dict):
            raise ValueError("the JWT payload is not a JSON object")
        return value

    @property
    def subject(self) -> str:
        """The ``sub`` claim.

        Example::

            >>> AuthCtx.from_jwt_payload('{"iss": "https://auth.example.com", "sub": "alice"}').jwt.subject
            'alice'
        """
        return str(self.payload["sub"])

    @property
    def issuer(self) -> str:
        """The ``iss`` claim.

        Example::

            >>> AuthCtx.from_jwt_payload('{"iss": "https://auth.example.com", "sub": "alice"}').jwt.issuer
            'https://auth.example.com'
        """
        return str(self.payload["iss"])

    @property
    def audience(self) -> list[str]:
        """The ``aud`` claim as a list (a single string becomes one element; absent: empty).

        Example::

            >>> AuthCtx.from_jwt_payload('{"iss": "i", "sub": "s", "aud": "game"}').jwt.audience
            ['game']
        """
        aud = self.payload.get("aud")
        if aud is None:
            return []
        if isinstance(aud, str):
            return [aud]
        if isinstance(aud, list):
            return [a for a in aud if isinstance(a, str)]
        raise ValueError(f"unexpected type for the 'aud' claim: {type(aud).__name__}")

    @property
    def identity(self) -> Identity:
        """The identity these claims authenticate (derived from ``iss`` and ``sub``).

        Example::

            if ctx.sender_auth.jwt is not None:
                assert ctx.sender_auth.jwt.identity == ctx.sender
        """
        from ..auth import identity_from_claims  # needs the [server] extra's blake3

        return identity_from_claims(self.issuer, self.subject)


class AuthCtx:
    """Who called a reducer (upstream ``AuthCtx``): ``is_internal``, ``has_jwt``, ``jwt``.

    Example::

        >>> AuthCtx.internal().is_internal, AuthCtx.internal().jwt
        (True, None)
    """

    __slots__ = ("_jwt", "is_internal")

    def __init__(self, is_internal: bool, jwt: JwtClaims | None) -> None:
        self.is_internal = is_internal
        self._jwt = jwt

    def __repr__(self) -> str:
        return f"AuthCtx(is_internal={self.is_internal}, jwt={self._jwt!r})"

    @classmethod
    def internal(cls) -> AuthCtx:
        """A call the database made itself (``init``, scheduled functions): no token.

        Example::

            >>> AuthCtx.internal().is_internal
            True
        """
        return cls(True, None)

    @classmethod
    def from_jwt_payload(cls, payload: str) -> AuthCtx:
        """A caller with these claims (a JSON object); handy in unit tests of reducers.

        Example::

            auth = AuthCtx.from_jwt_payload('{"iss": "https://auth.example.com", "sub": "alice"}')
            module.call_reducer(datastore, "add_task", ["x"], sender=auth.jwt.identity, auth=auth)
        """
        return cls(False, JwtClaims(payload))

    @classmethod
    def from_token(cls, token: str | None) -> AuthCtx:
        """A client's context from the token it connected with (``None``: a caller without one).

        Example::

            >>> AuthCtx.from_token(None).has_jwt
            False
        """
        if token is None:
            return cls(False, None)
        return cls(False, JwtClaims(_payload_of(token)))

    @property
    def has_jwt(self) -> bool:
        """Whether the caller presented a token.

        Example::

            if not ctx.sender_auth.has_jwt:
                raise SenderError("sign in first")
        """
        return self._jwt is not None

    @property
    def jwt(self) -> JwtClaims | None:
        """The caller's claims, or ``None`` (internal calls, callers without a token).

        Example::

            claims = ctx.sender_auth.jwt
            if claims is None or claims.issuer != "https://auth.example.com":
                raise SenderError("unknown issuer")
        """
        return self._jwt


def _payload_of(token: str) -> str:
    """The JSON text a compact JWS carries (its middle segment, base64url without padding)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT: expected three dot-separated segments")
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"not a JWT: the payload is not base64url ({e})") from None
    return raw.decode("utf-8", errors="replace")
