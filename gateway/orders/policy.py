"""Decisions as pure functions (STYLE.md practice 5): plain values and the current time in, a
decision out. No database, no resolvers: most security tests need no server.

- :func:`parse_order_document` — a stored order text is a valid §3 document in exact JCS form.
- :func:`order_status` — what an order is now, from its document, verified approvals, revocation
  and query count (docs/PROTOCOL.md §3).
- :func:`refusal_for` — the §6 error for using an order that is not ACTIVE.
- :func:`check_narrowing` — a draft never widens its request.
- :func:`check_scope` — an operation's fields and subjects lie within its order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from crypto.canonical import canonical_json, parse_json_object
from crypto.errors import EncodingError
from gateway.errors import (
    BadRequest,
    FieldNotPermitted,
    GatewayError,
    OrderExhausted,
    OrderExpired,
    OrderLapsed,
    OrderNotActive,
    OrderRevoked,
    SubjectNotPermitted,
)
from gateway.orders.emergency import EmergencyTerms
from gateway.values.fields import SUBJECT_FIELDS
from gateway.values.ids import is_gateway_id
from gateway.values.times import parse_time
from gateway.values.window import TimeWindow

__all__ = [
    "OrderDocument", "OrderStatus", "check_narrowing", "check_scope", "order_status", "parse_order_document",
    "refusal_for",
]

ORDER_KEYS = frozenset({
    "v", "order_id", "request_id", "authority_id", "case_reference", "jurisdiction", "legal_basis",
    "offense_category", "subjects", "fields", "data_window", "valid_from", "valid_until", "max_queries",
    "issued_at",
})
OPTIONAL_ORDER_KEYS = frozenset({"emergency", "non_disclosure_until"})
"""Keys a document may add to the §3 ones (docs/PROTOCOL.md §16.1): signed like the rest."""
class OrderStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    EXHAUSTED = "EXHAUSTED"
    REVOKED = "REVOKED"
    LAPSED = "LAPSED"


@dataclass(frozen=True)
class OrderDocument:
    """A parsed §3 order document and the exact JCS text that approvals sign."""

    text: str
    order_id: str
    request_id: str
    authority_id: str
    subjects: frozenset[str]
    fields: frozenset[str]
    data_window: TimeWindow
    valid_from: datetime
    valid_until: datetime
    max_queries: int
    raw: Mapping[str, Any]
    emergency: EmergencyTerms | None = None
    non_disclosure_until: datetime | None = None


def _invalid(reason: str) -> BadRequest:
    return BadRequest(f"the stored order document is invalid: {reason}")


def parse_order_document(text: str) -> OrderDocument:
    """Parse a stored order text. Raise :class:`BadRequest` unless it is exactly the JCS form of a
    §3 document with exactly the §3 keys: a byte changed or a key added in the database makes the
    document unusable, not merely unapproved."""
    try:
        raw = parse_json_object(text, what="order document")
    except EncodingError as exc:
        raise _invalid(exc.message) from None
    if set(raw) - OPTIONAL_ORDER_KEYS != ORDER_KEYS:
        raise _invalid("its keys are not exactly those of docs/PROTOCOL.md §3 (and §16.1)")
    try:
        if canonical_json(raw).decode("utf-8") != text:
            raise _invalid("it is not in RFC 8785 canonical form")
    except EncodingError:
        raise _invalid("it cannot be canonicalised") from None
    if raw["v"] != 1:
        raise _invalid("unknown version")
    for key in ("order_id", "request_id", "authority_id"):
        if not isinstance(raw[key], str) or not is_gateway_id(raw[key]):
            raise _invalid(f"{key} is not an id")
    subjects, fields = raw["subjects"], raw["fields"]
    if not isinstance(subjects, list) or not subjects or not all(isinstance(s, str) for s in subjects):
        raise _invalid("subjects must be a non-empty list of ids")
    if not isinstance(fields, list) or not fields or not set(fields) <= set(SUBJECT_FIELDS):
        raise _invalid("fields must be a non-empty list of Subject fields")
    window = raw["data_window"]
    if not isinstance(window, dict) or set(window) != {"from", "until"}:
        raise _invalid("data_window must hold exactly from and until")
    max_queries = raw["max_queries"]
    if not isinstance(max_queries, int) or isinstance(max_queries, bool) or max_queries < 1:
        raise _invalid("max_queries must be a positive integer")
    try:
        data_window = TimeWindow.parse(window["from"], window["until"])
        valid = TimeWindow.parse(raw["valid_from"], raw["valid_until"])
        parse_time(raw["issued_at"])
        emergency = EmergencyTerms.parse(raw["emergency"]) if "emergency" in raw else None
        secrecy = parse_time(raw["non_disclosure_until"]) if "non_disclosure_until" in raw else None
    except (BadRequest, TypeError, ValueError):
        raise _invalid("a time or the emergency terms are malformed") from None
    return OrderDocument(text=text, order_id=raw["order_id"], request_id=raw["request_id"],
                         authority_id=raw["authority_id"], subjects=frozenset(subjects), fields=frozenset(fields),
                         data_window=data_window, valid_from=valid.start, valid_until=valid.end,
                         max_queries=max_queries, raw=raw, emergency=emergency, non_disclosure_until=secrecy)


def order_status(document: OrderDocument | None, *, verified_approvals: int, approvals_required: int,
                 revoked: bool, queries_used: int, now: datetime, lapsed: bool = False) -> OrderStatus:
    """The status docs/PROTOCOL.md §3 defines; ``lapsed`` is an emergency order's
    (:func:`gateway.orders.emergency.approval_rule`). An unusable document is never ACTIVE."""
    if revoked:
        return OrderStatus.REVOKED
    if document is not None and now >= document.valid_until:
        return OrderStatus.EXPIRED
    if lapsed:
        return OrderStatus.LAPSED
    if document is None or verified_approvals < approvals_required or now < document.valid_from:
        return OrderStatus.PENDING_APPROVAL
    if queries_used >= document.max_queries:
        return OrderStatus.EXHAUSTED
    return OrderStatus.ACTIVE


def refusal_for(status: OrderStatus) -> GatewayError | None:
    """The §6 refusal for using an order in ``status``; None when it is ACTIVE."""
    match status:
        case OrderStatus.ACTIVE:
            return None
        case OrderStatus.EXPIRED:
            return OrderExpired("the order has expired; ask the platform for a new order")
        case OrderStatus.REVOKED:
            return OrderRevoked("the order was revoked by the platform's reviewers")
        case OrderStatus.EXHAUSTED:
            return OrderExhausted("the order has no queries left; ask for a new order")
        case OrderStatus.LAPSED:
            return OrderLapsed("the emergency order lapsed: no court order was attached within its hours")
        case _:
            return OrderNotActive("the order is not active: it lacks the required reviewer approvals")


def check_narrowing(*, request_subjects: Iterable[str], request_fields: Iterable[str], request_window: TimeWindow,
                    subjects: Iterable[str], fields: Iterable[str], window: TimeWindow) -> None:
    """Raise :class:`BadRequest` if a draft asks for any subject, field or time its request did not."""
    wanted_subjects, wanted_fields = set(subjects), set(fields)
    if not wanted_subjects:
        raise BadRequest("an order needs at least one subject")
    if not wanted_fields:
        raise BadRequest("an order needs at least one field")
    unknown = wanted_fields - set(SUBJECT_FIELDS)
    if unknown:
        # Counted, not echoed: whatever a client puts in `fields` may be anything at all.
        raise BadRequest(f"{len(unknown)} unknown field name(s); fields are {', '.join(SUBJECT_FIELDS)}")
    if not wanted_subjects <= set(request_subjects):
        raise BadRequest("the draft names subjects the request did not resolve to; an order may only narrow "
                         "its request")
    if not wanted_fields <= set(request_fields):
        extra = sorted(wanted_fields - set(request_fields))
        raise BadRequest(f"the draft asks for fields the request did not: {extra}; "
                         "an order may only narrow its request")
    if not request_window.contains(window):
        raise BadRequest("the draft's data window reaches outside the request's; an order may only narrow "
                         "its request")


def check_scope(document: OrderDocument, *, fields: Iterable[str], subjects: Iterable[str]) -> None:
    """Raise ``FIELD_NOT_PERMITTED`` or ``SUBJECT_NOT_PERMITTED`` unless every field and subject an
    operation selects is in the order. ``subjects`` holds resolved ids; an unresolved selector is
    passed as a sentinel that no order contains, so it gets the same answer as a stranger."""
    outside = sorted(set(fields) - document.fields)
    if outside:
        raise FieldNotPermitted(f"the order does not permit the fields {outside}; nothing was disclosed")
    if not set(subjects) <= document.subjects:
        raise SubjectNotPermitted("the order does not cover the selected subject; nothing was disclosed")
