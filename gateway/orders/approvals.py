"""Whether a reviewer's signature over an order text counts (docs/PROTOCOL.md §3): one reading for
the order document, its continuation (§16.1) and a new approval."""

from __future__ import annotations

from crypto.errors import CryptoError
from crypto.keys import decode_signing_public_key
from crypto.signing import ORDER_DOMAIN, verify_signature_over
from gateway.principals.registry import ACTIVE, Role

__all__ = ["counts_as_reviewer", "signing_key_of"]


def counts_as_reviewer(role: str, status: str, key_status: str | None, public_key: str | None) -> bool:
    """Whether an approval by this principal with this key may count at all: an active reviewer
    signing with an active key it still has."""
    return (role == Role.REVIEWER.value and status == ACTIVE and public_key is not None
            and key_status == ACTIVE)


def signing_key_of(message: bytes, signature: str, public_key: str) -> bytes | None:
    """The raw Ed25519 key when ``signature`` verifies over ``ORDER_DOMAIN || 0x00 || message``
    with ``public_key`` (encoded); ``None`` when it does not, or the key does not decode."""
    try:
        verify_key = decode_signing_public_key(public_key)
        verify_signature_over(ORDER_DOMAIN, message, signature, verify_key)
    except CryptoError:
        return None
    return bytes(verify_key)
