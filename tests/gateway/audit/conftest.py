from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import insert

from crypto.note import NoteVerifier, parse_verifier_key, verifier_key_string
from gateway.audit.checkpoints import CheckpointPolicy, note_name
from gateway.audit.writer import AuditWriter
from gateway.config import Settings
from gateway.keys.keyring import load_gateway_keys
from gateway.store.engine import Database
from gateway.store.tables import LegalRequestRow, OrderRow, Principal


@pytest.fixture
def make_writer(settings: Settings) -> Iterator[Callable[..., AuditWriter]]:
    """Factory: an AuditWriter on the test database; closed at the end of the test."""
    writers: list[AuditWriter] = []

    def factory(*, every_entries: int = 256, every_seconds: float = 3600.0, group_commit: bool = True,
                monotonic: Callable[[], float] = time.monotonic) -> AuditWriter:
        writer = AuditWriter(settings.sqlalchemy_url, checkpoint_key=load_gateway_keys(settings).signing_key,
                             origin=settings.origin, policy=CheckpointPolicy(every_entries, every_seconds),
                             group_commit=group_commit, monotonic=monotonic)
        writers.append(writer)
        return writer

    yield factory
    for writer in writers:
        writer.close()


@pytest.fixture
def verifier(settings: Settings) -> NoteVerifier:
    """The gateway's checkpoint verifier, built from its key file the way discovery publishes it."""
    key = load_gateway_keys(settings).signing_key.verify_key
    return parse_verifier_key(verifier_key_string(note_name(settings.origin), bytes(key)))


@pytest.fixture
def make_order(db: Database) -> Callable[..., str]:
    """Factory: an order row (with its authority and request) that the writer can charge."""

    def factory(*, max_queries: int) -> str:
        suffix = secrets.token_hex(4)
        now = int(time.time())
        with db.engine.begin() as connection:
            connection.execute(insert(Principal.__table__).values(  # type: ignore[attr-defined]
                id=f"authority-{suffix}", role="authority", name="A", status="active", created_at=now))
            connection.execute(insert(LegalRequestRow.__table__).values(  # type: ignore[attr-defined]
                id=f"lr_{suffix}", authority_id=f"authority-{suffix}", status="GRANTED", details="{}",
                selectors_sealed=b"", resolved_subject_ids="[]", unresolved_selectors=0, created_at=now))
            connection.execute(insert(OrderRow.__table__).values(  # type: ignore[attr-defined]
                id=f"ord_{suffix}", request_id=f"lr_{suffix}", authority_id=f"authority-{suffix}", document="{}",
                created_by=f"authority-{suffix}", created_at=now, queries_used=0))
        return f"ord_{suffix}"

    return factory
