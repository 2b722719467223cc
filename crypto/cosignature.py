"""C2SP tlog-cosignature: timestamped Ed25519 witness cosignatures (``cosignature/v1``).

A cosignature is a signed-note signature line ``— <cosigner name> base64(key ID || timestamp ||
signature)`` on a checkpoint. Per c2sp.org/tlog-cosignature:

- key ID = ``SHA-256(<name> || "\\n" || 0x04 || 32-byte Ed25519 public key)[:4]`` (signature type
  0x04, so a cosigner key never verifies as a log's 0x01 key or the reverse);
- the signature is the ``timestamped_signature`` structure: a big-endian u64 POSIX timestamp
  (non-zero, at most 2**63 - 1) then the 64-byte Ed25519 signature;
- the signed message is ``"cosignature/v1\\n" || "time <timestamp>\\n" || note text`` (the whole
  checkpoint body with its final newline, no signature lines).

Verifier keys are vkeys ``<name>+<hex key ID>+base64(0x04 || key)`` (c2sp.org/signed-note). Every
failure raises :class:`crypto.errors.NoteError`; a public key of the wrong size
:class:`crypto.errors.InvalidKeyError`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from crypto import _signed_note as signed_note
from crypto.encoding import b64decode, b64encode
from crypto.errors import EncodingError, InvalidKeyError, NoteError

__all__ = [
    "Cosignature",
    "CosignerVerifier",
    "cosign",
    "cosigned_message",
    "cosigner_key_string",
    "parse_cosigner_key",
    "signature_lines",
    "split_note",
    "verify_cosignatures",
]

_COSIGNATURE_V1 = 0x04
_SIGNATURE_SIZE = 64
_MAX_TIMESTAMP = 2**63 - 1
_MAX_SIGNATURES = 100


def _key_hash(name: str, public_key: bytes) -> bytes:
    return signed_note.key_hash(name, _COSIGNATURE_V1, public_key)


def _check_name(name: str) -> None:
    signed_note.check_key_name(name, "cosigner name")


@dataclass(frozen=True)
class CosignerVerifier:
    """A trusted cosigner: its name, its cosignature/v1 key ID and its Ed25519 public key."""

    name: str
    key_hash: bytes
    public_key: bytes

    @classmethod
    def for_key(cls, name: str, public_key: bytes) -> CosignerVerifier:
        """The verifier of ``public_key`` under ``name``; raise for a bad name or key."""
        _check_name(name)
        signed_note.check_public_key(public_key)
        return cls(name, _key_hash(name, public_key), public_key)

    def vkey(self) -> str:
        """The verifier key string ``<name>+<hex key ID>+base64(0x04 || key)``."""
        return cosigner_key_string(self.name, self.public_key)


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: by whom and at what POSIX time."""

    name: str
    timestamp: int
    line: str  # the signature line, newline-terminated


def cosigner_key_string(name: str, public_key: bytes) -> str:
    """The vkey of a cosignature/v1 cosigner."""
    _check_name(name)
    signed_note.check_public_key(public_key)
    return f"{name}+{_key_hash(name, public_key).hex()}+{b64encode(bytes([_COSIGNATURE_V1]) + public_key)}"


def parse_cosigner_key(text: str) -> CosignerVerifier:
    """Parse a cosigner vkey strictly: a valid name, 8 lowercase hex digits matching name and key,
    and canonical base64 of 0x04 and 32 key bytes. Raise :class:`NoteError` otherwise."""
    name, hash_hex, raw = signed_note.split_vkey(text, "cosigner key", "cosigner name")
    if len(raw) != 1 + signed_note.PUBLIC_KEY_SIZE or raw[0] != _COSIGNATURE_V1:
        raise NoteError("cosigner key is not a cosignature/v1 (type 0x04) Ed25519 key")
    verifier = CosignerVerifier.for_key(name, raw[1:])
    if verifier.key_hash.hex() != hash_hex:
        raise NoteError("cosigner key ID does not match its name and key")
    return verifier


