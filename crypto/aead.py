"""Authenticated encryption with a random nonce: XChaCha20-Poly1305 (IETF), through libsodium.

The recipe the gateway's encryption at rest is built on (``gateway.keys.vault`` adds its version
byte and its associated-data domain). XChaCha20's 192-bit nonce makes random nonces safe for any
number of messages under one key. Every failure to open folds into one :class:`SealedValueError`
with one message, whatever went wrong (wrong key, altered bytes, other associated data).
"""

from __future__ import annotations

from typing import Final

import nacl.bindings
import nacl.exceptions
import nacl.utils

from crypto.errors import SealedValueError

__all__ = ["KEY_BYTES", "OVERHEAD_BYTES", "aead_open", "aead_seal"]

KEY_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
_NONCE_BYTES: Final = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
OVERHEAD_BYTES: Final = _NONCE_BYTES + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
"""What :func:`aead_seal` adds to a plaintext: the nonce and the tag."""


def aead_seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """``nonce || ciphertext+tag`` of ``plaintext`` bound to ``associated_data``; a fresh random nonce."""
    nonce = nacl.utils.random(_NONCE_BYTES)
    return nonce + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, associated_data, nonce, key)


def aead_open(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """The plaintext :func:`aead_seal` sealed under ``key`` and ``associated_data``;
    :class:`SealedValueError` otherwise."""
    if len(sealed) < OVERHEAD_BYTES:
        raise SealedValueError("the ciphertext does not open")
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            sealed[_NONCE_BYTES:], associated_data, sealed[:_NONCE_BYTES], key)
    except nacl.exceptions.CryptoError:
        # `from None`: libsodium's message adds nothing to act on.
        raise SealedValueError("the ciphertext does not open") from None
