"""A principal's own key changes, as signed statements (docs/PROTOCOL.md §17.5).

An authority replaces its token-signing key or its sealing key without an operator: it sends a
statement naming the gateway, itself, the key that signs the statement and the key that takes
over, at a time, signed (:mod:`crypto.signing`, ``domain || 0x00 || JCS(statement)``) by its current
signing key. A new signing key signs the same statement too, so nobody registers a public key whose
private half they do not hold. Each kind of change has a domain of its own: a signing-key statement
can never be replayed as a sealing-key statement, nor as anything else the gateway verifies.
"""

from __future__ import annotations

from typing import Any, Final

from crypto.keys import decode_sealing_public_key, decode_signing_public_key, encode_public_key, key_id

__all__ = ["SEALING_ROTATION_DOMAIN", "SIGNING_ROTATION_DOMAIN", "sealing_rotation", "signing_rotation"]

SIGNING_ROTATION_DOMAIN: Final = b"disclosure-gateway/signing-key-rotation/v1"
"""A principal's statement that a new token-signing key takes over from the one signing it."""

SEALING_ROTATION_DOMAIN: Final = b"disclosure-gateway/sealing-key-rotation/v1"
"""A principal's statement that disclosures are sealed to a new X25519 key from now on."""


def signing_rotation(*, gateway: str, principal: str, old_kid: str, new_key: str, time: str) -> dict[str, Any]:
    """The statement a signing-key rotation signs: ``new_key`` (base64 Ed25519) takes over from
    ``old_kid``. Raises :class:`~crypto.errors.InvalidKeyError` for a malformed ``new_key``."""
    verify_key = decode_signing_public_key(new_key)
    return {"v": 1, "gateway": gateway, "principal": principal, "old_kid": old_kid,
            "new_kid": key_id(verify_key), "new_key": encode_public_key(verify_key), "time": time}


def sealing_rotation(*, gateway: str, principal: str, signing_kid: str, old_sealing_kid: str | None,
                     new_key: str, time: str) -> dict[str, Any]:
    """The statement a sealing-key rotation signs with the key ``signing_kid``: ``new_key`` (base64
    X25519) replaces the sealing key ``old_sealing_kid`` (None when the principal had none).
    Raises :class:`~crypto.errors.InvalidKeyError` for a malformed ``new_key``."""
    public = decode_sealing_public_key(new_key)
    return {"v": 1, "gateway": gateway, "principal": principal, "signing_kid": signing_kid,
            "old_sealing_kid": old_sealing_kid, "new_sealing_kid": key_id(public),
            "new_sealing_key": encode_public_key(public), "time": time}
