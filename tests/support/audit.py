"""Helpers for audit-log tests: events as the edge makes them, and tampering with stored rows."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from gateway.audit.model import AuditEvent, Decision


def event(decision: Decision = Decision.SERVED, **fields: object) -> AuditEvent:
    """An audit event as the edge would make one; keyword arguments set its fields."""
    values: dict[str, object] = {"request_id": "req_" + secrets.token_hex(12), "time": datetime.now(UTC),
                                 "decision": decision}
    if decision is Decision.REFUSED:
        values["code"] = "TOKEN_INVALID"
    values.update(fields)
    return AuditEvent(**values)  # type: ignore[arg-type]
