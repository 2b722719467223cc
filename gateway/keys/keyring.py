"""The gateway's own keys: its signing key (:attr:`GatewayKeys.signing_key`, which signs checkpoints,
disclosure records and transparency reports, docs/PROTOCOL.md §4, §7, §10; on disk it is still
``checkpoint.sign.key``), the data-at-rest key and the blind-index key. Each is a separate owner-only
file in ``$GATEWAY_DATA_DIR/keys``; the blind-index key in particular must not live in the
database, or whoever reads the database could enumerate phone numbers (FINDINGS.md).

Rotation (``gateway keys rotate``, docs/PROTOCOL.md §13) adds three kinds of file beside them:

- ``checkpoint.history.json``: the public halves of earlier signing keys and the tree sizes
  ``[from_size, until_size]`` each signed; the current key signs from the last ``until_size``. It
  lives with the keys, not in the database, so an edited row cannot make a forged checkpoint verify.
- ``checkpoint.sign.key.next``: the next signing key, staged. It signs nothing until the log's key
  record (the ``audit_signing_keys`` table) names it current; then every process holding it takes
  it over within seconds (gateway/audit/current_key.py), with no restart.
- ``at-rest.key.next`` / ``blind-index.key.next``: the new key while a rotation is under way. The
  vault then seals and indexes with the new key and still opens what the old one sealed, so an
  interrupted rotation leaves every subject readable and the next run resumes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from nacl.signing import SigningKey, VerifyKey

from crypto.canonical import parse_json_object
from crypto.errors import CryptoError
from crypto.keys import (
    decode_signing_public_key,
    encode_public_key,
    generate_secret,
    generate_signing_key,
    read_secret_key,
    read_signing_key,
    write_key_file,
)
from gateway.config import Settings
from gateway.errors import OperatorError

__all__ = ["HISTORY_FILE", "KEY_FILES", "GatewayKeys", "RetiredSigningKey", "ensure_gateway_keys", "key_paths",
           "load_gateway_keys", "load_keys_from", "write_history"]

KEY_FILES = _FILES = {"checkpoint": "checkpoint.sign.key", "at_rest": "at-rest.key", "blind_index": "blind-index.key"}
HISTORY_FILE: Final = "checkpoint.history.json"
NEXT_SUFFIX: Final = ".next"


@dataclass(frozen=True)
class RetiredSigningKey:
    """An earlier signing key: it signed the checkpoints of tree sizes ``from_size..until_size``."""

    verify_key: VerifyKey
    from_size: int
    until_size: int


@dataclass(frozen=True)
class GatewayKeys:
    signing_key: SigningKey
    """Signs everything the gateway vouches for: checkpoints (§7), disclosure records (§4) and
    transparency reports (§10). Its file keeps the name checkpoint.sign.key."""
    at_rest_key: bytes
    blind_index_key: bytes
    retired_signing_keys: tuple[RetiredSigningKey, ...] = ()
    # The staged next signing key (checkpoint.sign.key.next): it signs once the log's key record names it.
    signing_next: SigningKey | None = field(default=None, repr=False)
    # A rotation under way: the new key, which seals and indexes; the old one above still opens.
    at_rest_next: bytes | None = field(default=None, repr=False)
    blind_index_next: bytes | None = field(default=None, repr=False)

    @property
    def signing_from_size(self) -> int:
        """The tree size from which the current signing key signs."""
        return self.retired_signing_keys[-1].until_size if self.retired_signing_keys else 0


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
    missing = [str(p.resolve()) for p in paths.values() if not p.exists()]
    if missing:
        raise OperatorError(
            f"the gateway's keys are missing ({', '.join(missing)}); GATEWAY_DATA_DIR sets the gateway's "
            f"data directory (now {settings.data_dir.resolve()}). A gateway never initialised: run `gateway init` "
            "first. A gateway with data: restore the missing files from backup (`gateway keys restore`); a new "
            "key cannot read what the lost one protected"
        )
    return load_keys_from(settings.keys_dir)


def load_keys_from(directory: Path) -> GatewayKeys:
    """The keys in ``directory``; :class:`OperatorError` with crypto's message otherwise."""
    paths = {name: directory / filename for name, filename in _FILES.items()}
    try:
        return GatewayKeys(
            signing_key=read_signing_key(paths["checkpoint"]),
            at_rest_key=read_secret_key(paths["at_rest"]),
            blind_index_key=read_secret_key(paths["blind_index"]),
            retired_signing_keys=_read_history(directory / HISTORY_FILE),
            signing_next=_next_signing(paths["checkpoint"]),
            at_rest_next=_next(paths["at_rest"]),
            blind_index_next=_next(paths["blind_index"]),
        )
    except CryptoError as exc:
        raise OperatorError(exc.message) from exc


def _next(path: Path) -> bytes | None:
    following = path.with_name(path.name + NEXT_SUFFIX)
    return read_secret_key(following) if following.exists() else None


def _next_signing(path: Path) -> SigningKey | None:
    following = path.with_name(path.name + NEXT_SUFFIX)
    return read_signing_key(following) if following.exists() else None


def _read_history(path: Path) -> tuple[RetiredSigningKey, ...]:
    if not path.exists():
        return ()
    try:
        document = parse_json_object(path.read_bytes(), what=str(path))
        entries = document["retired"]
        retired = tuple(RetiredSigningKey(decode_signing_public_key(e["public_key"]), int(e["from_size"]),
                                          int(e["until_size"])) for e in entries)
    except (OSError, KeyError, TypeError, ValueError, CryptoError) as exc:
        raise OperatorError(f"{path} is not a checkpoint key history: {type(exc).__name__}") from exc
    previous = 0
    for key in retired:
        if not previous <= key.from_size <= key.until_size:
            raise OperatorError(f"{path}: the tree sizes of the earlier keys must follow each other")
        previous = key.until_size
    return retired


def write_history(directory: Path, retired: tuple[RetiredSigningKey, ...]) -> None:
    """Replace the history file atomically (it is public, but owner-only like its neighbours)."""
    text = json.dumps({"retired": [{"public_key": encode_public_key(k.verify_key), "from_size": k.from_size,
                                    "until_size": k.until_size} for k in retired]}, indent=1) + "\n"
    temporary = directory / (HISTORY_FILE + ".tmp")
    temporary.unlink(missing_ok=True)
    temporary.touch(mode=0o600)
    temporary.write_text(text, encoding="ascii")
    temporary.replace(directory / HISTORY_FILE)
