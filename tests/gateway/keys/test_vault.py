from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest

from gateway.errors import StoreIntegrityError
from gateway.keys.vault import Vault

INTEGRITY = "stored subject data failed its integrity check"
PLAINTEXT = b'{"phone":"+4915123456789","username":"quiet_otter42"}'
CONTEXT = b"subject:sub_0123456789ab"


@pytest.fixture
def make_vault() -> Callable[[], Vault]:
    """Factory: a vault with fresh random keys each call."""
    return lambda: Vault(secrets.token_bytes(32), secrets.token_bytes(32))


@pytest.fixture
def vault(make_vault: Callable[[], Vault]) -> Vault:
    return make_vault()


def test_sealed_value_opens_under_its_context(vault: Vault) -> None:
    assert vault.open(vault.seal(PLAINTEXT, context=CONTEXT), context=CONTEXT) == PLAINTEXT


def test_sealed_value_does_not_contain_the_plaintext(vault: Vault) -> None:
    sealed = vault.seal(PLAINTEXT, context=CONTEXT)
    assert b"4915123456789" not in sealed
    assert b"quiet_otter42" not in sealed


def test_sealing_twice_gives_different_ciphertexts(vault: Vault) -> None:
    assert vault.seal(PLAINTEXT, context=CONTEXT) != vault.seal(PLAINTEXT, context=CONTEXT)


def test_ciphertext_moved_to_another_row_does_not_open(vault: Vault) -> None:
    sealed = vault.seal(PLAINTEXT, context=CONTEXT)
    with pytest.raises(StoreIntegrityError, match=f"^{INTEGRITY}$"):
        vault.open(sealed, context=b"subject:sub_ffffffffffff")


def test_ciphertext_does_not_open_under_another_key(make_vault: Callable[[], Vault]) -> None:
    sealed = make_vault().seal(PLAINTEXT, context=CONTEXT)
    with pytest.raises(StoreIntegrityError, match=f"^{INTEGRITY}$"):
        make_vault().open(sealed, context=CONTEXT)


@pytest.mark.parametrize("position", [0, 1, 24, 25, -1], ids=["version", "nonce", "nonce-end", "body", "tag"])
def test_any_tampered_byte_fails_the_integrity_check(vault: Vault, position: int) -> None:
    sealed = bytearray(vault.seal(PLAINTEXT, context=CONTEXT))
    sealed[position] ^= 0x01
    with pytest.raises(StoreIntegrityError, match=f"^{INTEGRITY}$"):
        vault.open(bytes(sealed), context=CONTEXT)


@pytest.mark.parametrize("length", [0, 1, 25, 40])
def test_truncated_ciphertext_fails_the_integrity_check(vault: Vault, length: int) -> None:
    sealed = vault.seal(PLAINTEXT, context=CONTEXT)
    with pytest.raises(StoreIntegrityError, match=f"^{INTEGRITY}$"):
        vault.open(sealed[:length], context=CONTEXT)


def test_integrity_error_reveals_nothing_of_the_row(vault: Vault) -> None:
    with pytest.raises(StoreIntegrityError) as caught:
        vault.open(vault.seal(PLAINTEXT, context=CONTEXT), context=b"subject:other")
    assert str(caught.value) == INTEGRITY
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_blind_index_is_deterministic_and_32_bytes(vault: Vault) -> None:
    digest = vault.blind_index("phone", "+4915123456789")
    assert digest == vault.blind_index("phone", "+4915123456789")
    assert len(digest) == 32


def test_blind_index_depends_on_the_key(make_vault: Callable[[], Vault]) -> None:
    assert make_vault().blind_index("phone", "+4915123456789") != make_vault().blind_index("phone", "+4915123456789")


def test_blind_index_separates_kinds(vault: Vault) -> None:
    assert vault.blind_index("phone", "4915123456789") != vault.blind_index("username", "4915123456789")


def test_blind_index_separates_values(vault: Vault) -> None:
    assert vault.blind_index("username", "quiet_otter42") != vault.blind_index("username", "quiet_otter43")


def test_blind_index_refuses_an_unknown_kind(vault: Vault) -> None:
    with pytest.raises(ValueError, match=r"^unknown blind index kind$"):
        vault.blind_index("email", "someone@example.org")


@pytest.mark.parametrize(("at_rest", "index"), [(16, 32), (32, 31), (0, 0)])
def test_vault_refuses_keys_of_the_wrong_length(at_rest: int, index: int) -> None:
    with pytest.raises(ValueError, match="must be 32 bytes each"):
        Vault(secrets.token_bytes(at_rest), secrets.token_bytes(index))


def test_vault_refuses_one_key_for_both_purposes() -> None:
    key = secrets.token_bytes(32)
    with pytest.raises(ValueError, match="must differ"):
        Vault(key, key)


def test_vault_repr_hides_the_keys() -> None:
    at_rest, index = secrets.token_bytes(32), secrets.token_bytes(32)
    text = repr(Vault(at_rest, index))
    assert at_rest.hex() not in text
    assert repr(at_rest) not in text
    assert text == "Vault(<keys hidden>)"
