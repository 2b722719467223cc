"""Domain-separated detached Ed25519 signatures over RFC 8785 documents (docs/PROTOCOL.md §3, §4).

A signature covers ``domain || 0x00 || JCS(document)``. The domain names what is being signed,
so a reviewer's approval of an order can never be replayed as the gateway's signature over a
disclosure record, or the other way round, even if the two documents had the same JCS bytes.
Signatures travel as standard padded base64 of their 64 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import nacl.exceptions
from nacl.signing import SigningKey, VerifyKey

from crypto.canonical import canonical_json
from crypto.encoding import B64, b64decode, b64encode
from crypto.errors import CryptoError, EncodingError, InvalidKeyError, SignatureError

__all__ = [
    "DISCLOSURE_DOMAIN",
    "ORDER_DOMAIN",
    "SIGNATURE_BYTES",
    "sign_document",
    "sign_over",
    "signing_payload",
    "verify_document_signature",
    "verify_signature_over",
]

ORDER_DOMAIN: Final = b"disclosure-gateway/order/v1"
"""Reviewers' approvals of an order document (PROTOCOL §3)."""

DISCLOSURE_DOMAIN: Final = b"disclosure-gateway/disclosure/v1"
"""The gateway's signature over a disclosure record inside a sealed value (PROTOCOL §4)."""

SIGNATURE_BYTES: Final = 64


def _check_domain(domain: bytes) -> None:
    # The 0x00 separator is only unambiguous if no domain contains it.
    if not isinstance(domain, bytes) or not domain or b"\x00" in domain:
        raise CryptoError("a signing domain must be non-empty bytes without a NUL byte")


def _over_canonical(domain: bytes, canonical: bytes) -> bytes:
    _check_domain(domain)
    return domain + b"\x00" + canonical


def _sign(message: bytes, signing_key: SigningKey) -> B64:
    if not isinstance(signing_key, SigningKey):
        raise InvalidKeyError("signing key must be a nacl.signing.SigningKey")
    return b64encode(signing_key.sign(message).signature)


def _canonical_document(document: Mapping[str, Any]) -> bytes:
    # rfc8785 serialises dicts only; accept any top-level Mapping (nested ones must be dicts).
    if not isinstance(document, Mapping):
        raise EncodingError("a signed document must be a JSON object")
    return canonical_json(document if isinstance(document, dict) else dict(document))


def signing_payload(domain: bytes, document: Mapping[str, Any]) -> bytes:
    """The exact bytes signed: ``domain || 0x00 || JCS(document)``.

    Raises :class:`~crypto.errors.EncodingError` if the document is not JCS-representable
    (e.g. holds a float NaN or a non-string key) and :class:`~crypto.errors.CryptoError` for a
    malformed domain.
    """
    return _over_canonical(domain, _canonical_document(document))


def sign_document(domain: bytes, document: Mapping[str, Any], signing_key: SigningKey) -> B64:
    """Base64 of the 64-byte Ed25519 signature over :func:`signing_payload`.

    Raises as :func:`signing_payload` does, and :class:`~crypto.errors.InvalidKeyError` if
    ``signing_key`` is not a SigningKey.
    """
    return _sign(signing_payload(domain, document), signing_key)


def sign_over(domain: bytes, canonical_bytes: bytes, signing_key: SigningKey) -> B64:
    """As :func:`sign_document`, over bytes the caller already holds as the document's JCS text.

    For callers that canonicalise once and use the bytes twice (sealing). The bytes are signed
    exactly as given. Raises :class:`~crypto.errors.CryptoError` for a malformed domain or
    non-bytes input, :class:`~crypto.errors.InvalidKeyError` for a key that is not a SigningKey.
    """
    if not isinstance(canonical_bytes, bytes):
        raise CryptoError("signed document must be bytes")
    return _sign(_over_canonical(domain, canonical_bytes), signing_key)


def verify_document_signature(domain: bytes, document: Mapping[str, Any], signature_b64: str,
                              verify_key: VerifyKey) -> None:
    """Return ``None`` if ``signature_b64`` is ``verify_key``'s signature over the document in ``domain``.

    Raises :class:`SignatureError` for anything else: a signature that is not canonical base64 of
    64 bytes, or that does not verify. A document that cannot be canonicalised raises
    :class:`~crypto.errors.EncodingError` (no signature can cover it); a ``verify_key`` that is
    not a VerifyKey, :class:`~crypto.errors.InvalidKeyError`.
    """
    _verify(_over_canonical(domain, _canonical_document(document)), signature_b64, verify_key)


def verify_signature_over(domain: bytes, canonical_bytes: bytes, signature_b64: str,
                          verify_key: VerifyKey) -> None:
    """As :func:`verify_document_signature`, over bytes the caller holds as the document's JCS text.

    The bytes are verified exactly as given (the gateway keeps the exact JCS text that reviewers
    signed); they are not re-canonicalised, so a non-canonical text simply fails to verify against
    signatures made over the canonical one. Raises :class:`SignatureError`.
    """
    if not isinstance(canonical_bytes, bytes):
        raise SignatureError("signed document must be bytes")
    _verify(_over_canonical(domain, canonical_bytes), signature_b64, verify_key)


def _verify(message: bytes, signature_b64: str, verify_key: VerifyKey) -> None:
    # The one choke point where PyNaCl's and the decoder's failures become SignatureError.
    if not isinstance(verify_key, VerifyKey):
        raise InvalidKeyError("verify key must be a nacl.signing.VerifyKey")
    if not isinstance(signature_b64, str):
        raise SignatureError("signature must be a base64 string")
    try:
        signature = b64decode(signature_b64, length=SIGNATURE_BYTES, what="signature")
    except CryptoError as exc:
        raise SignatureError(f"signature is not valid: {exc.message}") from exc
    try:
        verify_key.verify(message, signature)
    except nacl.exceptions.CryptoError as exc:
        raise SignatureError("signature does not verify") from exc
