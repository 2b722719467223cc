"""C2SP signed notes and tlog checkpoints, signed with Ed25519 (docs/PROTOCOL.md §7, §8).

A signed note (c2sp.org/signed-note) is a text ending in a newline, a blank line, and one or more
signature lines ``— <key name> base64(key ID || signature)``. A checkpoint
(c2sp.org/tlog-checkpoint) is a note whose text is the log's origin line, decimal tree size and
base64 root hash, then optional extension lines. The format matches
``golang.org/x/mod/sumdb/note`` byte for byte, so its verifiers accept what :func:`sign_note`
writes.

Only Ed25519 (signature type 0x01) is supported. Every failure raises :class:`NoteError`, except
key material of the wrong kind or length, which raises :class:`InvalidKeyError`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import nacl.exceptions
import nacl.signing

from crypto._signed_note import (
    KEY_HASH_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_PREFIX,
    check_key_name,
    check_public_key,
    key_hash,
    split_signature_line,
    split_vkey,
)
from crypto.encoding import b64decode, b64encode
from crypto.errors import EncodingError, InvalidKeyError, NoteError

__all__ = [
    "Checkpoint",
    "NoteVerifier",
    "checkpoint_text",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_checkpoint",
    "sign_note",
    "verifier_key_string",
    "verify_checkpoint",
    "verify_note",
]

_ED25519 = 0x01
"""The signed-note signature type byte for Ed25519."""

_SIGNATURE_SIZE = 64
_HASH_SIZE = 32  # a checkpoint's root hash is SHA-256 (RFC 9162 §2.1.1)
_MAX_SIGNATURES = 100  # c2sp.org/signed-note: verifiers SHOULD cap the count, and MUST accept 16
_MAX_TREE_SIZE = 2**64 - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # ASCII digits, no sign, no leading zeros


# --- keys ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: its name, 4-byte key ID and 32-byte public key.

    Construction checks that the name is valid and that ``key_hash`` is the key ID of
    ``name`` and ``public_key``, so every instance is consistent. Raises :class:`NoteError`
    for a bad name or key ID, :class:`InvalidKeyError` for a public key that is not 32 bytes.
    """

    name: str
    key_hash: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        check_public_key(self.public_key)
        if not isinstance(self.key_hash, bytes) or self.key_hash != _key_hash(self.name, self.public_key):
            raise NoteError(f"key ID does not match the name and key of {self.name!r}")

    @classmethod
    def for_key(cls, name: str, public_key: bytes) -> NoteVerifier:
        """The verifier for ``public_key`` under ``name``, with its key ID computed."""
        check_key_name(name)
        check_public_key(public_key)
        return cls(name, _key_hash(name, public_key), public_key)


