"""Request tokens (PROTOCOL §2). Hostile tokens are written by hand here, with base64 and PyNaCl,
independently of the code under test; interoperability is checked against joserfc."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwt as jose_jwt
from joserfc.jwk import OKPKey
from nacl.signing import SigningKey, VerifyKey

import crypto.tokens
from crypto.encoding import HexStr, KeyId
from crypto.errors import (
    CryptoError,
    InvalidKeyError,
    TokenAudienceError,
    TokenBodyMismatchError,
    TokenError,
    TokenExpiredError,
    TokenLifetimeError,
)
from crypto.keys import key_id
from crypto.tokens import (
    LEEWAY_S,
    MAX_LIFETIME_S,
    MAX_TOKEN_BYTES,
    TokenClaims,
    create_token,
    peek_token,
    verify_token,
)

NOW = 1_795_000_000
AUDIENCE = "gateway.test"
ISSUER = "bka-de"
BODY = b'{"query":"{ subject(by: {id: \\"subj-0042\\"}) { phoneNumber { ciphertext } } }"}'
ClaimsFactory = Callable[..., dict[str, Any]]
Verify = Callable[..., TokenClaims]
Refuse = Callable[..., TokenError]
REQUIRED_CLAIMS = ["iss", "aud", "iat", "exp", "jti", "body_sha256"]

# joserfc warns that RFC 9864 deprecates "EdDSA" in favour of "Ed25519"; PROTOCOL §2 names EdDSA.
jose_eddsa = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:UserWarning")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()


def forge(header: Any, claims: Any, key: SigningKey | None = None, *, signature: bytes | None = None) -> str:
    """A compact JWS written by hand: any header and claims (objects or raw bytes), signed by ``key``."""
    signing_input = f"{b64url(json_bytes(header))}.{b64url(json_bytes(claims))}"
    if signature is None:
        assert key is not None
        signature = key.sign(signing_input.encode("ascii")).signature
    return f"{signing_input}.{b64url(signature)}"


@pytest.fixture(scope="module")
def principal_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def kid(principal_key: SigningKey) -> str:
    return hashlib.sha256(bytes(principal_key.verify_key)).hexdigest()[:16]


@pytest.fixture
def header(kid: str) -> dict[str, Any]:
    return {"alg": "EdDSA", "typ": "JWT", "kid": kid}


@pytest.fixture
def make_claims() -> ClaimsFactory:
    """Factory of valid claims; keyword arguments override (``None`` removes a claim)."""

    def factory(**overrides: Any) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": NOW,
            "exp": NOW + 60,
            "jti": "jti-" + os.urandom(8).hex(),
            "body_sha256": hashlib.sha256(BODY).hexdigest(),
            "ord": "ord-91c2",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    return factory


@pytest.fixture
def verify(principal_key: SigningKey) -> Verify:
    """verify_token with this module's defaults; keyword arguments override."""

    def call(token: str, **overrides: Any) -> TokenClaims:
        arguments: dict[str, Any] = {"verify_key": principal_key.verify_key, "audience": AUDIENCE,
                                     "body": BODY, "now": NOW}
        arguments.update(overrides)
        return verify_token(token, **arguments)

    return call


@pytest.fixture
def refused(verify: Verify) -> Refuse:
    """Assert that verification fails with exactly ``error`` and its PROTOCOL §6 code."""

    def check(token: str, error: type[TokenError], code: str, match: str | None = None,
              **overrides: Any) -> TokenError:
        with pytest.raises(error, match=match) as caught:
            verify(token, **overrides)
        assert type(caught.value) is error
        assert caught.value.code == code
        return caught.value

    return check


# --- round trips and interoperability ----------------------------------------------------------


def test_created_token_verifies_and_returns_its_claims(principal_key: SigningKey, kid: str,
                                                       verify: Verify) -> None:
    token = create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW,
                         lifetime=120, order_id="ord-91c2", jti="jti-1")
    assert verify(token, now=NOW + 5) == TokenClaims(
        issuer=ISSUER, audience=AUDIENCE, issued_at=NOW, expires_at=NOW + 120, jti="jti-1",
        body_sha256=HexStr(hashlib.sha256(BODY).hexdigest()), order_id="ord-91c2", kid=KeyId(kid),
    )


