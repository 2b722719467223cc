"""Strict text encodings and the NewTypes that keep them apart (docs/PROTOCOL.md §1)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import NewType

from crypto.errors import EncodingError

__all__ = ["B64", "HexStr", "KeyId", "b64decode", "b64encode", "b64url_decode", "b64url_encode",
           "hexdecode", "sha256_hex"]

B64 = NewType("B64", str)
"""Standard base64 (RFC 4648 §4), padded."""

HexStr = NewType("HexStr", str)
"""Lowercase hexadecimal."""

KeyId = NewType("KeyId", str)
"""Lowercase hex of the first 8 bytes of SHA-256(raw public key) (docs/PROTOCOL.md §1)."""


def b64encode(data: bytes) -> B64:
    """Standard, padded base64 of ``data``."""
    return B64(base64.b64encode(data).decode("ascii"))


def b64decode(text: str | bytes, *, length: int | None = None, what: str = "value") -> bytes:
    """Decode standard padded base64 strictly; raise :class:`EncodingError` on anything else.

    ``length``, when given, is the exact number of decoded bytes required.
    """
    try:
        raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError, UnicodeError, TypeError) as exc:
        raise EncodingError(f"{what} is not valid standard base64") from exc
    # b64decode(validate=True) still accepts non-canonical trailing bits; re-encoding rejects them.
    if base64.b64encode(data) != raw:
        raise EncodingError(f"{what} is not canonical standard base64")
    if length is not None and len(data) != length:
        raise EncodingError(f"{what} must decode to {length} bytes, not {len(data)}")
    return data


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2), as JOSE uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url strictly; raise :class:`EncodingError` otherwise."""
    try:
        raw = text.encode("ascii")
    except UnicodeError as exc:
        raise EncodingError("value is not base64url") from exc
    if b"=" in raw or len(raw) % 4 == 1:
        raise EncodingError("value is not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EncodingError("value is not base64url") from exc
    if b64url_encode(data).encode("ascii") != raw:
        raise EncodingError("value is not canonical base64url")
    return data


def hexdecode(text: str, *, length: int | None = None, what: str = "value") -> bytes:
    """Decode lowercase hex strictly; ``length`` is the exact byte count required."""
    if text != text.lower():
        raise EncodingError(f"{what} must be lowercase hex")
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise EncodingError(f"{what} is not hex") from exc
    if length is not None and len(data) != length:
        raise EncodingError(f"{what} must be {length} bytes of hex, not {len(data)}")
    return data


def sha256_hex(data: bytes) -> HexStr:
    """Lowercase hex SHA-256 of ``data``."""
    return HexStr(hashlib.sha256(data).hexdigest())
