"""Compact JWS tokens built by hand (base64url + PyNaCl), independently of ``crypto.tokens``,
so the gateway's verifier is tested against tokens it did not make."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

from nacl.signing import SigningKey

_UNSET: Any = object()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def kid_of(key: SigningKey) -> str:
    return hashlib.sha256(bytes(key.verify_key)).digest()[:8].hex()


def mint(key: SigningKey, *, iss: str, aud: str, body: bytes, now: int | None = None, lifetime: int = 60,
         ord: str | None = None, jti: str | None = None, header: dict[str, Any] | None = None,
         drop: tuple[str, ...] = (), extra: dict[str, Any] | None = None, iat: Any = _UNSET,
         exp: Any = _UNSET) -> str:
    """An EdDSA JWT over ``body``; ``drop`` removes claims, ``extra`` overrides them."""
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": iss, "aud": aud, "iat": issued if iat is _UNSET else iat,
        "exp": issued + lifetime if exp is _UNSET else exp, "jti": jti or secrets.token_urlsafe(16),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    if ord is not None:
        claims["ord"] = ord
    claims.update(extra or {})
    for name in drop:
        claims.pop(name, None)
    head = header if header is not None else {"alg": "EdDSA", "typ": "JWT", "kid": kid_of(key)}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode("ascii")).signature
    return f"{signing_input}.{b64url(signature)}"
