"""Encryption at rest and blind indexes for subject data.

Subject data is stored only as an AEAD ciphertext; lookups by phone number or username go through
a keyed blind index. The two keys are separate files outside the database (``gateway.keys.keyring``):
whoever holds the blind-index key can enumerate phone numbers against the index (FINDINGS.md,
"From the field"), so it must never sit next to the rows it protects.

Sealed layout (``seal``)::

    version (1 byte, 0x01) || nonce (24 bytes, random) || XChaCha20-Poly1305 IETF ciphertext+tag

The associated data is ``b"disclosure-gateway/at-rest/v1" || 0x00 || version || context``. The
caller's ``context`` names the row a ciphertext belongs to (``b"subject:" + id``), so a
ciphertext copied onto another row, or a ciphertext of another purpose, does not open.
XChaCha20's 192-bit nonce makes random nonces safe for any number of rows under one key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from crypto.aead import KEY_BYTES, OVERHEAD_BYTES, aead_open, aead_seal
from crypto.errors import SealedValueError
from gateway.errors import StoreIntegrityError
from gateway.keys.keyring import GatewayKeys

__all__ = ["BLIND_INDEX_KINDS", "Vault"]

_VERSION: Final = b"\x01"
_AD_DOMAIN: Final = b"disclosure-gateway/at-rest/v1\x00"

BLIND_INDEX_KINDS: Final = frozenset({"phone", "username"})
"""What may be blind-indexed: ``phone`` (E.164) and ``username`` (casefolded)."""


class Vault:
    """Seals and opens subject data at rest, and computes blind-index digests.

    Keys are 32 random bytes each; ``ValueError`` for any other length (a programming or
    configuration error, never input from a request)."""

    __slots__ = ("_at_rest_key", "_blind_index_key", "_previous_key")

    def __init__(self, at_rest_key: bytes, blind_index_key: bytes, *,
                 previous_at_rest_key: bytes | None = None) -> None:
        keys = [at_rest_key, blind_index_key] + ([previous_at_rest_key] if previous_at_rest_key is not None else [])
        if any(len(key) != KEY_BYTES for key in keys):
            raise ValueError(f"vault keys must be {KEY_BYTES} bytes each")
        # One key for two purposes would let a weakness in one construction leak into the other.
        if hmac.compare_digest(at_rest_key, blind_index_key) or (
                previous_at_rest_key is not None and hmac.compare_digest(previous_at_rest_key, blind_index_key)):
            raise ValueError("the at-rest key and the blind-index key must differ")
        self._at_rest_key = bytes(at_rest_key)
        self._blind_index_key = bytes(blind_index_key)
        # During an at-rest rotation: what is not yet re-sealed opens with the key being replaced.
        self._previous_key = None if previous_at_rest_key is None else bytes(previous_at_rest_key)

    @classmethod
    def from_keys(cls, keys: GatewayKeys) -> Vault:
        """The vault of the keys as they are; while an at-rest rotation is under way it seals with
        the new key and opens with either."""
        if keys.at_rest_next is not None:
            return cls(keys.at_rest_next, keys.blind_index_key, previous_at_rest_key=keys.at_rest_key)
        return cls(keys.at_rest_key, keys.blind_index_key)

    def __repr__(self) -> str:
        return "Vault(<keys hidden>)"

    @staticmethod
    def _associated_data(context: bytes) -> bytes:
        return _AD_DOMAIN + _VERSION + context

    def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``context``; a fresh random nonce every call."""
        return _VERSION + aead_seal(self._at_rest_key, plaintext, self._associated_data(context))

    def open(self, ciphertext: bytes, *, context: bytes) -> bytes:
        """Decrypt what :meth:`seal` made under the same ``context``.

        Raises :class:`StoreIntegrityError` (one fixed message) for a wrong version, a short or
        altered ciphertext, another context or another key."""
        if len(ciphertext) < 1 + OVERHEAD_BYTES or ciphertext[:1] != _VERSION:
            raise StoreIntegrityError()
        for key in (self._at_rest_key, self._previous_key):
            if key is None:
                continue
            try:
                return aead_open(key, ciphertext[1:], self._associated_data(context))
            except SealedValueError:
                continue
        # `from None`: libsodium's message is harmless, but the chain adds nothing to act on.
        raise StoreIntegrityError() from None

    def opens_with_current_key(self, ciphertext: bytes, *, context: bytes) -> bool:
        """Whether ``ciphertext`` is sealed under the current key (an at-rest rotation skips those)."""
        try:
            Vault(self._at_rest_key, self._blind_index_key).open(ciphertext, context=context)
        except StoreIntegrityError:
            return False
        return True

    def blind_index(self, kind: str, normalised_value: str) -> bytes:
        """HMAC-SHA256(blind-index key, kind || 0x00 || value): 32 bytes.

        ``kind`` separates the index spaces, so a username that happens to equal a phone number's
        digits does not share its digest. The caller normalises the value (E.164 for phones,
        casefolded usernames); this function hashes exactly what it is given. ``ValueError`` for
        an unknown kind."""
        if kind not in BLIND_INDEX_KINDS:
            raise ValueError("unknown blind index kind")
        message = kind.encode("ascii") + b"\x00" + normalised_value.encode("utf-8")
        return hmac.new(self._blind_index_key, message, hashlib.sha256).digest()
