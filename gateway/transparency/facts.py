"""What an audit entry records for the transparency figures (docs/PROTOCOL.md §10.1).

An entry of a served request that submitted, decided or disclosed carries ``"facts"``: a list of
small objects, one per act, each with a ``kind``. They hold gateway-issued ids, the authority's
country, categories and counts only: never a selector's value, a name, a case reference or
anything else about a person. The resolvers build them with the functions here, so the vocabulary
the figures read has one home.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from gateway.orders import LegalRequest, OrderState
from gateway.policy import OrderDocument, OrderStatus
from gateway.principals import PrincipalInfo
from gateway.values.times import format_time

__all__ = ["FactKind", "approved", "disclosed", "drafted", "rejected", "revoked", "submitted"]

Fact = dict[str, Any]


class FactKind(StrEnum):
    SUBMITTED = "request_submitted"
    DRAFTED = "order_drafted"
    APPROVED = "order_approved"
    REJECTED = "request_rejected"
    REVOKED = "order_revoked"
    DISCLOSED = "disclosed"


def submitted(authority: PrincipalInfo, request: LegalRequest) -> Fact:
    """A request received: whose country, which process and offense, emergency, how many selectors.
    The country is the authority's registered one (an operator's record), not the request's claim;
    the request's own jurisdiction stands in only for an authority registered without one."""
    details = request.details
    return {"kind": FactKind.SUBMITTED.value, "request": request.id,
            "country": authority.country or str(details["jurisdiction"]),
            "legal_process": request.legal_process, "offense_category": str(details["offense_category"]),
            "emergency": bool(details["emergency"]), "selectors": int(details["selector_count"]),
            "non_disclosure": details.get("non_disclosure_until") is not None}


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
