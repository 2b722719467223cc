"""The authority's side of a request (docs/PROTOCOL.md §17): a reviewer's question and the
authority's answer, an amendment that makes a new version of the request, and a withdrawal that
revokes every order of it in the same step.

Every change is a conditional write on the request's row (:mod:`gateway.store.conditional`): the
status and the ``details`` read must still be stored, so of two identical calls at the same
instant one is served and the other refused as a late caller is. The free texts (question,
answer, reason) and an amendment's selectors are sealed with the request's other secrets under
its AEAD context; ``details`` keeps the non-personal fields of every version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from gateway.errors import BadRequest, RequestWithdrawn
from gateway.notifications.events import record_event
from gateway.notifications.kinds import EventKind
from gateway.orders.header import check_fields, check_header, check_text
from gateway.orders.model import LegalRequest, LegalRequestStatus
from gateway.orders.policy import OrderStatus
from gateway.orders.requests import SHA256_HEX, LegalRequests
from gateway.principals.registry import PrincipalInfo
from gateway.store.conditional import compare_and_set, decide
from gateway.store.tables import EventRow, LegalRequestRow, OrderRow
from gateway.store.undo import Undo
from gateway.store.versions import bump
from gateway.values.selector import Selector
from gateway.values.times import format_time
from gateway.values.window import TimeWindow

__all__ = ["MAX_CLARIFICATIONS", "WITHDRAWN_REASON", "Amendment", "Conversation", "Withdrawal"]

MAX_CLARIFICATIONS = 20
"""Questions one request may be asked; past that, reviewers reject it or decide on what they have."""
WITHDRAWN_REASON = "the request was withdrawn by its authority"
"""What a withdrawn request's orders give as their revocation reason; the authority's own is sealed."""
_requests = LegalRequestRow.__table__  # type: ignore[attr-defined]
_orders = OrderRow.__table__  # type: ignore[attr-defined]
# The fields an amendment may change, as details names them, in the order a diff lists them.
AMENDABLE = ("subjects", "fields", "data_window", "legal_basis", "court_order_sha256")


@dataclass(frozen=True)
class Amendment:
    """What an amendment changes; what it leaves ``None`` stays as the current version has it."""

    subjects: Sequence[Selector] | None = None
    fields: Sequence[str] | None = None
    data_window: TimeWindow | None = None
    legal_basis: str | None = None
    court_order_sha256: str | None = None

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.subjects, self.fields, self.data_window, self.legal_basis,
                                       self.court_order_sha256))


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal as stored: the request, and the orders it revoked."""

    request: LegalRequest
    revoked_orders: tuple[str, ...]


@dataclass(frozen=True)
class _Changed:
    """One amendment applied to a request's stored columns: what to write, and what it changed."""

    details: dict[str, Any]
    secret: dict[str, Any]
    resolved: list[str]
    unresolved: int
    changed: tuple[str, ...]


