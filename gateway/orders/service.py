"""The orders service: drafting, approving and revoking orders over the legal requests of
:mod:`gateway.orders.requests` (docs/PROTOCOL.md §3, review operations of §5), over the store.

An order's status is never read from a column: :meth:`Orders.load` parses the stored document,
verifies every approval against the reviewers' current keys and status and against the audit entry
that recorded it (gateway/audit/grants.py; an emergency's verification and court order likewise),
and combines that with the clock, the revocation and the query count
(:func:`gateway.orders.policy.order_status`). The parsing and the verification are kept while the
document and the state version hold and every approval's entry was found (gateway/store/versions.py);
the revocation and the count (gateway/audit/usage.py) are read every time.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from crypto.canonical import canonical_json
from crypto.errors import CryptoError
from crypto.keys import decode_signing_public_key
from gateway.audit.grants import (
    COURT_ORDER_ATTACHED,
    EMERGENCY_VERIFIED,
    ORDER_APPROVED,
    REQUEST_SUBMITTED,
    Claim,
    GrantProofs,
    Pending,
)
from gateway.audit.model import Action, Decision
from gateway.audit.usage import stored_usage, trusted_usage, usage_columns
from gateway.errors import (
    BadRequest,
    GatewayError,
    OrderExpired,
    OrderLapsed,
    OrderNotFound,
    OrderRevoked,
    RequestAmended,
    RequestWithdrawn,
)
from gateway.keys.vault import Vault
from gateway.notifications.events import record_event
from gateway.notifications.kinds import EventKind
from gateway.orders.approvals import counts_as_reviewer, signing_key_of
from gateway.orders.conversation import Conversation
from gateway.orders.emergency import (
    ApprovalRule,
    CourtOrder,
    EmergencyTerms,
    Signer,
    approval_rule,
    continuation_text,
    parse_continuation,
)
from gateway.orders.header import check_fields, check_text
from gateway.orders.model import (
    MAX_ORDER_DAYS,
    MAX_QUERIES,
    Approval,
    DraftInput,
    LegalRequest,
    LegalRequestStatus,
    OrderState,
)
from gateway.orders.policy import OrderDocument, OrderStatus, check_narrowing, order_status, parse_order_document
from gateway.principals.registry import ACTIVE, PrincipalInfo
from gateway.store.conditional import compare_and_set, decide, hold
from gateway.store.driver_statements import Prepared
from gateway.store.engine import Database
from gateway.store.tables import (
    AuditEntry,
    ContinuationApproval,
    EventRow,
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
from gateway.values.ids import ORDER, is_gateway_id, new_id
from gateway.values.times import format_time, parse_time
from gateway.values.window import TimeWindow

__all__ = ["Orders"]

_NO_ORDER = "no such order"
_APPROVED_ALREADY = "you have approved this order already; another reviewer must approve it"
_AWAITS_ANSWER = ("the request awaits its authority's answer to a clarification; orders are drafted and "
                  "approved once it is PENDING again")
_REQUEST_REJECTED = "the order's request was rejected; a rejection ends the request, and its orders cannot be approved"
_requests = LegalRequestRow.__table__  # type: ignore[attr-defined]
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
           _principals.c.status, _keys.c.public_key, _keys.c.status.label("key_status"),
           _approvals.c.audit_request_id)
    .join(_principals, _principals.c.id == _approvals.c.reviewer_id)
    .outerjoin(_keys, (_keys.c.principal_id == _approvals.c.reviewer_id) & (_keys.c.kid == _approvals.c.kid))
    .where(_approvals.c.order_id == bindparam("order_id"))
    .order_by(_approvals.c.created_at))
_continuation_approvals = ContinuationApproval.__table__  # type: ignore[attr-defined]
_LOAD_CONTINUATION_APPROVALS = (
    select(_continuation_approvals.c.reviewer_id, _continuation_approvals.c.kid, _continuation_approvals.c.signature,
           _principals.c.role, _principals.c.status, _keys.c.public_key, _keys.c.status.label("key_status"),
           _continuation_approvals.c.audit_request_id)
    .join(_principals, _principals.c.id == _continuation_approvals.c.reviewer_id)
    .join(_keys, (_keys.c.principal_id == _continuation_approvals.c.reviewer_id)
          & (_keys.c.kid == _continuation_approvals.c.kid))
    .where(_continuation_approvals.c.order_id == bindparam("order_id"))
    .order_by(_continuation_approvals.c.created_at))
_continuations = OrderContinuation.__table__  # type: ignore[attr-defined]
_LOAD_CONTINUATION = Prepared(select(_continuations.c.document)
                              .where(_continuations.c.order_id == bindparam("order_id")))
_requests = LegalRequestRow.__table__  # type: ignore[attr-defined]
_LOAD_DETAILS = Prepared(select(_requests.c.details).where(_requests.c.id == bindparam("request_id")))
# Every key the verifier holds, retired ones too: none of them may also count as an approval.
_VERIFIER_KEYS = Prepared(select(_keys.c.public_key).where(_keys.c.principal_id == bindparam("principal_id")))
_entries = AuditEntry.__table__  # type: ignore[attr-defined]
_REVOKED_IN_LOG = Prepared(select(_entries.c.idx)
                            .where(_entries.c.action == Action.REVOKE_ORDER.value,
                                   _entries.c.order_id == bindparam("order_id"),
                                   _entries.c.decision == Decision.SERVED.value).limit(1))


@dataclass(frozen=True)
class _EmergencyState:
    rule: ApprovalRule
    continuation: str | None  # the continuation text, when one is stored and well-formed
    continuation_approvals: tuple[Approval, ...] = ()  # verified signatures over it
    signer_of: dict[str, str] = field(default_factory=dict)  # reviewer -> whom the approval counts as


@dataclass(frozen=True)
class _Verified:
    """What an order's document and approvals amount to, valid while ``version`` and ``identity``
    (the row's id, request, authority and exact document text) are what the database holds."""

    version: int
    identity: tuple[str, str, str, str]
    document: OrderDocument | None
    approvals: tuple[Approval, ...]
    counted: int
    keys: tuple[tuple[bytes, str], ...] = ()  # the raw key of each counted approval, and its reviewer
    entries: frozenset[str] = frozenset()  # the audit entries that recorded the counted approvals
    complete: bool = True  # False while an approval that verifies lacks its entry: not to be cached


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


class Orders(Conversation):
    """Legal requests (:class:`~gateway.orders.requests.LegalRequests`, and the authority's side of
    them, :class:`~gateway.orders.conversation.Conversation`) and the orders drafted from them."""

    def __init__(self, db: Database, subjects: SubjectSource, vault: Vault, *, approvals_required: int,
                 usage_key: bytes | None = None, emergency_approvals_required: int = 1,
                 emergency_order_hours: int = 48) -> None:
        self.db = db
        self.subjects = subjects
        self.vault = vault
        self.approvals_required = approvals_required
        self.usage_key = usage_key
        self._verified = _Bounded(4096)
        self.proofs = GrantProofs()
        self.emergency_approvals_required = emergency_approvals_required
        self.emergency_order_hours = emergency_order_hours

    # -- orders -------------------------------------------------------------------------------

    def draft_order(self, reviewer: PrincipalInfo, data: DraftInput, *, now: datetime,
                    undo: list[Undo] | None = None) -> OrderState:
        """Draft an order narrower than or equal to its request; what the input leaves out is
        taken whole from the request (docs/PROTOCOL.md §5)."""
        order_id, continued = decide(self.db, lambda session: self._draft(session, reviewer, data, now=now))
        if continued:
            self._undo_with(undo, OrderContinuation, order_id, None)
        self._undo_with(undo, OrderRow, order_id, None)
        return self.load(order_id, now=now)

    def _draft(self, session: Session, reviewer: PrincipalInfo, data: DraftInput, *,
               now: datetime) -> tuple[str, bool] | None:
        """Store the draft (its id, and whether it has a continuation), unless the request changed
        status since this session read it (``None``)."""
        _, request = self._read_request(session, data.request_id)
        if request.status == LegalRequestStatus.REJECTED:
            raise BadRequest("the request was rejected; no order can be drafted for it")
        if request.status == LegalRequestStatus.WITHDRAWN:
            raise RequestWithdrawn("the request was withdrawn by its authority; no order can be drafted for it")
        if request.status == LegalRequestStatus.NEEDS_CLARIFICATION:
            raise BadRequest(_AWAITS_ANSWER)
        subjects = list(data.subject_ids) if data.subject_ids is not None else request.resolved_subject_ids
        fields = check_fields(data.fields) if data.fields is not None else request.fields
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
        # The request's status as read is held until the order is stored: a rejection that came
        # first refuses this draft as it refuses a late one (read again, the request is REJECTED).
        if not hold(session, _requests, {"id": request.id}, {"status": request.status}):
            return None
        session.add(OrderRow(id=order_id, request_id=request.id, authority_id=request.authority_id,
                             document=text, created_by=reviewer.id, created_at=int(now.timestamp()),
                             request_version=request.version))
        if continuation is not None:
            session.flush()
            session.add(OrderContinuation(order_id=order_id, document=continuation,
                                          created_at=int(now.timestamp())))
        return order_id, continuation is not None

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
                      undo: list[Undo] | None = None, entry: str | None = None) -> OrderState:
        """Record a reviewer's signature over the exact §3 bytes, verified against the reviewer's
        active keys. The same reviewer twice counts once: the second approval is refused. It
        counts once ``entry``, the request id of the audit entry recording it, is in the log."""
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
        request_id = state.request_id

        def attempt(session: Session) -> tuple[OrderState, bool, str | None] | None:
            # The request's row decides between this approval and a rejection: held at the status
            # read for the whole transaction, and turned GRANTED in it if the order activates, so a
            # rejection ends the request and no order of it becomes ACTIVE (docs/PROTOCOL.md §3).
            status, details = session.execute(select(_requests.c.status, _requests.c.details)
                                              .where(_requests.c.id == request_id)).one()
            if status == LegalRequestStatus.REJECTED:
                raise BadRequest(_REQUEST_REJECTED)
            if status == LegalRequestStatus.WITHDRAWN:
                raise RequestWithdrawn("the order's request was withdrawn by its authority; it cannot be approved")
            if status == LegalRequestStatus.NEEDS_CLARIFICATION:
                raise BadRequest(_AWAITS_ANSWER)
            drafted_on = session.scalar(select(_orders.c.request_version).where(_orders.c.id == order_id)) or 1
            if drafted_on != int(json.loads(details).get("version", 1)):
                raise RequestAmended("the order was drafted on an earlier version of its request, which its authority "
                                     "amended since; draft a new order on the current version")
            # Held with its details: an amendment committed meanwhile changes them, and this
            # approval is then decided again on the new version (and refused as drafted on the old).
            if not hold(session, _requests, {"id": request_id}, {"status": status, "details": details}):
                return None
            try:
                session.add(table(order_id=order_id, reviewer_id=reviewer.id, kid=kid, signature=signature,
                                  created_at=int(now.timestamp()), audit_request_id=entry))
                session.flush()
            except IntegrityError:
                # A concurrent approval by the same reviewer came first; the primary key (order,
                # reviewer) decides, and the loser gets the same answer as a late twin.
                raise BadRequest(_APPROVED_ALREADY) from None
            bump(session)
            # Whether this approval is the one that activates the order is decided here, once, in
            # the transaction that holds the request's row, on the signatures stored for the order:
            # a concurrent approval's entry may still be on its way to the log, and two approvals
            # deciding on the log alone could each see the other missing and neither activate it.
            # Every signature is still verified; what discloses is decided apart, on the approvals
            # whose entries the log holds (load without ``pending``).
            stored = frozenset(e for t in (OrderApproval, ContinuationApproval) for e in session.scalars(
                select(col(t.audit_request_id)).where(col(t.order_id) == order_id)) if e is not None)
            after = self.load(order_id, now=now, session=session, pending=stored | {entry} if entry else stored)
            granted = after.status is OrderStatus.ACTIVE and status == LegalRequestStatus.PENDING
            if granted:
                compare_and_set(session, _requests, {"id": request_id}, {"status": status},
                                {"status": LegalRequestStatus.GRANTED.value, "decided_by": reviewer.id,
                                 "decided_at": int(now.timestamp())})
            # Every approval that finds the order ACTIVE records it; the order's once-only key keeps
            # the first (a third reviewer's approval, or a continuation's, adds none).
            event = record_event(session, authority_id=after.authority_id, kind=EventKind.ORDER_ACTIVATED,
                                 request_id=request_id, order_id=order_id, state=after.status.value, now=now,
                                 entry=entry) if after.status is OrderStatus.ACTIVE else None
            return after, granted, event

        state, granted, event = decide(self.db, attempt)
        self._undo_with(undo, table, (order_id, reviewer.id), None)
        if event is not None:
            self._undo_with(undo, EventRow, event, None)
        if granted:
            self._undo_with(undo, LegalRequestRow, request_id,
                            {"status": LegalRequestStatus.PENDING.value, "decided_by": None, "decided_at": None})
        return state

    def revoke_order(self, reviewer: PrincipalInfo, order_id: str, reason: str, *, now: datetime,
                     undo: list[Undo] | None = None, entry: str | None = None) -> OrderState:
        """Revoke an order from the next request on; ``entry``, the request id of the audit entry
        recording it, publishes its ``order.revoked`` event once in the log."""
        reason = check_text(reason, "reason", limit=2000)

        def attempt(session: Session) -> str | None:
            row = session.get(OrderRow, order_id) if is_gateway_id(order_id) else None
            if row is None:
                raise OrderNotFound(_NO_ORDER)
            if row.revoked_at is not None:
                raise BadRequest("the order is revoked already")
            if not compare_and_set(session, _orders, {"id": order_id}, {"revoked_at": None},
                                   {"revoked_at": int(now.timestamp()), "revoked_by": reviewer.id,
                                    "revoke_reason": reason}):
                return None
            bump(session)
            event = record_event(session, authority_id=row.authority_id, kind=EventKind.ORDER_REVOKED,
                                 request_id=row.request_id, order_id=order_id, state=OrderStatus.REVOKED.value,
                                 now=now, entry=entry)
            return event or ""

        event = decide(self.db, attempt)
        self._undo_with(undo, OrderRow, order_id, {"revoked_at": None, "revoked_by": None, "revoke_reason": None})
        if event:
            self._undo_with(undo, EventRow, event, None)
        return self.load(order_id, now=now)

    def _undo_with(self, undo: list[Undo] | None, model: Any, key: object, restore: dict[str, Any] | None) -> None:
        undo_row_change(self.db, undo, model, key, restore)

    def load(self, order_id: str, *, now: datetime, authority_id: str | None = None,
             session: Session | None = None, pending: Pending = None) -> OrderState:
        """The order with its status computed from first principles; ``ORDER_NOT_FOUND`` if none.

        Per call: the state version, the order row and its trusted query count, each by primary key
        or one index seek. The parsed document and the verified approvals are rebuilt only when the
        row's document or the ``reviews`` version changed (gateway/store/versions.py), so a
        suspended reviewer or a retired key stops counting on the next request in every process.

        With ``session``, the order as that session's transaction sees it, its own writes included
        (an approval deciding whether it activates the order); nothing seen there is cached.
        An approval counts only when the audit entry that recorded it is in the log
        (gateway/audit/grants.py); ``pending`` is the request being served, whose own entry is not
        written yet (its grants hold for its own answer)."""
        if not is_gateway_id(order_id):
            raise OrderNotFound(_NO_ORDER)
        reads = nullcontext(session.connection()) if session is not None else self.db.reads()
        with reads as connection:
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
            cacheable = session is None and pending is None
            verified = self._verified.get(order_id) if cacheable else None
            if verified is None or verified.version != version or verified.identity != identity or version < 0:
                verified = self._verify(connection, identity, version, pending=pending)
                # Only what the log proves whole is kept: an approval whose entry is not there yet
                # (or never will be) is looked for again on the next request.
                if version >= 0 and verified.complete and cacheable:
                    self._verified.put(order_id, verified)
            document, approvals = verified.document, verified.approvals
            # An emergency order's rule depends on the clock and its continuation, so it is not cached.
            emergency = (self._emergency(connection, document, verified, now=now, pending=pending)
                         if document is not None else None)
        required, counted, lapsed = self.approvals_required, verified.counted, False
        if emergency is not None:
            required, counted, lapsed = emergency.rule.required, len(emergency.rule.counting), emergency.rule.lapsed
            adjusted = [Approval(a.reviewer_id, a.kid, a.counted and emergency.signer_of.get(a.reviewer_id, "")
                                 in emergency.rule.counting) for a in approvals]
            # Each reviewer counts once: over the document, or else over the continuation.
            counted_ids = {emergency.signer_of[a.reviewer_id] for a in adjusted if a.counted}
            adjusted += [Approval(a.reviewer_id, a.kid, a.counted and emergency.signer_of.get(a.reviewer_id, "")
                                  in emergency.rule.counting
                                  and emergency.signer_of.get(a.reviewer_id) not in counted_ids)
                         for a in emergency.continuation_approvals]
            approvals = tuple(adjusted)
        status = order_status(document, verified_approvals=counted, approvals_required=required,
                              revoked=revoked, queries_used=used, now=now, lapsed=lapsed)
        return OrderState(id=found_id, request_id=request_id, authority_id=found_authority, text=text,
                          document=document, status=status, approvals=approvals, queries_used=used,
                          revoked_reason=revoke_reason, approvals_required=required,
                          continuation=emergency.continuation if emergency is not None else None,
                          revoked_at=revoked_at)

    def _verify(self, connection: Connection, identity: tuple[str, str, str, str], version: int, *,
                pending: Pending) -> _Verified:
        """Parse the document and verify every approval against the reviewers' current keys and
        the audit entry that recorded it."""
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
        counted_keys: dict[bytes, str] = {}
        entries: list[str] = []
        complete = True
        for approval in approvals:
            raw_key = None
            if (document is not None and approval.reviewer_id not in counted
                    and counts_as_reviewer(approval.role, approval.status, approval.key_status, approval.public_key)):
                raw_key = signing_key_of(message, approval.signature, approval.public_key)
            logged = raw_key is not None and self._approval_logged(connection, order_id, approval.reviewer_id,
                                                                    approval.audit_request_id, pending=pending)
            if raw_key is not None and not logged:
                complete = False
            ok = logged and raw_key is not None and raw_key not in counted_keys
            if ok and raw_key is not None:
                counted.add(approval.reviewer_id)
                counted_keys[raw_key] = approval.reviewer_id
                entries.append(str(approval.audit_request_id))
            checked.append(Approval(approval.reviewer_id, approval.kid, ok))
        return _Verified(version=version, identity=identity, document=document, approvals=tuple(checked),
                         counted=len(counted), keys=tuple(counted_keys.items()), entries=frozenset(entries),
                         complete=complete)

    def _approval_logged(self, connection: Connection, order_id: str, reviewer_id: str, entry: str | None, *,
                         pending: Pending) -> bool:
        """Whether a served approveOrder of ``reviewer_id`` recorded this approval of the order."""
        claim = Claim(entry, reviewer_id, ORDER_APPROVED, (("order", order_id),))
        return self.proofs.proven(connection, claim, pending=pending)

    def _emergency(self, connection: Connection, document: OrderDocument, verified: _Verified, *,
                   now: datetime, pending: Pending) -> _EmergencyState | None:
        """For an emergency document: its continuation text, the signatures over it, and the
        approval rule (:func:`gateway.orders.emergency.approval_rule`) they and ``verified`` amount to.

        The verification and the court order count only as their audit entries recorded them, and
        a key counts once: an approval signed with any key the verifier holds is the verifier's."""
        terms = document.emergency
        if terms is None:
            return None
        found = _LOAD_DETAILS.first(connection, {"request_id": document.request_id})
        details: dict[str, Any] = json.loads(found[0]) if found is not None else {}
        if terms.verified_by is not None and not self._verification_logged(connection, document, terms, details):
            terms = EmergencyTerms(terms.lapses_at)  # a verification the log does not hold verifies nothing
        verifier_keys: set[bytes] = set()
        if terms.verified_by is not None:
            for (public_key,) in _VERIFIER_KEYS.rows(connection, {"principal_id": terms.verified_by}):
                raw = _raw_key(public_key)
                if raw is not None:
                    verifier_keys.add(raw)
        verifier = terms.verified_by

        def counts_as(key: bytes, reviewer_id: str) -> str:
            """Whom an approval counts as: its reviewer, or the verifier when signed with the verifier's key."""
            return verifier if verifier is not None and key in verifier_keys else reviewer_id

        signer_of = {reviewer_id: counts_as(key, reviewer_id) for key, reviewer_id in verified.keys}
        signers = {signer: Signer(signer) for signer in signer_of.values()}
        stored = _LOAD_CONTINUATION.first(connection, {"order_id": document.order_id})
        court_order = parse_continuation(str(stored[0]), document.raw) if stored is not None else None
        if court_order is not None and not self._court_order_logged(connection, document, court_order, details,
                                                                     pending=pending):
            court_order = None  # a court order the log does not hold attaches nothing
        continued: list[Approval] = []
        if stored is not None and court_order is not None:
            message = str(stored[0]).encode("utf-8")
            used_keys = dict(verified.keys)
            for approval in connection.execute(_LOAD_CONTINUATION_APPROVALS, {"order_id": document.order_id}):
                signed_by = None
                if counts_as_reviewer(approval.role, approval.status, approval.key_status, approval.public_key):
                    signed_by = signing_key_of(message, approval.signature, approval.public_key)
                ok = (signed_by is not None and used_keys.get(signed_by, approval.reviewer_id) == approval.reviewer_id
                      # One entry records one approval: not also the reviewer's over the document.
                      and approval.audit_request_id not in verified.entries
                      and self._approval_logged(connection, document.order_id, approval.reviewer_id,
                                                approval.audit_request_id, pending=pending))
                if ok and signed_by is not None:
                    used_keys[signed_by] = approval.reviewer_id
                    signer_of[approval.reviewer_id] = signer = counts_as(signed_by, approval.reviewer_id)
                    signers[signer] = Signer(signer, over_continuation=True)
                continued.append(Approval(approval.reviewer_id, approval.kid, ok))
        rule = approval_rule(terms, fields=document.fields, signers=signers.values(), court_order=court_order,
                             normal=self.approvals_required, emergency=self.emergency_approvals_required, now=now)
        return _EmergencyState(rule, str(stored[0]) if stored is not None and court_order is not None else None,
                               tuple(continued), signer_of)

    def _verification_logged(self, connection: Connection, document: OrderDocument, terms: EmergencyTerms,
                             details: dict[str, Any]) -> bool:
        """Whether a served verifyEmergency of the named verifier recorded the document's terms."""
        recorded = details.get("emergency_verification")
        entry = recorded.get("entry") if isinstance(recorded, dict) else None
        if terms.verified_by is None or terms.verified_at is None or not isinstance(entry, str):
            return False
        claim = Claim(entry, terms.verified_by, EMERGENCY_VERIFIED,
                      (("request", document.request_id), ("by", terms.verified_by), ("method", terms.method),
                       ("at", format_time(terms.verified_at))))
        return self.proofs.proven(connection, claim)

    def _court_order_logged(self, connection: Connection, document: OrderDocument, court_order: CourtOrder,
                            details: dict[str, Any], *, pending: Pending) -> bool:
        """Whether the authority's served attachCourtOrder, or its emergency request that came with
        the court order, recorded this court order's hash in the second it names."""
        entry = details.get("court_order_entry")
        if not isinstance(entry, str):
            return False
        values = (("request", document.request_id), ("court_order_sha256", court_order.sha256))
        return any(self.proofs.proven(connection, Claim(entry, document.authority_id, kind, values,
                                                        at=court_order.attached_at), pending=pending)
                   for kind in (COURT_ORDER_ATTACHED, REQUEST_SUBMITTED))

    def for_authority(self, authority_id: str, order_id: str, *, now: datetime) -> OrderState:
        """An order as its authority may see it; another authority's order is ``ORDER_NOT_FOUND``,
        the same answer as no order at all, and found as cheaply: one row read, no verification."""
        return self.load(order_id, now=now, authority_id=authority_id)

    def order_ids(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(col(OrderRow.id)).order_by(col(OrderRow.created_at))))


def _raw_key(public_key: str) -> bytes | None:
    try:
        return bytes(decode_signing_public_key(public_key))
    except CryptoError:
        return None


def _revoked_in_log(connection: Connection, order_id: str) -> bool:
    """Whether a served revokeOrder's audit entry names the order. The revoked_* columns are not
    signed and could be cleared; the entry is in the Merkle tree, and removing it breaks `audit verify`."""
    return _REVOKED_IN_LOG.first(connection, {"order_id": order_id}) is not None