def test_created_token_has_exactly_the_protocol_header_and_claims(principal_key: SigningKey,
                                                                  kid: str) -> None:
    token = create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW)
    header_segment, payload_segment, signature_segment = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header_segment + "==")) == {"alg": "EdDSA", "typ": "JWT",
                                                                           "kid": kid}
    claims = json.loads(base64.urlsafe_b64decode(payload_segment + "=="))
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "body_sha256"}  # no ord unless given
    assert claims["exp"] - claims["iat"] == 60
    assert "=" not in token
    principal_key.verify_key.verify(f"{header_segment}.{payload_segment}".encode(),
                                    base64.urlsafe_b64decode(signature_segment + "=="))


def test_token_without_order_verifies_with_order_id_none(principal_key: SigningKey,
                                                         verify: Verify) -> None:
    token = create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=b"", now=NOW)
    assert verify(token, body=b"").order_id is None


def test_default_jti_is_random_and_short_enough(principal_key: SigningKey,
                                                verify: Verify) -> None:
    jtis = {verify(create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW)).jti
            for _ in range(20)}
    assert len(jtis) == 20
    assert all(0 < len(jti) <= 128 for jti in jtis)


@jose_eddsa
def test_crypto_token_verifies_with_joserfc(principal_key: SigningKey, kid: str) -> None:
    token = create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW, order_id="o-1")
    public = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(principal_key.verify_key))})
    decoded = jose_jwt.decode(token, public, algorithms=["EdDSA"])
    assert decoded.header == {"alg": "EdDSA", "typ": "JWT", "kid": kid}
    assert decoded.claims["iss"] == ISSUER
    assert decoded.claims["aud"] == AUDIENCE
    assert decoded.claims["ord"] == "o-1"
    assert decoded.claims["body_sha256"] == hashlib.sha256(BODY).hexdigest()


@jose_eddsa
def test_joserfc_token_verifies_with_crypto(principal_key: SigningKey, kid: str,
                                            make_claims: ClaimsFactory,
                                            verify: Verify) -> None:
    private = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": b64url(bytes(principal_key.verify_key)),
                                 "d": b64url(bytes(principal_key))})
    claims = make_claims()
    token = jose_jwt.encode({"alg": "EdDSA", "kid": kid}, claims, private, algorithms=["EdDSA"])
    verified = verify(token)
    assert (verified.issuer, verified.jti, verified.order_id, verified.kid) == (ISSUER, claims["jti"],
                                                                                "ord-91c2", kid)
    assert peek_token(token) == (ISSUER, kid)


def test_hand_written_token_verifies(principal_key: SigningKey, header: dict[str, Any],
                                     make_claims: ClaimsFactory,
                                     verify: Verify) -> None:
    # Guards the helpers below: a forged token that should pass does pass.
    assert verify(forge(header, make_claims(), principal_key)).issuer == ISSUER


def test_peek_token_returns_unverified_issuer_and_kid(principal_key: SigningKey, kid: str) -> None:
    token = create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW)
    assert peek_token(token) == (ISSUER, kid)
    # Unverified by design: a bad signature does not matter to peek.
    forged = token.rsplit(".", 1)[0] + "." + b64url(bytes(64))
    assert peek_token(forged) == (ISSUER, kid)


# --- algorithm confusion -----------------------------------------------------------------------


def test_alg_none_is_refused(kid: str, make_claims: ClaimsFactory,
                             refused: Refuse) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    unsigned = f"{b64url(json_bytes(header))}.{b64url(json_bytes(make_claims()))}."
    refused(unsigned, TokenError, "TOKEN_INVALID")
    refused(forge(header, make_claims(), signature=b"\x00"), TokenError, "TOKEN_INVALID", match="alg")
    with pytest.raises(TokenError, match="alg"):
        peek_token(forge(header, make_claims(), signature=b"\x00"))


def test_hs256_keyed_with_the_public_key_is_refused(principal_key: SigningKey, kid: str,
                                                    make_claims: ClaimsFactory,
                                                    refused: Refuse) -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64url(json_bytes(header))}.{b64url(json_bytes(make_claims()))}"
    mac = hmac.new(bytes(principal_key.verify_key), signing_input.encode(), hashlib.sha256).digest()
    refused(f"{signing_input}.{b64url(mac)}", TokenError, "TOKEN_INVALID", match="alg must be EdDSA")


