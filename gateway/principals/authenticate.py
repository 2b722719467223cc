"""Authentication of one request (docs/PROTOCOL.md §2): the bearer token's issuer and key are looked
up, its signature verified before any other claim is trusted, then its claims and single use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from crypto.errors import CryptoError
from crypto.tokens import TokenClaims, peek_token, verify_token
from gateway.config import Settings
from gateway.errors import AuthenticationError, from_crypto
from gateway.principals.registry import PrincipalInfo, PrincipalRegistry
from gateway.principals.replay import ReplayStore
from gateway.values.ids import is_gateway_id

__all__ = ["Caller", "authenticate", "single_authorization"]

_PRINTABLE = re.compile(r"[\x21-\x7e]{1,128}")


@dataclass(frozen=True)
class Caller:
    """A verified principal and the claims of the token it sent."""

    principal: PrincipalInfo
    claims: TokenClaims


def single_authorization(values: Sequence[str]) -> str | None:
    """The request's one ``Authorization`` header, None when it has none, or ``TOKEN_INVALID``
    when it has several: which one counts would be a guess, and proxies guess differently."""
    if len(values) > 1:
        raise AuthenticationError("TOKEN_INVALID", "send exactly one Authorization header")
    return values[0] if values else None


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
                 replay: ReplayStore, settings: Settings, now: int, consume: bool = True) -> Caller:
    """Return the caller, or raise :class:`AuthenticationError` with its §6 code.

    With ``consume`` the jti is recorded here, in a commit of its own; without, a jti recorded
    already is refused and recording it is left to the caller (the audit writer's batch)."""
    token = bearer_token(authorization)
    try:
        issuer, kid = peek_token(token)
        found = registry.token_key(issuer, kid)
        claims = verify_token(token, verify_key=found.verify_key, audience=settings.id, body=body, now=now,
                              max_lifetime=settings.max_token_lifetime_s, leeway=settings.token_leeway_s)
    except CryptoError as exc:
        raise from_crypto(exc) from exc
    # Only now: who lacks the key learns nothing of its state, its holder learns why it stopped.
    refusal = found.refusal(now)
    if refusal is not None:
        raise refusal
    principal = found.principal
    # Both are stored (replay store, audit entry): text a database may refuse (NUL, controls)
    # would fail that write, and with group commit the writes of other requests beside it.
    if not _PRINTABLE.fullmatch(claims.jti):
        raise AuthenticationError("TOKEN_INVALID", "the token's jti must be printable ASCII")
    if claims.order_id is not None and not is_gateway_id(claims.order_id):
        raise AuthenticationError("TOKEN_INVALID", "the token's ord must be an order id as the gateway issued it")
    if consume:
        replay.consume(claims.issuer, claims.jti, expires_at=claims.expires_at, now=now)
    else:
        replay.check_unused(claims.issuer, claims.jti, now=now)
    return Caller(principal=principal, claims=claims)
