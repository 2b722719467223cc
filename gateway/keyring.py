"""The gateway's own keys: the checkpoint signing key (which also signs disclosure records,
docs/PROTOCOL.md §4, §7), the data-at-rest key and the blind-index key. Each is a separate owner-only
file in ``$GATEWAY_DATA_DIR/keys``; the blind-index key in particular must not live in the
database, or whoever reads the database could enumerate phone numbers (FINDINGS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from crypto.errors import CryptoError
from crypto.keys import generate_secret, generate_signing_key, read_secret_key, read_signing_key, write_key_file
from gateway.config import Settings
from gateway.errors import OperatorError

__all__ = ["GatewayKeys", "ensure_gateway_keys", "key_paths", "load_gateway_keys"]

_FILES = {"checkpoint": "checkpoint.sign.key", "at_rest": "at-rest.key", "blind_index": "blind-index.key"}


@dataclass(frozen=True)
class GatewayKeys:
    checkpoint_key: SigningKey
    at_rest_key: bytes
    blind_index_key: bytes


def key_paths(settings: Settings) -> dict[str, Path]:
    return {name: settings.keys_dir / filename for name, filename in _FILES.items()}


def ensure_gateway_keys(settings: Settings) -> list[Path]:
    """Create whichever of the gateway's keys do not exist yet; return the paths created.
    Existing keys are never replaced: replacing one would orphan data or the log."""
    settings.keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.keys_dir.chmod(0o700)
    created: list[Path] = []
    for name, path in key_paths(settings).items():
        if path.exists():
            continue
        if name == "checkpoint":
            write_key_file(path, "ed25519-signing", bytes(generate_signing_key()))
        else:
            write_key_file(path, "secretbox", generate_secret())
        created.append(path)
    return created


def load_gateway_keys(settings: Settings) -> GatewayKeys:
    """Read the three keys; raise :class:`OperatorError` saying what to do when one is missing
    or readable by others."""
    paths = key_paths(settings)
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise OperatorError(
            f"the gateway's keys are missing ({', '.join(missing)}; GATEWAY_DATA_DIR={settings.data_dir}). "
            "A gateway never initialised: run `gateway init` first. A gateway with data: restore the "
            "missing files from backup; a new key cannot read what the lost one protected"
        )
    try:
        return GatewayKeys(
            checkpoint_key=read_signing_key(paths["checkpoint"]),
            at_rest_key=read_secret_key(paths["at_rest"]),
            blind_index_key=read_secret_key(paths["blind_index"]),
        )
    except CryptoError as exc:
        raise OperatorError(exc.message) from exc
