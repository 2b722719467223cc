"""`gateway init`: data directory, the gateway's keys and the schema. Idempotent, and never over
live data: a key that is missing beside an initialised database is lost, not new, and minting a
replacement would orphan every subject record, blind index and checkpoint it protected."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from gateway.audit.checkpointer import sign_if_missing
from gateway.audit.writer import writer_engine
from gateway.config import Settings
from gateway.errors import DatabaseUnreachable, OperatorError
from gateway.keys.keyring import ensure_gateway_keys, key_paths, load_gateway_keys
from gateway.keys.vault import Vault
from gateway.store.engine import Database, connection_failure
from gateway.store.migrate import current_revision, upgrade
from gateway.subjects.store import SubjectStore

__all__ = ["InitReport", "initialize", "is_initialised", "sqlite_path"]


@dataclass(frozen=True)
class InitReport:
    keys_created: list[Path]
    schema_before: str | None
    schema_after: str | None
    checkpoint_signed: int | None = None  # the tree size of the first checkpoint, when init signed it

    @property
    def changed(self) -> bool:
        return bool(self.keys_created) or self.schema_before != self.schema_after or self.checkpoint_signed is not None


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite database file, or None for a server database (or SQLite in memory)."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def is_initialised(settings: Settings) -> bool:
    """Whether the database holds the gateway's schema. Opens nothing that does not exist: for
    SQLite, a missing file is an uninitialised database (and connecting would create it)."""
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        return False
    db = Database(settings.sqlalchemy_url)
    try:
        return current_revision(db) is not None
    except Exception as exc:  # any driver error: unreachable, bad URL, bad credentials
        # `from None`: the driver's message may quote the URL, password and all.
        password = "GATEWAY_DATABASE_PASSWORD" if settings.database_password else None
        reason = connection_failure(exc, url_setting="GATEWAY_DATABASE_URL", password_setting=password)
        raise DatabaseUnreachable(f"cannot reach the database: {reason}") from None
    finally:
        db.dispose()


def initialize(settings: Settings) -> InitReport:
    """Create what is missing and change nothing that exists. Raise :class:`OperatorError`,
    having changed nothing, when a key file is missing but the database is initialised."""
    missing = [path for path in key_paths(settings).values() if not path.exists()]
    if missing and is_initialised(settings):
        names = ", ".join(str(p) for p in missing)
        raise OperatorError(
            f"the database is initialised but {names} {'is' if len(missing) == 1 else 'are'} missing; restore "
            f"{'it' if len(missing) == 1 else 'them'} from backup. A new key cannot read what the lost one "
            "protected, so `gateway init` does not create one over an initialised database")
    # Owner-only from the first moment: the directory holds the keys and (SQLite) every record.
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = ensure_gateway_keys(settings)
    path = sqlite_path(settings)
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # SQLite would create it with the umask's mode; its -wal and -shm files copy this one's.
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    db = Database(settings.sqlalchemy_url)
    try:
        before = current_revision(db)
        upgrade(db)
        after = current_revision(db)
        # Subjects written before revision 0009 into per-event rows: the migration cannot, it never
        # holds the at-rest key. Resumes an interrupted conversion; nothing to do on a new database.
        SubjectStore(db, Vault.from_keys(load_gateway_keys(settings))).convert_documents()
    finally:
        db.dispose()
    # The empty tree's checkpoint, so GET /audit/checkpoint has one to serve from the start.
    engine = writer_engine(settings.sqlalchemy_url)
    try:
        signed = sign_if_missing(engine, origin=settings.origin, key=load_gateway_keys(settings).signing_key)
    finally:
        engine.dispose()
    return InitReport(keys_created=created, schema_before=before, schema_after=after, checkpoint_signed=signed)