@pytest.mark.parametrize(
    "alg", ["RS256", "ES256", "PS256", "HS512", "Ed25519", "eddsa", "EdDSA ", "", None, 1, ["EdDSA"]]
)
def test_any_other_alg_is_refused(principal_key: SigningKey, kid: str, alg: Any,
                                  make_claims: ClaimsFactory,
                                  refused: Refuse) -> None:
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    refused(forge(header, make_claims(), principal_key), TokenError, "TOKEN_INVALID", match="alg")
    refused(forge(header, make_claims(), signature=os.urandom(256)), TokenError, "TOKEN_INVALID", match="alg")


# --- header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"typ": None},
        {"typ": "jwt"},
        {"typ": "JOSE"},
        {"typ": "at+jwt"},
        {"kid": None},
        {"kid": 5},
        {"kid": ""},
        {"kid": "ABCDEF0123456789"},
        {"kid": "abcdef012345678"},
        {"kid": "abcdef01234567890"},
        {"crit": ["b64"], "b64": False},
        {"b64": True},
        {"jku": "https://attacker.example/keys"},
        {"x5u": "https://attacker.example/cert"},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
        {"cty": "JWT"},
    ],
)
def test_header_other_than_exactly_alg_typ_kid_is_refused(principal_key: SigningKey, header: dict[str, Any],
                                                          change: dict[str, Any],
                                                          make_claims: ClaimsFactory,
                                                          refused: Refuse) -> None:
    changed = {name: value for name, value in {**header, **change}.items() if value is not None}
    token = forge(changed, make_claims(), principal_key)
    refused(token, TokenError, "TOKEN_INVALID")
    with pytest.raises(TokenError):
        peek_token(token)


@pytest.mark.parametrize(
    "raw_header",
    [
        b"[]",
        b'"EdDSA"',
        b"",
        b"not json",
        b'{"alg":"none","alg":"EdDSA","typ":"JWT","kid":"%s"}',
        b'{"alg":"EdDSA","alg":"none","typ":"JWT","kid":"%s"}',
        b'{"alg":"EdDSA","typ":"JWT","kid":"%s","kid":"%s"}',
        b'\xef\xbb\xbf{"alg":"EdDSA","typ":"JWT","kid":"%s"}',
        b'{"alg":"EdDSA","typ":"JWT","kid":"%s"',
        '{"alg":"EdDSA","typ":"JWT","kid":"%s"}'.encode("utf-16"),
        '{"alg":"EdDSA","typ":"JWT","kid":"%s"}'.encode("utf-32-le"),
        b"[" * 2500 + b"]" * 2500,
    ],
    ids=["array", "string", "empty", "not-json", "dup-alg-last-eddsa", "dup-alg-last-none", "dup-kid", "bom",
         "truncated", "utf-16", "utf-32", "deep-nesting"],
)
def test_header_that_is_not_one_strict_json_object_is_refused(principal_key: SigningKey, kid: str,
                                                              raw_header: bytes,
                                                              make_claims: ClaimsFactory,
                                                              refused: Refuse) -> None:
    header = raw_header
    for codec in ("utf-8", "utf-16-le", "utf-32-le"):
        header = header.replace("%s".encode(codec), kid.encode(codec))
    refused(forge(header, make_claims(), principal_key), TokenError, "TOKEN_INVALID")


# --- shape and size ----------------------------------------------------------------------------


