"""Keys: generation, public-key encoding, key ids and owner-only key files (docs/PROTOCOL.md §1).

Public keys travel as standard padded base64 of their 32 raw bytes; a key id (``kid``) is the
lowercase hex of the first 8 bytes of SHA-256(raw public key).

A key file is one line of JSON and a newline::

    {"kind": "ed25519-signing", "key": "<base64 of the 32-byte seed>", "kid": "<kid of the public half>"}

``kind`` is one of :data:`SIGNING_KIND`, :data:`SEALING_KIND` (X25519) or :data:`SECRET_KIND`
(32 random bytes for at-rest encryption and blind indexes; it has no public half and no ``kid``).
Files are created owner-only (0600) and a file that group or others may read or write is refused.

Signing and sealing keys may also be written and read in two standard forms, so that clients in
other languages need not unwrap the seed by hand: a JWK (RFC 8037 §2: ``{"kty": "OKP", "crv":
"Ed25519" | "X25519", "d": …, "x": …}``, base64url without padding) and a PKCS#8 PEM
(``-----BEGIN PRIVATE KEY-----``, RFC 8410 §7: the OneAsymmetricKey of id-Ed25519 1.3.101.112 or
id-X25519 1.3.101.110 holding the 32-byte key as an OCTET STRING). Reading tells the three apart
by their content, and checks that a JWK's ``x`` is the public half of its ``d``.

Errors: :class:`~crypto.errors.EncodingError` for text that is not base64,
:class:`~crypto.errors.InvalidKeyError` for key material of the wrong length or an unusable point,
:class:`~crypto.errors.KeyFileError` for anything wrong with a key file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import nacl.bindings
import nacl.exceptions
from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from crypto.canonical import parse_json_object
from crypto.encoding import B64, KeyId, b64decode, b64encode, b64url_decode, b64url_encode
from crypto.errors import CryptoError, EncodingError, InvalidKeyError, KeyFileError

__all__ = [
    "KEY_BYTES",
    "SEALING_KIND",
    "SECRET_KIND",
    "SIGNING_KIND",
    "KeyFormat",
    "KeyKind",
    "PublicKeyInfo",
    "PublicKeyLike",
    "decode_sealing_public_key",
    "decode_signing_public_key",
    "encode_public_key",
    "generate_sealing_key",
    "generate_secret",
    "generate_signing_key",
    "key_id",
    "public_key_info",
    "read_sealing_key",
    "read_secret_key",
    "read_signing_key",
    "write_key_file",
]

KEY_BYTES: Final = 32
"""Length of every raw key this module handles: Ed25519 seeds and public keys, X25519 keys, secrets."""

KeyKind = Literal["ed25519-signing", "x25519-sealing", "secretbox"]
KeyFormat = Literal["gateway", "jwk", "pem"]
SIGNING_KIND: Final = "ed25519-signing"
SEALING_KIND: Final = "x25519-sealing"
SECRET_KIND: Final = "secretbox"  # noqa: S105 - a kind name, not a secret
_KINDS: Final[frozenset[str]] = frozenset({SIGNING_KIND, SEALING_KIND, SECRET_KIND})

# A key file is ~150 bytes; anything much larger is not one, and is not read into memory.
_MAX_KEY_FILE_BYTES: Final = 4096

# RFC 8410 §7: SEQUENCE { INTEGER 0, SEQUENCE { OID }, OCTET STRING { OCTET STRING (32 bytes) } }.
# With a fixed algorithm and key length the DER is one fixed prefix and the key.
_PKCS8_PREFIX: Final = {
    "ed25519-signing": bytes.fromhex("302e020100300506032b657004220420"),
    "x25519-sealing": bytes.fromhex("302e020100300506032b656e04220420"),
}
_JWK_CURVE: Final = {"ed25519-signing": "Ed25519", "x25519-sealing": "X25519"}
_PEM_BEGIN: Final = "-----BEGIN PRIVATE KEY-----"
_PEM_END: Final = "-----END PRIVATE KEY-----"

# Any scalar serves the small-order probe in decode_sealing_public_key: X25519 clamps it to a
# multiple of the cofactor 8, so a small-order point always yields the all-zero output that
# libsodium refuses (RFC 7748 §6.1).
_PROBE_SCALAR: Final = bytes([0x42]) * 32


@dataclass(frozen=True)
class PublicKeyInfo:
    """The public half of a key as it travels (standard base64) and its key id."""

    public_key: B64
    kid: KeyId

    def as_dict(self) -> dict[str, str]:
        """``{"public_key": ..., "kid": ...}``, e.g. for ``gateway keygen``'s JSON output."""
        return {"public_key": self.public_key, "kid": self.kid}


