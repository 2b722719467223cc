"""Emergency orders (docs/PROTOCOL.md §16.1), as pure rules: values and the time in, a decision out.

An emergency order's document carries its terms in a signed ``emergency`` object: who recorded the
secondary verification, when and how, and when the order lapses. Everything that decides whether
it may disclose is read from there or from signatures, never from a column alone:

- Before ``lapses_at`` it needs ``emergency`` approvals (``GATEWAY_EMERGENCY_APPROVALS_REQUIRED``)
  from reviewers other than the verifier, so one insider and one forged request are not enough;
  fields beyond :data:`EMERGENCY_FIELDS` need the normal number of them (the two-person rule).
- Without a recorded verification it never counts an approval.
- From ``lapses_at`` it is LAPSED unless a court order was attached before then. The attachment is
  a *continuation text*, the document plus ``court_order: {sha256, attached_at}``; the order then
  continues once it has the normal number of approvals from distinct reviewers, at least one of
  them a signature over the continuation text, so the court order's hash and its time are signed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from crypto.canonical import canonical_json, parse_json_object
from crypto.errors import EncodingError
from gateway.values.times import format_time, parse_time

__all__ = [
    "EMERGENCY_FIELDS", "ApprovalRule", "CourtOrder", "EmergencyTerms", "Signer", "VerificationMethod",
    "approval_rule", "continuation_text", "parse_continuation",
]

EMERGENCY_FIELDS = frozenset({"phoneNumber", "ipAddresses"})
"""What an emergency order may disclose on the emergency rule alone."""


class VerificationMethod(StrEnum):
    """How a reviewer reached the authority back, through a channel not taken from the request."""

    CALLBACK_KNOWN_NUMBER = "CALLBACK_KNOWN_NUMBER"  # a number from the platform's own directory
    OFFICIAL_DIRECTORY = "OFFICIAL_DIRECTORY"        # a published switchboard or official register
    LIAISON_OFFICER = "LIAISON_OFFICER"              # a known contact at the authority
    IN_PERSON = "IN_PERSON"
    OTHER = "OTHER"


@dataclass(frozen=True)
class EmergencyTerms:
    """The ``emergency`` object of an order document."""

    lapses_at: datetime
    verified_by: str | None = None
    verified_at: datetime | None = None
    method: str | None = None

    @classmethod
    def parse(cls, raw: object) -> EmergencyTerms:
        """Raise ``ValueError`` unless ``raw`` is exactly ``{"lapses_at", "verification"}`` with a
        verification of ``{"by", "at", "method"}`` or null."""
        if not isinstance(raw, dict) or set(raw) != {"lapses_at", "verification"}:
            raise ValueError("emergency must hold exactly lapses_at and verification")
        verification = raw["verification"]
        lapses_at = parse_time(str(raw["lapses_at"]))
        if verification is None:
            return cls(lapses_at)
        if not isinstance(verification, dict) or set(verification) != {"by", "at", "method"}:
            raise ValueError("verification must hold exactly by, at and method")
        by, method = verification["by"], verification["method"]
        if not isinstance(by, str) or not by or method not in set(VerificationMethod):
            raise ValueError("verification names no reviewer or an unknown method")
        return cls(lapses_at, by, parse_time(str(verification["at"])), str(method))

    def as_document(self) -> dict[str, Any]:
        verification = None
        if self.verified_by is not None and self.verified_at is not None:
            verification = {"by": self.verified_by, "at": format_time(self.verified_at), "method": self.method}
        return {"lapses_at": format_time(self.lapses_at), "verification": verification}


@dataclass(frozen=True)
class CourtOrder:
    """A court order attached to an emergency order: its hash and when the authority attached it."""

    sha256: str
    attached_at: datetime


def continuation_text(document: Mapping[str, Any], court_order: CourtOrder) -> str:
    """The JCS text reviewers sign to let an emergency order continue past its lapse."""
    attached = {"sha256": court_order.sha256, "attached_at": format_time(court_order.attached_at)}
    return canonical_json(dict(document) | {"court_order": attached}).decode("utf-8")


def parse_continuation(text: str, document: Mapping[str, Any]) -> CourtOrder | None:
    """The court order a stored continuation text attaches, or None unless it is exactly the
    JCS of ``document`` plus a well-formed ``court_order``: an edited text attaches nothing."""
    try:
        raw = parse_json_object(text, what="continuation")
        attached = raw.pop("court_order")
        if raw != dict(document) or not isinstance(attached, dict) or set(attached) != {"sha256", "attached_at"}:
            return None
        court_order = CourtOrder(str(attached["sha256"]), parse_time(str(attached["attached_at"])))
    except (EncodingError, KeyError, ValueError):
        return None
    return court_order if continuation_text(document, court_order) == text else None


@dataclass(frozen=True)
class Signer:
    """A reviewer whose approval verified, and whether it is over the continuation text."""

    reviewer_id: str
    over_continuation: bool = False


@dataclass(frozen=True)
class ApprovalRule:
    """How many approvals the order needs now, whose count, and whether it has lapsed."""

    required: int
    counting: frozenset[str]
    lapsed: bool = False


def approval_rule(terms: EmergencyTerms, *, fields: Iterable[str], signers: Iterable[Signer],
                  court_order: CourtOrder | None, normal: int, emergency: int, now: datetime) -> ApprovalRule:
    """The rule of the module docstring. ``signers`` are verified approvals of distinct reviewers."""
    signed = list(signers)
    everyone = frozenset(s.reviewer_id for s in signed)
    emergency_required = emergency if set(fields) <= EMERGENCY_FIELDS else max(normal, emergency)
    if terms.verified_by is None:
        return ApprovalRule(emergency_required, frozenset(), lapsed=now >= terms.lapses_at)
    in_time = court_order is not None and court_order.attached_at < terms.lapses_at
    continued = in_time and any(s.over_continuation for s in signed)
    if continued and len(everyone) >= normal:
        return ApprovalRule(normal, everyone)
    if now < terms.lapses_at:
        return ApprovalRule(emergency_required, everyone - {terms.verified_by})
    if in_time:
        # Attached in time: it waits for the normal approvals, one of them over the court order.
        return ApprovalRule(normal, everyone if continued else frozenset())
    return ApprovalRule(emergency_required, everyone - {terms.verified_by}, lapsed=True)