@pytest.fixture
def good_token(principal_key: SigningKey) -> str:
    return create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW,
                        order_id="ord-91c2")


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t + ".", id="trailing-dot"),
        pytest.param(lambda t: t + "." + t.split(".")[2], id="four-segments"),
        pytest.param(lambda t: t + ".." + t, id="five-segments"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="two-segments"),
        pytest.param(lambda t: t.split(".")[0], id="one-segment"),
        pytest.param(lambda t: "." + t.split(".", 1)[1], id="empty-header"),
        pytest.param(lambda t: t.replace(".", "..", 1), id="empty-payload"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".", id="empty-signature"),
        pytest.param(lambda t: t + "=", id="padded-signature"),
        pytest.param(lambda t: t.replace(".", "=.", 1), id="padded-header"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
        pytest.param(lambda t: "Bearer " + t, id="bearer-prefix"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/") + "+/", id="standard-alphabet"),
        pytest.param(lambda t: t[:10] + "é" + t[11:], id="non-ascii"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(lambda t: "a.b.c", id="short-segments"),
        pytest.param(lambda t: "..", id="dots"),
    ],
)
def test_token_that_is_not_three_base64url_segments_is_refused(good_token: str, mangle: Callable[[str], str],
                                                               refused: Refuse) -> None:
    refused(mangle(good_token), TokenError, "TOKEN_INVALID")
    with pytest.raises(TokenError):
        peek_token(mangle(good_token))


def test_non_canonical_base64url_in_the_signature_is_refused(good_token: str,
                                                            refused: Refuse) -> None:
    # 64 bytes are 86 base64url characters whose last one carries 4 unused bits: setting the lowest
    # gives another spelling of the same signature, which a strict decoder refuses.
    head, signature = good_token.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert alphabet.index(signature[-1]) & 0b1111 == 0
    tweaked = f"{head}.{signature[:-1]}{alphabet[alphabet.index(signature[-1]) | 1]}"
    same = base64.urlsafe_b64decode(signature + "==")
    assert base64.urlsafe_b64decode(tweaked.rsplit(".", 1)[1] + "==") == same
    refused(tweaked, TokenError, "TOKEN_INVALID")


def test_token_that_is_not_a_string_is_refused(good_token: str, refused: Refuse) -> None:
    refused(good_token.encode(), TokenError, "TOKEN_INVALID")
    refused(None, TokenError, "TOKEN_INVALID")


def test_oversized_token_is_refused_before_any_parsing(principal_key: SigningKey, header: dict[str, Any],
                                                       make_claims: ClaimsFactory,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       refused: Refuse) -> None:
    # A validly signed token, just too long.
    token = forge(header, make_claims(pad="x" * MAX_TOKEN_BYTES), principal_key)
    assert len(token) > MAX_TOKEN_BYTES

    def must_not_run(*args: object, **kwargs: object) -> Any:
        raise AssertionError("parsed an oversized token")

    monkeypatch.setattr(crypto.tokens, "b64url_decode", must_not_run)
    monkeypatch.setattr(crypto.tokens, "parse_json_object", must_not_run)
    monkeypatch.setattr(crypto.tokens, "_COMPACT", None)
    for oversized in (token, "x" * (MAX_TOKEN_BYTES + 1), "é" * (MAX_TOKEN_BYTES + 1), "." * 10_000_000):
        refused(oversized, TokenError, "TOKEN_INVALID", match=f"longer than {MAX_TOKEN_BYTES} bytes")
        with pytest.raises(TokenError, match="longer than"):
            peek_token(oversized)


def test_token_of_exactly_max_bytes_is_accepted(principal_key: SigningKey, header: dict[str, Any],
                                                make_claims: ClaimsFactory,
                                                verify: Verify) -> None:
    claims = make_claims(pad="")
    # Each 3 bytes of claim text add 4 base64url characters: start just below the limit, then grow.
    claims["pad"] = "x" * ((MAX_TOKEN_BYTES - len(forge(header, claims, principal_key))) // 4 * 3 - 3)
    token = forge(header, claims, principal_key)
    while len(longer := forge(header, {**claims, "pad": claims["pad"] + "x"}, principal_key)) \
            <= MAX_TOKEN_BYTES:
        claims["pad"] += "x"
        token = longer
    assert MAX_TOKEN_BYTES - 2 <= len(token) <= MAX_TOKEN_BYTES
    assert verify(token).issuer == ISSUER


# --- key and signature -------------------------------------------------------------------------


def test_kid_of_another_key_is_refused(principal_key: SigningKey, header: dict[str, Any],
                                       make_claims: ClaimsFactory,
                                       refused: Refuse) -> None:
    other_kid = key_id(SigningKey.generate().verify_key)
    token = forge({**header, "kid": other_kid}, make_claims(), principal_key)
    refused(token, TokenError, "TOKEN_INVALID", match="kid")


def test_wrong_verify_key_is_refused(good_token: str, refused: Refuse) -> None:
    refused(good_token, TokenError, "TOKEN_INVALID", verify_key=SigningKey.generate().verify_key)


def test_token_signed_by_another_key_under_this_kid_is_refused(header: dict[str, Any],
                                                               make_claims: ClaimsFactory,
                                                               refused: Refuse) -> None:
    token = forge(header, make_claims(), SigningKey.generate())
    refused(token, TokenError, "TOKEN_INVALID", match="signature")


@pytest.mark.parametrize(
    "signature",
    [bytes(64), b"\xff" * 64, bytes(63), bytes(65), b"", os.urandom(256)],
    ids=["zeros", "ones", "short", "long", "empty", "rsa-sized"],
)
def test_garbage_signature_is_refused(header: dict[str, Any], make_claims: ClaimsFactory,
                                      refused: Refuse, signature: bytes) -> None:
    refused(forge(header, make_claims(), signature=signature), TokenError, "TOKEN_INVALID")


def test_altered_payload_is_refused(good_token: str, principal_key: SigningKey, header: dict[str, Any],
                                    make_claims: ClaimsFactory,
                                    refused: Refuse) -> None:
    head, _, signature = good_token.split(".")
    other_payload = b64url(json_bytes(make_claims(aud=AUDIENCE, iss="someone-else")))
    refused(f"{head}.{other_payload}.{signature}", TokenError, "TOKEN_INVALID", match="signature")


def test_signature_is_checked_before_any_claim(header: dict[str, Any], make_claims: ClaimsFactory,
                                               refused: Refuse) -> None:
    # Claims that would fail several checks, under a bad signature: only TOKEN_INVALID is learned.
    hostile = make_claims(aud="elsewhere", iat=0, exp=10_000, body_sha256="0" * 64)
    refused(forge(header, hostile, SigningKey.generate()), TokenError, "TOKEN_INVALID", match="signature")
    refused(forge(header, b"not json", SigningKey.generate()), TokenError, "TOKEN_INVALID", match="signature")


def test_verify_key_of_another_type_is_an_invalid_key(good_token: str, principal_key: SigningKey,
                                                      verify: Verify) -> None:
    with pytest.raises(InvalidKeyError):
        verify(good_token, verify_key=bytes(principal_key.verify_key))
    with pytest.raises(InvalidKeyError):
        verify(good_token, verify_key=principal_key)


# --- claims ------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
def test_token_missing_a_required_claim_is_refused(principal_key: SigningKey, header: dict[str, Any],
                                                   make_claims: ClaimsFactory,
                                                   refused: Refuse, missing: str) -> None:
    claims = make_claims()
    del claims[missing]
    refused(forge(header, claims, principal_key), TokenError, "TOKEN_INVALID", match=f"claim {missing}")


@pytest.mark.parametrize(
    "change",
    [
        {"iat": str(NOW)},
        {"iat": float(NOW)},
        {"iat": True},
        {"iat": -1},
        {"iat": [NOW]},
        {"exp": True},
        {"exp": float(NOW + 60)},
        {"exp": NOW + 60.5},
        {"exp": str(NOW + 60)},
        {"aud": [AUDIENCE]},
        {"aud": [AUDIENCE, "other"]},
        {"aud": ""},
        {"aud": 1},
        {"iss": ""},
        {"iss": 5},
        {"iss": [ISSUER]},
        {"jti": 123},
        {"jti": ""},
        {"jti": "x" * 129},
        {"jti": ["a"]},
        {"body_sha256": hashlib.sha256(BODY).hexdigest().upper()},
        {"body_sha256": hashlib.sha256(BODY).hexdigest()[:63]},
        {"body_sha256": hashlib.sha256(BODY).hexdigest() + "0"},
        {"body_sha256": base64.b64encode(hashlib.sha256(BODY).digest()).decode()},
        {"body_sha256": 5},
        {"ord": ""},
        {"ord": 5},
        {"ord": ["ord-91c2"]},
    ],
    ids=lambda change: "-".join(f"{k}={v!r}"[:40] for k, v in change.items()),
)
def test_mistyped_claim_is_refused(principal_key: SigningKey, header: dict[str, Any], change: dict[str, Any],
                                   make_claims: ClaimsFactory,
                                   refused: Refuse) -> None:
    refused(forge(header, make_claims(**change), principal_key), TokenError, "TOKEN_INVALID")


def test_null_ord_is_refused_not_taken_as_absent(principal_key: SigningKey, header: dict[str, Any],
                                                 make_claims: ClaimsFactory,
                                                 refused: Refuse) -> None:
    claims = make_claims()
    claims["ord"] = None
    refused(forge(header, claims, principal_key), TokenError, "TOKEN_INVALID", match="ord")


def test_jti_of_128_characters_and_unknown_claims_are_accepted(principal_key: SigningKey,
                                                               header: dict[str, Any],
                                                               make_claims: ClaimsFactory,
                                                               verify: Verify) -> None:
    claims = make_claims(jti="j" * 128, nbf=NOW, extra={"nested": [1, 2]})
    assert verify(forge(header, claims, principal_key)).jti == "j" * 128


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'"claims"',
        b"null",
        b'{"iss":"bka-de","iss":"someone-else"}',
        b'{"aud":"elsewhere","aud":"gateway.test"}',
        b'{"iat":NaN}',
        b"\xff",
    ],
)
def test_payload_that_is_not_one_strict_json_object_is_refused(principal_key: SigningKey,
                                                               header: dict[str, Any],
                                                               payload: bytes,
                                                               refused: Refuse) -> None:
    refused(forge(header, payload, principal_key), TokenError, "TOKEN_INVALID", match="payload")


