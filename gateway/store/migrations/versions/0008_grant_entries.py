"""grants name the audit entry that recorded them: approvals get a column, and the grants kept in a
request's or a hold's ``details`` a key; what was granted before is found in the log by its facts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("order_approvals", "order_continuation_approvals")
_KINDS = ("order_approved", "emergency_verified", "court_order_attached", "preservation_granted",
          "preservation_extended")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("audit_request_id", sa.String(length=64), nullable=True))
    _backfill(op.get_bind())


def _backfill(connection: Any) -> None:
    """Name, for every grant made before this revision, the served entry whose fact recorded it, in
    log order (a reviewer's approval over an order's document comes before one over its
    continuation). A grant no entry records stays without one, and from now on grants nothing."""
    # Built from this module's constants only, as the table names below are.
    like = " OR ".join(f"entry LIKE '%{kind}%'" for kind in _KINDS)
    entries = connection.execute(sa.text(
        f"SELECT request_id, principal, entry FROM audit_entries WHERE decision = 'served' AND ({like}) "  # noqa: S608
        "ORDER BY idx"))
    for request_id, principal, text in entries:
        entry = json.loads(text)
        if entry.get("principal_verified") is not True or principal is None:
            continue
        for fact in entry.get("facts", []):
            _name_entry(connection, request_id, principal, fact)


def _name_entry(connection: Any, request_id: str, principal: str, fact: dict[str, Any]) -> None:
    kind = fact.get("kind")
    if kind == "order_approved":
        for table in _TABLES:
            named = connection.execute(sa.text(
                f"UPDATE {table} SET audit_request_id = :e WHERE order_id = :o AND reviewer_id = :r "  # noqa: S608
                "AND audit_request_id IS NULL"), {"e": request_id, "o": fact.get("order"), "r": principal})
            if named.rowcount:
                return
    elif kind in ("emergency_verified", "court_order_attached"):
        found = connection.execute(sa.text("SELECT details FROM legal_requests WHERE id = :i"),
                                   {"i": fact.get("request")}).first()
        if found is None:
            return
        details = json.loads(found[0])
        verification = details.get("emergency_verification")
        if kind == "emergency_verified" and isinstance(verification, dict) and verification.get("by") == principal:
            verification.setdefault("entry", request_id)
        elif kind == "court_order_attached" and details.get("court_order_sha256") == fact.get("court_order_sha256"):
            details.setdefault("court_order_entry", request_id)
        connection.execute(sa.text("UPDATE legal_requests SET details = :d WHERE id = :i"),
                           {"d": json.dumps(details), "i": fact.get("request")})
    elif kind in ("preservation_granted", "preservation_extended"):
        found = connection.execute(sa.text("SELECT details FROM preservations WHERE id = :i"),
                                   {"i": fact.get("preservation")}).first()
        if found is not None:
            details = json.loads(found[0])
            details.setdefault("grant_entry" if kind == "preservation_granted" else "extend_entry", request_id)
            connection.execute(sa.text("UPDATE preservations SET details = :d WHERE id = :i"),
                               {"d": json.dumps(details), "i": fact.get("preservation")})


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("audit_request_id")
