"""Legal requests (docs/PROTOCOL.md §3, §16.1): submitting one, reading and listing them, rejecting
one, and an emergency's verification and court order.

:class:`LegalRequests` is the half of :class:`gateway.orders.service.Orders` that decides on
requests; the orders drafted from them, and their status, are the other half's. Every decision
is a conditional write (:mod:`gateway.store.conditional`), and what grants is proven by the audit
entry that recorded it (:mod:`gateway.audit.grants`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.audit.grants import (
    Pending,
)
from gateway.errors import (
    BadRequest,
    NotFound,
    OrderLapsed,
    RequestWithdrawn,
)
from gateway.keys.contexts import request_context
from gateway.keys.vault import Vault
from gateway.notifications.events import record_event
from gateway.notifications.kinds import EventKind
from gateway.orders.emergency import (
    CourtOrder,
    VerificationMethod,
    continuation_text,
)
from gateway.orders.header import check_fields, check_header, check_text
from gateway.orders.model import (
    LEGAL_PROCESSES,
    OFFENSE_CATEGORIES,
    LegalRequest,
    LegalRequestStatus,
    LegalRequestSubmission,
    OrderState,
)
from gateway.orders.policy import OrderStatus
from gateway.principals.registry import PrincipalInfo
from gateway.store.conditional import compare_and_set, decide
from gateway.store.engine import Database
from gateway.store.tables import (
    EventRow,
    LegalRequestRow,
    OrderContinuation,
    OrderRow,
)
from gateway.store.undo import Undo
from gateway.subjects.source import SubjectSource
from gateway.values.ids import LEGAL_REQUEST, is_gateway_id, new_id
from gateway.values.times import format_time

__all__ = ["LegalRequests"]

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
NO_REQUEST = "no such request; list requests with the `requests` query"
_requests = LegalRequestRow.__table__  # type: ignore[attr-defined]


class LegalRequests:
    """Requests, over the store; ``load`` (an order's state) and ``_undo_with`` come from
    :class:`~gateway.orders.service.Orders`."""

    db: Database
    subjects: SubjectSource
    vault: Vault

    def load(self, order_id: str, *, now: datetime, authority_id: str | None = None,
             session: Session | None = None, pending: Pending = None) -> OrderState:
        raise NotImplementedError

    def _undo_with(self, undo: list[Undo] | None, model: Any, key: object, restore: dict[str, Any] | None) -> None:
        raise NotImplementedError

    # -- requests -----------------------------------------------------------------------------

    def submit_request(self, authority: PrincipalInfo, data: LegalRequestSubmission, *, now: datetime,
                       undo: list[Undo] | None = None, entry: str | None = None) -> LegalRequest:
        """Store a request, resolving its selectors to subject ids for the reviewers. The
        selectors themselves are stored encrypted; the authority never learns which resolved.
        ``entry`` is the request id of the audit entry that records it (gateway/audit/grants.py)."""
        header = check_header(subjects=data.subjects, jurisdiction=data.jurisdiction,
                              case_reference=data.case_reference, legal_basis=data.legal_basis)
        fields = check_fields(data.fields)
        if data.offense_category not in OFFENSE_CATEGORIES:
            raise BadRequest(f"offenseCategory must be one of {', '.join(OFFENSE_CATEGORIES)}")
        if data.legal_process not in LEGAL_PROCESSES:
            raise BadRequest(f"legalProcess must be one of {', '.join(LEGAL_PROCESSES)}")
        if data.court_order_sha256 is None and not data.emergency:
            raise BadRequest("courtOrderSha256 is required; only an emergency request may come without a court order")
        if data.court_order_sha256 is not None and not SHA256_HEX.fullmatch(data.court_order_sha256):
            raise BadRequest("courtOrderSha256 must be the lowercase hex SHA-256 of the court order document")
        if data.emergency and data.imminent_risk is None:
            raise BadRequest("an emergency request needs imminentRisk: the risk of death or serious physical "
                             "injury it is meant to prevent")
        if not data.emergency and data.imminent_risk is not None:
            raise BadRequest("imminentRisk belongs to emergency requests only (emergency: true)")
        secrecy = data.non_disclosure_until
        if secrecy is not None and secrecy <= now:
            raise BadRequest("nonDisclosureUntil must lie in the future")
        details = {
            "case_reference": header.case_reference,
            "court": check_text(data.court, "court", limit=200), "jurisdiction": header.jurisdiction,
            "legal_basis": header.legal_basis,
            "offense_category": data.offense_category, "court_order_sha256": data.court_order_sha256,
            "fields": fields, "data_window": data.data_window.as_document(),
            "emergency": bool(data.emergency), "selector_count": len(data.subjects),
            "legal_process": data.legal_process,
            "non_disclosure_until": format_time(secrecy) if secrecy is not None else None,
        }
        if data.emergency and data.court_order_sha256 is not None:
            # Sent with the request itself: attached now, in time by definition; its entry proves it.
            details["court_order_attached_at"] = format_time(now.replace(microsecond=0))
            details["court_order_entry"] = entry
        resolved, unresolved = self.subjects.resolve_all(data.subjects)
        request_id = new_id(LEGAL_REQUEST)
        # Selectors and the free-text justification name people: both are stored encrypted.
        secret: dict[str, Any] = {"selectors": [[s.kind, s.value] for s in data.subjects],
                                  "justification": check_text(data.justification, "justification", limit=5000)}
        if data.imminent_risk is not None:
            secret["imminent_risk"] = check_text(data.imminent_risk, "imminentRisk", limit=5000)
        with self.db.session() as session:
            session.add(LegalRequestRow(
                id=request_id, authority_id=authority.id, status=LegalRequestStatus.PENDING.value,
                details=json.dumps(details), selectors_sealed=self._seal(request_id, secret),
                resolved_subject_ids=json.dumps(resolved), unresolved_selectors=unresolved,
                created_at=int(now.timestamp())))
        self._undo_with(undo, LegalRequestRow, request_id, None)
        return self.get_request(request_id)

    def _secret(self, row: LegalRequestRow) -> dict[str, Any]:
        """What the request keeps encrypted (selectors, justification, notes, its thread), opened."""
        found: dict[str, Any] = json.loads(self.vault.open(row.selectors_sealed, context=request_context(row.id)))
        return found

    def _seal(self, request_id: str, secret: dict[str, Any]) -> bytes:
        """``secret`` sealed under the request's own AEAD context (keys/contexts.py)."""
        return self.vault.seal(json.dumps(secret).encode("utf-8"), context=request_context(request_id))

    def _request(self, row: LegalRequestRow, order_ids: list[str]) -> LegalRequest:
        details = json.loads(row.details)
        sealed = self._secret(row)
        details["justification"] = sealed["justification"]
        details["imminent_risk"] = sealed.get("imminent_risk")
        # The authority's side of the request (§17): its thread and a withdrawal's reason.
        details["clarifications"] = list(sealed.get("clarifications", []))
        details["withdrawal_reason"] = sealed.get("withdrawal_reason")
        return LegalRequest(id=row.id, status=row.status, authority_id=row.authority_id, details=details,
                            resolved_subject_ids=json.loads(row.resolved_subject_ids),
                            unresolved_selectors=row.unresolved_selectors, order_ids=order_ids,
                            rejection_reason=row.rejection_reason, created_at=row.created_at)

    def get_request(self, request_id: str, *, authority_id: str | None = None) -> LegalRequest:
        """A request; with ``authority_id``, only if it is that authority's own. Messages never
        repeat the id sent: a client may put anything there, a phone number too."""
        with self.db.session() as session:
            return self._read_request(session, request_id, authority_id=authority_id)[1]

    def _read_request(self, session: Session, request_id: str, *,
                      authority_id: str | None = None) -> tuple[LegalRequestRow, LegalRequest]:
        """The request's row as read in ``session`` (what a conditional write compares against) and
        the request it holds."""
        row = session.get(LegalRequestRow, request_id) if is_gateway_id(request_id) else None
        if row is None or (authority_id is not None and row.authority_id != authority_id):
            raise NotFound(NO_REQUEST)
        order_ids = list(session.scalars(select(col(OrderRow.id)).where(col(OrderRow.request_id) == request_id)
                                         .order_by(col(OrderRow.created_at))))
        return row, self._request(row, order_ids)

    def list_requests(self, *, status: str | None = None, authority_id: str | None = None) -> list[LegalRequest]:
        with self.db.session() as session:
            query = select(LegalRequestRow).order_by(col(LegalRequestRow.created_at), col(LegalRequestRow.id))
            if status is not None:
                query = query.where(col(LegalRequestRow.status) == status)
            if authority_id is not None:
                query = query.where(col(LegalRequestRow.authority_id) == authority_id)
            rows = list(session.scalars(query))
            orders = list(session.execute(select(col(OrderRow.request_id), col(OrderRow.id))
                                          .order_by(col(OrderRow.created_at))))
        by_request: dict[str, list[str]] = {}
        for request_id, order_id in orders:
            by_request.setdefault(request_id, []).append(order_id)
        return [self._request(row, by_request.get(row.id, [])) for row in rows]

    def reject_request(self, reviewer: PrincipalInfo, request_id: str, reason: str, *, now: datetime,
                       undo: list[Undo] | None = None, entry: str | None = None) -> LegalRequest:
        """Reject a PENDING request; ``entry``, the request id of the audit entry recording it,
        publishes its ``request.rejected`` event once in the log (the reason is not in the event)."""
        reason = check_text(reason, "reason", limit=2000)

        def attempt(session: Session) -> tuple[str, str | None] | None:
            row = session.get(LegalRequestRow, request_id) if is_gateway_id(request_id) else None
            if row is None:
                raise NotFound(NO_REQUEST)
            if row.status == LegalRequestStatus.WITHDRAWN:
                raise RequestWithdrawn("the request was withdrawn by its authority; nothing more is decided on it")
            # A request awaiting its authority's answer may be rejected too (docs/PROTOCOL.md §17.1).
            if row.status not in (LegalRequestStatus.PENDING, LegalRequestStatus.NEEDS_CLARIFICATION):
                raise BadRequest(f"the request is {row.status}; only a PENDING request can be rejected "
                                 "(revoke its orders instead)")
            # The request's row decides between this rejection and the approval that would grant it.
            if not compare_and_set(session, _requests, {"id": request_id}, {"status": row.status},
                                   {"status": LegalRequestStatus.REJECTED.value, "rejection_reason": reason,
                                    "decided_by": reviewer.id, "decided_at": int(now.timestamp())}):
                return None
            event = record_event(session, authority_id=row.authority_id, kind=EventKind.REQUEST_REJECTED,
                                 request_id=request_id, order_id=None, state=LegalRequestStatus.REJECTED.value,
                                 now=now, entry=entry)
            return row.status, event

        before, event = decide(self.db, attempt)
        if event:
            self._undo_with(undo, EventRow, event, None)
        self._undo_with(undo, LegalRequestRow, request_id,
                        {"status": before, "rejection_reason": None, "decided_by": None, "decided_at": None})
        return self.get_request(request_id)

    # -- emergencies (docs/PROTOCOL.md §16.1) ---------------------------------------------------

    def verify_emergency(self, reviewer: PrincipalInfo, request_id: str, method: str, note: str, *,
                         now: datetime, undo: list[Undo] | None = None, entry: str | None = None) -> LegalRequest:
        """Record a reviewer's secondary verification of an emergency request: how the authority
        was reached back. Orders drafted afterwards carry it in their signed document; the note
        is stored encrypted (it may name the officer reached)."""
        if method not in set(VerificationMethod):
            raise BadRequest(f"method must be one of {', '.join(VerificationMethod)}")
        note = check_text(note, "note", limit=2000)

        def attempt(session: Session) -> tuple[str, bytes] | None:
            row = session.get(LegalRequestRow, request_id) if is_gateway_id(request_id) else None
            if row is None:
                raise NotFound(NO_REQUEST)
            details = json.loads(row.details)
            if not details.get("emergency"):
                raise BadRequest("the request is not an emergency request; it needs no secondary verification")
            if row.status != LegalRequestStatus.PENDING:
                raise BadRequest(f"the request is {row.status}; only a PENDING request can be verified")
            if details.get("emergency_verification") is not None:
                raise BadRequest("the request's secondary verification is recorded already")
            secret = self._secret(row)
            secret["verification_note"] = note
            details["emergency_verification"] = {"by": reviewer.id, "at": format_time(now.replace(microsecond=0)),
                                                 "method": method, "entry": entry}
            # Once: the details read (no verification yet) must still be stored, or another
            # reviewer's verification came first and this one is refused as a late one.
            changed = compare_and_set(session, _requests, {"id": request_id},
                                      {"status": row.status, "details": row.details},
                                      {"details": json.dumps(details), "selectors_sealed": self._seal(row.id, secret)})
            return (row.details, row.selectors_sealed) if changed else None

        old_details, old_sealed = decide(self.db, attempt)
        self._undo_with(undo, LegalRequestRow, request_id, {"details": old_details, "selectors_sealed": old_sealed})
        return self.get_request(request_id)

    def attach_court_order(self, authority: PrincipalInfo, request_id: str, court_order_sha256: str, *,
                           now: datetime, undo: list[Undo] | None = None, entry: str | None = None) -> LegalRequest:
        """Attach the court order to one's own emergency request. Each of its orders that has not
        lapsed gets a continuation text for reviewers to sign; ``ORDER_LAPSED`` if all have."""
        if not SHA256_HEX.fullmatch(court_order_sha256):
            raise BadRequest("courtOrderSha256 must be the lowercase hex SHA-256 of the court order document")

        def attempt(session: Session) -> tuple[str, list[str]] | None:
            row, request = self._read_request(session, request_id, authority_id=authority.id)
            continuations = self._continuations(session, request, court_order_sha256, now=now)
            details = json.loads(row.details)
            details["court_order_sha256"] = court_order_sha256
            details["court_order_attached_at"] = format_time(now.replace(microsecond=0))
            details["court_order_entry"] = entry  # the attachment holds once this entry is in the log
            # Once: a court order attached meanwhile changed the details read, and this is refused
            # as a late attachment, before it writes a continuation of its own.
            if not compare_and_set(session, _requests, {"id": request_id},
                                   {"status": row.status, "details": row.details}, {"details": json.dumps(details)}):
                return None
            for order_id, text in continuations.items():
                session.add(OrderContinuation(order_id=order_id, document=text, created_at=int(now.timestamp())))
            return row.details, list(continuations)

        old_details, continued = decide(self.db, attempt)
        self._undo_with(undo, LegalRequestRow, request_id, {"details": old_details})
        for order_id in continued:
            self._undo_with(undo, OrderContinuation, order_id, None)
        return self.get_request(request_id)

    def _continuations(self, session: Session, request: LegalRequest, court_order_sha256: str, *,
                       now: datetime) -> dict[str, str]:
        """The continuation text of each of the request's orders that a court order attached now
        continues; ``ORDER_LAPSED`` if all have lapsed. Read in ``session``: a request holds no
        third connection while its transaction is open (the pool is sized for two each)."""
        if not request.emergency:
            raise BadRequest("the request is not an emergency request; its court order came with it")
        if request.status == LegalRequestStatus.REJECTED:
            raise BadRequest("the request was rejected; nothing can be attached to it")
        if request.status == LegalRequestStatus.WITHDRAWN:
            raise RequestWithdrawn("the request was withdrawn by its authority; nothing can be attached to it")
        if request.court_order is not None:
            raise BadRequest("a court order is attached to this request already")
        court_order = CourtOrder(court_order_sha256, now.replace(microsecond=0))
        continuations: dict[str, str] = {}
        lapsed = 0
        for order_id in request.order_ids:
            state = self.load(order_id, now=now, session=session)
            terms = state.document.emergency if state.document is not None else None
            if state.document is None or terms is None or state.status is OrderStatus.REVOKED:
                continue
            if court_order.attached_at >= terms.lapses_at:
                lapsed += 1
                continue
            continuations[order_id] = continuation_text(state.document.raw, court_order)
        if lapsed and not continuations:
            raise OrderLapsed("the emergency order lapsed before the court order was attached; submit a new "
                              "request with the court order")
        return continuations

