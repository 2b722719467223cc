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


# -- the direct call to libsodium ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 200, 4096, 65537])
def test_a_seal_is_what_the_pynacl_binding_seals_and_opens(size: int) -> None:
    import os

    import nacl.bindings

    from crypto import aead

    plaintext, ad, nonce, key = os.urandom(size), os.urandom(40), os.urandom(24), os.urandom(KEY_BYTES)
    direct = aead._encrypt(plaintext, ad, nonce, key)
    assert direct == nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)
    assert nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(direct, ad, nonce, key) == plaintext
    assert aead_open(key, nonce + direct, ad) == plaintext


@pytest.mark.parametrize(("nonce", "key", "error"), [
    (bytes(23), KEY, "Nonce"), (bytes(24), KEY[:-1], "Key"), ("x" * 24, KEY, "Nonce")])
def test_what_the_binding_refuses_is_still_refused(nonce: object, key: bytes, error: str) -> None:
    import nacl.exceptions

    from crypto import aead

    with pytest.raises(nacl.exceptions.TypeError, match=error):
        aead._encrypt(b"plaintext", b"ad", nonce, key)  # type: ignore[arg-type]


def test_empty_associated_data_is_sealed_as_the_binding_seals_it() -> None:
    import nacl.bindings

    from crypto import aead

    nonce = bytes(24)
    assert aead._encrypt(b"p", b"", nonce, KEY) == nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        b"p", b"", nonce, KEY)
