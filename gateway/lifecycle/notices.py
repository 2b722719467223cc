"""User notice (docs/PROTOCOL.md §16.4): tell each subject whose data was disclosed, once the
order has ended and no non-disclosure period runs.

One notice per (request, subject): it falls due when every order of the request that disclosed
that subject has ended (expired, revoked, lapsed or used up), or when the non-disclosure period
ends, whichever is later. The period is read from the signed order documents and from the request,
and the later of them wins, so an edited row can only delay a notice, never bring it forward.
What was disclosed, and to whom, is read from the audit log's ``disclosed`` entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from gateway.audit.model import AuditEvent, Decision
from gateway.audit.writer import AuditWriter
from gateway.errors import AuditUnavailable, OperatorError
from gateway.orders.model import OrderState
from gateway.orders.policy import OrderStatus
from gateway.orders.service import Orders
from gateway.store.engine import Database
from gateway.store.tables import AuditEntry, NoticeSent
from gateway.transparency import facts
from gateway.values.ids import NOTICE_RUN, new_id
from gateway.values.times import format_time, parse_rfc3339_us, parse_time

__all__ = ["Notice", "Notices", "due_at", "ended_at", "notice_id"]


@dataclass(frozen=True)
class Notice:
    id: str
    subject_id: str
    request_id: str
    case_reference: str
    jurisdiction: str
    fields: tuple[str, ...]
    due: datetime

    def as_json(self) -> dict[str, Any]:
        """One line of `gateway notices due`."""
        return {"id": self.id, "subject_id": self.subject_id, "request_id": self.request_id,
                "case_reference": self.case_reference, "jurisdiction": self.jurisdiction,
                "fields": list(self.fields), "date": format_time(self.due)}


def notice_id(request_id: str, subject_id: str) -> str:
    return "ntc_" + hashlib.sha256(f"{request_id}\x00{subject_id}".encode()).hexdigest()[:24]


def ended_at(state: OrderState, *, last_disclosure: datetime | None) -> datetime | None:
    """When the order ended, or None while it may still disclose (or await approval)."""
    document = state.document
    if state.status is OrderStatus.REVOKED and state.revoked_at is not None:
        return datetime.fromtimestamp(state.revoked_at, UTC)
    if document is None:
        return None
    if state.status is OrderStatus.EXPIRED:
        return document.valid_until
    if state.status is OrderStatus.LAPSED and document.emergency is not None:
        return document.emergency.lapses_at
    if state.status is OrderStatus.EXHAUSTED:
        return last_disclosure
    return None


def due_at(ends: Iterable[datetime | None], secrecy: Iterable[datetime | None]) -> datetime | None:
    """The latest end and non-disclosure time; None while any order has not ended."""
    times = list(ends)
    if not times or any(t is None for t in times):
        return None
    return max([t for t in times if t is not None] + [s for s in secrecy if s is not None])


class Notices:
    def __init__(self, db: Database, orders: Orders, audit: AuditWriter) -> None:
        self.db = db
        self.orders = orders
        self.audit = audit

    def due(self, now: datetime) -> list[Notice]:
        """Every notice due at ``now`` and not yet marked sent, oldest first."""
        with self.db.session() as session:
            disclosed = list(session.execute(
                select(col(AuditEntry.order_id), col(AuditEntry.entry))
                .where(col(AuditEntry.decision) == Decision.DISCLOSED.value).order_by(col(AuditEntry.idx))))
            sent = set(session.scalars(select(col(NoticeSent.id))))
        per_order: dict[str, tuple[datetime, dict[str, set[str]]]] = {}
        for order_id, text in disclosed:
            if order_id is None:
                continue
            entry = json.loads(text)
            last, subjects = per_order.get(order_id, (parse_rfc3339_us(entry["time"]), {}))
            for subject in entry["subjects"]:
                subjects.setdefault(subject, set()).update(entry["fields"])
            per_order[order_id] = (max(last, parse_rfc3339_us(entry["time"])), subjects)
        # (request, subject) -> order ends, secrecy ends, fields
        grouped: dict[tuple[str, str], tuple[list[datetime | None], list[datetime | None], set[str]]] = {}
        requests: dict[str, tuple[str, str]] = {}
        for order_id, (last, subjects) in per_order.items():
            state = self.orders.load(order_id, now=now)
            end = ended_at(state, last_disclosure=last)
            request = self.orders.get_request(state.request_id)
            requests[request.id] = (request.case_reference, str(request.details["jurisdiction"]))
            secrecy = [state.document.non_disclosure_until if state.document else None,
                       parse_time(request.non_disclosure_until) if request.non_disclosure_until else None]
            for subject, fields in subjects.items():
                ends, secrets_, all_fields = grouped.setdefault((request.id, subject), ([], [], set()))
                ends.append(end)
                secrets_.extend(secrecy)
                all_fields.update(fields)
        found = []
        for (request_id, subject), (ends, secrecy, fields) in grouped.items():
            when = due_at(ends, secrecy)
            identifier = notice_id(request_id, subject)
            if when is None or when > now or identifier in sent:
                continue
            case_reference, jurisdiction = requests[request_id]
            found.append(Notice(identifier, subject, request_id, case_reference, jurisdiction,
                                tuple(sorted(fields)), when))
        return sorted(found, key=lambda n: (n.due, n.id))

    def mark_sent(self, ids: Sequence[str], *, now: datetime) -> list[Notice]:
        """Record that the messaging system delivered these notices: one audit entry for all.
        Raises :class:`OperatorError` for an id that is not due (unknown, early, or sent)."""
        if not ids:
            raise OperatorError("name at least one notice id from `gateway notices due`")
        due = {n.id: n for n in self.due(now)}
        unknown = [i for i in ids if i not in due]
        if unknown:
            raise OperatorError(f"{len(unknown)} of the ids are not due notices (unknown, not yet due, or sent "
                                "already); list them with `gateway notices due`")
        marked = [due[i] for i in dict.fromkeys(ids)]
        with self.db.session() as session:
            for notice in marked:
                session.add(NoticeSent(id=notice.id, sent_at=int(now.timestamp())))
        event = AuditEvent(request_id=new_id(NOTICE_RUN), time=now, decision=Decision.SERVED,
                           subjects=sorted({n.subject_id for n in marked}),
                           facts=[facts.notice_sent(n.id, n.request_id) for n in marked])
        try:
            self.audit.append_sync(event)
        except AuditUnavailable:
            # Unlogged means not recorded: the notices stay due for the next attempt.
            with self.db.session() as session:
                for notice in marked:
                    row = session.get(NoticeSent, notice.id)
                    if row is not None:
                        session.delete(row)
            raise
        return marked
