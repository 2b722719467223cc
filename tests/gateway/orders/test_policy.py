"""The pure decisions: order status, document integrity, narrowing and scope (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crypto.canonical import canonical_json
from gateway.errors import (
    BadRequest,
    FieldNotPermitted,
    OrderExhausted,
    OrderExpired,
    OrderNotActive,
    OrderRevoked,
    SubjectNotPermitted,
)
from gateway.orders.policy import (
    OrderStatus,
    check_narrowing,
    check_scope,
    order_status,
    parse_order_document,
    refusal_for,
)
from gateway.values.window import TimeWindow

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def document(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1, "order_id": "ord_1", "request_id": "req_1", "authority_id": "bka-de", "case_reference": "AZ 1",
        "jurisdiction": "DE", "legal_basis": "§100g StPO", "offense_category": "fraud",
        "subjects": ["sub_a", "sub_b"], "fields": ["phoneNumber", "ipAddresses"],
        "data_window": {"from": "2026-09-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        "valid_from": "2026-11-22T00:00:00Z", "valid_until": "2026-12-22T00:00:00Z", "max_queries": 10,
        "issued_at": "2026-11-22T09:30:00Z",
    }
    base.update(overrides)
    return base


def text_of(doc: dict[str, object]) -> str:
    return canonical_json(doc).decode()


def status(doc: object = "default", *, approvals: int = 2, revoked: bool = False, used: int = 0,
           now: datetime = NOW) -> OrderStatus:
    parsed = parse_order_document(text_of(document())) if doc == "default" else doc
    return order_status(parsed, verified_approvals=approvals, approvals_required=2, revoked=revoked,  # type: ignore[arg-type]
                        queries_used=used, now=now)


def test_order_with_two_approvals_inside_its_validity_is_active() -> None:
    assert status() is OrderStatus.ACTIVE


def test_order_with_one_approval_is_pending() -> None:
    assert status(approvals=1) is OrderStatus.PENDING_APPROVAL


def test_order_past_valid_until_is_expired() -> None:
    assert status(now=datetime(2026, 12, 22, tzinfo=UTC)) is OrderStatus.EXPIRED


def test_order_before_valid_from_is_not_active() -> None:
    assert status(now=datetime(2026, 11, 21, tzinfo=UTC)) is OrderStatus.PENDING_APPROVAL


def test_order_at_max_queries_is_exhausted() -> None:
    assert status(used=10) is OrderStatus.EXHAUSTED
    assert status(used=9) is OrderStatus.ACTIVE


def test_revocation_wins_over_everything() -> None:
    assert status(revoked=True) is OrderStatus.REVOKED
    assert status(revoked=True, approvals=0) is OrderStatus.REVOKED


def test_unusable_document_is_never_active() -> None:
    assert status(None, approvals=5) is OrderStatus.PENDING_APPROVAL


@pytest.mark.parametrize(("state", "error"), [
    (OrderStatus.EXPIRED, OrderExpired), (OrderStatus.REVOKED, OrderRevoked),
    (OrderStatus.EXHAUSTED, OrderExhausted), (OrderStatus.PENDING_APPROVAL, OrderNotActive)])
def test_each_inactive_status_has_its_refusal(state: OrderStatus, error: type) -> None:
    refusal = refusal_for(state)
    assert isinstance(refusal, error)
    assert refusal_for(OrderStatus.ACTIVE) is None


def test_stored_document_must_be_canonical() -> None:
    canonical = text_of(document())
    assert parse_order_document(canonical).order_id == "ord_1"
    with pytest.raises(BadRequest, match="canonical"):
        parse_order_document(canonical.replace(",", ", ", 1))


def test_stored_document_with_an_added_key_is_refused() -> None:
    with pytest.raises(BadRequest, match="keys"):
        parse_order_document(text_of(document(extra="x")))


@pytest.mark.parametrize("change", [
    {"subjects": []}, {"fields": ["email"]}, {"max_queries": 0}, {"max_queries": True}, {"v": 2},
    {"data_window": {"from": "2026-11-01T00:00:00Z", "until": "2026-09-01T00:00:00Z"}},
    {"valid_until": "tomorrow"}, {"order_id": ""}])
def test_malformed_documents_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(BadRequest, match="order document is invalid"):
        parse_order_document(text_of(document(**change)))


WINDOW = TimeWindow.parse("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z")


def narrow(**kwargs: object) -> None:
    args: dict[str, object] = {"request_subjects": ["a", "b"], "request_fields": ["phoneNumber", "devices"],
                               "request_window": WINDOW, "subjects": ["a"], "fields": ["phoneNumber"],
                               "window": WINDOW}
    args.update(kwargs)
    check_narrowing(**args)  # type: ignore[arg-type]


def test_equal_or_narrower_drafts_pass() -> None:
    narrow()
    narrow(subjects=["a", "b"], fields=["phoneNumber", "devices"])
    narrow(window=TimeWindow.parse("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"subjects": ["a", "c"]}, "subjects the request did not"),
    ({"fields": ["ipAddresses"]}, "fields the request did not"),
    ({"fields": ["email"]}, "unknown field name"),
    ({"window": TimeWindow.parse("2025-12-31T00:00:00Z", "2026-02-01T00:00:00Z")}, "outside the request"),
    ({"window": TimeWindow.parse("2026-05-01T00:00:00Z", "2026-06-01T00:00:01Z")}, "outside the request"),
    ({"subjects": []}, "at least one subject"),
    ({"fields": []}, "at least one field"),
])
def test_wider_drafts_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        narrow(**kwargs)


def test_window_from_not_before_until_is_refused() -> None:
    with pytest.raises(BadRequest, match="before"):
        TimeWindow.parse("2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z")
    with pytest.raises(BadRequest, match="RFC 3339"):
        TimeWindow.parse("2026-02-01", "2026-03-01T00:00:00Z")


def test_scope_refuses_fields_and_subjects_outside_the_order() -> None:
    order = parse_order_document(text_of(document()))
    check_scope(order, fields=["phoneNumber"], subjects=["sub_a"])
    with pytest.raises(FieldNotPermitted):
        check_scope(order, fields=["phoneNumber", "devices"], subjects=["sub_a"])
    with pytest.raises(SubjectNotPermitted):
        check_scope(order, fields=["phoneNumber"], subjects=["sub_a", "sub_z"])


def test_validity_boundaries_are_half_open() -> None:
    parsed = parse_order_document(text_of(document()))
    assert status(parsed, now=parsed.valid_until - timedelta(microseconds=1)) is OrderStatus.ACTIVE
    assert status(parsed, now=parsed.valid_until) is OrderStatus.EXPIRED
    assert status(parsed, now=parsed.valid_from) is OrderStatus.ACTIVE
