"""The emergency approval rule as a pure function (gateway.orders.emergency): no server, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.orders.emergency import (
    CourtOrder,
    EmergencyTerms,
    Signer,
    approval_rule,
    continuation_text,
    parse_continuation,
)

DRAFTED = datetime(2026, 12, 1, tzinfo=UTC)
LAPSES = DRAFTED + timedelta(hours=48)
TERMS = EmergencyTerms(LAPSES, "rev-a", DRAFTED, "CALLBACK_KNOWN_NUMBER")
PHONE_IP = ["phoneNumber", "ipAddresses"]


def rule(*signers: Signer, terms: EmergencyTerms = TERMS, fields: list[str] = PHONE_IP,
         court_order: CourtOrder | None = None, now: datetime = DRAFTED):
    return approval_rule(terms, fields=fields, signers=signers, court_order=court_order, normal=2, emergency=1,
                         now=now)


def test_the_verifier_never_counts_in_the_emergency_phase() -> None:
    assert rule(Signer("rev-a")).counting == frozenset()
    assert rule(Signer("rev-a"), Signer("rev-b")).counting == {"rev-b"}


def test_without_a_verification_no_approval_counts() -> None:
    unverified = EmergencyTerms(LAPSES)
    assert rule(Signer("rev-b"), Signer("rev-c"), terms=unverified).counting == frozenset()


def test_wider_fields_need_the_normal_number() -> None:
    assert rule(fields=[*PHONE_IP, "devices"]).required == 2


def test_it_lapses_at_its_hour_without_a_court_order() -> None:
    assert not rule(Signer("rev-b"), now=LAPSES - timedelta(microseconds=1)).lapsed
    assert rule(Signer("rev-b"), now=LAPSES).lapsed


def test_a_court_order_attached_late_does_not_save_it() -> None:
    late = CourtOrder("ab" * 32, LAPSES)
    assert rule(Signer("rev-b"), Signer("rev-c", over_continuation=True), court_order=late, now=LAPSES).lapsed


def test_after_the_lapse_it_needs_the_normal_approvals_one_over_the_court_order() -> None:
    attached = CourtOrder("ab" * 32, DRAFTED + timedelta(hours=1))
    waiting = rule(Signer("rev-a"), Signer("rev-b"), court_order=attached, now=LAPSES)
    assert not waiting.lapsed and waiting.required == 2 and waiting.counting == frozenset()
    continued = rule(Signer("rev-b"), Signer("rev-c", over_continuation=True), court_order=attached, now=LAPSES)
    assert continued.counting == {"rev-b", "rev-c"} and continued.required == 2


def test_a_continuation_text_must_be_exactly_the_document_plus_the_court_order() -> None:
    document = {"v": 1, "order_id": "ord_1"}
    court_order = CourtOrder("ab" * 32, DRAFTED)
    text = continuation_text(document, court_order)
    assert parse_continuation(text, document) == court_order
    assert parse_continuation(text, document | {"v": 2}) is None
    assert parse_continuation(text.replace("ord_1", "ord_2"), document) is None
    assert parse_continuation(text + " ", document) is None
