"""What an audit entry records about the acts it logs: the ``"facts"`` the transparency figures
read (docs/PROTOCOL.md §10.1) and those of emergencies, preservation holds, retention and user
notices (§16).

An entry of a served request that submitted, decided or disclosed carries ``"facts"``: a list of
small objects, one per act, each with a ``kind``. They hold gateway-issued ids, the authority's
country, methods, times, categories and counts only: never a selector's value, a name, a note, a
case reference or anything else about a person (the free texts stay encrypted in the database).
The resolvers build them with the functions here, so the vocabulary has one home.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from gateway.audit import grants
from gateway.orders.model import LegalRequest, OrderState
from gateway.orders.policy import OrderDocument, OrderStatus
from gateway.principals.registry import PrincipalInfo
from gateway.values.times import format_time

__all__ = ["CONVERSATION_KINDS", "LIFECYCLE_KINDS", "REQUEST_KINDS", "FactKind", "amended", "approved",
           "clarification_answered", "clarification_requested", "court_order_attached", "disclosed", "drafted",
           "emergency_verified", "key_revoked", "notice_sent", "preservation", "rejected", "retention_purge", "revoked",
           "sealing_key_rotated", "signing_key_rotated", "subject_deleted", "submitted", "webhook_set", "withdrawn"]

Fact = dict[str, Any]


class FactKind(StrEnum):
    # The kinds that prove a grant are named where the proofs are read (gateway/audit/grants.py).
    SUBMITTED = grants.REQUEST_SUBMITTED
    DRAFTED = "order_drafted"
    APPROVED = grants.ORDER_APPROVED
    REJECTED = "request_rejected"
    REVOKED = "order_revoked"
    DISCLOSED = "disclosed"
    # The rest of a request's life (§16).
    EMERGENCY_VERIFIED = grants.EMERGENCY_VERIFIED
    COURT_ORDER_ATTACHED = grants.COURT_ORDER_ATTACHED
    PRESERVATION_SUBMITTED = "preservation_submitted"
    PRESERVATION_GRANTED = grants.PRESERVATION_GRANTED
    PRESERVATION_REJECTED = "preservation_rejected"
    PRESERVATION_EXTENDED = grants.PRESERVATION_EXTENDED
    RETENTION_PURGE = "retention_purge"
    NOTICE_SENT = "notice_sent"
    # The authority's side of a request (§17).
    CLARIFICATION_REQUESTED = "clarification_requested"
    CLARIFICATION_ANSWERED = "clarification_answered"
    AMENDED = "request_amended"
    WITHDRAWN = "request_withdrawn"
    # An authority's webhook set or removed (§17.4); not a figure.
    WEBHOOK_SET = "webhook_set"
    # A principal's own keys (§17.5): kids only.
    SIGNING_KEY_ROTATED = grants.SIGNING_KEY_ROTATED
    SEALING_KEY_ROTATED = grants.SEALING_KEY_ROTATED
    KEY_REVOKED = "principal_key_revoked"
    SUBJECT_DELETED = "subject_deleted"


REQUEST_KINDS = frozenset({FactKind.SUBMITTED, FactKind.DRAFTED, FactKind.APPROVED, FactKind.REJECTED,
                           FactKind.REVOKED, FactKind.DISCLOSED})
"""The acts on a legal request and its orders that the request figures count."""
LIFECYCLE_KINDS = frozenset({FactKind.EMERGENCY_VERIFIED, FactKind.COURT_ORDER_ATTACHED,
                             FactKind.PRESERVATION_SUBMITTED, FactKind.PRESERVATION_GRANTED,
                             FactKind.PRESERVATION_REJECTED, FactKind.PRESERVATION_EXTENDED})
"""The §16 acts the figures count: emergencies' outcomes and preservation holds."""
CONVERSATION_KINDS = frozenset({FactKind.CLARIFICATION_REQUESTED, FactKind.CLARIFICATION_ANSWERED,
                                FactKind.AMENDED, FactKind.WITHDRAWN})
"""The §17 acts: amendments and withdrawals count in the figures, clarifications in none."""