PublicKeyLike = bytes | VerifyKey | PublicKey


def _raw_public(public_key: PublicKeyLike) -> bytes:
    """The 32 raw bytes of a public key given as bytes or a PyNaCl public-key object."""
    if isinstance(public_key, VerifyKey | PublicKey):
        return bytes(public_key)
    if isinstance(public_key, bytes) and len(public_key) == KEY_BYTES:
        return public_key
    raise InvalidKeyError(f"a public key must be {KEY_BYTES} raw bytes")


def key_id(public_key: PublicKeyLike) -> KeyId:
    """The kid of a public key: lowercase hex of the first 8 bytes of SHA-256(raw key) (PROTOCOL §1).

    Raises :class:`InvalidKeyError` unless the key is 32 raw bytes or a VerifyKey/PublicKey.
    """
    return KeyId(hashlib.sha256(_raw_public(public_key)).hexdigest()[:16])


def encode_public_key(public_key: PublicKeyLike) -> B64:
    """Standard padded base64 of the 32 raw bytes of a public key (PROTOCOL §1).

    Raises :class:`InvalidKeyError` unless the key is 32 raw bytes or a VerifyKey/PublicKey.
    """
    return b64encode(_raw_public(public_key))


def public_key_info(key: PublicKeyLike | SigningKey | PrivateKey) -> PublicKeyInfo:
    """The public half and kid of a key; a private key is reduced to its public half first."""
    if isinstance(key, SigningKey):
        key = key.verify_key
    elif isinstance(key, PrivateKey):
        key = key.public_key
    return PublicKeyInfo(public_key=encode_public_key(key), kid=key_id(key))


