"""A review action never stands without its audit entry, and a refused request changes nothing.

Mutations commit as their resolvers run; if the request then ends refused, or its audit entry
cannot be made durable (503 AUDIT_UNAVAILABLE), the edge reverses what they committed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from crypto.signing import ORDER_DOMAIN, sign_over
from tests.support.world import APPROVE, DRAFT, REQUEST_WINDOW, SUBMIT, World


def break_the_audit_log(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: every transaction of the audit writer fails, as with a lost disk."""

    def broken() -> Any:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(world.gateway.services.audit.engine, "begin", broken)


def count(world: World, sql: str, **params: object) -> int:
    with world.gateway.services.db.engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def unavailable(response: Any) -> bool:
    return response.status_code == 503 and response.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"


def test_an_unaudited_approval_is_undone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    order = world.draft(world.submit())
    world.approve(order, world.reviewers[0])
    break_the_audit_log(world, monkeypatch)
    assert unavailable(world.approve(order, world.reviewers[1]))
    monkeypatch.undo()
    assert count(world, "SELECT count(*) FROM order_approvals WHERE order_id = :o", o=order["id"]) == 1
    assert count(world, "SELECT count(*) FROM legal_requests WHERE status = 'GRANTED'") == 0
    response = world.gateway.post(world.auditor, "query($o: ID!) { orderById(id: $o) { status approvals } }",
                                  variables={"o": order["id"]})
    assert response.json()["data"]["orderById"] == {"status": "PENDING_APPROVAL", "approvals": 1}
    # Nor is the authority told of an activation that did not stand (docs/PROTOCOL.md §17.4).
    assert count(world, "SELECT count(*) FROM events WHERE order_id = :o", o=order["id"]) == 0


def test_an_unaudited_revocation_is_undone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    order = world.active_order()
    break_the_audit_log(world, monkeypatch)
    revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"quashed\") { status } }"
    assert unavailable(world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]}))
    monkeypatch.undo()
    assert count(world, "SELECT count(*) FROM orders WHERE revoked_at IS NOT NULL") == 0
    assert count(world, "SELECT count(*) FROM events WHERE kind = 'order.revoked'") == 0


def test_unaudited_submissions_and_drafts_leave_no_rows(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = world.submit()
    break_the_audit_log(world, monkeypatch)
    draft = {"requestId": request_id, "validUntil": "2027-01-31T00:00:00Z", "maxQueries": 5}
    assert unavailable(world.gateway.post(world.reviewers[0], DRAFT, variables={"i": draft}))
    submission = {"caseReference": "AZ 4712/26", "court": "Amtsgericht Tiergarten", "jurisdiction": "DE",
                  "legalBasis": "§ 100g StPO", "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32,
                  "subjects": [{"id": world.subjects[2]["id"]}], "fields": ["phoneNumber"],
                  "dataWindow": REQUEST_WINDOW, "justification": "investment fraud ring"}
    assert unavailable(world.gateway.post(world.authority, SUBMIT, variables={"i": submission}))
    monkeypatch.undo()
    assert count(world, "SELECT count(*) FROM orders") == 0
    assert count(world, "SELECT count(*) FROM legal_requests") == 1


def test_a_refused_request_reverses_what_its_earlier_mutations_did(world: World) -> None:
    request_id = world.submit()
    both = """mutation($r: ID!) { a: rejectRequest(requestId: $r, reason: "no basis") { status }
                                  b: revokeOrder(orderId: "ord_nope", reason: "x") { status } }"""
    response = world.gateway.post(world.reviewers[0], both, variables={"r": request_id})
    assert response.status_code == 403 and response.json()["errors"][0]["extensions"]["code"] == "ORDER_NOT_FOUND"
    assert count(world, "SELECT count(*) FROM legal_requests WHERE status = 'PENDING'") == 1
    order = world.draft(request_id)
    twice = """mutation($o: ID!, $s: String!) { a: approveOrder(orderId: $o, signature: $s) { approvals }
                                                b: approveOrder(orderId: $o, signature: $s) { approvals } }"""
    signature = sign_over(ORDER_DOMAIN, order["document"].encode(), world.reviewers[0].signing_key)
    refused = world.gateway.post(world.reviewers[0], twice, variables={"o": order["id"], "s": signature})
    assert refused.status_code == 400  # the second approval by the same reviewer
    assert count(world, "SELECT count(*) FROM order_approvals") == 0
    again = world.gateway.post(world.reviewers[0], APPROVE, variables={"o": order["id"], "s": signature})
    assert again.status_code == 200


def test_an_unaudited_rejection_and_webhook_are_undone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = world.submit()
    break_the_audit_log(world, monkeypatch)
    reject = "mutation($r: ID!) { rejectRequest(requestId: $r, reason: \"overbroad\") { status } }"
    assert unavailable(world.gateway.post(world.reviewers[0], reject, variables={"r": request_id}))
    hook = "mutation { setWebhook(url: \"https://hooks.example.org/\") { url } }"
    assert unavailable(world.gateway.post(world.authority, hook))
    monkeypatch.undo()
    assert count(world, "SELECT count(*) FROM legal_requests WHERE status = 'REJECTED'") == 0
    assert count(world, "SELECT count(*) FROM events") == 0
    assert count(world, "SELECT count(*) FROM principals WHERE webhook_url IS NOT NULL") == 0