def test_duplicate_claim_cannot_smuggle_a_second_value(principal_key: SigningKey, header: dict[str, Any],
                                                       make_claims: ClaimsFactory,
                                                       refused: Refuse) -> None:
    text = json.dumps(make_claims(), separators=(",", ":"))
    payload = ('{"body_sha256":"' + "0" * 64 + '",' + text[1:]).encode()
    refused(forge(header, payload, principal_key), TokenError, "TOKEN_INVALID", match="duplicate")


def test_audience_mismatch(principal_key: SigningKey, header: dict[str, Any],
                           make_claims: ClaimsFactory, refused: Refuse) -> None:
    for audience in ("other.gateway", AUDIENCE.upper(), AUDIENCE + " "):
        token = forge(header, make_claims(aud=audience), principal_key)
        refused(token, TokenAudienceError, "TOKEN_AUDIENCE_MISMATCH")
    good = forge(header, make_claims(), principal_key)
    refused(good, TokenAudienceError, "TOKEN_AUDIENCE_MISMATCH", audience="other.gateway")


def test_lifetime_over_the_maximum_is_refused(principal_key: SigningKey, header: dict[str, Any],
                                              make_claims: ClaimsFactory,
                                              verify: Verify,
                                              refused: Refuse) -> None:
    assert MAX_LIFETIME_S == 300
    verify(forge(header, make_claims(exp=NOW + 300), principal_key))
    refused(forge(header, make_claims(exp=NOW + 301), principal_key), TokenLifetimeError,
            "TOKEN_LIFETIME_TOO_LONG")
    refused(forge(header, make_claims(exp=NOW + 10**12), principal_key), TokenLifetimeError,
            "TOKEN_LIFETIME_TOO_LONG")
    refused(forge(header, make_claims(exp=NOW + 61), principal_key), TokenLifetimeError,
            "TOKEN_LIFETIME_TOO_LONG", max_lifetime=60)


