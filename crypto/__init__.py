"""The recipes layer of disclosure-gateway (docs/PROTOCOL.md §1-4, §7).

Narrow and framework-free: it imports only the standard library, PyNaCl, rfc8785 and itself,
never the gateway (a test holds it to that). Every failure is a :mod:`crypto.errors` class that
carries its docs/PROTOCOL.md §6 code; verification returns the verified value or raises.

Submodules, one concept each: ``keys`` (key pairs, kids, key files), ``canonical`` (RFC 8785),
``signing`` (domain-separated signatures), ``sealing`` (sealed disclosure records), ``tokens``
(request tokens), ``merkle`` (RFC 9162 trees and proofs), ``note`` (C2SP signed notes and
checkpoints), ``encoding`` (strict base64/hex), ``errors``.
"""

from crypto.canonical import canonical_json
from crypto.errors import CryptoError
from crypto.keys import key_id, read_sealing_key, read_signing_key
from crypto.merkle import inclusion_proof, verify_consistency, verify_inclusion
from crypto.note import sign_checkpoint, verify_checkpoint
from crypto.sealing import SealedValue, open_record, seal_record
from crypto.signing import sign_document, verify_document_signature
from crypto.tokens import create_token, verify_token

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
