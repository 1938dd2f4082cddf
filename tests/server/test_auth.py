"""Identity derivation and the local server's tokens (protocol.md §6)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from spacetimedb_sdk.server.auth import (
    EXPIRY_LEEWAY_SECONDS,
    WEBSOCKET_TOKEN_SECONDS,
    InvalidTokenError,
    TokenIssuer,
    identity_from_claims,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
REAL_TOKEN = json.loads((FIXTURES / "auth" / "real-server-token.json").read_text())
NOW = 1_750_000_000.0


class Clock:
    """A settable clock, so expiry is tested without sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(clock: Clock) -> TokenIssuer:
    return TokenIssuer.generate(now=clock)


def payload_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def forge(issuer: TokenIssuer, payload: dict[str, Any], **kw: Any) -> str:
    """Sign an arbitrary payload with the issuer's own key."""
    key = TokenIssuer.from_pem(issuer.private_key_pem())._key
    return jwt.encode(payload, key, algorithm="ES256", **kw)


def claims(sub: str = "alice", iss: str = "localhost", **extra: Any) -> dict[str, Any]:
    return {"sub": sub, "iss": iss, "aud": ["spacetimedb"], "iat": int(NOW), "exp": None, **extra}


# ---- identity ---------------------------------------------------------------------


def test_identity_matches_the_spec_example() -> None:
    identity = identity_from_claims("localhost", "alice")
    assert identity.to_hex() == "c20035600353a2e93544d898c6ed0eac323e200c0468300f22958f8b472a265d"
    assert identity.to_bytes().hex(" ") == (
        "5d 26 2a 47 8b 8f 95 22 0f 30 68 04 0c 20 3e 32 "
        "ac 0e ed c6 98 d8 44 35 e9 a2 53 03 60 35 00 c2"
    )


def test_identity_matches_a_token_minted_by_a_real_server() -> None:
    c = REAL_TOKEN["claims"]
    assert identity_from_claims(c["iss"], c["sub"]).to_hex() == REAL_TOKEN["identity_hex"]


@pytest.mark.parametrize("sub", ["a", "bob", "6d4b5430-00cf-4a99-932c-ad2d07bab841", "ü|x"])
def test_identity_prefix_and_checksum(sub: str) -> None:
    import blake3

    be = identity_from_claims("localhost", sub).to_be_bytes()
    assert be[:2] == b"\xc2\x00"
    assert be[2:6] == blake3.blake3(b"\xc2\x00" + be[6:]).digest()[:4]


def test_identity_hashes_issuer_bar_subject() -> None:
    # The input is the text "iss|sub", so the split point is not part of it.
    assert identity_from_claims("a", "b|c") == identity_from_claims("a|b", "c")
    assert identity_from_claims("localhost", "x") != identity_from_claims("other", "x")


# ---- minting ---------------------------------------------------------------------


def test_minted_token_has_the_server_claims(issuer: TokenIssuer) -> None:
    token = issuer.mint("alice")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    payload = payload_of(token)
    assert list(payload) == ["hex_identity", "sub", "iss", "aud", "iat", "exp"]
    assert payload["hex_identity"] == identity_from_claims("localhost", "alice").to_hex()
    assert payload["iss"] == "localhost"
    assert payload["aud"] == ["spacetimedb"]
    assert payload["iat"] == int(NOW)
    assert payload["exp"] is None


def test_anonymous_subject_is_a_uuid4_and_each_is_new(issuer: TokenIssuer) -> None:
    import uuid

    a, b = (issuer.validate(issuer.mint()) for _ in range(2))
    assert uuid.UUID(a.subject).version == 4
    assert a.identity != b.identity


def test_token_round_trip_gives_identity_and_claims(issuer: TokenIssuer) -> None:
    token = issuer.mint("bob", extra_claims={"role": "tester"})
    c = issuer.validate(token)
    assert c.identity == identity_from_claims("localhost", "bob")
    assert (c.subject, c.issuer, c.audience) == ("bob", "localhost", ("spacetimedb",))
    assert c.issued_at == int(NOW) and c.expires_at is None
    assert c.extra == {"role": "tester"}
    assert c.claims["role"] == "tester"


def test_reusing_a_token_yields_the_same_identity(issuer: TokenIssuer) -> None:
    token = issuer.mint()
    assert issuer.validate(token).identity == issuer.validate(token).identity


def test_websocket_token_keeps_claims_and_expires_in_60s(issuer: TokenIssuer, clock: Clock) -> None:
    long_lived = issuer.validate(issuer.mint("carol", extra_claims={"k": 1}))
    clock.now += 10
    short = issuer.mint_websocket_token(long_lived)
    c = issuer.validate(short)
    assert c.identity == long_lived.identity
    assert c.extra == {"k": 1}
    assert c.expires_at == int(NOW) + 10 + WEBSOCKET_TOKEN_SECONDS
    clock.now += WEBSOCKET_TOKEN_SECONDS + EXPIRY_LEEWAY_SECONDS + 1
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(short)
    assert e.value.kind == "expired"


def test_expiry_has_the_servers_leeway(issuer: TokenIssuer, clock: Clock) -> None:
    token = issuer.mint("dave", expires_in=5)
    clock.now += 5 + EXPIRY_LEEWAY_SECONDS
    assert issuer.validate(token).subject == "dave"
    clock.now += 1
    with pytest.raises(InvalidTokenError, match="ExpiredSignature"):
        issuer.validate(token)


