"""Request tokens: compact EdDSA JWTs bound to one request body (docs/PROTOCOL.md §2).

A token's header is exactly ``{"alg":"EdDSA","typ":"JWT","kid":"<kid>"}`` (RFC 8037 §3.1); its
claims are ``iss``, ``aud``, ``iat``, ``exp``, ``jti``, ``body_sha256`` and, for an authority's
subject queries, ``ord``.

How a token is checked, and why in this order:

1. Size first (:data:`MAX_TOKEN_BYTES`), before any decoding, so an attacker cannot make the
   gateway base64-decode or parse megabytes.
2. Shape and header, strictly, by this module: three unpadded base64url segments; a header that
   is a JSON object without duplicate keys and holds exactly ``alg`` = ``EdDSA``, ``typ`` = ``JWT``
   and a well-formed ``kid``. Every other ``alg`` (``none``, ``HS256``, ``RS256``…) is refused
   here, whatever key the caller holds.
3. The signature, with libsodium (PyNaCl), over the received ``header.payload`` bytes, before
   the payload is even decoded (PROTOCOL §2: verify before trusting anything).
4. The claims, against a ``now`` the caller passes; the clock is never read here.

Why not PyJWT: it was tried, with a private ``PyJWS`` whose only algorithm was PyNaCl-backed
EdDSA, and dropped. (a) Its segment decoder checks the base64url alphabet with a per-character
Python generator before the signature is verified: ~26 µs of a ~120 µs verification for a
400-byte token and ~380 µs for an 8 KiB one, a work amplifier for unauthenticated input. (b) It
parses the header with plain ``json.loads`` (duplicate keys: last one wins) and accepts ``=``
padding, so the strict header parse here had to run anyway and the header was decoded twice.
(c) Its key annotations admit only ``cryptography`` keys, and its claim checks read the wall
clock. What remained for PyJWT was one split and one call into libsodium. Interoperability is
held by tests against an independent implementation (joserfc) in both directions.

Every failure of a token raises :class:`~crypto.errors.TokenError` or one of its subclasses,
whose ``code`` is the PROTOCOL §6 code. A caller's own mistake (a key or body of the wrong type)
raises :class:`~crypto.errors.InvalidKeyError` or :class:`~crypto.errors.CryptoError` instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

import nacl.exceptions
from nacl.signing import SigningKey, VerifyKey

from crypto.canonical import parse_json_object
from crypto.encoding import HexStr, KeyId, b64url_decode, b64url_encode
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

__all__ = [
    "ALGORITHM",
    "LEEWAY_S",
    "MAX_JTI_CHARS",
    "MAX_LIFETIME_S",
    "MAX_TOKEN_BYTES",
    "TokenClaims",
    "create_token",
    "peek_token",
    "verify_token",
]

ALGORITHM: Final = "EdDSA"
MAX_TOKEN_BYTES: Final = 8192
MAX_LIFETIME_S: Final = 300
LEEWAY_S: Final = 30
MAX_JTI_CHARS: Final = 128

_HEADER_FIELDS: Final[frozenset[str]] = frozenset({"alg", "typ", "kid"})
# Three non-empty unpadded base64url segments (RFC 7515 §7.1), and nothing else.
_COMPACT: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_KID: Final = re.compile(r"[0-9a-f]{16}")
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TokenClaims:
    """The verified claims of a request token, and the kid of the key that signed it."""

    issuer: str
    audience: str
    issued_at: int
    expires_at: int
    jti: str
    body_sha256: HexStr
    order_id: str | None
    kid: KeyId


def create_token(signing_key: SigningKey, *, issuer: str, audience: str, body: bytes, now: int,
                 lifetime: int = 60, order_id: str | None = None, jti: str | None = None) -> str:
    """A compact EdDSA JWT for one request whose HTTP body is exactly ``body``.

    ``iat`` is ``now``, ``exp`` is ``now + lifetime``; ``jti`` is 32 random base64url characters
    unless given. Raises :class:`TokenLifetimeError` unless ``0 < lifetime <= MAX_LIFETIME_S``,
    :class:`TokenError` for an empty issuer, audience or order id or a bad jti, and
    :class:`~crypto.errors.InvalidKeyError` if ``signing_key`` is not a SigningKey, and
    :class:`~crypto.errors.CryptoError` if ``body`` is not bytes.
    """
    if not isinstance(signing_key, SigningKey):
        raise InvalidKeyError("signing key must be a nacl.signing.SigningKey")
    if type(lifetime) is not int or not 0 < lifetime <= MAX_LIFETIME_S:
        raise TokenLifetimeError(f"token lifetime must be 1 to {MAX_LIFETIME_S} seconds")
    if type(now) is not int or now < 0:
        raise TokenError("now must be a non-negative integer NumericDate")
    _check_body(body)
    jti = secrets.token_urlsafe(24) if jti is None else jti
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    if order_id is not None:
        claims["ord"] = order_id
    # Hold the producer to what the verifier demands, so a bad token fails here, not at the gateway.
    _typed_claims(claims)
    header = {"alg": ALGORITHM, "typ": "JWT", "kid": key_id(signing_key.verify_key)}
    signing_input = f"{_json_b64url(header)}.{_json_b64url(claims)}"
    # RFC 7515 §5.1: the JWS signature is over the ASCII of "header.payload" (RFC 8037 §3.1).
    signature = signing_key.sign(signing_input.encode("ascii")).signature
    return f"{signing_input}.{b64url_encode(signature)}"


def _check_body(body: bytes) -> None:
    if not isinstance(body, bytes):
        raise CryptoError("the request body must be bytes, exactly as sent")


def _json_b64url(value: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _split(token: str) -> tuple[str, str, str]:
    # Size before anything else: no decoding or parsing of an oversized token.
    if not isinstance(token, str):
        raise TokenError("token must be a string")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError(f"token is longer than {MAX_TOKEN_BYTES} bytes")
    # The pattern is ASCII-only, so a match also means characters == bytes.
    if not _COMPACT.fullmatch(token):
        raise TokenError("token is not a compact JWS of three base64url segments")
    header, payload, signature = token.split(".")
    return header, payload, signature


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    try:
        # Decode as UTF-8 here (RFC 7519 §7.2): given bytes, json.loads would also accept a BOM,
        # UTF-16 and UTF-32.
        text = b64url_decode(segment).decode("utf-8")
    except (CryptoError, UnicodeError) as exc:
        raise TokenError(f"token {what} is not base64url of UTF-8") from exc
    try:
        return parse_json_object(text, what=f"token {what}")
    except CryptoError as exc:
        raise TokenError(f"token {what} is not a JSON object: {exc.message}") from exc


def _header_kid(segment: str) -> KeyId:
    """The kid of a header that is exactly ``{"alg":"EdDSA","typ":"JWT","kid":<kid>}``."""
    header = _json_segment(segment, "header")
    if header.get("alg") != ALGORITHM:
        raise TokenError(f"token alg must be {ALGORITHM}")
    if header.get("typ") != "JWT":
        raise TokenError("token typ must be JWT")
    if set(header) != _HEADER_FIELDS:
        raise TokenError("token header must hold exactly alg, typ and kid")
    kid = header["kid"]
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise TokenError("token kid must be 16 lowercase hex characters")
    return KeyId(kid)


def peek_token(token: str) -> tuple[str, KeyId]:
    """The UNVERIFIED ``(iss, kid)`` of a token, so the caller can find the key to verify it with.

    Nothing returned here is authenticated; use it only to choose a key for :func:`verify_token`.
    Raises :class:`TokenError` for an oversized token, one that is not three base64url segments,
    a header that is not exactly EdDSA/JWT/kid, or a payload without a non-empty string ``iss``.
    """
    header, payload, _ = _split(token)
    kid = _header_kid(header)
    issuer = _json_segment(payload, "payload").get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenError("token iss must be a non-empty string")
    return issuer, kid


def verify_token(token: str, *, verify_key: VerifyKey, audience: str, body: bytes, now: int,
                 max_lifetime: int = MAX_LIFETIME_S, leeway: int = LEEWAY_S) -> TokenClaims:
    """Verify a request token for the request whose HTTP body is exactly ``body``; return its claims.

    The header and the signature are checked before any claim. Raises:

    - :class:`TokenError` (``TOKEN_INVALID``): oversized or malformed token, another ``alg`` or
      ``typ``, a kid that is not ``verify_key``'s, a signature that does not verify, a missing or
      mistyped claim (``iat``/``exp`` must be JSON integers; ``aud`` a string, not an array),
      ``exp <= iat``, or ``iat`` more than ``leeway`` seconds after ``now``;
    - :class:`TokenAudienceError` if ``aud`` is not ``audience``;
    - :class:`TokenLifetimeError` if ``exp - iat > max_lifetime``;
    - :class:`TokenExpiredError` if ``now >= exp + leeway``;
    - :class:`TokenBodyMismatchError` if ``body_sha256`` is not SHA-256(``body``);
    - :class:`~crypto.errors.InvalidKeyError` if ``verify_key`` is not a VerifyKey, and
      :class:`~crypto.errors.CryptoError` if ``body`` is not bytes (caller errors).
    """
    if not isinstance(verify_key, VerifyKey):
        raise InvalidKeyError("verify key must be a nacl.signing.VerifyKey")
    _check_body(body)
    header, payload, signature_segment = _split(token)
    kid = _header_kid(header)
    if kid != key_id(verify_key):
        raise TokenError("token kid does not name the verify key")
    try:
        signature = b64url_decode(signature_segment)
        # RFC 7515 §5.2: verify over the segments exactly as received, before decoding the payload.
        verify_key.verify(f"{header}.{payload}".encode("ascii"), signature)
    except (CryptoError, nacl.exceptions.CryptoError) as exc:
        raise TokenError("token signature does not verify") from exc
    claims = _json_segment(payload, "payload")
    return _check_claims(claims, kid, audience=audience, body=body, now=now,
                         max_lifetime=max_lifetime, leeway=leeway)


def _typed_claims(claims: dict[str, Any]) -> tuple[str, str, int, int, str, HexStr, str | None]:
    """The claims with their JSON types checked; :class:`TokenError` for a missing or mistyped one."""
    for name in ("iss", "aud", "iat", "exp", "jti", "body_sha256"):
        if name not in claims:
            raise TokenError(f"token lacks the required claim {name}")
    issuer, audience, jti, digest = claims["iss"], claims["aud"], claims["jti"], claims["body_sha256"]
    if not isinstance(issuer, str) or not issuer:
        raise TokenError("token iss must be a non-empty string")
    # RFC 7519 allows an array; PROTOCOL §2 names one gateway, so only a string is accepted.
    if not isinstance(audience, str) or not audience:
        raise TokenError("token aud must be a non-empty string")
    issued_at, expires_at = claims["iat"], claims["exp"]
    # type(...) is int: JSON true is a Python bool (an int subclass), and 1.5 is not a NumericDate here.
    if type(issued_at) is not int or issued_at < 0:
        raise TokenError("token iat must be a non-negative integer")
    if type(expires_at) is not int or expires_at < 0:
        raise TokenError("token exp must be a non-negative integer")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise TokenError(f"token jti must be a string of 1 to {MAX_JTI_CHARS} characters")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise TokenError("token body_sha256 must be 64 lowercase hex characters")
    order_id = claims.get("ord")
    if "ord" in claims and (not isinstance(order_id, str) or not order_id):
        raise TokenError("token ord must be a non-empty string when present")
    return issuer, audience, issued_at, expires_at, jti, HexStr(digest), order_id


def _check_claims(claims: dict[str, Any], kid: KeyId, *, audience: str, body: bytes, now: int,
                  max_lifetime: int, leeway: int) -> TokenClaims:
    issuer, claimed_audience, issued_at, expires_at, jti, digest, order_id = _typed_claims(claims)
    if claimed_audience != audience:
        raise TokenAudienceError("token is addressed to another audience")
    if expires_at - issued_at > max_lifetime:
        raise TokenLifetimeError(f"token lifetime exceeds {max_lifetime} seconds")
    if expires_at <= issued_at:
        raise TokenError("token exp must be after iat")
    if now >= expires_at + leeway:
        raise TokenExpiredError("token has expired")
    if issued_at > now + leeway:
        raise TokenError("token is issued in the future")
    # Constant time: the digest is attacker-chosen and compared with one derived from the body.
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), digest):
        raise TokenBodyMismatchError("token body_sha256 does not match the request body")
    return TokenClaims(issuer=issuer, audience=claimed_audience, issued_at=issued_at,
                       expires_at=expires_at, jti=jti, body_sha256=digest, order_id=order_id, kid=kid)
