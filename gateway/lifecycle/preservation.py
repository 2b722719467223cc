"""Preservation holds (docs/PROTOCOL.md §16.2): an authority asks the platform to keep what it holds
about some subjects while it obtains a court order. A reviewer grants or rejects the request; a
granted hold discloses nothing, lasts at most :data:`MAX_HOLD_DAYS` and can be extended once by as
many more. Retention (:mod:`gateway.lifecycle.retention`) skips the subjects of active holds.

The selectors are stored encrypted, as a legal request's are; the authority never learns which of
them named a user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from gateway.errors import BadRequest, NotFound
from gateway.keys.contexts import hold_context
from gateway.keys.vault import Vault
from gateway.principals.registry import PrincipalInfo
from gateway.store.engine import Database
from gateway.store.tables import PreservationRow, Principal
from gateway.store.undo import Undo, undo_row_change
from gateway.subjects.source import SubjectSource
from gateway.values.ids import PRESERVATION, is_gateway_id, new_id
from gateway.values.selector import Selector
from gateway.values.times import format_time

__all__ = ["MAX_HOLD_DAYS", "Preservation", "PreservationInput", "PreservationStatus", "Preservations", "hold_context"]

MAX_HOLD_DAYS = 90
_NO_HOLD = "no such preservation request; list them with the `preservations` query"


class PreservationStatus(StrEnum):
    PENDING = "PENDING"
    GRANTED = "GRANTED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class PreservationInput:
    case_reference: str
    jurisdiction: str
    legal_basis: str
    subjects: Sequence[Selector]
    until: datetime


@dataclass(frozen=True)
class Preservation:
    """A preservation request as stored; ``subject_ids`` is for reviewers' eyes only."""

    id: str
    authority_id: str
    country: str
    status: str
    case_reference: str
    jurisdiction: str
    legal_basis: str
    subject_ids: list[str]
    unresolved_selectors: int
    requested_until: datetime
    granted_until: datetime | None
    extended: bool
    rejection_reason: str | None
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.status == PreservationStatus.GRANTED and self.granted_until is not None and now < self.granted_until

    @property
    def until(self) -> datetime:
        return self.granted_until or self.requested_until

    def fact(self) -> dict[str, Any]:
        """What an audit fact may say about it (no case reference: it may name a person)."""
        return {"id": self.id, "country": self.country, "subject_count": len(self.subject_ids),
                "until": format_time(self.until)}


