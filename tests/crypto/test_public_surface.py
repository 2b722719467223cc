"""The recipes layer's public surface is pinned: a change to it is a deliberate, reviewed change."""

from __future__ import annotations

import importlib

import crypto

EXPECTED = {
    "CryptoError", "SealedValue", "canonical_json", "create_token", "inclusion_proof", "key_id", "open_record",
    "read_sealing_key", "read_signing_key", "seal_record", "sign_checkpoint", "sign_document", "verify_checkpoint",
    "verify_consistency", "verify_document_signature", "verify_inclusion", "verify_token",
}
MODULES = ("aead", "canonical", "cosignature", "encoding", "errors", "key_schedule", "keys", "merkle", "note",
           "sealing", "signing", "tiles", "tokens", "webhooks")


def test_package_exports_exactly_the_recipes() -> None:
    assert set(crypto.__all__) == EXPECTED
    assert all(hasattr(crypto, name) for name in crypto.__all__)


def test_every_module_declares_what_it_exports_and_has_it() -> None:
    for name in MODULES:
        module = importlib.import_module(f"crypto.{name}")
        assert module.__all__, name
        missing = [member for member in module.__all__ if not hasattr(module, member)]
        assert missing == [], (name, missing)
