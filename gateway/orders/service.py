"""The legal requests and orders service: submitting, reviewing, drafting, approving and revoking
(docs/PROTOCOL.md §3, review operations of §5), over the store.

An order's status is never read from a column: :meth:`Orders.load` parses the stored document,
verifies every approval against the reviewers' current keys and status, and combines that with
the clock, the revocation and the query count (:func:`gateway.orders.policy.order_status`). The parsing
and the verification are kept while the document and the state version hold
(gateway/store/versions.py); the revocation and the count (gateway/audit/usage.py) are read every time.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from crypto.canonical import canonical_json
from gateway.audit.model import Action, Decision
from gateway.audit.usage import stored_usage, trusted_usage, usage_columns
from gateway.errors import (
    BadRequest,
    GatewayError,
    NotFound,
    OrderExpired,
    OrderLapsed,
    OrderNotFound,
    OrderRevoked,
)
from gateway.keys.contexts import request_context
from gateway.keys.vault import Vault
from gateway.orders.approvals import counts_as_reviewer, signing_key_of
from gateway.orders.emergency import (
    ApprovalRule,
    CourtOrder,
    EmergencyTerms,
    Signer,
    VerificationMethod,
    approval_rule,
    continuation_text,
    parse_continuation,
)
from gateway.orders.model import (
    LEGAL_PROCESSES,
    MAX_ORDER_DAYS,
    MAX_QUERIES,
    MAX_SELECTORS,
    OFFENSE_CATEGORIES,
    Approval,
    DraftInput,
    LegalRequest,
    LegalRequestStatus,
    LegalRequestSubmission,
    OrderState,
)
from gateway.orders.policy import OrderDocument, OrderStatus, check_narrowing, order_status, parse_order_document
from gateway.principals.registry import ACTIVE, PrincipalInfo
from gateway.store.driver_statements import Prepared
from gateway.store.engine import Database
from gateway.store.tables import (
    AuditEntry,
    ContinuationApproval,
    LegalRequestRow,
    OrderApproval,
    OrderContinuation,
    OrderRow,
    Principal,
    PrincipalKey,
)
from gateway.store.undo import Undo, undo_row_change
from gateway.store.versions import bump, current
from gateway.subjects.source import SubjectSource
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.ids import LEGAL_REQUEST, ORDER, is_gateway_id, new_id
from gateway.values.times import format_time, parse_time
from gateway.values.window import TimeWindow

__all__ = ["Orders", "request_context"]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_NO_REQUEST = "no such request; list requests with the `requests` query"
_NO_ORDER = "no such order"
_APPROVED_ALREADY = "you have approved this order already; another reviewer must approve it"
_orders = OrderRow.__table__  # type: ignore[attr-defined]
_approvals = OrderApproval.__table__  # type: ignore[attr-defined]
_principals = Principal.__table__  # type: ignore[attr-defined]
_keys = PrincipalKey.__table__  # type: ignore[attr-defined]
_ORDER_COLUMNS = (_orders.c.id, _orders.c.request_id, _orders.c.authority_id, _orders.c.document,
                  _orders.c.revoked_at, _orders.c.revoke_reason)
# The statements Orders.load runs, built once (building costs more than running them).
_LOAD_ORDER = Prepared(select(*_ORDER_COLUMNS, *usage_columns()).where(_orders.c.id == bindparam("order_id")))
_LOAD_APPROVALS = (
    select(_approvals.c.reviewer_id, _approvals.c.kid, _approvals.c.signature, _principals.c.role,
           _principals.c.status, _keys.c.public_key, _keys.c.status.label("key_status"))
    .join(_principals, _principals.c.id == _approvals.c.reviewer_id)
    .outerjoin(_keys, (_keys.c.principal_id == _approvals.c.reviewer_id) & (_keys.c.kid == _approvals.c.kid))
    .where(_approvals.c.order_id == bindparam("order_id"))
    .order_by(_approvals.c.created_at))
_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_REVOKED_IN_LOG = Prepared(select(_entries.c.idx)
                            .where(_entries.c.action == Action.REVOKE_ORDER.value,
                                   _entries.c.order_id == bindparam("order_id"),
                                   _entries.c.decision == Decision.SERVED.value).limit(1))


def _text(value: str, what: str, *, limit: int = 500) -> str:
    value = value.strip()
    if not value:
        raise BadRequest(f"{what} must not be empty")
    if "\x00" in value:
        raise BadRequest(f"{what} must not contain NUL characters")
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit} characters")
    return value


@dataclass(frozen=True)
class _EmergencyState:
    rule: ApprovalRule
    continuation: str | None  # the continuation text, when one is stored and well-formed
    continuation_approvals: tuple[Approval, ...] = ()  # verified signatures over it


@dataclass(frozen=True)
class _Verified:
    """What an order's document and approvals amount to, valid while ``version`` and ``identity``
    (the row's id, request, authority and exact document text) are what the database holds."""

    version: int
    identity: tuple[str, str, str, str]
    document: OrderDocument | None
    approvals: tuple[Approval, ...]
    counted: int


class _Bounded:
    """A small least-recently-used map, safe across the worker threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, _Verified] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _Verified | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: _Verified) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)


class Orders:
    def __init__(self, db: Database, subjects: SubjectSource, vault: Vault, *, approvals_required: int,
                 usage_key: bytes | None = None, emergency_approvals_required: int = 1,
                 emergency_order_hours: int = 48) -> None:
        self.db = db
        self.subjects = subjects
        self.vault = vault
        self.approvals_required = approvals_required
        self.usage_key = usage_key
        self._verified = _Bounded(4096)
        self.emergency_approvals_required = emergency_approvals_required
        self.emergency_order_hours = emergency_order_hours

    # -- requests -----------------------------------------------------------------------------

    def submit_request(self, authority: PrincipalInfo, data: LegalRequestSubmission, *, now: datetime,
                       undo: list[Undo] | None = None) -> LegalRequest:
        """Store a request, resolving its selectors to subject ids for the reviewers. The
        selectors themselves are stored encrypted; the authority never learns which resolved."""
        if not data.subjects:
            raise BadRequest("a request needs at least one subject selector")
        if len(data.subjects) > MAX_SELECTORS:
            raise BadRequest(f"a request takes at most {MAX_SELECTORS} subject selectors")
        fields = _check_fields(data.fields)
        if data.offense_category not in OFFENSE_CATEGORIES:
            raise BadRequest(f"offenseCategory must be one of {', '.join(OFFENSE_CATEGORIES)}")
        if data.legal_process not in LEGAL_PROCESSES:
            raise BadRequest(f"legalProcess must be one of {', '.join(LEGAL_PROCESSES)}")
        if data.court_order_sha256 is None and not data.emergency:
            raise BadRequest("courtOrderSha256 is required; only an emergency request may come without a court order")
        if data.court_order_sha256 is not None and not _SHA256_HEX.fullmatch(data.court_order_sha256):
            raise BadRequest("courtOrderSha256 must be the lowercase hex SHA-256 of the court order document")
        if data.emergency and data.imminent_risk is None:
            raise BadRequest("an emergency request needs imminentRisk: the risk of death or serious physical "
                             "injury it is meant to prevent")
        if not data.emergency and data.imminent_risk is not None:
            raise BadRequest("imminentRisk belongs to emergency requests only (emergency: true)")
        secrecy = data.non_disclosure_until
        if secrecy is not None and secrecy <= now:
            raise BadRequest("nonDisclosureUntil must lie in the future")
        jurisdiction = data.jurisdiction.strip().upper()
        if not _COUNTRY.fullmatch(jurisdiction):
            raise BadRequest("jurisdiction must be an ISO 3166-1 alpha-2 code such as DE")
        details = {
            "case_reference": _text(data.case_reference, "caseReference", limit=200),
            "court": _text(data.court, "court", limit=200), "jurisdiction": jurisdiction,
            "legal_basis": _text(data.legal_basis, "legalBasis", limit=500),
            "offense_category": data.offense_category, "court_order_sha256": data.court_order_sha256,
            "fields": fields, "data_window": data.data_window.as_document(),
            "emergency": bool(data.emergency), "selector_count": len(data.subjects),
            "legal_process": data.legal_process,
            "non_disclosure_until": format_time(secrecy) if secrecy is not None else None,
        }
        if data.emergency and data.court_order_sha256 is not None:
            # Sent with the request itself: attached now, in time by definition.
            details["court_order_attached_at"] = format_time(now.replace(microsecond=0))
        resolved, unresolved = self.subjects.resolve_all(data.subjects)
        request_id = new_id(LEGAL_REQUEST)
        # Selectors and the free-text justification name people: both are stored encrypted.
        secret: dict[str, Any] = {"selectors": [[s.kind, s.value] for s in data.subjects],
                                  "justification": _text(data.justification, "justification", limit=5000)}
        if data.imminent_risk is not None:
            secret["imminent_risk"] = _text(data.imminent_risk, "imminentRisk", limit=5000)
        sealed = json.dumps(secret)
        with self.db.session() as session:
            session.add(LegalRequestRow(
                id=request_id, authority_id=authority.id, status=LegalRequestStatus.PENDING.value,
                details=json.dumps(details),
                selectors_sealed=self.vault.seal(sealed.encode("utf-8"), context=request_context(request_id)),
                resolved_subject_ids=json.dumps(resolved), unresolved_selectors=unresolved,
                created_at=int(now.timestamp())))
        self._undo_with(undo, LegalRequestRow, request_id, None)
        return self.get_request(request_id)

    def _request(self, row: LegalRequestRow, order_ids: list[str]) -> LegalRequest:
        details = json.loads(row.details)
        sealed = json.loads(self.vault.open(row.selectors_sealed, context=request_context(row.id)))
        details["justification"] = sealed["justification"]
        details["imminent_risk"] = sealed.get("imminent_risk")
        return LegalRequest(id=row.id, status=row.status, authority_id=row.authority_id, details=details,
                            resolved_subject_ids=json.loads(row.resolved_subject_ids),
                            unresolved_selectors=row.unresolved_selectors, order_ids=order_ids,
                            rejection_reason=row.rejection_reason, created_at=row.created_at)

    def get_request(self, request_id: str, *, authority_id: str | None = None) -> LegalRequest:
        """A request; with ``authority_id``, only if it is that authority's own. Messages never
        repeat the id sent: a client may put anything there, a phone number too."""
        with self.db.session() as session:
            row = session.get(LegalRequestRow, request_id) if is_gateway_id(request_id) else None
            if row is None or (authority_id is not None and row.authority_id != authority_id):
                raise NotFound(_NO_REQUEST)
            order_ids = list(session.scalars(select(col(OrderRow.id)).where(col(OrderRow.request_id) == request_id)
                                             .order_by(col(OrderRow.created_at))))
        return self._request(row, order_ids)

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
                       undo: list[Undo] | None = None) -> LegalRequest:
        reason = _text(reason, "reason", limit=2000)
        with self.db.session() as session:
            row = session.get(LegalRequestRow, request_id) if is_gateway_id(request_id) else None
            if row is None:
                raise NotFound(_NO_REQUEST)
            if row.status != LegalRequestStatus.PENDING:
                raise BadRequest(f"the request is {row.status}; only a PENDING request can be rejected "
                                 "(revoke its orders instead)")
            row.status, row.rejection_reason = LegalRequestStatus.REJECTED.value, reason
            row.decided_by, row.decided_at = reviewer.id, int(now.timestamp())
        self._undo_with(undo, LegalRequestRow, request_id,
                        {"status": LegalRequestStatus.PENDING.value, "rejection_reason": None, "decided_by": None,
                         "decided_at": None})
        return self.get_request(request_id)

    # -- emergencies (docs/PROTOCOL.md §16.1) ---------------------------------------------------

    def verify_emergency(self, reviewer: PrincipalInfo, request_id: str, method: str, note: str, *,
                         now: datetime, undo: list[Undo] | None = None) -> LegalRequest:
        """Record a reviewer's secondary verification of an emergency request: how the authority
        was reached back. Orders drafted afterwards carry it in their signed document; the note
        is stored encrypted (it may name the officer reached)."""
        if method not in set(VerificationMethod):
            raise BadRequest(f"method must be one of {', '.join(VerificationMethod)}")
        note = _text(note, "note", limit=2000)
        with self.db.session() as session:
            row = session.get(LegalRequestRow, request_id) if is_gateway_id(request_id) else None
            if row is None:
                raise NotFound(_NO_REQUEST)
            details = json.loads(row.details)
            if not details.get("emergency"):
                raise BadRequest("the request is not an emergency request; it needs no secondary verification")
            if row.status != LegalRequestStatus.PENDING:
                raise BadRequest(f"the request is {row.status}; only a PENDING request can be verified")
            if details.get("emergency_verification") is not None:
                raise BadRequest("the request's secondary verification is recorded already")
            old_details, old_sealed = row.details, row.selectors_sealed
            context = request_context(row.id)
            secret = json.loads(self.vault.open(row.selectors_sealed, context=context))
            secret["verification_note"] = note
            details["emergency_verification"] = {"by": reviewer.id, "at": format_time(now.replace(microsecond=0)),
                                                 "method": method}
            row.details = json.dumps(details)
            row.selectors_sealed = self.vault.seal(json.dumps(secret).encode("utf-8"), context=context)
        self._undo_with(undo, LegalRequestRow, request_id, {"details": old_details, "selectors_sealed": old_sealed})
        return self.get_request(request_id)

    def attach_court_order(self, authority: PrincipalInfo, request_id: str, court_order_sha256: str, *,
                           now: datetime, undo: list[Undo] | None = None) -> LegalRequest:
        """Attach the court order to one's own emergency request. Each of its orders that has not
        lapsed gets a continuation text for reviewers to sign; ``ORDER_LAPSED`` if all have."""
        if not _SHA256_HEX.fullmatch(court_order_sha256):
            raise BadRequest("courtOrderSha256 must be the lowercase hex SHA-256 of the court order document")
        request = self.get_request(request_id, authority_id=authority.id)
        if not request.emergency:
            raise BadRequest("the request is not an emergency request; its court order came with it")
        if request.status == LegalRequestStatus.REJECTED:
            raise BadRequest("the request was rejected; nothing can be attached to it")
        if request.court_order is not None:
            raise BadRequest("a court order is attached to this request already")
        court_order = CourtOrder(court_order_sha256, now.replace(microsecond=0))
        continuations: dict[str, str] = {}
        lapsed = 0
        for order_id in request.order_ids:
            state = self.load(order_id, now=now)
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
        with self.db.session() as session:
            row = session.get(LegalRequestRow, request_id)
            if row is None:  # pragma: no cover - read just above
                raise NotFound(_NO_REQUEST)
            old_details = row.details
            details = json.loads(row.details)
            details["court_order_sha256"] = court_order_sha256
            details["court_order_attached_at"] = format_time(court_order.attached_at)
            row.details = json.dumps(details)
            for order_id, text in continuations.items():
                session.add(OrderContinuation(order_id=order_id, document=text, created_at=int(now.timestamp())))
        self._undo_with(undo, LegalRequestRow, request_id, {"details": old_details})
        for order_id in continuations:
            self._undo_with(undo, OrderContinuation, order_id, None)
        return self.get_request(request_id)

    # -- orders -------------------------------------------------------------------------------

    def draft_order(self, reviewer: PrincipalInfo, data: DraftInput, *, now: datetime,
                    undo: list[Undo] | None = None) -> OrderState:
        """Draft an order narrower than or equal to its request; what the input leaves out is
        taken whole from the request (docs/PROTOCOL.md §5)."""
        request = self.get_request(data.request_id)
        if request.status == LegalRequestStatus.REJECTED:
            raise BadRequest("the request was rejected; no order can be drafted for it")
        subjects = list(data.subject_ids) if data.subject_ids is not None else request.resolved_subject_ids
        fields = _check_fields(data.fields) if data.fields is not None else request.fields
        window = data.data_window or request.data_window
        check_narrowing(request_subjects=request.resolved_subject_ids, request_fields=request.fields,
                        request_window=request.data_window, subjects=subjects, fields=fields, window=window)
        valid_until = TimeWindow.parse(format_time(now), data.valid_until, what="validUntil").end
        if valid_until > now + timedelta(days=MAX_ORDER_DAYS):
            raise BadRequest(f"validUntil is more than {MAX_ORDER_DAYS} days away")
        if not 1 <= data.max_queries <= MAX_QUERIES:
            raise BadRequest(f"maxQueries must be between 1 and {MAX_QUERIES}")
        order_id = new_id(ORDER)
        document = {
            "v": 1, "order_id": order_id, "request_id": request.id, "authority_id": request.authority_id,
            "case_reference": request.case_reference, "jurisdiction": request.details["jurisdiction"],
            "legal_basis": request.details["legal_basis"],
            "offense_category": str(request.details["offense_category"]).lower(),
            "subjects": sorted(set(subjects)), "fields": sorted(set(fields)), "data_window": window.as_document(),
            "valid_from": format_time(now.replace(microsecond=0)), "valid_until": format_time(valid_until),
            "max_queries": data.max_queries, "issued_at": format_time(now.replace(microsecond=0)),
        }
        if request.non_disclosure_until is not None:
            document["non_disclosure_until"] = request.non_disclosure_until
        continuation = None
        if request.emergency:
            document["emergency"] = self._emergency_terms(request, now=now, valid_until=valid_until).as_document()
            if request.court_order is not None:
                continuation = continuation_text(document, request.court_order)
        text = canonical_json(document).decode("utf-8")
        with self.db.session() as session:
            session.add(OrderRow(id=order_id, request_id=request.id, authority_id=request.authority_id,
                                 document=text, created_by=reviewer.id, created_at=int(now.timestamp())))
            if continuation is not None:
                session.flush()
                session.add(OrderContinuation(order_id=order_id, document=continuation,
                                              created_at=int(now.timestamp())))
        if continuation is not None:
            self._undo_with(undo, OrderContinuation, order_id, None)
        self._undo_with(undo, OrderRow, order_id, None)
        return self.load(order_id, now=now)

    def _emergency_terms(self, request: LegalRequest, *, now: datetime, valid_until: datetime) -> EmergencyTerms:
        """An emergency order lives ``emergency_order_hours`` from its drafting, at most until it
        expires. A draft made before the secondary verification carries none and never activates."""
        lapses_at = min(now.replace(microsecond=0) + timedelta(hours=self.emergency_order_hours), valid_until)
        verification = request.verification
        if verification is None:
            return EmergencyTerms(lapses_at)
        return EmergencyTerms(lapses_at, str(verification["by"]), parse_time(str(verification["at"])),
                              str(verification["method"]))

    def approve_order(self, reviewer: PrincipalInfo, order_id: str, signature: str, *, now: datetime,
                      undo: list[Undo] | None = None) -> OrderState:
        """Record a reviewer's signature over the exact §3 bytes, verified against the reviewer's
        active keys. The same reviewer twice counts once: the second approval is refused."""
        state = self.load(order_id, now=now)
        if state.status is OrderStatus.REVOKED:
            raise OrderRevoked("the order was revoked; it cannot be approved")
        if state.status is OrderStatus.EXPIRED:
            raise OrderExpired("the order has expired; draft a new one")
        if state.status is OrderStatus.LAPSED:
            raise OrderLapsed("the emergency order lapsed without a court order; it cannot be approved")
        if state.document is None:
            raise BadRequest("the stored order document is invalid; it cannot be approved")
        terms = state.document.emergency
        if terms is not None and terms.verified_by is None:
            raise BadRequest("this emergency order was drafted before any secondary verification: record one with "
                             "verifyEmergency, then draft the order again")
        # Once a court order is attached, reviewers sign the continuation text (docs/PROTOCOL.md §16.1).
        table: type[OrderApproval] | type[ContinuationApproval] = OrderApproval
        message = state.text.encode("utf-8")
        if state.continuation is not None:
            table, message = ContinuationApproval, state.continuation.encode("utf-8")
            with self.db.session() as session:
                if session.get(ContinuationApproval, (order_id, reviewer.id)) is not None:
                    raise BadRequest("you have approved this order's court order already; another reviewer must")
        elif any(a.reviewer_id == reviewer.id for a in state.approvals):
            raise BadRequest(_APPROVED_ALREADY)
        kid = next((key.kid for key in reviewer.keys
                    if key.status == ACTIVE and signing_key_of(message, signature, key.public_key) is not None), None)
        if kid is None:
            raise BadRequest("the signature does not verify over this order's document with any of your active "
                             "keys; sign \"disclosure-gateway/order/v1\" || 0x00 || the exact `document` text")
        try:
            with self.db.session() as session:
                session.add(table(order_id=order_id, reviewer_id=reviewer.id, kid=kid, signature=signature,
                                  created_at=int(now.timestamp())))
                bump(session)
        except IntegrityError:
            # The check above raced a concurrent approval by the same reviewer; the primary key
            # (order, reviewer) is what decides, and the loser gets the same answer as a late twin.
            raise BadRequest(_APPROVED_ALREADY) from None
        self._undo_with(undo, table, (order_id, reviewer.id), None)
        state = self.load(order_id, now=now)
        if state.status is OrderStatus.ACTIVE:
            with self.db.session() as session:
                row = session.get(LegalRequestRow, state.request_id)
                if row is not None and row.status == LegalRequestStatus.PENDING:
                    row.status, row.decided_by = LegalRequestStatus.GRANTED.value, reviewer.id
                    row.decided_at = int(now.timestamp())
                    self._undo_with(undo, LegalRequestRow, state.request_id,
                                    {"status": LegalRequestStatus.PENDING.value, "decided_by": None,
                                     "decided_at": None})
        return state

    def revoke_order(self, reviewer: PrincipalInfo, order_id: str, reason: str, *, now: datetime,
                     undo: list[Undo] | None = None) -> OrderState:
        reason = _text(reason, "reason", limit=2000)
        with self.db.session() as session:
            row = session.get(OrderRow, order_id) if is_gateway_id(order_id) else None
            if row is None:
                raise OrderNotFound(_NO_ORDER)
            if row.revoked_at is not None:
                raise BadRequest("the order is revoked already")
            row.revoked_at, row.revoked_by, row.revoke_reason = int(now.timestamp()), reviewer.id, reason
            bump(session)
        self._undo_with(undo, OrderRow, order_id, {"revoked_at": None, "revoked_by": None, "revoke_reason": None})
        return self.load(order_id, now=now)

    def _undo_with(self, undo: list[Undo] | None, model: Any, key: object, restore: dict[str, Any] | None) -> None:
        undo_row_change(self.db, undo, model, key, restore)

    def load(self, order_id: str, *, now: datetime, authority_id: str | None = None) -> OrderState:
        """The order with its status computed from first principles; ``ORDER_NOT_FOUND`` if none.

        Per call: the state version, the order row and its trusted query count, each by primary key
        or one index seek. The parsed document and the verified approvals are rebuilt only when the
        row's document or the ``reviews`` version changed (gateway/store/versions.py), so a
        suspended reviewer or a retired key stops counting on the next request in every process."""
        if not is_gateway_id(order_id):
            raise OrderNotFound(_NO_ORDER)
        with self.db.reads() as connection:
            version = current(connection)
            row = _LOAD_ORDER.first(connection, {"order_id": order_id})
            if row is None or (authority_id is not None and row[2] != authority_id):
                # Another authority's order is answered as no order at all, after the same one read.
                raise OrderNotFound(_NO_ORDER)
            found_id, request_id, found_authority, text, revoked_at, revoke_reason = row[:6]
            used = trusted_usage(connection, stored_usage(order_id, *row[6:]), self.usage_key)
            # Not cached: the entry is written after the revocation's own load, and a cleared
            # column must not leave a stale "not in the log" standing.
            revoked = revoked_at is not None or _revoked_in_log(connection, order_id)
            identity = (found_id, request_id, found_authority, text)
            verified = self._verified.get(order_id)
            if verified is None or verified.version != version or verified.identity != identity or version < 0:
                verified = self._verify(connection, identity, version)
                if version >= 0:
                    self._verified.put(order_id, verified)
        document, approvals = verified.document, verified.approvals
        required, counted, lapsed = self.approvals_required, verified.counted, False
        # An emergency order's rule depends on the clock and its continuation, so it is not cached.
        emergency = self._emergency(document, approvals, now=now) if document is not None else None
        if emergency is not None:
            required, counted, lapsed = emergency.rule.required, len(emergency.rule.counting), emergency.rule.lapsed
            adjusted = [Approval(a.reviewer_id, a.kid, a.counted and a.reviewer_id in emergency.rule.counting)
                        for a in approvals]
            # Each reviewer counts once: over the document, or else over the continuation.
            counted_ids = {a.reviewer_id for a in adjusted if a.counted}
            adjusted += [Approval(a.reviewer_id, a.kid, a.reviewer_id in emergency.rule.counting
                                  and a.reviewer_id not in counted_ids) for a in emergency.continuation_approvals]
            approvals = tuple(adjusted)
        status = order_status(document, verified_approvals=counted, approvals_required=required,
                              revoked=revoked, queries_used=used, now=now, lapsed=lapsed)
        return OrderState(id=found_id, request_id=request_id, authority_id=found_authority, text=text,
                          document=document, status=status, approvals=approvals, queries_used=used,
                          revoked_reason=revoke_reason, approvals_required=required,
                          continuation=emergency.continuation if emergency is not None else None,
                          revoked_at=revoked_at)

    def _verify(self, connection: Connection, identity: tuple[str, str, str, str], version: int) -> _Verified:
        """Parse the document and verify every approval against the reviewers' current keys."""
        order_id, request_id, authority_id, text = identity
        approvals = list(connection.execute(_LOAD_APPROVALS, {"order_id": order_id}))
        try:
            document: OrderDocument | None = parse_order_document(text)
        except GatewayError:
            document = None
        if document is not None and (document.order_id != order_id or document.authority_id != authority_id
                                     or document.request_id != request_id):
            document = None
        message = text.encode("utf-8")
        checked: list[Approval] = []
        counted: set[str] = set()
        # Distinct reviewers AND distinct keys: one key registered under two reviewer ids (a
        # database edit; `principals add` refuses it) is one person, and counts once.
        counted_keys: set[bytes] = set()
        for approval in approvals:
            raw_key = None
            if (document is not None and approval.reviewer_id not in counted
                    and counts_as_reviewer(approval.role, approval.status, approval.key_status, approval.public_key)):
                raw_key = signing_key_of(message, approval.signature, approval.public_key)
            ok = raw_key is not None and raw_key not in counted_keys
            if ok and raw_key is not None:
                counted.add(approval.reviewer_id)
                counted_keys.add(raw_key)
            checked.append(Approval(approval.reviewer_id, approval.kid, ok))
        return _Verified(version=version, identity=identity, document=document, approvals=tuple(checked),
                         counted=len(counted))

    def _emergency(self, document: OrderDocument, checked: Sequence[Approval], *,
                   now: datetime) -> _EmergencyState | None:
        """For an emergency document: its continuation text, the signatures over it, and the
        approval rule (:func:`gateway.orders.emergency.approval_rule`) they and ``checked`` amount to."""
        terms = document.emergency
        if terms is None:
            return None
        with self.db.session() as session:
            stored = session.get(OrderContinuation, document.order_id)
            rows = list(session.execute(
                select(ContinuationApproval, Principal, PrincipalKey)
                .join(Principal, col(Principal.id) == col(ContinuationApproval.reviewer_id))
                .join(PrincipalKey, (col(PrincipalKey.principal_id) == col(ContinuationApproval.reviewer_id))
                      & (col(PrincipalKey.kid) == col(ContinuationApproval.kid)))
                .where(col(ContinuationApproval.order_id) == document.order_id))) if stored is not None else []
        signers = {a.reviewer_id: Signer(a.reviewer_id) for a in checked if a.counted}
        court_order = parse_continuation(stored.document, document.raw) if stored is not None else None
        continued: list[Approval] = []
        if stored is not None and court_order is not None:
            message = stored.document.encode("utf-8")
            for approval, principal, key in rows:
                ok = (counts_as_reviewer(principal.role, principal.status, key.status, key.public_key)
                      and signing_key_of(message, approval.signature, key.public_key) is not None)
                if ok:
                    signers[principal.id] = Signer(principal.id, over_continuation=True)
                continued.append(Approval(approval.reviewer_id, approval.kid, ok))
        rule = approval_rule(terms, fields=document.fields, signers=signers.values(), court_order=court_order,
                             normal=self.approvals_required, emergency=self.emergency_approvals_required, now=now)
        return _EmergencyState(rule, stored.document if stored is not None and court_order is not None else None,
                               tuple(continued))

    def for_authority(self, authority_id: str, order_id: str, *, now: datetime) -> OrderState:
        """An order as its authority may see it; another authority's order is ``ORDER_NOT_FOUND``,
        the same answer as no order at all, and found as cheaply: one row read, no verification."""
        return self.load(order_id, now=now, authority_id=authority_id)

    def order_ids(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(col(OrderRow.id)).order_by(col(OrderRow.created_at))))


def _revoked_in_log(connection: Connection, order_id: str) -> bool:
    """Whether a served revokeOrder's audit entry names the order. The revoked_* columns are not
    signed and could be cleared; the entry is in the Merkle tree, and removing it breaks `audit verify`."""
    return _REVOKED_IN_LOG.first(connection, {"order_id": order_id}) is not None


def _check_fields(fields: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(fields))
    if not unique:
        raise BadRequest(f"name at least one field: {', '.join(SUBJECT_FIELDS)}")
    unknown = [f for f in unique if f not in SUBJECT_FIELDS]
    if unknown:
        # Counted, not echoed: whatever a client puts in `fields` may be anything at all.
        raise BadRequest(f"{len(unknown)} unknown field name(s); fields are {', '.join(SUBJECT_FIELDS)}")
    return unique
