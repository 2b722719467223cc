"""`gateway subjects delete ID` (docs/PROTOCOL.md §9.3): the platform deleted an account, so the
embedded store deletes all of it (its head, its blind indexes, every event row), unless a
preservation hold (§16.2) active now names it.

The act is an operator's and is recorded as one audit entry through the one writer: ``served``, no
principal, the subject id in ``subjects`` and one fact ``subject_deleted``, nothing of what was
stored. The entry is made durable first: an entry whose deletion then fails is followed by a run
that deletes, never a deletion the log does not hold.
"""

from __future__ import annotations

from datetime import datetime

from gateway.audit.model import AuditEvent, AuditReceipt, Decision
from gateway.audit.writer import AuditWriter
from gateway.errors import OperatorError, SubjectHeld
from gateway.lifecycle.preservation import Preservations
from gateway.store.engine import Database
from gateway.subjects.record import SUBJECT_ID
from gateway.subjects.store import SubjectStore
from gateway.transparency import facts
from gateway.values.ids import SUBJECT_DELETION, new_id

__all__ = ["delete_subject"]


def delete_subject(*, db: Database, subjects: SubjectStore, holds: Preservations, audit: AuditWriter,
                   subject_id: str, now: datetime) -> tuple[int, AuditReceipt]:
    """Delete ``subject_id`` and all its rows; return how many event rows went and the audit
    receipt. Raises :class:`SubjectHeld` naming the hold when an active hold names the subject,
    :class:`OperatorError` when no subject has this id, ``AuditUnavailable`` (nothing deleted) when
    the entry cannot be made durable."""
    if not SUBJECT_ID.fullmatch(subject_id) or not subjects.exists(subject_id):
        raise OperatorError("no subject has this id in the embedded store; nothing was deleted")
    for hold in holds.find(status="GRANTED"):
        if hold.active(now) and subject_id in hold.subject_ids:
            raise SubjectHeld(hold.id)
    receipt = audit.append_sync(AuditEvent(request_id=new_id(SUBJECT_DELETION), time=now, decision=Decision.SERVED,
                                           subjects=[subject_id], facts=[facts.subject_deleted()]))
    with db.writes() as connection:
        deleted = subjects.delete_subject(connection, subject_id)
    return deleted, receipt