class Conversation(LegalRequests):
    """Clarification, amendment and withdrawal over the requests of :class:`LegalRequests`."""

    # -- clarification (§17.1) ----------------------------------------------------------------

    def request_clarification(self, reviewer: PrincipalInfo, request_id: str, question: str, *, now: datetime,
                              undo: list[Undo] | None = None, entry: str | None = None) -> LegalRequest:
        """Ask the request's authority a question: a PENDING request becomes NEEDS_CLARIFICATION,
        the question sealed with it, and its ``request.clarification_requested`` event is published
        once ``entry`` (the audit entry's request id) is in the log. ``BAD_REQUEST`` for any other
        status, ``REQUEST_WITHDRAWN`` for a withdrawn one."""
        question = check_text(question, "question", limit=2000)

        def attempt(session: Session) -> tuple[str, bytes, str | None] | None:
            row = self._row(session, request_id)
            _refuse_withdrawn(row)
            if row.status != LegalRequestStatus.PENDING:
                raise BadRequest(f"the request is {row.status}; only a PENDING request can be asked for clarification")
            secret = self._secret(row)
            thread = list(secret.get("clarifications", []))
            if sum(1 for m in thread if m.get("kind") == "QUESTION") >= MAX_CLARIFICATIONS:
                raise BadRequest(f"the request has been asked {MAX_CLARIFICATIONS} questions; reject it or decide "
                                 "on what it holds")
            thread.append(_message("QUESTION", reviewer.id, now, question, _version(row)))
            secret["clarifications"] = thread
            changed = compare_and_set(session, _requests, {"id": request_id},
                                      {"status": row.status, "details": row.details},
                                      {"status": LegalRequestStatus.NEEDS_CLARIFICATION.value,
                                       "selectors_sealed": self._seal(row.id, secret)})
            if not changed:
                return None
            event = record_event(session, authority_id=row.authority_id,
                                 kind=EventKind.REQUEST_CLARIFICATION_REQUESTED, request_id=request_id,
                                 order_id=None, state=LegalRequestStatus.NEEDS_CLARIFICATION.value, now=now,
                                 entry=entry)
            return row.status, row.selectors_sealed, event

        old_status, old_sealed, event = decide(self.db, attempt)
        if event:
            self._undo_with(undo, EventRow, event, None)
        self._undo_with(undo, LegalRequestRow, request_id, {"status": old_status, "selectors_sealed": old_sealed})
        return self.get_request(request_id)

    def answer_clarification(self, authority: PrincipalInfo, request_id: str, answer: str,
                             amendment: Amendment | None = None, *, now: datetime,
                             undo: list[Undo] | None = None) -> tuple[LegalRequest, tuple[str, ...]]:
        """Answer one's own request's open question, optionally amending it in the same step: the
        request is PENDING again (a new version if amended). Returns the request and the fields
        the amendment changed (none without one)."""
        answer = check_text(answer, "answer", limit=5000)
        resolved_new = self._resolve_new(amendment)

        def attempt(session: Session) -> tuple[dict[str, Any], tuple[str, ...]] | None:
            row = self._row(session, request_id, authority_id=authority.id)
            _refuse_withdrawn(row)
            if row.status != LegalRequestStatus.NEEDS_CLARIFICATION:
                raise BadRequest(f"the request is {row.status}; there is no open question to answer")
            secret = self._secret(row)
            details = json.loads(row.details)
            resolved, unresolved = json.loads(row.resolved_subject_ids), row.unresolved_selectors
            changed: tuple[str, ...] = ()
            if amendment is not None and not amendment.empty:
                applied = self._amend(session, row, secret, amendment, resolved_new, now=now)
                details, secret, resolved, unresolved, changed = (applied.details, applied.secret, applied.resolved,
                                                                  applied.unresolved, applied.changed)
            secret["clarifications"] = [*secret.get("clarifications", []),
                                        _message("ANSWER", authority.id, now, answer, int(details.get("version", 1)))]
            restore = _columns(row)
            if not compare_and_set(session, _requests, {"id": request_id},
                                   {"status": row.status, "details": row.details},
                                   {"status": LegalRequestStatus.PENDING.value, "details": json.dumps(details),
                                    "selectors_sealed": self._seal(row.id, secret),
                                    "resolved_subject_ids": json.dumps(resolved),
                                    "unresolved_selectors": unresolved}):
                return None
            return restore, changed

        restore, changed = decide(self.db, attempt)
        self._undo_with(undo, LegalRequestRow, request_id, restore)
        return self.get_request(request_id), changed

    # -- amendment (§17.2) --------------------------------------------------------------------

    def amend_request(self, authority: PrincipalInfo, request_id: str, amendment: Amendment, *, now: datetime,
                      undo: list[Undo] | None = None) -> tuple[LegalRequest, tuple[str, ...]]:
        """Make a new version of one's own PENDING (or NEEDS_CLARIFICATION) request that has no
        ACTIVE order; orders drafted on the version before can no longer be approved
        (``REQUEST_AMENDED``). ``BAD_REQUEST`` for an amendment that changes nothing."""
        if amendment.empty:
            raise BadRequest("the amendment names nothing to change: give subjects, fields, dataWindow, legalBasis "
                             "or courtOrderSha256")
        resolved_new = self._resolve_new(amendment)

        def attempt(session: Session) -> tuple[dict[str, Any], tuple[str, ...]] | None:
            row = self._row(session, request_id, authority_id=authority.id)
            _refuse_withdrawn(row)
            if row.status not in (LegalRequestStatus.PENDING, LegalRequestStatus.NEEDS_CLARIFICATION):
                raise BadRequest(f"the request is {row.status}; only a PENDING request, or one awaiting "
                                 "clarification, can be amended (submit a new request instead)")
            applied = self._amend(session, row, self._secret(row), amendment, resolved_new, now=now)
            restore = _columns(row)
            if not compare_and_set(session, _requests, {"id": request_id},
                                   {"status": row.status, "details": row.details},
                                   {"details": json.dumps(applied.details),
                                    "selectors_sealed": self._seal(row.id, applied.secret),
                                    "resolved_subject_ids": json.dumps(applied.resolved),
                                    "unresolved_selectors": applied.unresolved}):
                return None
            return restore, applied.changed

        restore, changed = decide(self.db, attempt)
        self._undo_with(undo, LegalRequestRow, request_id, restore)
        return self.get_request(request_id), changed

    def _resolve_new(self, amendment: Amendment | None) -> tuple[list[str], int] | None:
        """The subjects an amendment's selectors resolve to, resolved before its transaction opens
        (a subject source may be a database of its own, and slow)."""
        if amendment is None or amendment.subjects is None:
            return None
        check_header(subjects=amendment.subjects, jurisdiction="DE", case_reference="-", legal_basis="-")
        return self.subjects.resolve_all(amendment.subjects)

    def _amend(self, session: Session, row: LegalRequestRow, secret: dict[str, Any], amendment: Amendment,
               resolved_new: tuple[list[str], int] | None, *, now: datetime) -> _Changed:
        """The request's columns with ``amendment`` applied as a new version, the current one kept
        in ``details["versions"]`` (its selectors in the sealed ``previous_selectors``)."""
        details = json.loads(row.details)
        for order_id in session.scalars(select(col(OrderRow.id)).where(col(OrderRow.request_id) == row.id)):
            if self.load(order_id, now=now, session=session).status is OrderStatus.ACTIVE:
                raise BadRequest("an order of the request is ACTIVE; it cannot be amended (ask the reviewers to "
                                 "revoke the order, or submit a new request)")
        selectors = [Selector(kind, value) for kind, value in secret["selectors"]]
        new_selectors = list(amendment.subjects) if amendment.subjects is not None else selectors
        header = check_header(subjects=new_selectors, jurisdiction=str(details["jurisdiction"]),
                              case_reference=str(details["case_reference"]),
                              legal_basis=amendment.legal_basis if amendment.legal_basis is not None
                              else str(details["legal_basis"]))
        after: dict[str, Any] = {
            "fields": check_fields(amendment.fields) if amendment.fields is not None else list(details["fields"]),
            "data_window": (amendment.data_window.as_document() if amendment.data_window is not None
                            else details["data_window"]),
            "legal_basis": header.legal_basis, "court_order_sha256": details.get("court_order_sha256"),
        }
        if amendment.court_order_sha256 is not None:
            if details.get("emergency"):
                raise BadRequest("an emergency request's court order is attached with attachCourtOrder, not amended")
            if not SHA256_HEX.fullmatch(amendment.court_order_sha256):
                raise BadRequest("courtOrderSha256 must be the lowercase hex SHA-256 of the court order document")
            after["court_order_sha256"] = amendment.court_order_sha256
        changed = tuple(name for name in AMENDABLE
                        if (name == "subjects" and _selector_set(new_selectors) != _selector_set(selectors))
                        or (name != "subjects" and after[name] != details.get(name)))
        if not changed:
            raise BadRequest("the amendment changes nothing in the request's current version")
        resolved, unresolved = (resolved_new if "subjects" in changed and resolved_new is not None
                                else (json.loads(row.resolved_subject_ids), row.unresolved_selectors))
        version = int(details.get("version", 1))
        kept = {name: details.get(name) for name in ("fields", "data_window", "legal_basis", "court_order_sha256",
                                                      "changed")}
        details["versions"] = [*details.get("versions", []), kept | {
            "version": version, "at": details.get("version_at", format_time(_unix(row.created_at))),
            "selector_count": int(details["selector_count"]),
            "resolved_subject_ids": json.loads(row.resolved_subject_ids),
            "unresolved_selectors": row.unresolved_selectors}]
        details.update(after)
        details |= {"version": version + 1, "version_at": format_time(now.replace(microsecond=0)),
                    "selector_count": len(new_selectors), "changed": list(changed)}
        secret = dict(secret)
        secret["previous_selectors"] = [*secret.get("previous_selectors", []), secret["selectors"]]
        secret["selectors"] = [[s.kind, s.value] for s in new_selectors]
        return _Changed(details, secret, list(resolved), unresolved, changed)

    # -- withdrawal (§17.3) -------------------------------------------------------------------

    def withdraw_request(self, authority: PrincipalInfo, request_id: str, reason: str, *, now: datetime,
                         undo: list[Undo] | None = None, entry: str | None = None) -> Withdrawal:
        """Withdraw one's own request: it becomes WITHDRAWN and every order of it not revoked yet
        is revoked in the same transaction, so a query under one of them right after is
        ``ORDER_REVOKED`` and an approval of one is refused. The reason is sealed.
        ``REQUEST_WITHDRAWN`` if it was withdrawn already, ``BAD_REQUEST`` if it was rejected.
        Events: ``request.withdrawn`` and an ``order.revoked`` for each order it revoked, published
        once ``entry`` is in the log."""
        reason = check_text(reason, "reason", limit=2000)

        def attempt(session: Session) -> tuple[dict[str, Any], list[str], list[str]] | None:
            row = self._row(session, request_id, authority_id=authority.id)
            _refuse_withdrawn(row)
            if row.status == LegalRequestStatus.REJECTED:
                raise BadRequest("the request was rejected; a rejected request cannot be withdrawn")
            secret = self._secret(row)
            secret["withdrawal_reason"] = reason
            restore = {"status": row.status, "selectors_sealed": row.selectors_sealed,
                       "decided_by": row.decided_by, "decided_at": row.decided_at}
            # The request's row first: the one conditional write that decides between this and a
            # concurrent withdrawal, approval or rejection (each holds or changes the status read).
            if not compare_and_set(session, _requests, {"id": request_id},
                                   {"status": row.status, "details": row.details},
                                   {"status": LegalRequestStatus.WITHDRAWN.value,
                                    "selectors_sealed": self._seal(row.id, secret),
                                    "decided_by": authority.id, "decided_at": int(now.timestamp())}):
                return None
            revoked: list[str] = []
            for order_id in session.scalars(select(col(OrderRow.id)).where(col(OrderRow.request_id) == request_id,
                                                                            col(OrderRow.revoked_at).is_(None))
                                            .order_by(col(OrderRow.created_at), col(OrderRow.id))):
                # Revoked already by a reviewer meanwhile: that revocation stands as it is.
                if compare_and_set(session, _orders, {"id": order_id}, {"revoked_at": None},
                                   {"revoked_at": int(now.timestamp()), "revoked_by": authority.id,
                                    "revoke_reason": WITHDRAWN_REASON}):
                    revoked.append(order_id)
            bump(session)  # what a process cached on these orders is stale from this commit on
            events = [record_event(session, authority_id=row.authority_id, kind=EventKind.REQUEST_WITHDRAWN,
                                   request_id=request_id, order_id=None, state=LegalRequestStatus.WITHDRAWN.value,
                                   now=now, entry=entry)]
            events += [record_event(session, authority_id=row.authority_id, kind=EventKind.ORDER_REVOKED,
                                    request_id=request_id, order_id=order_id, state=OrderStatus.REVOKED.value,
                                    now=now, entry=entry) for order_id in revoked]
            return restore, revoked, [event for event in events if event]

        restore, revoked, events = decide(self.db, attempt)
        for event in events:
            self._undo_with(undo, EventRow, event, None)
        for order_id in revoked:
            self._undo_with(undo, OrderRow, order_id, {"revoked_at": None, "revoked_by": None, "revoke_reason": None})
        self._undo_with(undo, LegalRequestRow, request_id, restore)
        return Withdrawal(self.get_request(request_id), tuple(revoked))

    # -- helpers ------------------------------------------------------------------------------

    def _row(self, session: Session, request_id: str, *, authority_id: str | None = None) -> LegalRequestRow:
        return self._read_request(session, request_id, authority_id=authority_id)[0]



def _refuse_withdrawn(row: LegalRequestRow) -> None:
    if row.status == LegalRequestStatus.WITHDRAWN:
        raise RequestWithdrawn("the request was withdrawn by its authority; nothing more is decided on it")


def _version(row: LegalRequestRow) -> int:
    return int(json.loads(row.details).get("version", 1))


def _message(kind: str, by: str, now: datetime, text: str, version: int) -> dict[str, Any]:
    return {"kind": kind, "by": by, "at": format_time(now.replace(microsecond=0)), "text": text, "version": version}


def _columns(row: LegalRequestRow) -> dict[str, Any]:
    """The columns a clarification's answer or an amendment writes, as read: what undoing restores."""
    return {"status": row.status, "details": row.details, "selectors_sealed": row.selectors_sealed,
            "resolved_subject_ids": row.resolved_subject_ids, "unresolved_selectors": row.unresolved_selectors}


def _selector_set(selectors: Sequence[Selector]) -> frozenset[tuple[str, str]]:
    return frozenset((s.kind, s.value) for s in selectors)


def _unix(seconds: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, UTC)
