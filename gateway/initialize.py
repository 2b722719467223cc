"""`gateway init`: data directory, the gateway's keys and the schema. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config import Settings
from gateway.keyring import ensure_gateway_keys
from gateway.store.engine import Database
from gateway.store.migrate import current_revision, upgrade

__all__ = ["InitReport", "initialize"]


@dataclass(frozen=True)
class InitReport:
    keys_created: list[Path]
    schema_before: str | None
    schema_after: str | None

    @property
    def changed(self) -> bool:
        return bool(self.keys_created) or self.schema_before != self.schema_after


def initialize(settings: Settings) -> InitReport:
    """Create what is missing and change nothing that exists."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    created = ensure_gateway_keys(settings)
    db = Database(settings.sqlalchemy_url)
    try:
        before = current_revision(db)
        upgrade(db)
        after = current_revision(db)
    finally:
        db.dispose()
    return InitReport(keys_created=created, schema_before=before, schema_after=after)