def test_exp_not_after_iat_is_refused(principal_key: SigningKey, header: dict[str, Any],
                                      make_claims: ClaimsFactory,
                                      refused: Refuse) -> None:
    for exp in (NOW, NOW - 1, 0):
        refused(forge(header, make_claims(exp=exp), principal_key), TokenError, "TOKEN_INVALID",
                match="exp must be after iat")


def test_expiry_honours_the_leeway(principal_key: SigningKey, header: dict[str, Any],
                                   make_claims: ClaimsFactory, verify: Verify,
                                   refused: Refuse) -> None:
    assert LEEWAY_S == 30
    token = forge(header, make_claims(exp=NOW + 60), principal_key)
    verify(token, now=NOW + 60 + LEEWAY_S - 1)
    refused(token, TokenExpiredError, "TOKEN_EXPIRED", now=NOW + 60 + LEEWAY_S)
    refused(token, TokenExpiredError, "TOKEN_EXPIRED", now=NOW + 10_000)
    refused(token, TokenExpiredError, "TOKEN_EXPIRED", now=NOW + 61, leeway=0)


def test_token_issued_in_the_future_beyond_the_leeway_is_refused(principal_key: SigningKey,
                                                                 header: dict[str, Any],
                                                                 make_claims: ClaimsFactory,
                                                                 verify: Verify,
                                                                 refused: Refuse) -> None:
    verify(forge(header, make_claims(iat=NOW + LEEWAY_S, exp=NOW + LEEWAY_S + 60), principal_key))
    future = forge(header, make_claims(iat=NOW + LEEWAY_S + 1, exp=NOW + LEEWAY_S + 61), principal_key)
    refused(future, TokenError, "TOKEN_INVALID", match="future")


