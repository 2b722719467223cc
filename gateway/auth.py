"""Authentication of one request (PROTOCOL.md §2): the bearer token's issuer and key are looked
up, its signature verified before any other claim is trusted, then its claims and single use."""

from __future__ import annotations

from dataclasses import dataclass

from crypto.errors import CryptoError
from crypto.tokens import TokenClaims, peek_token, verify_token
from gateway.config import Settings
from gateway.errors import AuthenticationError, from_crypto
from gateway.principals import PrincipalInfo, PrincipalRegistry
from gateway.replay import ReplayStore

__all__ = ["Caller", "authenticate"]


@dataclass(frozen=True)
class Caller:
    """A verified principal and the claims of the token it sent."""

    principal: PrincipalInfo
    claims: TokenClaims


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header, or ``UNAUTHENTICATED``."""
    if authorization is None:
        raise AuthenticationError("UNAUTHENTICATED", "send an Authorization: Bearer <token> header "
                                  "with a token signed by your registered key")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("UNAUTHENTICATED", "the Authorization header must be 'Bearer <token>'")
    return token


def authenticate(authorization: str | None, body: bytes, *, registry: PrincipalRegistry,
                 replay: ReplayStore, settings: Settings, now: int) -> Caller:
    """Return the caller, or raise :class:`AuthenticationError` with its §6 code."""
    token = bearer_token(authorization)
    try:
        issuer, kid = peek_token(token)
        principal, verify_key = registry.token_key(issuer, kid)
        claims = verify_token(token, verify_key=verify_key, audience=settings.id, body=body, now=now,
                              max_lifetime=settings.max_token_lifetime_s, leeway=settings.token_leeway_s)
    except CryptoError as exc:
        raise from_crypto(exc) from exc
    replay.consume(claims.issuer, claims.jti, expires_at=claims.expires_at, now=now)
    return Caller(principal=principal, claims=claims)
