"""The recipes layer of disclosure-gateway (docs/PROTOCOL.md §1-4, §7).

Narrow and framework-free: it imports only the standard library, PyNaCl, rfc8785 and itself,
never the gateway (a test holds it to that). Every failure is a :mod:`crypto.errors` class that
carries its docs/PROTOCOL.md §6 code; verification returns the verified value or raises.

Submodules, one concept each: ``keys`` (key pairs, kids, key files), ``canonical`` (RFC 8785),
``signing`` (domain-separated signatures), ``sealing`` (sealed disclosure records), ``tokens``
(request tokens), ``merkle`` (RFC 9162 trees and proofs), ``note`` (C2SP signed notes and
checkpoints), ``encoding`` (strict base64/hex), ``errors``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crypto.canonical import canonical_json
    from crypto.errors import CryptoError
    from crypto.keys import key_id, read_sealing_key, read_signing_key
    from crypto.merkle import inclusion_proof, verify_consistency, verify_inclusion
    from crypto.note import sign_checkpoint, verify_checkpoint
    from crypto.sealing import SealedValue, open_record, seal_record
    from crypto.signing import sign_document, verify_document_signature
    from crypto.tokens import create_token, verify_token

# The names below are loaded with their submodule when first used (PEP 562), not when the package
# is: importing any one recipe (``crypto.errors``, say) imports this package first, and a command's
# help, which needs none of them, must start in under 0.3 s (bench/bench_cli_start.py).
_EXPORTED_FROM: dict[str, str] = {
    "CryptoError": "crypto.errors",
    "SealedValue": "crypto.sealing",
    "canonical_json": "crypto.canonical",
    "create_token": "crypto.tokens",
    "inclusion_proof": "crypto.merkle",
    "key_id": "crypto.keys",
    "open_record": "crypto.sealing",
    "read_sealing_key": "crypto.keys",
    "read_signing_key": "crypto.keys",
    "seal_record": "crypto.sealing",
    "sign_checkpoint": "crypto.note",
    "sign_document": "crypto.signing",
    "verify_checkpoint": "crypto.note",
    "verify_consistency": "crypto.merkle",
    "verify_document_signature": "crypto.signing",
    "verify_inclusion": "crypto.merkle",
    "verify_token": "crypto.tokens",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTED_FROM.get(name)
    if module is None:
        raise AttributeError(f"module 'crypto' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CryptoError",
    "SealedValue",
    "canonical_json",
    "create_token",
    "inclusion_proof",
    "key_id",
    "open_record",
    "read_sealing_key",
    "read_signing_key",
    "seal_record",
    "sign_checkpoint",
    "sign_document",
    "verify_checkpoint",
    "verify_consistency",
    "verify_document_signature",
    "verify_inclusion",
    "verify_token",
]