def test_body_mismatch_is_refused(good_token: str, refused: Refuse) -> None:
    for body in (b"", BODY + b" ", BODY[:-1], BODY.replace(b"0042", b"0043")):
        refused(good_token, TokenBodyMismatchError, "TOKEN_BODY_MISMATCH", body=body)


# --- create_token refuses to make what verify_token would refuse ------------------------------


@pytest.mark.parametrize("lifetime", [0, -1, MAX_LIFETIME_S + 1, 3600])
def test_create_token_refuses_a_lifetime_out_of_range(principal_key: SigningKey, lifetime: int) -> None:
    with pytest.raises(TokenLifetimeError) as caught:
        create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW, lifetime=lifetime)
    assert caught.value.code == "TOKEN_LIFETIME_TOO_LONG"


@pytest.mark.parametrize(
    "arguments",
    [{"issuer": ""}, {"audience": ""}, {"jti": ""}, {"jti": "x" * 129}, {"order_id": ""}, {"now": -1},
     {"now": float(NOW)}, {"now": True}],
)
def test_create_token_refuses_what_verification_would_refuse(principal_key: SigningKey,
                                                             arguments: dict[str, Any]) -> None:
    values: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "body": BODY, "now": NOW, **arguments}
    with pytest.raises(TokenError) as caught:
        create_token(principal_key, **values)
    assert type(caught.value) is TokenError


def test_body_must_be_bytes(principal_key: SigningKey, good_token: str, verify: Verify) -> None:
    with pytest.raises(CryptoError, match="body must be bytes"):
        create_token(principal_key, issuer=ISSUER, audience=AUDIENCE, body=BODY.decode(), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(CryptoError, match="body must be bytes"):
        verify(good_token, body=BODY.decode())


def test_create_token_needs_a_signing_key(principal_key: SigningKey) -> None:
    verify_key: Any = principal_key.verify_key
    with pytest.raises(InvalidKeyError):
        create_token(verify_key, issuer=ISSUER, audience=AUDIENCE, body=BODY, now=NOW)


def test_peek_token_refuses_a_payload_without_issuer(principal_key: SigningKey, header: dict[str, Any],
                                                     make_claims: ClaimsFactory) -> None:
    for issuer in (None, "", 5):
        claims = make_claims()
        if issuer is None:
            del claims["iss"]
        else:
            claims["iss"] = issuer
        with pytest.raises(TokenError, match="iss") as caught:
            peek_token(forge(header, claims, principal_key))
        assert caught.value.code == "TOKEN_INVALID"
    with pytest.raises(TokenError, match="payload"):
        peek_token(forge(header, b"[]", principal_key))


def test_verify_key_kid_is_the_protocol_kid(principal_key: SigningKey, kid: str) -> None:
    assert key_id(principal_key.verify_key) == kid
    assert isinstance(principal_key.verify_key, VerifyKey)


# --- nothing but TokenError escapes ------------------------------------------------------------

FUZZ_KEY = SigningKey.generate()
FUZZ_KID = key_id(FUZZ_KEY.verify_key)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400)
       | st.from_regex(r"[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,90}", fullmatch=True))
def test_arbitrary_text_is_only_ever_a_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        verify_token(text, verify_key=FUZZ_KEY.verify_key, audience=AUDIENCE, body=BODY, now=NOW)
    with pytest.raises(TokenError):
        peek_token(text)


@settings(max_examples=300, deadline=None)
@given(header=st.binary(max_size=80) | st.just(b'{"alg":"EdDSA","typ":"JWT","kid":"%s"}'),
       payload=st.binary(max_size=200))
def test_validly_signed_garbage_is_only_ever_a_token_error(header: bytes, payload: bytes) -> None:
    token = forge(header.replace(b"%s", FUZZ_KID.encode()), payload, FUZZ_KEY)
    with pytest.raises(TokenError):
        verify_token(token, verify_key=FUZZ_KEY.verify_key, audience=AUDIENCE, body=BODY, now=NOW)
