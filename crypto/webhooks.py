"""Standard Webhooks' asymmetric signature, ``v1a`` (Ed25519), exactly as the spec fixes it
(standardwebhooks.com, "Signature scheme" and "Webhook headers"; docs/PROTOCOL.md §17.4).

The signed content is the bytes ``{webhook-id}.{webhook-timestamp}.{body}``: the id, a full stop,
the timestamp as decimal Unix seconds, a full stop, and the exact body bytes sent. The header
``webhook-signature`` is a space-delimited list of ``v1a,<standard padded base64 of the 64-byte
signature>``. Public keys are shown as ``whpk_`` + standard base64 of the 32 raw bytes.

Hand-written over PyNaCl: the spec's own Python library (``standardwebhooks`` on PyPI) signs and
verifies only the symmetric ``v1`` (HMAC-SHA256) scheme, and no maintained PyPI package implements
``v1a``; the recipe is one concatenation and one Ed25519 signature.

The message can never be mistaken for anything else the gateway's key signs: the id the gateway
issues starts ``msg_`` and holds no full stop or newline, while every other signed message starts
with a ``disclosure-gateway/...`` domain or is a signed note, which ends in a newline that a compact
JSON body never holds.
"""

from __future__ import annotations

import re
from typing import Final

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from crypto.encoding import b64decode, b64encode
from crypto.errors import CryptoError

__all__ = ["PUBLIC_KEY_PREFIX", "SCHEME", "sign_v1a", "signed_content", "verify_v1a", "whpk", "whpk_decode"]

SCHEME: Final = "v1a"
PUBLIC_KEY_PREFIX: Final = "whpk_"
# The spec: neither the id nor the timestamp may hold a full stop (it would move the boundaries).
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signed_content(webhook_id: str, timestamp: int | str, body: bytes) -> bytes:
    """``{id}.{timestamp}.{body}``; ``CryptoError`` for an id or timestamp that could shift the dots."""
    stamp = str(timestamp)
    if not _ID.fullmatch(webhook_id) or not _TIMESTAMP.fullmatch(stamp):
        raise CryptoError("a webhook id is letters, digits, '_' and '-'; a timestamp is decimal Unix seconds")
    return f"{webhook_id}.{stamp}.".encode("ascii") + body


def sign_v1a(signing_key: SigningKey, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1a,<base64 signature>`` item of the ``webhook-signature`` header."""
    signature = signing_key.sign(signed_content(webhook_id, timestamp, body)).signature
    return f"{SCHEME},{b64encode(signature)}"


def verify_v1a(verify_keys: list[VerifyKey], webhook_id: str, timestamp: str, body: bytes, header: str) -> bool:
    """Whether any ``v1a`` item of ``header`` verifies with any of ``verify_keys`` (items of other
    schemes are skipped, as the spec lets a sender list several)."""
    try:
        message = signed_content(webhook_id, timestamp, body)
    except CryptoError:
        return False
    for item in header.split(" "):
        scheme, _, encoded = item.partition(",")
        if scheme != SCHEME:
            continue
        try:
            signature = b64decode(encoded, length=64, what="signature")
        except CryptoError:
            continue
        for key in verify_keys:
            try:
                key.verify(message, signature)
            except BadSignatureError:
                continue
            return True
    return False


def whpk(verify_key: VerifyKey) -> str:
    """The spec's serialization of a public key: ``whpk_`` + standard base64 of its 32 bytes."""
    return PUBLIC_KEY_PREFIX + b64encode(bytes(verify_key))


def whpk_decode(text: str) -> VerifyKey:
    """The key of a ``whpk_`` string; ``CryptoError`` if it is not one."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise CryptoError(f"a webhook public key starts with {PUBLIC_KEY_PREFIX}")
    return VerifyKey(b64decode(text[len(PUBLIC_KEY_PREFIX):], length=32, what="webhook public key"))