def test_key_survives_a_pem_round_trip(issuer: TokenIssuer) -> None:
    token = issuer.mint("erin")
    reloaded = TokenIssuer.from_pem(issuer.private_key_pem())
    assert reloaded.validate(token).subject == "erin"
    assert reloaded.public_key_pem() == issuer.public_key_pem()
    assert issuer.public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")


def test_public_key_verifies_tokens_independently(issuer: TokenIssuer) -> None:
    token = issuer.mint("frank")
    # "exp": null is what the server writes; PyJWT must be told not to parse it.
    payload = jwt.decode(
        token,
        issuer.public_key_pem(),
        algorithms=["ES256"],
        options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
    )
    assert payload["sub"] == "frank"


def test_mint_rejects_bad_subjects(issuer: TokenIssuer) -> None:
    with pytest.raises(ValueError, match="Subject too long"):
        issuer.mint("x" * 129)
    with pytest.raises(ValueError, match="Subject empty"):
        issuer.mint("")


def test_repr_shows_no_key_material(issuer: TokenIssuer) -> None:
    assert "PRIVATE" not in repr(issuer) and "BEGIN" not in repr(issuer)


# ---- validation failures -------------------------------------------------------------


def test_real_server_token_is_rejected_as_not_ours(issuer: TokenIssuer) -> None:
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(REAL_TOKEN["token"])
    assert e.value.kind == "signature"
    assert REAL_TOKEN["token"] not in str(e.value)


def test_token_from_another_key_is_a_bad_signature(issuer: TokenIssuer) -> None:
    other = TokenIssuer.generate()
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(other.mint("x"))
    assert e.value.kind == "signature"
    assert "InvalidSignature" in str(e.value)


def test_foreign_issuer_needs_oidc_which_is_not_supported(issuer: TokenIssuer) -> None:
    other = TokenIssuer.generate(issuer="https://auth.example.com")
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(other.mint("x"))
    assert e.value.kind == "issuer"
    assert "'https://auth.example.com' is not this server" in str(e.value)
    assert "OIDC discovery is not supported by the local server" in str(e.value)


def test_our_key_is_trusted_whatever_the_issuer(issuer: TokenIssuer) -> None:
    token = forge(issuer, claims(iss="https://elsewhere"))
    c = issuer.validate(token)
    assert c.identity == identity_from_claims("https://elsewhere", "alice")


@pytest.mark.parametrize(
    ("payload", "kind", "fragment"),
    [
        ({"iss": "localhost", "iat": 1}, "claims", "Missing required claim: sub"),
        ({"sub": "a", "iat": 1}, "claims", "Missing required claim: iss"),
        (claims(sub=""), "claims", "Subject empty"),
        (claims(iss=""), "claims", "Issuer empty"),
        (claims(sub="s" * 129), "claims", "Subject too long"),
        (claims(iss="i" * 129), "claims", "Issuer too long"),
        (claims(hex_identity="c200" + "00" * 30), "claims", "Identity mismatch"),
        (claims(hex_identity="zz"), "malformed", "hex_identity"),
        ({**claims(), "iat": "yesterday"}, "malformed", "'iat'"),
        ({k: v for k, v in claims().items() if k != "iat"}, "malformed", "'iat'"),
        ({**claims(), "exp": "never"}, "malformed", "'exp'"),
        ({**claims(), "aud": 5}, "malformed", "'aud'"),
        ({**claims(), "sub": 5}, "malformed", ""),
    ],
)
def test_claim_rules(
    issuer: TokenIssuer, payload: dict[str, Any], kind: str, fragment: str
) -> None:
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(forge(issuer, payload))
    assert e.value.kind == kind
    assert fragment in str(e.value)


def test_subject_of_exactly_128_bytes_is_fine(issuer: TokenIssuer) -> None:
    assert issuer.validate(forge(issuer, claims(sub="é" * 64))).subject == "é" * 64


@pytest.mark.parametrize("aud", ["spacetimedb", ["a", "b"], None])
def test_audience_may_be_string_list_or_absent(issuer: TokenIssuer, aud: Any) -> None:
    payload = claims()
    if aud is None:
        del payload["aud"]
    else:
        payload["aud"] = aud
    c = issuer.validate(forge(issuer, payload))
    expected = () if aud is None else ((aud,) if isinstance(aud, str) else tuple(aud))
    assert c.audience == expected


def test_matching_hex_identity_is_accepted(issuer: TokenIssuer) -> None:
    hex_id = identity_from_claims("localhost", "alice").to_hex()
    assert issuer.validate(forge(issuer, claims(hex_identity=hex_id))).subject == "alice"


def test_only_es256_is_accepted(issuer: TokenIssuer) -> None:
    hs = jwt.encode(claims(), "secret-long-enough-for-hmac-sha256!!", algorithm="HS256")
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(hs)
    assert e.value.kind == "algorithm"
    assert "ES256" in str(e.value)


def test_other_curve_key_is_refused() -> None:
    with pytest.raises(ValueError, match="P-256"):
        TokenIssuer(ec.generate_private_key(ec.SECP384R1()))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "...."])
def test_malformed_tokens(issuer: TokenIssuer, token: str) -> None:
    with pytest.raises(InvalidTokenError) as e:
        issuer.validate(token)
    assert e.value.kind == "malformed"
