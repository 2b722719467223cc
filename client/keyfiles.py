"""A principal's key files: PREFIX.sign.key (Ed25519) and PREFIX.seal.key (X25519), written by
`gateway keygen` (and the demo) and read by every client command through ``--key PREFIX``."""

from __future__ import annotations

from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from client.errors import UsageError
from crypto.keys import (
    KeyFormat,
    generate_sealing_key,
    generate_signing_key,
    read_sealing_key,
    read_signing_key,
    write_key_file,
)

__all__ = ["key_paths", "sealing_key_for", "signing_key_for", "write_key_pair"]


def key_paths(prefix: Path) -> tuple[Path, Path]:
    """``(PREFIX.sign.key, PREFIX.seal.key)``."""
    return Path(f"{prefix}.sign.key"), Path(f"{prefix}.seal.key")


def write_key_pair(prefix: Path, *, key_format: KeyFormat = "gateway",
                   directory_mode: int = 0o777) -> tuple[SigningKey, PrivateKey]:
    """Generate both keys and write them owner-only at PREFIX, making PREFIX's directory (with
    ``directory_mode``) when missing. The caller has checked that neither file exists."""
    sign_path, seal_path = key_paths(prefix)
    sign_path.parent.mkdir(parents=True, exist_ok=True, mode=directory_mode)
    signing, sealing = generate_signing_key(), generate_sealing_key()
    write_key_file(sign_path, "ed25519-signing", bytes(signing), key_format=key_format)
    write_key_file(seal_path, "x25519-sealing", bytes(sealing), key_format=key_format)
    return signing, sealing


def signing_key_for(prefix: Path) -> SigningKey:
    """PREFIX.sign.key; :class:`UsageError` saying what to do when it is missing."""
    path = key_paths(prefix)[0]
    if not path.exists():
        raise UsageError(f"{path} does not exist; --key takes the PREFIX given to `gateway keygen --out PREFIX`")
    return read_signing_key(path)


def sealing_key_for(prefix: Path) -> PrivateKey:
    """PREFIX.seal.key; :class:`UsageError` saying what to do when it is missing."""
    path = key_paths(prefix)[1]
    if not path.exists():
        raise UsageError(f"{path} does not exist; opening disclosures needs the sealing key written by "
                         "`gateway keygen --out PREFIX`")
    return read_sealing_key(path)
