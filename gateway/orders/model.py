"""Legal requests and orders as values: their enums and limits, what a submission and a draft carry
(:class:`LegalRequestSubmission`, :class:`DraftInput`), a stored :class:`LegalRequest`, and an order's state
now (:class:`OrderState`, its status computed, never stored)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from gateway.errors import (
    BadRequest,
)
from gateway.orders.emergency import (
    CourtOrder,
)
from gateway.orders.policy import OrderDocument, OrderStatus
from gateway.values.selector import Selector
from gateway.values.times import parse_time
from gateway.values.window import TimeWindow

__all__ = [
    "LEGAL_PROCESSES",
    "MAX_ORDER_DAYS",
    "MAX_QUERIES",
    "MAX_SELECTORS",
    "OFFENSE_CATEGORIES",
    "Approval",
    "DraftInput",
    "LegalProcess",
    "LegalRequest",
    "LegalRequestStatus",
    "LegalRequestSubmission",
    "OffenseCategory",
    "OrderState",
]


class OffenseCategory(StrEnum):
    TERRORISM = "TERRORISM"
    CHILD_EXPLOITATION = "CHILD_EXPLOITATION"
    DRUG_TRAFFICKING = "DRUG_TRAFFICKING"
    FRAUD = "FRAUD"
    CYBERCRIME = "CYBERCRIME"
    VIOLENT_CRIME = "VIOLENT_CRIME"
    OTHER = "OTHER"


class LegalProcess(StrEnum):
    """The kind of legal process a request rests on, as transparency reports count them."""

    COURT_ORDER = "COURT_ORDER"
    WARRANT = "WARRANT"
    SUBPOENA = "SUBPOENA"
    PRODUCTION_ORDER = "PRODUCTION_ORDER"
    OTHER = "OTHER"


class LegalRequestStatus(StrEnum):
    PENDING = "PENDING"
    GRANTED = "GRANTED"
    REJECTED = "REJECTED"
    NEEDS_CLARIFICATION = "NEEDS_CLARIFICATION"  # a reviewer asked; the authority's answer makes it PENDING
    WITHDRAWN = "WITHDRAWN"  # its authority withdrew it; every order of it revoked


OFFENSE_CATEGORIES = tuple(category.value for category in OffenseCategory)
LEGAL_PROCESSES = tuple(process.value for process in LegalProcess)
MAX_SELECTORS = 100
MAX_ORDER_DAYS = 366
MAX_QUERIES = 10_000


@dataclass(frozen=True)
class LegalRequestSubmission:
    case_reference: str
    court: str
    jurisdiction: str
    legal_basis: str
    offense_category: str
    court_order_sha256: str | None
    subjects: Sequence[Selector]
    fields: Sequence[str]
    data_window: TimeWindow
    justification: str
    emergency: bool = False
    legal_process: str = LegalProcess.COURT_ORDER.value
    imminent_risk: str | None = None  # an emergency's statement of the risk; stored encrypted
    non_disclosure_until: datetime | None = None


@dataclass(frozen=True)
class DraftInput:
    request_id: str
    valid_until: str
    max_queries: int
    subject_ids: Sequence[str] | None = None
    fields: Sequence[str] | None = None
    data_window: TimeWindow | None = None


@dataclass(frozen=True)
class LegalRequest:
    """A request as stored; ``resolved_subject_ids`` is for reviewers' eyes only."""

    id: str
    status: str
    authority_id: str
    details: dict[str, Any]
    resolved_subject_ids: list[str]
    unresolved_selectors: int
    order_ids: list[str]
    rejection_reason: str | None
    created_at: int

    @property
    def case_reference(self) -> str:
        return str(self.details["case_reference"])

    @property
    def fields(self) -> list[str]:
        return list(self.details["fields"])

    @property
    def legal_process(self) -> str:
        # Requests stored before the kind was asked for rested on a court order (courtOrderSha256).
        return str(self.details.get("legal_process", LegalProcess.COURT_ORDER.value))

    @property
    def data_window(self) -> TimeWindow:
        window = self.details["data_window"]
        return TimeWindow.parse(window["from"], window["until"])

    @property
    def emergency(self) -> bool:
        return bool(self.details.get("emergency"))

    @property
    def verification(self) -> dict[str, Any] | None:
        """An emergency's secondary verification: ``{"by", "at", "method"}``, or None."""
        found = self.details.get("emergency_verification")
        return dict(found) if isinstance(found, dict) else None

    @property
    def court_order(self) -> CourtOrder | None:
        """The court order an emergency request's authority attached later, if any."""
        attached = self.details.get("court_order_attached_at")
        digest = self.details.get("court_order_sha256")
        if not self.emergency or attached is None or digest is None:
            return None
        return CourtOrder(str(digest), parse_time(str(attached)))

    @property
    def non_disclosure_until(self) -> str | None:
        found = self.details.get("non_disclosure_until")
        return None if found is None else str(found)

    @property
    def version(self) -> int:
        """The request's current version: 1 as submitted, one more with each amendment (§17.2)."""
        return int(self.details.get("version", 1))

    @property
    def versions(self) -> list[dict[str, Any]]:
        """Every version, oldest first, the current one last: ``{"version", "at", "fields",
        "data_window", "legal_basis", "court_order_sha256", "selector_count",
        "resolved_subject_ids", "unresolved_selectors", "changed"}`` (``changed``: the details names of
        what the amendment that made the version changed; none for the first)."""
        current = {name: self.details.get(name) for name in ("fields", "data_window", "legal_basis",
                                                            "court_order_sha256", "selector_count", "changed")}
        current |= {"version": self.version, "resolved_subject_ids": list(self.resolved_subject_ids),
                    "unresolved_selectors": self.unresolved_selectors,
                    "at": self.details.get("version_at")}
        return [*(dict(v) for v in self.details.get("versions", [])), current]

    @property
    def clarifications(self) -> list[dict[str, Any]]:
        """The thread, oldest first: ``{"kind": "QUESTION" | "ANSWER", "by", "at", "text", "version"}``."""
        return [dict(m) for m in self.details.get("clarifications", [])]

    @property
    def questions(self) -> int:
        return sum(1 for m in self.clarifications if m.get("kind") == "QUESTION")


@dataclass(frozen=True)
class Approval:
    reviewer_id: str
    kid: str
    counted: bool


@dataclass(frozen=True)
class OrderState:
    """An order as the gateway sees it now: status computed, never stored."""

    id: str
    request_id: str
    authority_id: str
    text: str
    document: OrderDocument | None
    status: OrderStatus
    approvals: tuple[Approval, ...]
    queries_used: int
    revoked_reason: str | None
    approvals_required: int = 0
    continuation: str | None = None  # an emergency order's continuation text, once a court order is attached
    revoked_at: int | None = None

    @property
    def signing_text(self) -> str:
        """What a reviewer's approval signs now: the continuation text once there is one."""
        return self.continuation or self.text

    @property
    def verified_approvals(self) -> int:
        return sum(1 for a in self.approvals if a.counted)

    def usable(self) -> OrderDocument:
        """The document, for a status that allows disclosure; callers check the status first."""
        if self.document is None:  # pragma: no cover - status is never ACTIVE without a document
            raise BadRequest("the order document is unusable")
        return self.document
