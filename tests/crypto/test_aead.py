"""crypto.aead: XChaCha20-Poly1305 with a random nonce; every failure to open is one error."""

from __future__ import annotations

import pytest

from crypto.aead import KEY_BYTES, OVERHEAD_BYTES, aead_open, aead_seal
from crypto.errors import SealedValueError

KEY = bytes(range(KEY_BYTES))


def test_a_sealed_message_opens_with_its_key_and_associated_data() -> None:
    sealed = aead_seal(KEY, b"plaintext", b"row:1")
    assert len(sealed) == len(b"plaintext") + OVERHEAD_BYTES
    assert aead_open(KEY, sealed, b"row:1") == b"plaintext"


def test_every_seal_takes_a_fresh_nonce() -> None:
    assert aead_seal(KEY, b"same", b"ad") != aead_seal(KEY, b"same", b"ad")


@pytest.mark.parametrize("change", ["associated data", "key", "a ciphertext byte", "a nonce byte", "truncation"])
def test_anything_changed_does_not_open_and_says_nothing_more(change: str) -> None:
    sealed, key, ad = aead_seal(KEY, b"plaintext", b"row:1"), KEY, b"row:1"
    if change == "associated data":
        ad = b"row:2"
    elif change == "key":
        key = bytes(KEY_BYTES)
    elif change == "a ciphertext byte":
        sealed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    elif change == "a nonce byte":
        sealed = bytes([sealed[0] ^ 1]) + sealed[1:]
    else:
        sealed = sealed[:OVERHEAD_BYTES - 1]
    with pytest.raises(SealedValueError, match=r"^the ciphertext does not open$") as refused:
        aead_open(key, sealed, ad)
    assert refused.value.__cause__ is None
