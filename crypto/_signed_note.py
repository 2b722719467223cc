"""What signed notes and cosignatures share (c2sp.org/signed-note): the signature line's prefix
and shape, key names, key IDs and the Ed25519 key size. Private to ``crypto``: ``note`` and
``cosignature`` import it; nothing else should."""

from __future__ import annotations

import hashlib
import re

from crypto.encoding import b64decode
from crypto.errors import EncodingError, InvalidKeyError, NoteError

__all__ = ["KEY_HASH_SIZE", "PUBLIC_KEY_SIZE", "SIGNATURE_PREFIX", "check_key_name", "check_public_key", "key_hash",
           "split_signature_line", "split_vkey"]

SIGNATURE_PREFIX = "\u2014 "  # EM DASH, SPACE
PUBLIC_KEY_SIZE = 32
KEY_HASH_SIZE = 4
_KEY_HASH_HEX = re.compile(r"[0-9a-f]{8}")


def key_hash(name: str, signature_type: int, public_key: bytes) -> bytes:
    """c2sp.org/signed-note: key ID = SHA-256(key name || 0x0A || type byte || public key)[:4]."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()
    return digest[:KEY_HASH_SIZE]


def check_key_name(name: str, what: str = "key name") -> None:
    """c2sp.org/signed-note: non-empty, no Unicode spaces, no '+'. Unprintable characters (format,
    private-use, unassigned, surrogates) are refused as well, so a name reads as what it is."""
    if not isinstance(name, str) or not name:
        raise NoteError(f"{what} must be a non-empty string")
    if any(char == "+" or char.isspace() or not char.isprintable() for char in name):
        raise NoteError(f"{what} must not contain '+', whitespace or unprintable characters")


def check_public_key(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidKeyError(f"Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes")


def split_signature_line(line: str) -> tuple[str, str]:
    """``(name, base64 text)`` of ``— <name> <base64>`` (without its newline); :class:`NoteError`
    if the line does not have that shape. The name is not checked here."""
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError("signature line must start with an em dash and a space")
    name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not space or not encoded:
        raise NoteError("signature line must be '— <key name> <signature>'")
    return name, encoded


def split_vkey(text: str, what: str, name_what: str = "key name") -> tuple[str, str, bytes]:
    """``(name, key ID hex, decoded key)`` of a ``<name>+<key ID>+<base64 key>`` string, the name
    valid and the key ID 8 lowercase hex digits; the caller checks the key's type byte and size and
    that the key ID matches. :class:`NoteError` naming ``what`` otherwise."""
    if not isinstance(text, str):
        raise NoteError(f"{what} must be text")
    parts = text.split("+", 2)  # the name holds no '+'; the base64 key may
    if len(parts) != 3:
        raise NoteError(f"{what} must be <name>+<key ID>+<key>")
    name, hash_hex, key_b64 = parts
    check_key_name(name, name_what)
    if not _KEY_HASH_HEX.fullmatch(hash_hex):
        raise NoteError(f"{what} ID must be 8 lowercase hex digits")
    try:
        return name, hash_hex, b64decode(key_b64, what=what)
    except EncodingError as exc:
        raise NoteError(exc.message) from exc