def _at(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _text(value: str, what: str, *, limit: int) -> str:
    value = value.strip()
    if not value or "\x00" in value or len(value) > limit:
        raise BadRequest(f"{what} must be 1-{limit} characters without NUL")
    return value


class Preservations:
    def __init__(self, db: Database, subjects: SubjectSource, vault: Vault) -> None:
        self.db = db
        self.subjects = subjects
        self.vault = vault

    def submit(self, authority: PrincipalInfo, data: PreservationInput, *, now: datetime,
               undo: list[Undo] | None = None) -> Preservation:
        """Store a preservation request, resolving its selectors for the reviewers."""
        if not 1 <= len(data.subjects) <= 100:
            raise BadRequest("a preservation request takes 1-100 subject selectors")
        if not now < data.until <= now + timedelta(days=MAX_HOLD_DAYS):
            raise BadRequest(f"until must lie in the next {MAX_HOLD_DAYS} days; extend the hold once granted")
        jurisdiction = data.jurisdiction.strip().upper()
        if len(jurisdiction) != 2 or not jurisdiction.isascii() or not jurisdiction.isalpha():
            raise BadRequest("jurisdiction must be an ISO 3166-1 alpha-2 code such as DE")
        details = {"case_reference": _text(data.case_reference, "caseReference", limit=200),
                   "jurisdiction": jurisdiction, "legal_basis": _text(data.legal_basis, "legalBasis", limit=500)}
        resolved, unresolved = self.subjects.resolve_all(data.subjects)
        hold_id = new_id(PRESERVATION)
        sealed = self.vault.seal(json.dumps([[s.kind, s.value] for s in data.subjects]).encode("utf-8"),
                                 context=hold_context(hold_id))
        with self.db.session() as session:
            session.add(PreservationRow(id=hold_id, authority_id=authority.id, details=json.dumps(details),
                                        selectors_sealed=sealed, subject_ids=json.dumps(resolved),
                                        unresolved_selectors=unresolved, requested_until=int(data.until.timestamp()),
                                        created_at=int(now.timestamp())))
        self._undo(undo, hold_id, None)
        return self.get(hold_id)

    def grant(self, reviewer: PrincipalInfo, hold_id: str, *, now: datetime,
              undo: list[Undo] | None = None) -> Preservation:
        """Grant a pending hold until its requested end, at most :data:`MAX_HOLD_DAYS` from now."""
        with self.db.session() as session:
            row = self._pending(session, hold_id)
            until = min(row.requested_until, int((now + timedelta(days=MAX_HOLD_DAYS)).timestamp()))
            if until <= now.timestamp():
                raise BadRequest("the hold's requested end has passed; the authority must ask again")
            row.status, row.granted_until = PreservationStatus.GRANTED.value, until
            row.decided_by, row.decided_at = reviewer.id, int(now.timestamp())
        self._undo(undo, hold_id, {"status": PreservationStatus.PENDING.value, "granted_until": None,
                                   "decided_by": None, "decided_at": None})
        return self.get(hold_id)

    def reject(self, reviewer: PrincipalInfo, hold_id: str, reason: str, *, now: datetime,
               undo: list[Undo] | None = None) -> Preservation:
        reason = _text(reason, "reason", limit=2000)
        with self.db.session() as session:
            row = self._pending(session, hold_id)
            row.status, row.rejection_reason = PreservationStatus.REJECTED.value, reason
            row.decided_by, row.decided_at = reviewer.id, int(now.timestamp())
        self._undo(undo, hold_id, {"status": PreservationStatus.PENDING.value, "rejection_reason": None,
                                   "decided_by": None, "decided_at": None})
        return self.get(hold_id)

    def extend(self, authority: PrincipalInfo, hold_id: str, until: datetime, *, now: datetime,
               undo: list[Undo] | None = None) -> Preservation:
        """Extend one's own active hold, once, by at most :data:`MAX_HOLD_DAYS` past its end."""
        with self.db.session() as session:
            row = session.get(PreservationRow, hold_id) if is_gateway_id(hold_id) else None
            if row is None or row.authority_id != authority.id:
                raise NotFound(_NO_HOLD)
            if row.status != PreservationStatus.GRANTED or row.granted_until is None \
                    or row.granted_until <= now.timestamp():
                raise BadRequest("only an active, granted hold can be extended")
            if row.extended_at is not None:
                raise BadRequest("the hold was extended once already; it cannot be extended again")
            old = row.granted_until
            if not old < until.timestamp() <= old + MAX_HOLD_DAYS * 86400:
                raise BadRequest(f"until must lie after the hold's end and at most {MAX_HOLD_DAYS} days past it")
            row.granted_until, row.extended_at = int(until.timestamp()), int(now.timestamp())
        self._undo(undo, hold_id, {"granted_until": old, "extended_at": None})
        return self.get(hold_id)

    def _pending(self, session: Any, hold_id: str) -> PreservationRow:
        row = session.get(PreservationRow, hold_id) if is_gateway_id(hold_id) else None
        if row is None:
            raise NotFound(_NO_HOLD)
        if row.status != PreservationStatus.PENDING:
            raise BadRequest(f"the preservation request is {row.status}; only a PENDING one can be decided")
        return row  # type: ignore[no-any-return]

    def get(self, hold_id: str, *, authority_id: str | None = None) -> Preservation:
        found = self.find(hold_id=hold_id, authority_id=authority_id)
        if not found:
            raise NotFound(_NO_HOLD)
        return found[0]

    def find(self, *, status: str | None = None, authority_id: str | None = None,
             hold_id: str | None = None) -> list[Preservation]:
        query = (select(PreservationRow, col(Principal.country))
                 .join(Principal, col(Principal.id) == col(PreservationRow.authority_id))
                 .order_by(col(PreservationRow.created_at), col(PreservationRow.id)))
        if status is not None:
            query = query.where(col(PreservationRow.status) == status)
        if authority_id is not None:
            query = query.where(col(PreservationRow.authority_id) == authority_id)
        if hold_id is not None:
            if not is_gateway_id(hold_id):
                return []
            query = query.where(col(PreservationRow.id) == hold_id)
        with self.db.session() as session:
            rows = list(session.execute(query))
        return [self._hold(row, country) for row, country in rows]

    @staticmethod
    def _hold(row: PreservationRow, country: str | None) -> Preservation:
        details = json.loads(row.details)
        return Preservation(
            id=row.id, authority_id=row.authority_id, country=country or str(details["jurisdiction"]),
            status=row.status, case_reference=details["case_reference"], jurisdiction=details["jurisdiction"],
            legal_basis=details["legal_basis"], subject_ids=json.loads(row.subject_ids),
            unresolved_selectors=row.unresolved_selectors,
            requested_until=datetime.fromtimestamp(row.requested_until, UTC), granted_until=_at(row.granted_until),
            extended=row.extended_at is not None, rejection_reason=row.rejection_reason,
            created_at=datetime.fromtimestamp(row.created_at, UTC))

    def held_subjects(self, now: datetime) -> set[str]:
        """The subjects of every hold active at ``now``: retention keeps their data."""
        held: set[str] = set()
        for hold in self.find(status=PreservationStatus.GRANTED.value):
            if hold.active(now):
                held.update(hold.subject_ids)
        return held

    def counts(self, now: datetime) -> list[dict[str, Any]]:
        """Per country (the authority's registered one): requests by status, and holds active now."""
        table: dict[str, dict[str, Any]] = {}
        for hold in self.find():
            row = table.setdefault(hold.country, {"country": hold.country, "pending": 0, "granted": 0,
                                                  "rejected": 0, "active": 0, "extended": 0})
            row[hold.status.lower()] += 1
            row["active"] += int(hold.active(now))
            row["extended"] += int(hold.extended)
        return [table[c] for c in sorted(table)]

    def _undo(self, undo: list[Undo] | None, hold_id: str, restore: dict[str, Any] | None) -> None:
        undo_row_change(self.db, undo, PreservationRow, hold_id, restore)
