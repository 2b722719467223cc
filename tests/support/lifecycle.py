"""Helpers for the tests of a request's later life: preservation holds, retention, notices."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text

from gateway.audit.model import AuditReceipt
from gateway.lifecycle.retention import Cutoffs, PurgeReport, run_retention
from gateway.services import Services

SUBMIT_HOLD = ("mutation($i: PreservationInput!) { submitPreservation(input: $i) "
               "{ id status requestedUntil grantedUntil active extended country } }")
GRANT_HOLD = "mutation($id: ID!) { grantPreservation(id: $id) { id status grantedUntil active subjectIds } }"
EXTEND_HOLD = "mutation($id: ID!, $u: String!) { extendPreservation(id: $id, until: $u) { id grantedUntil extended } }"


def retention(services: Services, now: Any) -> tuple[PurgeReport, AuditReceipt]:
    return run_retention(db=services.db, subjects=services.subjects,
                         holds=services.preservations, audit=services.audit,
                         cutoffs=Cutoffs.at(now, services.settings), now=now,
                         copies_only=services.settings.subject_source == "sql")


def sealed_blob(services: Services, subject_id: str) -> bytes:
    with services.db.engine.connect() as connection:
        return bytes(connection.execute(text("SELECT sealed FROM subjects WHERE id = :i"),
                                        {"i": subject_id}).scalar_one())


def sealed_ip_events(services: Services, subject_id: str) -> list[bytes]:
    """The ciphertexts of a subject's stored IP events, as they lie in their rows."""
    with services.db.engine.connect() as connection:
        return [bytes(sealed) for (sealed,) in connection.execute(
            text("SELECT sealed FROM subject_events WHERE subject_id = :i AND kind = 'ip' ORDER BY id"),
            {"i": subject_id})]


def database_file_bytes(services: Services) -> bytes:
    """The SQLite database file and its WAL, as they lie on disk."""
    path = Path(services.db.engine.url.database or "")
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def audit_entries(services: Services) -> list[dict[str, Any]]:
    with services.db.engine.connect() as connection:
        return [json.loads(e) for (e,) in connection.execute(text("SELECT entry FROM audit_entries ORDER BY idx"))]