def verifier_key_string(name: str, public_key: bytes) -> str:
    """The verifier key ``<name>+<8 hex key ID>+<base64(0x01 || key)>`` (c2sp.org/signed-note).

    The key ID is the first 4 bytes of ``SHA-256(name || "\\n" || 0x01 || key)``. Raises
    :class:`NoteError` for an invalid name, :class:`InvalidKeyError` unless the key is 32 bytes.
    """
    verifier = NoteVerifier.for_key(name, public_key)
    return f"{name}+{verifier.key_hash.hex()}+{b64encode(bytes([_ED25519]) + public_key)}"


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse a verifier key as :func:`verifier_key_string` writes it.

    Strict: the name must be valid (non-empty; no ``+``, whitespace or unprintable characters),
    the key ID exactly 8 lowercase hex digits that match name and key, the key canonical base64
    of the Ed25519 type byte 0x01 and 32 key bytes. Raises :class:`NoteError` otherwise.
    """
    name, hash_hex, key = split_vkey(text, "verifier key")
    if not key or key[0] != _ED25519:
        raise NoteError("verifier key is not an Ed25519 (type 0x01) key")
    if len(key) != 1 + PUBLIC_KEY_SIZE:
        raise NoteError(f"Ed25519 verifier key must hold {PUBLIC_KEY_SIZE} key bytes")
    public_key = key[1:]
    if bytes.fromhex(hash_hex) != _key_hash(name, public_key):
        raise NoteError("verifier key ID does not match its name and key")
    return NoteVerifier(name, bytes.fromhex(hash_hex), public_key)


# --- notes ---------------------------------------------------------------------------------------


def sign_note(text: str, name: str, signing_key: nacl.signing.SigningKey) -> str:
    """The signed note of ``text`` with one Ed25519 signature line by ``name``.

    ``text`` must be non-empty, end in a newline and hold no ASCII control character other than
    newline (c2sp.org/signed-note). It may contain blank lines: verifiers split at the *last*
    blank line, and no signature line is empty, so text and signatures never blur. The result is
    ``text + "\\n" + "— <name> base64(key ID || signature)\\n"``, the signature being over the
    UTF-8 bytes of ``text``. Raises :class:`NoteError` for a text or name that breaks these
    rules, :class:`InvalidKeyError` if ``signing_key`` is not a PyNaCl ``SigningKey``.
    """
    if not isinstance(signing_key, nacl.signing.SigningKey):
        raise InvalidKeyError("note signing key must be an Ed25519 SigningKey")
    check_key_name(name)
    message = _note_text_bytes(text)
    public_key = bytes(signing_key.verify_key)
    try:
        signature = signing_key.sign(message).signature
    except nacl.exceptions.CryptoError as exc:
        raise NoteError("note could not be signed") from exc
    line = f"{SIGNATURE_PREFIX}{name} {b64encode(_key_hash(name, public_key) + signature)}\n"
    return f"{text}\n{line}"


def verify_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> str:
    """Verify a signed note and return its text (ending in its newline, without the blank line).

    Follows c2sp.org/signed-note and ``golang.org/x/mod/sumdb/note.Open``: the note must be valid
    UTF-8 without control characters other than newline; the text is everything up to the last
    blank line; every line after it must be a well-formed signature line ending in a newline,
    at most 100 of them. Signatures whose (name, key ID) matches no verifier are ignored; every
    one that matches must verify (stricter than Go, which checks only the first of duplicates),
    and at least one must. Raises :class:`NoteError` on any failure, including two verifiers
    that share a name and key ID but not a key.
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        if not isinstance(verifier, NoteVerifier):
            raise NoteError("verifiers must be NoteVerifier instances")
        other = known.setdefault((verifier.name, verifier.key_hash), verifier)
        if other.public_key != verifier.public_key:
            raise NoteError(f"two verifiers share the name {verifier.name!r} and key ID")

    note = _note_str(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("note must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError(f"note has more than {_MAX_SIGNATURES} signatures")

    message = text.encode("utf-8")
    verified = 0
    for line in lines:
        name, key_hash, signature = _parse_signature_line(line)
        signer = known.get((name, key_hash))
        if signer is None:
            continue  # c2sp.org/signed-note: signatures from unknown keys MUST be ignored
        _check_signature(signer, message, signature)
        verified += 1
    if not verified:
        raise NoteError("note has no signature from a known key")
    return text


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A parsed tlog checkpoint (c2sp.org/tlog-checkpoint).

    Construction checks every field as :func:`checkpoint_text` does and raises
    :class:`NoteError` for any that is malformed.
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise NoteError("checkpoint tree size must be an integer")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise NoteError("checkpoint tree size must be between 0 and 2**64 - 1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _HASH_SIZE:
            raise NoteError(f"checkpoint root hash must be {_HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise NoteError("checkpoint extensions must be a tuple of lines")
        for extension in self.extensions:
            _check_line(extension, "checkpoint extension line")


def checkpoint_text(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """The checkpoint note text: origin, decimal size, base64 root, then extension lines.

    Each line ends in a newline (c2sp.org/tlog-checkpoint). Raises :class:`NoteError` for an
    empty origin or extension line, a line holding a newline or control character, a size
    outside 0..2**64-1 or a root hash that is not 32 bytes.
    """
    if isinstance(extensions, str):
        raise NoteError("checkpoint extensions must be a sequence of lines, not one string")
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    lines = [checkpoint.origin, str(checkpoint.size), b64encode(checkpoint.root_hash), *checkpoint.extensions]
    return "".join(f"{line}\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text strictly (the verified text of a note, not the whole note).

    Requires at least three newline-terminated lines: a non-empty origin, a decimal tree size
    without sign or leading zeros (``0`` only for the empty tree) up to 2**64-1, the canonical
    base64 of a 32-byte root hash, then non-empty extension lines. Raises :class:`NoteError`
    otherwise, including for blank lines and control characters.
    """
    if not isinstance(text, str):
        raise NoteError("checkpoint must be text")
    if not text.endswith("\n"):
        raise NoteError("checkpoint must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("checkpoint needs an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    _check_line(origin, "checkpoint origin")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError("checkpoint tree size must be a decimal number without leading zeros")
    try:
        root = b64decode(root_text, length=_HASH_SIZE, what="checkpoint root hash")
    except EncodingError as exc:
        raise NoteError(exc.message) from exc
    return Checkpoint(origin, int(size_text), root, tuple(extensions))


def sign_checkpoint(
    origin: str,
    size: int,
    root: bytes,
    name: str,
    signing_key: nacl.signing.SigningKey,
    *,
    extensions: Sequence[str] = (),
) -> str:
    """The signed note of :func:`checkpoint_text` ``(origin, size, root, extensions)`` by ``name``.

    Raises as :func:`checkpoint_text` and :func:`sign_note` do.
    """
    return sign_note(checkpoint_text(origin, size, root, extensions), name, signing_key)


def verify_checkpoint(note: str | bytes, verifier: NoteVerifier, *, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint against ``verifier`` and return it parsed.

    The note must carry a valid signature by ``verifier`` (see :func:`verify_note`); its text
    must parse as a checkpoint (see :func:`parse_checkpoint`); when ``origin`` is given the
    checkpoint's origin must equal it. Raises :class:`NoteError` otherwise.
    """
    checkpoint = parse_checkpoint(verify_note(note, [verifier]))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint origin {checkpoint.origin!r} is not {origin!r}")
    return checkpoint


# --- helpers -------------------------------------------------------------------------------------


def _key_hash(name: str, public_key: bytes) -> bytes:
    return key_hash(name, _ED25519, public_key)



def _check_no_controls(text: str, what: str) -> None:
    # c2sp.org/signed-note: no ASCII control characters other than newline.
    if any(char < " " and char != "\n" for char in text):
        raise NoteError(f"{what} holds a control character")


def _check_line(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise NoteError(f"{what} must be a non-empty string")
    if "\n" in value:
        raise NoteError(f"{what} must be a single line")
    _check_no_controls(value, what)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8 text") from exc


def _note_text_bytes(text: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise NoteError("note text must be a non-empty string")
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    _check_no_controls(text, "note text")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError("note text is not valid UTF-8") from exc


def _note_str(note: str | bytes) -> str:
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not valid UTF-8") from exc
    elif isinstance(note, str):
        try:
            note.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NoteError("note is not valid UTF-8") from exc
    else:
        raise NoteError("note must be text or UTF-8 bytes")
    _check_no_controls(note, "note")
    return note


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    """Split ``— <name> <base64>`` into name, key ID and signature; :class:`NoteError` if malformed."""
    name, encoded = split_signature_line(line)
    check_key_name(name)
    try:
        raw = b64decode(encoded, what="note signature")
    except EncodingError as exc:
        raise NoteError(exc.message) from exc
    if len(raw) <= KEY_HASH_SIZE:
        raise NoteError("note signature is too short")
    return name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:]


def _check_signature(verifier: NoteVerifier, message: bytes, signature: bytes) -> None:
    failure = f"signature by {verifier.name!r} does not verify"
    if len(signature) != _SIGNATURE_SIZE:
        raise NoteError(failure)
    try:
        nacl.signing.VerifyKey(verifier.public_key).verify(message, signature)
    except nacl.exceptions.CryptoError as exc:
        raise NoteError(failure) from exc