def cosigned_message(note_text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs over the checkpoint body ``note_text``."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or not 0 < timestamp <= _MAX_TIMESTAMP:
        raise NoteError("cosignature timestamp must be between 1 and 2**63 - 1")
    if not isinstance(note_text, str) or not note_text.endswith("\n"):
        raise NoteError("the cosigned checkpoint text must end in a newline")
    return f"cosignature/v1\ntime {timestamp}\n".encode() + note_text.encode("utf-8")


def cosign(note_text: str, name: str, signing_key: nacl.signing.SigningKey, timestamp: int) -> str:
    """The cosignature line (newline-terminated) by ``name`` on the checkpoint body ``note_text``."""
    if not isinstance(signing_key, nacl.signing.SigningKey):
        raise InvalidKeyError("cosigner signing key must be an Ed25519 SigningKey")
    _check_name(name)
    signature = signing_key.sign(cosigned_message(note_text, timestamp)).signature
    key_hash = _key_hash(name, bytes(signing_key.verify_key))
    return f"{signed_note.SIGNATURE_PREFIX}{name} {b64encode(key_hash + struct.pack('>Q', timestamp) + signature)}\n"


def split_note(note: str) -> tuple[str, list[str]]:
    """Split a signed note into its text (with its final newline) and its signature lines (each
    newline-terminated). Raise :class:`NoteError` for a note without a signature block."""
    if not isinstance(note, str):
        raise NoteError("note must be text")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteError("note has no blank line before its signatures, or does not end in a newline")
    text, block = note[: split + 1], note[split + 2 :]
    lines = [line + "\n" for line in block[:-1].split("\n")] if block else []
    if not lines or len(lines) > _MAX_SIGNATURES:
        raise NoteError(f"note must have between 1 and {_MAX_SIGNATURES} signature lines")
    return text, lines


def signature_lines(block: str) -> list[str]:
    """The signature lines of a witness response body, each newline-terminated; raise
    :class:`NoteError` unless every line starts with an em dash and a space."""
    if not isinstance(block, str) or not block.endswith("\n"):
        raise NoteError("signature lines must end in a newline")
    lines = [line + "\n" for line in block[:-1].split("\n")]
    if len(lines) > _MAX_SIGNATURES or any(not line.startswith(signed_note.SIGNATURE_PREFIX) for line in lines):
        raise NoteError("every line must be a note signature line")
    return lines


def _parse_line(line: str) -> tuple[str, bytes] | None:
    """(name, raw signature) of a well-formed signature line; None for a malformed one."""
    if not line.endswith("\n"):
        return None
    try:
        name, encoded = signed_note.split_signature_line(line[:-1])
    except NoteError:
        return None
    if not name:
        return None
    try:
        return name, b64decode(encoded, what="signature")
    except EncodingError:
        return None


def verify_cosignatures(note_text: str, lines: Sequence[str],
                        cosigners: Sequence[CosignerVerifier]) -> list[Cosignature]:
    """The valid cosignatures in ``lines`` by ``cosigners`` on the checkpoint body ``note_text``,
    at most one per cosigner. Lines of unknown keys are ignored (c2sp.org/signed-note); a line
    whose name and key ID match a cosigner but whose signature or timestamp does not verify
    raises :class:`NoteError`, as the spec makes such a note malformed."""
    known = {(c.name, c.key_hash): c for c in cosigners}
    found: dict[str, Cosignature] = {}
    for line in lines:
        parsed = _parse_line(line)
        if parsed is None:
            continue
        name, raw = parsed
        cosigner = known.get((name, raw[:signed_note.KEY_HASH_SIZE]))
        if cosigner is None:
            continue
        if len(raw) != signed_note.KEY_HASH_SIZE + 8 + _SIGNATURE_SIZE:
            raise NoteError(f"cosignature by {name!r} has the wrong length")
        (timestamp,) = struct.unpack(">Q", raw[signed_note.KEY_HASH_SIZE : signed_note.KEY_HASH_SIZE + 8])
        try:
            message = cosigned_message(note_text, timestamp)
            nacl.signing.VerifyKey(cosigner.public_key).verify(message, raw[signed_note.KEY_HASH_SIZE + 8 :])
        except (nacl.exceptions.CryptoError, NoteError) as exc:
            raise NoteError(f"cosignature by {name!r} does not verify") from exc
        found.setdefault(name, Cosignature(name, timestamp, line))
    return list(found.values())
