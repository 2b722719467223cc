"""`gateway keys backup` and `gateway keys restore`: the gateway's key files in one file encrypted
with age (age-encryption.org/v1, through ``pyrage``), so the standard ``age`` tool opens it too.

The plaintext is one JSON object: ``{"format": "disclosure-gateway-keys/v1", "gateway_id",
"origin", "files": {name: text}}``, holding every key file of ``$GATEWAY_DATA_DIR/keys`` as it is
on disk. Restoring never trusts the backup's word: before anything is written to the keys
directory, the keys are staged in a private directory beside it and checked against the database,
where the at-rest key must open a stored subject, the blind-index key must find that subject by its
phone number, and the checkpoint key must verify the latest signed checkpoint. A backup of another
gateway fails those checks and leaves the keys directory as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyrage
from sqlalchemy import select

from crypto.errors import CryptoError
from crypto.key_schedule import verify_by_size
from gateway.audit.checkpoints import latest_checkpoint
from gateway.audit.signers import schedule_for
from gateway.config import Settings
from gateway.errors import OperatorError, StoreIntegrityError
from gateway.keys.keyring import GatewayKeys, load_keys_from
from gateway.keys.vault import Vault
from gateway.store.engine import Database
from gateway.store.tables import Subject
from gateway.subjects.store import SubjectStore

__all__ = ["FORMAT", "RestoreReport", "decrypt_backup", "encrypt_backup", "read_key_files", "restore_keys"]

FORMAT: Final = "disclosure-gateway-keys/v1"
_MAX_FILES: Final = 64
_subjects = Subject.__table__  # type: ignore[attr-defined]


def read_key_files(settings: Settings) -> dict[str, str]:
    """Every key file in the keys directory, by name; :class:`OperatorError` when there is none."""
    directory = settings.keys_dir
    if not directory.is_dir():
        raise OperatorError(f"no keys in {directory.resolve()}; set GATEWAY_DATA_DIR to the gateway's data directory")
    load_keys_from(directory)  # refuse to back up keys that would not load (mode, kind, kid)
    return {path.name: path.read_text(encoding="ascii") for path in sorted(directory.iterdir())
            if path.is_file() and not path.name.startswith(".")}


def encrypt_backup(settings: Settings, files: dict[str, str], *, recipients: list[str] | None = None,
                   passphrase: str | None = None) -> bytes:
    """The age file of ``files`` to age ``recipients`` (``age1…``) or a ``passphrase`` (scrypt)."""
    plaintext = json.dumps({"format": FORMAT, "gateway_id": settings.id, "origin": settings.origin,
                            "files": files}, indent=1).encode("ascii")
    if passphrase is not None:
        return bytes(pyrage.passphrase.encrypt(plaintext, passphrase))
    try:
        parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients or []]
    except pyrage.RecipientError as exc:
        raise OperatorError(f"--recipient is not an age X25519 recipient (age1…): {exc}") from None
    if not parsed:
        raise OperatorError("give --recipient or a passphrase")
    return bytes(pyrage.encrypt(plaintext, parsed))


def decrypt_backup(data: bytes, *, identities: list[str] | None = None,
                   passphrase: str | None = None) -> dict[str, Any]:
    """The backup's JSON object; :class:`OperatorError` when it does not decrypt or is not a backup."""
    try:
        if passphrase is not None:
            plaintext = pyrage.passphrase.decrypt(data, passphrase)
        else:
            keys = [pyrage.x25519.Identity.from_str(line.strip()) for line in identities or []]
            plaintext = pyrage.decrypt(data, keys)
    except (pyrage.DecryptError, pyrage.IdentityError) as exc:
        raise OperatorError(f"the backup does not decrypt with this identity or passphrase: {exc}") from None
    try:
        document = json.loads(plaintext)
    except ValueError:
        document = None
    if (not isinstance(document, dict) or document.get("format") != FORMAT
            or not isinstance(document.get("files"), dict)):
        raise OperatorError(f"the file decrypts but is not a {FORMAT} backup")
    files = document["files"]
    if len(files) > _MAX_FILES or not all(isinstance(k, str) and isinstance(v, str) and _safe_name(k)
                                          for k, v in files.items()):
        raise OperatorError("the backup's files are not plain key files")
    return document


def _safe_name(name: str) -> bool:
    return bool(name) and name == Path(name).name and not name.startswith(".") and name.isascii()


@dataclass(frozen=True)
class RestoreReport:
    written: list[str]
    unchanged: list[str]
    checks: list[str]


def check_keys(settings: Settings, keys: GatewayKeys) -> list[str]:
    """What the keys were checked against; :class:`OperatorError` for the first check that fails,
    or when the database holds nothing to check them against."""
    db = Database(settings.sqlalchemy_url)
    checks: list[str] = []
    try:
        with db.engine.connect() as connection:
            row = connection.execute(select(_subjects.c.id).order_by(_subjects.c.id).limit(1)).first()
            note = latest_checkpoint(connection)
        if row is not None:
            store = SubjectStore(db, Vault.from_keys(keys))
            try:
                record = store.get(str(row.id))
            except StoreIntegrityError:
                raise OperatorError("the backup's at-rest key does not open this database's subjects: it is "
                                    "another gateway's backup (or another database); nothing was written") from None
            if record is None or store.find_by_phone(record.phone) != record.id:
                raise OperatorError("the backup's blind-index key does not find this database's subjects: it is "
                                    "another gateway's backup; nothing was written")
            checks += ["the at-rest key opens a stored subject", "the blind-index key finds it"]
        if note is not None:
            try:
                verify_by_size(note, schedule_for(keys, settings.origin), origin=settings.origin)
            except CryptoError:
                raise OperatorError("the backup's checkpoint key does not verify this database's latest checkpoint: "
                                    "it is another gateway's backup (or GATEWAY_ID changed); nothing was written"
                                    ) from None
            checks.append("the checkpoint key verifies the latest checkpoint")
    finally:
        db.dispose()
    if not checks:
        raise OperatorError("the database holds no subject and no checkpoint to check the keys against; "
                            "pass --unchecked to restore them anyway")
    return checks


def restore_keys(settings: Settings, document: dict[str, Any], *, unchecked: bool = False) -> RestoreReport:
    """Check the backup's keys against the database, then put them in the keys directory.

    Existing key files that differ from the backup's are never replaced (:class:`OperatorError`):
    move them away first. Nothing is written unless every check passes."""
    files: dict[str, str] = document["files"]
    target = settings.keys_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    different = [name for name, text in files.items()
                 if (target / name).exists() and (target / name).read_text(encoding="ascii") != text]
    if different:
        raise OperatorError(f"{target.resolve()} holds other keys ({', '.join(sorted(different))}); "
                            "move them away before restoring; nothing was written")
    staging = Path(tempfile.mkdtemp(prefix=".keys-restore-", dir=target.parent))
    try:
        for name, text in files.items():
            path = staging / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
        keys = load_keys_from(staging)
        checks = [] if unchecked else check_keys(settings, keys)
        target.mkdir(mode=0o700, exist_ok=True)
        written, unchanged = [], []
        for name in sorted(files):
            if (target / name).exists():
                unchanged.append(name)
                continue
            os.replace(staging / name, target / name)
            written.append(name)
        return RestoreReport(written=written, unchanged=unchanged, checks=checks)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