def submitted(authority: PrincipalInfo, request: LegalRequest) -> Fact:
    """A request received: whose country, which process and offense, emergency, how many selectors.
    The country is the authority's registered one (an operator's record), not the request's claim;
    the request's own jurisdiction stands in only for an authority registered without one. An
    emergency request that came with its court order names the court order's hash: the entry is
    what proves it attached (gateway/audit/grants.py)."""
    details = request.details
    fact: Fact = {"kind": FactKind.SUBMITTED.value, "request": request.id,
                  "country": authority.country or str(details["jurisdiction"]),
                  "legal_process": request.legal_process, "offense_category": str(details["offense_category"]),
                  "emergency": bool(details["emergency"]), "selectors": int(details["selector_count"]),
                  "non_disclosure": details.get("non_disclosure_until") is not None}
    if request.court_order is not None:
        fact["court_order_sha256"] = request.court_order.sha256
    return fact


def drafted(state: OrderState) -> Fact:
    document = state.usable()
    return {"kind": FactKind.DRAFTED.value, "request": state.request_id, "order": state.id,
            "valid_until": format_time(document.valid_until), "max_queries": document.max_queries}


def approved(state: OrderState) -> Fact:
    """An approval; ``active`` says whether the order is ACTIVE with it (the request is granted)."""
    return {"kind": FactKind.APPROVED.value, "request": state.request_id, "order": state.id,
            "active": state.status is OrderStatus.ACTIVE}


def rejected(request: LegalRequest) -> Fact:
    return {"kind": FactKind.REJECTED.value, "request": request.id}


def revoked(state: OrderState) -> Fact:
    return {"kind": FactKind.REVOKED.value, "request": state.request_id, "order": state.id}


def disclosed(document: OrderDocument) -> Fact:
    """A disclosure under ``document``; the fields and subject ids are the entry's own."""
    return {"kind": FactKind.DISCLOSED.value, "request": document.request_id, "order": document.order_id}


# -- the rest of a request's life (§16) ---------------------------------------------------------


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


# -- the authority's side of a request (§17) ----------------------------------------------------
# Never the question, the answer, the reason or an amended value: ids, versions, counts and the
# names of what changed.


def clarification_requested(request: LegalRequest) -> Fact:
    """A question asked: the version it was asked on and how many the request has been asked."""
    return {"kind": FactKind.CLARIFICATION_REQUESTED.value, "request": request.id, "version": request.version,
            "questions": request.questions}


def clarification_answered(request: LegalRequest, *, amended: bool) -> Fact:
    return {"kind": FactKind.CLARIFICATION_ANSWERED.value, "request": request.id, "version": request.version,
            "amended": amended}


def amended(request: LegalRequest, changed: Sequence[str]) -> Fact:
    """A new version: its number, the names of the fields it changed and how many selectors it names."""
    return {"kind": FactKind.AMENDED.value, "request": request.id, "version": request.version,
            "changed": list(changed), "selectors": int(request.details["selector_count"])}


def withdrawn(request: LegalRequest, revoked_orders: Sequence[str]) -> Fact:
    """A withdrawal and the orders it revoked in the same step; the reason stays sealed."""
    return {"kind": FactKind.WITHDRAWN.value, "request": request.id, "orders": list(revoked_orders)}


def webhook_set(authority_id: str, *, registered: bool) -> Fact:
    """An authority's webhook set (``registered``) or removed; the URL itself stays out of the log."""
    return {"kind": FactKind.WEBHOOK_SET.value, "authority": authority_id, "registered": registered}


def signing_key_rotated(principal: str, old_kid: str, new_kid: str, old_key_until: str) -> Fact:
    """A principal replaced its token key: the entry's principal is who, the kids are which keys
    (the entry is what proves the new key, gateway/audit/grants.py)."""
    return {"kind": FactKind.SIGNING_KEY_ROTATED.value, "principal": principal, "old_kid": old_kid,
            "new_kid": new_kid, "old_key_until": old_key_until}


def sealing_key_rotated(principal: str, old_sealing_kid: str | None, new_sealing_kid: str) -> Fact:
    return {"kind": FactKind.SEALING_KEY_ROTATED.value, "principal": principal, "old_sealing_kid": old_sealing_kid,
            "new_sealing_kid": new_sealing_kid}


def key_revoked(principal: str, kid: str, key: str) -> Fact:
    """The operator revoked a key: whose, which kid, and whether a ``signing`` or ``sealing`` key."""
    return {"kind": FactKind.KEY_REVOKED.value, "principal": principal, "kid": kid, "key": key}


def subject_deleted() -> Fact:
    """An operator deleted a subject's account from the embedded store: the entry's ``subjects``
    names it; nothing of what was stored is recorded."""
    return {"kind": FactKind.SUBJECT_DELETED.value}
