"""Preservation holds (docs/PROTOCOL.md §16.2): an authority asks the platform to keep what it holds
about some subjects while it obtains a court order. A reviewer grants or rejects the request; a
granted hold discloses nothing, lasts at most :data:`MAX_HOLD_DAYS` and can be extended once by as
many more. Retention (:mod:`gateway.lifecycle.retention`) skips the subjects of active holds. With
the ``sql`` source a grant also copies its subjects' data from the platform into the encrypted store,
in the grant's transaction (:mod:`gateway.lifecycle.preserved`): a source that cannot answer refuses
the grant with ``SOURCE_UNAVAILABLE`` and the hold stays PENDING.

A grant and an extension hold only as their audit entries recorded them (gateway/audit/grants.py):
a row flipped to GRANTED, or given a later end, in the database is read as not granted, or as
ending where the log says.

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
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.audit.grants import PRESERVATION_EXTENDED, PRESERVATION_GRANTED, Claim, GrantProofs
from gateway.errors import BadRequest, NotFound
from gateway.keys.contexts import hold_context
from gateway.keys.vault import Vault
from gateway.lifecycle.preserved import PreservedCopies, held_instant
from gateway.orders.header import check_header, check_text
from gateway.principals.registry import PrincipalInfo
from gateway.store.conditional import compare_and_set, decide
from gateway.store.engine import Database
from gateway.store.tables import PreservationRow, Principal
from gateway.store.undo import Undo, undo_row_change
from gateway.subjects.record import SubjectRecord
from gateway.subjects.source import SubjectSource
from gateway.values.ids import PRESERVATION, is_gateway_id, new_id
from gateway.values.selector import Selector
from gateway.values.times import format_time, parse_time

__all__ = ["MAX_HOLD_DAYS", "Preservation", "PreservationInput", "PreservationStatus", "Preservations", "hold_context"]

MAX_HOLD_DAYS = 90
_holds = PreservationRow.__table__  # type: ignore[attr-defined]
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
    decided_at: datetime | None = None

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


def _entry(details: dict[str, Any], key: str) -> str | None:
    found = details.get(key)
    return found if isinstance(found, str) else None


class Preservations:
    def __init__(self, db: Database, subjects: SubjectSource, vault: Vault,
                 copies: PreservedCopies | None = None) -> None:
        """``copies``: with the sql source, where a grant keeps its subjects' data."""
        self.db = db
        self.subjects = subjects
        self.vault = vault
        self.copies = copies
        self.proofs = GrantProofs()

    def submit(self, authority: PrincipalInfo, data: PreservationInput, *, now: datetime,
               undo: list[Undo] | None = None) -> Preservation:
        """Store a preservation request, resolving its selectors for the reviewers."""
        header = check_header(subjects=data.subjects, jurisdiction=data.jurisdiction,
                              case_reference=data.case_reference, legal_basis=data.legal_basis)
        if not now < data.until <= now + timedelta(days=MAX_HOLD_DAYS):
            raise BadRequest(f"until must lie in the next {MAX_HOLD_DAYS} days; extend the hold once granted")
        details = {"case_reference": header.case_reference, "jurisdiction": header.jurisdiction,
                   "legal_basis": header.legal_basis}
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
              undo: list[Undo] | None = None, entry: str | None = None) -> Preservation:
        """Grant a pending hold until its requested end, at most :data:`MAX_HOLD_DAYS` from now.
        It holds once ``entry``, the request id of the audit entry recording it, is in the log.
        With preserved copies, the subjects' data are read from the source first and sealed in the
        grant's transaction: ``SourceUnavailable`` if the source cannot answer, the hold left PENDING."""
        held_at = held_instant(now)
        records: list[SubjectRecord] = []
        if self.copies is not None:
            with self.db.session() as session:
                subject_ids = json.loads(self._pending(session, hold_id).subject_ids)
            records = self.copies.read(subject_ids, held_at)
        copies = self.copies

        def attempt(session: Session) -> str | None:
            row = self._pending(session, hold_id)
            until = min(row.requested_until, int((now + timedelta(days=MAX_HOLD_DAYS)).timestamp()))
            if until <= now.timestamp():
                raise BadRequest("the hold's requested end has passed; the authority must ask again")
            details = row.details
            decided = self._decided(session, hold_id, {
                "status": PreservationStatus.GRANTED.value, "granted_until": until, "decided_by": reviewer.id,
                "decided_at": int(held_at.timestamp()),
                "details": json.dumps(json.loads(details) | {"grant_entry": entry})})
            if decided and copies is not None:
                copies.write(session.connection(), records)
            return details if decided else None

        old_details = decide(self.db, attempt)
        if copies is not None and undo is not None:
            # Runs after the row is PENDING again (undos run newest first): copies no other hold keeps go.
            undo.append(lambda: copies.drop_unheld([r.id for r in records], self.held_since(now)))
        self._undo(undo, hold_id, {"status": PreservationStatus.PENDING.value, "granted_until": None,
                                   "decided_by": None, "decided_at": None, "details": old_details})
        return self.get(hold_id, pending=entry)

    def reject(self, reviewer: PrincipalInfo, hold_id: str, reason: str, *, now: datetime,
               undo: list[Undo] | None = None) -> Preservation:
        reason = check_text(reason, "reason", limit=2000)

        def attempt(session: Session) -> bool | None:
            self._pending(session, hold_id)
            return self._decided(session, hold_id, {"status": PreservationStatus.REJECTED.value,
                                                    "rejection_reason": reason, "decided_by": reviewer.id,
                                                    "decided_at": int(now.timestamp())})

        decide(self.db, attempt)
        self._undo(undo, hold_id, {"status": PreservationStatus.PENDING.value, "rejection_reason": None,
                                   "decided_by": None, "decided_at": None})
        return self.get(hold_id)

    def extend(self, authority: PrincipalInfo, hold_id: str, until: datetime, *, now: datetime,
               undo: list[Undo] | None = None, entry: str | None = None) -> Preservation:
        """Extend one's own active hold, once, by at most :data:`MAX_HOLD_DAYS` past its end. The
        extension holds once ``entry``, the request id of the audit entry recording it, is in the log."""
        # Active and ending as the log has it, not as the row may have been edited to say.
        proven = self.get(hold_id, authority_id=authority.id)
        if not proven.active(now) or proven.granted_until is None:
            raise BadRequest("only an active, granted hold can be extended")
        end = int(proven.granted_until.timestamp())

        def attempt(session: Session) -> tuple[int, str] | None:
            row = session.get(PreservationRow, hold_id) if is_gateway_id(hold_id) else None
            if row is None or row.authority_id != authority.id:
                raise NotFound(_NO_HOLD)
            if row.status != PreservationStatus.GRANTED or row.granted_until is None \
                    or row.granted_until <= now.timestamp():
                raise BadRequest("only an active, granted hold can be extended")
            if row.extended_at is not None:
                raise BadRequest("the hold was extended once already; it cannot be extended again")
            old = row.granted_until
            if not end < until.timestamp() <= end + MAX_HOLD_DAYS * 86400:
                raise BadRequest(f"until must lie after the hold's end and at most {MAX_HOLD_DAYS} days past it")
            details = row.details
            seen = {"status": row.status, "granted_until": old, "extended_at": None, "details": details}
            changed = compare_and_set(session, _holds, {"id": hold_id}, seen, {
                "granted_until": int(until.timestamp()), "extended_at": int(now.timestamp()),
                "details": json.dumps(json.loads(details) | {"extend_entry": entry})})
            return (old, details) if changed else None

        old, old_details = decide(self.db, attempt)
        self._undo(undo, hold_id, {"granted_until": old, "extended_at": None, "details": old_details})
        return self.get(hold_id, pending=entry)

    def _pending(self, session: Session, hold_id: str) -> PreservationRow:
        row = session.get(PreservationRow, hold_id) if is_gateway_id(hold_id) else None
        if row is None:
            raise NotFound(_NO_HOLD)
        if row.status != PreservationStatus.PENDING:
            raise BadRequest(f"the preservation request is {row.status}; only a PENDING one can be decided")
        return row

    @staticmethod
    def _decided(session: Session, hold_id: str, values: dict[str, Any]) -> bool | None:
        """Decide the hold read PENDING, if it still is; ``None`` if another decision came first."""
        return compare_and_set(session, _holds, {"id": hold_id}, {"status": PreservationStatus.PENDING.value},
                               values) or None

    def get(self, hold_id: str, *, authority_id: str | None = None, pending: str | None = None) -> Preservation:
        found = self.find(hold_id=hold_id, authority_id=authority_id, pending=pending)
        if not found:
            raise NotFound(_NO_HOLD)
        return found[0]

    def find(self, *, status: str | None = None, authority_id: str | None = None,
             hold_id: str | None = None, pending: str | None = None) -> list[Preservation]:
        """The holds, each as the log proves it (``pending``: the request being served, whose own
        entry is not written yet); a row marked GRANTED that the log does not prove is PENDING, and
        not found under ``status`` GRANTED."""
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
        with self.db.reads() as connection:
            holds = [self._hold(connection, row, country, pending) for row, country in rows]
        return [hold for hold in holds if status is None or hold.status == status]

    def _hold(self, connection: Any, row: PreservationRow, country: str | None, pending: str | None) -> Preservation:
        details = json.loads(row.details)
        status, granted_until, extended = row.status, row.granted_until, row.extended_at is not None
        if status == PreservationStatus.GRANTED:
            status, granted_until, extended = self._proven_grant(connection, row, details, pending)
        return Preservation(
            id=row.id, authority_id=row.authority_id, country=country or str(details["jurisdiction"]),
            status=status, case_reference=details["case_reference"], jurisdiction=details["jurisdiction"],
            legal_basis=details["legal_basis"], subject_ids=json.loads(row.subject_ids),
            unresolved_selectors=row.unresolved_selectors,
            requested_until=datetime.fromtimestamp(row.requested_until, UTC), granted_until=_at(granted_until),
            extended=extended, rejection_reason=row.rejection_reason,
            created_at=datetime.fromtimestamp(row.created_at, UTC), decided_at=_at(row.decided_at))

    def _proven_grant(self, connection: Any, row: PreservationRow, details: dict[str, Any],
                      pending: str | None) -> tuple[str, int | None, bool]:
        """A GRANTED row's status, end and extension as the log records them: the reviewer's
        served grantPreservation, and the authority's served extendPreservation to the row's end."""
        hold = (("preservation", row.id),)
        granted = self.proofs.fact(connection, Claim(_entry(details, "grant_entry"), str(row.decided_by),
                                                     PRESERVATION_GRANTED, hold), pending=pending)
        if granted is None:
            return PreservationStatus.PENDING.value, None, False
        if row.extended_at is not None and row.granted_until is not None and self.proofs.proven(
                connection, Claim(_entry(details, "extend_entry"), row.authority_id, PRESERVATION_EXTENDED,
                                  (*hold, ("until", format_time(datetime.fromtimestamp(row.granted_until, UTC))))),
                pending=pending):
            return PreservationStatus.GRANTED.value, row.granted_until, True
        until = granted.get("until")
        if not isinstance(until, str):  # the pending request's own grant: its row's end
            return PreservationStatus.GRANTED.value, row.granted_until, False
        try:
            return PreservationStatus.GRANTED.value, int(parse_time(until).timestamp()), False
        except ValueError:
            return PreservationStatus.PENDING.value, None, False

    def held_subjects(self, now: datetime) -> set[str]:
        """The subjects of every hold active at ``now``: retention keeps their data."""
        held: set[str] = set()
        for hold in self.find(status=PreservationStatus.GRANTED.value):
            if hold.active(now):
                held.update(hold.subject_ids)
        return held

    def held_since(self, now: datetime) -> dict[str, datetime]:
        """The subjects of every hold active at ``now``, each with the latest grant among those holds:
        where its preserved copy ends (gateway/lifecycle/preserved.py)."""
        held: dict[str, datetime] = {}
        for hold in self.find(status=PreservationStatus.GRANTED.value):
            if hold.active(now) and hold.decided_at is not None:
                for subject_id in hold.subject_ids:
                    held[subject_id] = max(held.get(subject_id, hold.decided_at), hold.decided_at)
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
