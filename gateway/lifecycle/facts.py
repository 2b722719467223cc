"""What an audit entry records about emergencies, preservation holds, retention and user notices
(docs/PROTOCOL.md §16), as ``facts`` objects beside the entry's own fields.

They hold gateway-issued ids, countries, methods, times and counts only: never a selector's value,
a name, a note, a case reference or anything else about a person (the free texts stay encrypted in
the database). One home for the vocabulary, so reports and tests read one set of kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from gateway.orders import LegalRequest

__all__ = ["FactKind", "court_order_attached", "emergency_verified", "notice_sent", "preservation",
           "retention_purge"]

Fact = dict[str, Any]


class FactKind(StrEnum):
    EMERGENCY_VERIFIED = "emergency_verified"
    COURT_ORDER_ATTACHED = "court_order_attached"
    PRESERVATION_SUBMITTED = "preservation_submitted"
    PRESERVATION_GRANTED = "preservation_granted"
    PRESERVATION_REJECTED = "preservation_rejected"
    PRESERVATION_EXTENDED = "preservation_extended"
    RETENTION_PURGE = "retention_purge"
    NOTICE_SENT = "notice_sent"


def emergency_verified(request: LegalRequest) -> Fact:
    """Who verified and how; the note stays encrypted."""
    verification = request.verification or {}
    return {"kind": FactKind.EMERGENCY_VERIFIED.value, "request": request.id, "by": verification.get("by"),
            "method": verification.get("method"), "at": verification.get("at")}


def court_order_attached(request: LegalRequest) -> Fact:
    court_order = request.court_order
    return {"kind": FactKind.COURT_ORDER_ATTACHED.value, "request": request.id, "orders": list(request.order_ids),
            "court_order_sha256": court_order.sha256 if court_order else None}


def preservation(kind: FactKind, hold: Mapping[str, Any]) -> Fact:
    """A preservation act: the hold's id, the authority's country, its subject count and its end."""
    return {"kind": kind.value, "preservation": hold["id"], "country": hold["country"],
            "subjects": hold["subject_count"], "until": hold["until"]}


def retention_purge(counts: Mapping[str, int], *, cutoff: Mapping[str, str | None]) -> Fact:
    """One run of retention: how many of each were deleted and kept for holds, never whose."""
    return {"kind": FactKind.RETENTION_PURGE.value, **dict(counts), "cutoff": dict(cutoff)}


def notice_sent(notice_id: str, request_id: str) -> Fact:
    return {"kind": FactKind.NOTICE_SENT.value, "notice": notice_id, "request": request_id}
