"""Sealed disclosure records (docs/PROTOCOL.md §4).

Subject data leaves the gateway only as a libsodium sealed box (``crypto_box_seal``) to the
authority's X25519 key. Inside the box is the JCS text of ``{"record": R, "signature": S}``:
``R`` names the request, order, subject and field the value belongs to, so a sealed value cannot
be passed off as another; ``S`` is the gateway's Ed25519 signature over ``R`` in the disclosure
domain, because a sealed box alone says nothing about who sealed it. The signature stays inside
the box, where no outsider can test guesses about the value against it.

:func:`open_record` is what an authority (or a test) runs; it fails with one uninformative
:class:`~crypto.errors.SealedValueError` whatever went wrong, as ``fernet.InvalidToken`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import nacl.exceptions
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from crypto.canonical import canonical_json, parse_json_object
from crypto.encoding import B64, KeyId, b64decode, b64encode
from crypto.errors import CryptoError, EncodingError, InvalidKeyError, SealedValueError
from crypto.keys import key_id
from crypto.signing import DISCLOSURE_DOMAIN, sign_over, verify_document_signature

__all__ = [
    "RECORD_FIELDS",
    "RECORD_VERSION",
    "SEALING_ALGORITHM",
    "SealedValue",
    "open_record",
    "seal_record",
]

SEALING_ALGORITHM: Final = "x25519-xsalsa20poly1305-sealedbox"
RECORD_VERSION: Final = 1
RECORD_FIELDS: Final[frozenset[str]] = frozenset(
    {"v", "request_id", "order_id", "subject_id", "field", "value", "disclosed_at"}
)
_STRING_FIELDS: Final = ("request_id", "order_id", "subject_id", "field", "disclosed_at")
_EXPECTABLE: Final[frozenset[str]] = frozenset({"request_id", "order_id", "subject_id", "field"})
# RFC 3339 in UTC with a Z suffix (PROTOCOL §1).
_UTC_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")

_OPEN_FAILED: Final = "sealed value could not be opened or verified"


@dataclass(frozen=True)
class SealedValue:
    """A sealed disclosure as it travels: GraphQL ``Sealed { algorithm recipientKeyId ciphertext }``."""

    algorithm: str
    recipient_key_id: KeyId
    ciphertext: B64


def _check_record(record: Mapping[str, Any]) -> None:
    """Raise :class:`EncodingError` unless ``record`` has exactly the PROTOCOL §4 shape."""
    if not isinstance(record, Mapping):
        raise EncodingError("disclosure record must be a mapping")
    keys = set(record)
    if keys != RECORD_FIELDS:
        missing, extra = sorted(RECORD_FIELDS - keys), sorted(str(k) for k in keys - RECORD_FIELDS)
        raise EncodingError(f"disclosure record fields are wrong: missing {missing}, unexpected {extra}")
    version = record["v"]
    # bool is an int in Python but not in JSON.
    if type(version) is not int or version != RECORD_VERSION:
        raise EncodingError(f"disclosure record v must be {RECORD_VERSION}")
    for name in _STRING_FIELDS:
        if not isinstance(record[name], str) or not record[name]:
            raise EncodingError(f"disclosure record {name} must be a non-empty string")
    disclosed_at = record["disclosed_at"]
    if not _UTC_TIME.fullmatch(disclosed_at):
        raise EncodingError("disclosure record disclosed_at must be RFC 3339 UTC with a Z suffix")
    try:
        datetime.fromisoformat(disclosed_at)
    except ValueError as exc:
        raise EncodingError("disclosure record disclosed_at is not a valid time") from exc


def seal_record(record: Mapping[str, Any], gateway_key: SigningKey, recipient: PublicKey) -> SealedValue:
    """Sign ``record`` with the gateway's key and seal it, signature inside, to ``recipient``.

    ``record`` must have exactly the fields ``v`` (the integer 1), ``request_id``, ``order_id``,
    ``subject_id``, ``field``, ``disclosed_at`` (non-empty strings; ``disclosed_at`` RFC 3339 UTC
    with ``Z``) and ``value`` (any JSON). Each call gives a different ciphertext (ephemeral key).

    Raises :class:`EncodingError` for a record of another shape or one that is not
    JCS-representable, and :class:`InvalidKeyError` for keys of the wrong type or a recipient key
    that libsodium refuses.
    """
    _check_record(record)
    if not isinstance(gateway_key, SigningKey):
        raise InvalidKeyError("gateway key must be a nacl.signing.SigningKey")
    if not isinstance(recipient, PublicKey):
        raise InvalidKeyError("recipient must be a nacl.public.PublicKey")
    record_jcs = canonical_json(dict(record))
    signature = sign_over(DISCLOSURE_DOMAIN, record_jcs, gateway_key)
    # JCS of {"record": R, "signature": S} without canonicalising R twice: JCS sorts members by
    # UTF-16 code units ("record" < "signature"), and S is base64, which needs no JSON escaping.
    plaintext = b'{"record":' + record_jcs + b',"signature":"' + signature.encode("ascii") + b'"}'
    try:
        ciphertext = SealedBox(recipient).encrypt(plaintext)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidKeyError("recipient sealing key was refused") from exc
    return SealedValue(
        algorithm=SEALING_ALGORITHM,
        recipient_key_id=key_id(recipient),
        ciphertext=b64encode(bytes(ciphertext)),
    )


def open_record(sealed: SealedValue, recipient_key: PrivateKey, gateway_verify_key: VerifyKey, *,
                expect: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Open a sealed value and return its record once every check has passed.

    Checks, in order: the algorithm; that the value was sealed to ``recipient_key``'s kid; the
    base64; the box; the inner JSON (strict: no duplicate keys, exactly ``record`` and
    ``signature``); the record's shape; the gateway's signature over the record in the
    disclosure domain; and that the record's fields equal ``expect`` (a mapping from any of
    ``request_id``, ``order_id``, ``subject_id``, ``field`` to the value required).

    Any failure raises :class:`SealedValueError` with one fixed message, so the caller learns
    nothing about which check failed. An ``expect`` that names another field is a programming
    error and raises :class:`~crypto.errors.CryptoError` before anything is opened.
    """
    if expect is not None and not set(expect) <= _EXPECTABLE:
        raise CryptoError(f"expect may only name {sorted(_EXPECTABLE)}")
    try:
        record = _open(sealed, recipient_key, gateway_verify_key)
        if expect is not None:
            for name, wanted in expect.items():
                if record[name] != wanted:
                    raise SealedValueError(f"record {name} is not the one expected")
    # The one choke point: whatever failed, the caller sees the same error and message.
    except (CryptoError, nacl.exceptions.CryptoError, ValueError, TypeError, KeyError, AttributeError,
            UnicodeError, RecursionError) as exc:
        raise SealedValueError(_OPEN_FAILED) from exc
    return record


def _open(sealed: SealedValue, recipient_key: PrivateKey, gateway_verify_key: VerifyKey) -> dict[str, Any]:
    if not isinstance(recipient_key, PrivateKey):
        raise InvalidKeyError("recipient key must be a nacl.public.PrivateKey")
    if sealed.algorithm != SEALING_ALGORITHM:
        raise SealedValueError("unknown algorithm")
    if sealed.recipient_key_id != key_id(recipient_key.public_key):
        raise SealedValueError("sealed to another key")
    ciphertext = b64decode(sealed.ciphertext, what="ciphertext")
    plaintext = SealedBox(recipient_key).decrypt(ciphertext)
    # Strict UTF-8 (RFC 8259 §8.1): given bytes, json.loads would also take a BOM, UTF-16 or UTF-32.
    inner = parse_json_object(plaintext.decode("utf-8"), what="sealed plaintext")
    if set(inner) != {"record", "signature"}:
        raise SealedValueError("sealed plaintext has the wrong fields")
    record, signature = inner["record"], inner["signature"]
    if not isinstance(record, dict):
        raise SealedValueError("sealed record is not an object")
    _check_record(record)
    verify_document_signature(DISCLOSURE_DOMAIN, record, signature, gateway_verify_key)
    return record
