"""Helpers for audit-log tests: events as the edge makes them, and tampering with stored rows."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from crypto.canonical import canonical_json
from crypto.merkle import leaf_hash
from gateway.audit.model import AuditEvent, Decision, entry_columns
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry

_entries = AuditEntry.__table__  # type: ignore[attr-defined]


def event(decision: Decision = Decision.SERVED, **fields: object) -> AuditEvent:
    """An audit event as the edge would make one; keyword arguments set its fields."""
    values: dict[str, object] = {"request_id": "req_" + secrets.token_hex(12), "time": datetime.now(UTC),
                                 "decision": decision}
    if decision is Decision.REFUSED:
        values["code"] = "TOKEN_INVALID"
    values.update(fields)
    return AuditEvent(**values)  # type: ignore[arg-type]


def document(db: Database, index: int) -> dict[str, Any]:
    """The stored entry at ``index``, parsed."""
    with db.engine.connect() as connection:
        return dict(json.loads(connection.execute(select(_entries.c.entry).where(_entries.c.idx == index))
                               .scalar_one()))


def rewrite(db: Database, index: int, new: dict[str, Any], *, leaf: bool = False, columns: bool = False,
            at: int | None = None) -> bytes:
    """Store ``new`` canonically at ``at`` (default ``index``); with ``leaf``/``columns`` also
    the leaf hash and indexed copies that go with it, as a careful forger would."""
    text = canonical_json(new)
    values: dict[str, Any] = {"entry": text.decode()}
    if leaf:
        values["leaf_hash"] = leaf_hash(text)
    if columns:
        values |= entry_columns(new)
    with db.engine.begin() as connection:
        connection.execute(update(_entries).where(_entries.c.idx == (index if at is None else at)).values(**values))
    return leaf_hash(text)