def _decode_raw_public(text: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise EncodingError(f"{what} must be a base64 string")
    raw = b64decode(text, what=what)
    if len(raw) != KEY_BYTES:
        raise InvalidKeyError(f"{what} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


def decode_signing_public_key(b64: str) -> VerifyKey:
    """Decode an Ed25519 public key from standard base64.

    Also refuses a point that is not canonical, not on the curve, of small order or outside the
    prime-order subgroup: no honest key is, and refusing it at registration beats failing every
    later verification. This check costs ~50 µs, so decode once and keep the ``VerifyKey``.

    Raises :class:`EncodingError` (not base64) or :class:`InvalidKeyError` (length, point).
    """
    raw = _decode_raw_public(b64, "signing public key")
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(raw):
        raise InvalidKeyError("signing public key is not a valid Ed25519 point")
    return VerifyKey(raw)


def decode_sealing_public_key(b64: str) -> PublicKey:
    """Decode an X25519 public key from standard base64.

    Also refuses a small-order point (with it every sealed box would be readable by anyone),
    detected cheaply because libsodium's X25519 refuses an all-zero shared secret.

    Raises :class:`EncodingError` (not base64) or :class:`InvalidKeyError` (length, point).
    """
    raw = _decode_raw_public(b64, "sealing public key")
    try:
        nacl.bindings.crypto_scalarmult(_PROBE_SCALAR, raw)
    except nacl.exceptions.CryptoError as exc:
        raise InvalidKeyError("sealing public key is a small-order X25519 point") from exc
    return PublicKey(raw)


def generate_signing_key() -> SigningKey:
    """A fresh Ed25519 signing key from the OS CSPRNG."""
    return SigningKey.generate()


def generate_sealing_key() -> PrivateKey:
    """A fresh X25519 private key from the OS CSPRNG."""
    return PrivateKey.generate()


def generate_secret() -> bytes:
    """32 fresh random bytes from the OS CSPRNG, for at-rest encryption and blind indexes."""
    return secrets.token_bytes(KEY_BYTES)


def _kid_of_secret(kind: str, secret: bytes) -> KeyId | None:
    if kind == SIGNING_KIND:
        return key_id(SigningKey(secret).verify_key)
    if kind == SEALING_KIND:
        return key_id(PrivateKey(secret).public_key)
    return None


def _public_of(kind: str, secret: bytes) -> bytes:
    if kind == SIGNING_KIND:
        return bytes(SigningKey(secret).verify_key)
    return bytes(PrivateKey(secret).public_key)


def _key_file_text(kind: str, secret: bytes, key_format: str = "gateway") -> bytes:
    if kind not in _KINDS:
        raise KeyFileError(f"unknown key kind {kind!r}; expected one of {sorted(_KINDS)}")
    if not isinstance(secret, bytes) or len(secret) != KEY_BYTES:
        raise InvalidKeyError(f"a {kind} key must be {KEY_BYTES} raw bytes")
    if key_format != "gateway":
        if kind not in _JWK_CURVE or key_format not in ("jwk", "pem"):
            raise KeyFileError(f"a {kind} key can be written only in the gateway's own format")
        if key_format == "jwk":
            jwk = {"kty": "OKP", "crv": _JWK_CURVE[kind], "d": b64url_encode(secret),
                   "x": b64url_encode(_public_of(kind, secret))}
            return (json.dumps(jwk) + "\n").encode("ascii")
        body = base64.b64encode(_PKCS8_PREFIX[kind] + secret).decode("ascii")
        return f"{_PEM_BEGIN}\n{body}\n{_PEM_END}\n".encode("ascii")
    document: dict[str, str] = {"kind": kind, "key": b64encode(secret)}
    kid = _kid_of_secret(kind, secret)
    if kid is not None:
        document["kid"] = kid
    return (json.dumps(document) + "\n").encode("ascii")


def write_key_file(path: str | os.PathLike[str], kind: KeyKind, secret: bytes, *,
                   overwrite: bool = False, key_format: KeyFormat = "gateway") -> None:
    """Write a key file that only its owner may read or write (mode 0600).

    ``secret`` is the 32-byte Ed25519 seed (``bytes(signing_key)``), X25519 private key
    (``bytes(private_key)``) or random secret. The file never exists with another mode: it is
    created 0600 from the start. Without ``overwrite`` an existing file is refused (creation with
    O_EXCL, so two writers cannot both win); with it, a temporary file in the same directory
    replaces the old one atomically.

    ``key_format`` ``jwk`` or ``pem`` writes a signing or sealing key in that standard form instead.

    Raises :class:`KeyFileError` (unknown kind, existing file, I/O failure) or
    :class:`InvalidKeyError` (secret not 32 bytes).
    """
    target = Path(path)
    data = _key_file_text(kind, secret, key_format)
    try:
        if overwrite:
            _replace_atomically(target, data)
        else:
            _create_exclusively(target, data)
    except FileExistsError as exc:
        raise KeyFileError(f"key file {target} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise KeyFileError(f"key file {target} could not be written: {exc.strerror or exc}") from exc


def _create_exclusively(target: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(target, flags, 0o600)
    try:
        # The umask can only clear bits, but be explicit: the mode is the point of this file.
        os.fchmod(fd, 0o600)
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        # A half-written key file must not be left behind to be mistaken for a key.
        with contextlib.suppress(OSError):
            target.unlink()
        raise
    os.close(fd)
    _fsync_directory(target.parent)


def _replace_atomically(target: Path, data: bytes) -> None:
    # mkstemp creates the file 0600 in the target's directory, so os.replace is a rename.
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        try:
            os.fchmod(fd, 0o600)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_directory(directory: Path) -> None:
    # Durability of the new directory entry; not every platform can open a directory.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read_key_file(path: str | os.PathLike[str], kind: KeyKind) -> bytes:
    """The 32-byte secret of a key file of ``kind``, after every check on the file and its content."""
    target = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO planted at the path must not hang; fstat then refuses it.
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {target} does not exist") from exc
    except OSError as exc:
        raise KeyFileError(f"key file {target} could not be opened: {exc.strerror or exc}") from exc
    try:
        # fstat the open descriptor, not the path, so the file checked is the file read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"key file {target} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                f"key file {target} is readable or writable by group or others (mode {mode:04o}); "
                f"run: chmod 600 {target}"
            )
        raw = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"key file {target} could not be read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(raw) > _MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"key file {target} is too large to be a key file")
    return _parse_key_file(target, raw, kind)


def _parse_standard(target: Path, raw: bytes, kind: KeyKind) -> bytes | None:
    """The secret of a PEM or JWK key file, or None when ``raw`` is neither."""
    text = raw.decode("ascii", errors="replace").strip()
    if text.startswith(_PEM_BEGIN):
        if kind not in _PKCS8_PREFIX or not text.endswith(_PEM_END):
            raise KeyFileError(f"key file {target} is not a PKCS#8 PEM {kind} key")
        body = "".join(text[len(_PEM_BEGIN):-len(_PEM_END)].split())
        try:
            der = b64decode(body, what="PEM body")
        except CryptoError as exc:
            raise KeyFileError(f"key file {target}: {exc.message}") from exc
        prefix = _PKCS8_PREFIX[kind]
        if len(der) != len(prefix) + KEY_BYTES or not der.startswith(prefix):
            raise KeyFileError(f"key file {target} is not a PKCS#8 (RFC 8410) {_JWK_CURVE[kind]} private key")
        return der[len(prefix):]
    if '"kty"' not in text:
        return None
    try:
        jwk: dict[str, Any] = parse_json_object(raw, what=f"key file {target}")
    except EncodingError as exc:
        raise KeyFileError(f"key file {target} is not a JSON object: {exc.message}") from exc
    if kind not in _JWK_CURVE or jwk.get("kty") != "OKP" or jwk.get("crv") != _JWK_CURVE[kind]:
        raise KeyFileError(f"key file {target} is not an OKP JWK of curve {_JWK_CURVE.get(kind, kind)}")
    d, x = jwk.get("d"), jwk.get("x")
    if not isinstance(d, str) or not isinstance(x, str):
        raise KeyFileError(f"key file {target}: a private JWK needs the strings d and x (RFC 8037)")
    try:
        secret, public = b64url_decode(d), b64url_decode(x)
    except CryptoError as exc:
        raise KeyFileError(f"key file {target}: {exc.message}") from exc
    if len(secret) != KEY_BYTES:
        raise KeyFileError(f"key file {target}: d must be {KEY_BYTES} bytes")
    if public != _public_of(kind, secret):
        raise KeyFileError(f"key file {target}: x is not the public half of d")
    return secret


def _parse_key_file(target: Path, raw: bytes, kind: KeyKind) -> bytes:
    standard = _parse_standard(target, raw, kind)
    if standard is not None:
        return standard
    try:
        document: dict[str, Any] = parse_json_object(raw, what=f"key file {target}")
    except EncodingError as exc:
        raise KeyFileError(f"key file {target} is not a JSON object: {exc.message}") from exc
    found = document.get("kind")
    if found is None:
        raise KeyFileError(f"key file {target} has no kind")
    if found != kind:
        raise KeyFileError(f"key file {target} holds a {found!r} key, not the {kind!r} key expected")
    expected_fields = {"kind", "key"} if kind == SECRET_KIND else {"kind", "key", "kid"}
    if set(document) != expected_fields:
        raise KeyFileError(f"key file {target} must hold exactly the fields {sorted(expected_fields)}")
    text = document["key"]
    if not isinstance(text, str):
        raise KeyFileError(f"key file {target}: key must be a base64 string")
    try:
        secret = b64decode(text, length=KEY_BYTES, what="key")
    except CryptoError as exc:
        raise KeyFileError(f"key file {target}: {exc.message}") from exc
    # The kid is derived, never trusted: a mismatch means the file was edited or mixed up.
    if kind != SECRET_KIND and document["kid"] != _kid_of_secret(kind, secret):
        raise KeyFileError(f"key file {target}: kid does not match the key")
    return secret


def read_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """Read an ``ed25519-signing`` key file; raises :class:`KeyFileError` on any problem with it."""
    return SigningKey(_read_key_file(path, SIGNING_KIND))


def read_sealing_key(path: str | os.PathLike[str]) -> PrivateKey:
    """Read an ``x25519-sealing`` key file; raises :class:`KeyFileError` on any problem with it."""
    return PrivateKey(_read_key_file(path, SEALING_KIND))


def read_secret_key(path: str | os.PathLike[str]) -> bytes:
    """Read a ``secretbox`` key file's 32 bytes; raises :class:`KeyFileError` on any problem with it."""
    return _read_key_file(path, SECRET_KIND)
