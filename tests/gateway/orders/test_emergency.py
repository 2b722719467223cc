"""Emergency orders through the HTTP app (docs/PROTOCOL.md §16.1): a secondary verification before
any approval, the verifier's approval not counting, a lapse after the configured hours unless a
court order is attached, and nothing an edited row could grant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from crypto.signing import ORDER_DOMAIN, sign_over
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.harness import Actor
from tests.support.plaintext import leaks, secrets_of
from tests.support.platform import on_both_sources  # noqa: F401  (every test here on both subject sources)
from tests.support.world import World

EMERGENCY = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id status emergency courtOrderSha256 } }"
VERIFY = ("mutation($r: ID!, $m: VerificationMethod!, $n: String!) "
          "{ verifyEmergency(requestId: $r, method: $m, note: $n) { id verification { by method } } }")
ATTACH = ("mutation($r: ID!, $h: String!) { attachCourtOrder(requestId: $r, courtOrderSha256: $h) "
          "{ id courtOrderSha256 } }")
DRAFT = ("mutation($i: DraftOrderInput!) { draftOrder(input: $i) { id status document approvalsRequired "
         "emergency { lapsesAt verifiedBy } } }")
APPROVE = ("mutation($o: ID!, $s: String!) { approveOrder(orderId: $o, signature: $s) "
           "{ status approvals approvalsRequired document } }")
ORDER = "query($id: ID!) { orderById(id: $id) { status approvals approvalsRequired document } }"
DISCLOSE = "{ order { subjects { id phoneNumber { ciphertext } ipAddresses { ciphertext } } } }"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COURT_ORDER = "cd" * 32


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


post = post_at


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def submit_emergency(world: World, clock: Clock, *, fields: list[str] | None = None) -> str:
    request = {"caseReference": "EIL 2026/12", "court": "none yet", "jurisdiction": "DE",
               "legalBasis": "§ 100g Abs. 1 StPO (Gefahr im Verzug)", "offenseCategory": "VIOLENT_CRIME",
               "subjects": [{"id": world.subjects[0]["id"]}], "fields": fields or ["phoneNumber", "ipAddresses"],
               "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
               "justification": "kidnapping in progress", "emergency": True,
               "imminentRisk": "a hostage is threatened with death within hours"}
    response = post(world, clock, world.authority, EMERGENCY, {"i": request})
    assert response.status_code == 200, response.text
    data = response.json()["data"]["submitRequest"]
    assert data["emergency"] is True and data["courtOrderSha256"] is None
    return str(data["id"])


def verify(world: World, clock: Clock, request_id: str, reviewer: Actor) -> Any:
    return post(world, clock, reviewer, VERIFY, {"r": request_id, "m": "CALLBACK_KNOWN_NUMBER",
                                                 "n": "called the LKA duty desk on the directory number"})


def draft(world: World, clock: Clock, request_id: str, **overrides: Any) -> dict[str, Any]:
    variables = {"requestId": request_id, "validUntil": "2026-12-31T00:00:00Z", "maxQueries": 20} | overrides
    response = post(world, clock, world.reviewers[0], DRAFT, {"i": variables})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["draftOrder"])


def approve(world: World, clock: Clock, order_id: str, reviewer: Actor) -> Any:
    current = post(world, clock, reviewer, ORDER, {"id": order_id}).json()["data"]["orderById"]
    signature = sign_over(ORDER_DOMAIN, current["document"].encode(), reviewer.signing_key)
    return post(world, clock, reviewer, APPROVE, {"o": order_id, "s": signature})


def disclose(world: World, clock: Clock, order_id: str) -> Any:
    return post(world, clock, world.authority, DISCLOSE, order=order_id)


def verified_order(world: World, clock: Clock, **overrides: Any) -> tuple[str, dict[str, Any]]:
    request_id = submit_emergency(world, clock, **{k: v for k, v in overrides.items() if k == "fields"})
    assert verify(world, clock, request_id, world.reviewers[0]).status_code == 200
    return request_id, draft(world, clock, request_id)


def test_a_normal_request_still_needs_its_court_order(world: World, clock: Clock) -> None:
    request = {"caseReference": "X", "court": "AG", "jurisdiction": "DE", "legalBasis": "StPO",
               "offenseCategory": "FRAUD", "subjects": [{"id": world.subjects[0]["id"]}], "fields": ["phoneNumber"],
               "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
               "justification": "j"}
    response = post(world, clock, world.authority, EMERGENCY, {"i": request})
    assert response.status_code == 400 and "courtOrderSha256 is required" in response.text
    emergency = request | {"emergency": True}
    response = post(world, clock, world.authority, EMERGENCY, {"i": emergency})
    assert response.status_code == 400 and "imminentRisk" in response.text


def test_an_emergency_order_without_secondary_verification_stays_pending(world: World, clock: Clock) -> None:
    request_id = submit_emergency(world, clock)
    order = draft(world, clock, request_id)
    assert order["emergency"]["verifiedBy"] is None
    refused = approve(world, clock, order["id"], world.reviewers[1])
    assert refused.status_code == 400 and "verifyEmergency" in refused.text
    # Approvals that bypass the API (rows written straight into the database) change nothing either.
    services = world.gateway.services
    with services.db.engine.begin() as connection:
        for reviewer in world.reviewers:
            signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)
            connection.execute(text("INSERT INTO order_approvals (order_id, reviewer_id, kid, signature, created_at) "
                                    "VALUES (:o, :r, :k, :s, 0)"),
                               {"o": order["id"], "r": reviewer.id, "s": signature,
                                "k": services.registry.get(reviewer.id).keys[0].kid})
    state = post(world, clock, world.reviewers[2], ORDER, {"id": order["id"]}).json()["data"]["orderById"]
    assert state["status"] == "PENDING_APPROVAL" and state["approvals"] == 0
    assert code(disclose(world, clock, order["id"])) == "ORDER_NOT_ACTIVE"


def test_a_verified_emergency_order_discloses_phone_and_ip_with_one_approval_not_the_verifiers(
        world: World, clock: Clock) -> None:
    _, order = verified_order(world, clock)
    assert order["emergency"]["verifiedBy"] == world.reviewers[0].id and order["approvalsRequired"] == 1
    own = approve(world, clock, order["id"], world.reviewers[0])  # the verifier's own approval
    assert own.status_code == 200, own.text
    assert own.json()["data"]["approveOrder"]["status"] == "PENDING_APPROVAL"
    assert code(disclose(world, clock, order["id"])) == "ORDER_NOT_ACTIVE"
    other = approve(world, clock, order["id"], world.reviewers[1])
    assert other.json()["data"]["approveOrder"]["status"] == "ACTIVE"
    response = disclose(world, clock, order["id"])
    assert response.status_code == 200, response.text
    subject = response.json()["data"]["order"]["subjects"][0]
    assert subject["phoneNumber"]["ciphertext"] and subject["ipAddresses"]["ciphertext"]


def test_wider_fields_need_the_normal_two_person_rule(world: World, clock: Clock) -> None:
    _, order = verified_order(world, clock, fields=["phoneNumber", "ipAddresses", "devices"])
    assert order["approvalsRequired"] == 2
    assert approve(world, clock, order["id"], world.reviewers[1]).json()["data"]["approveOrder"]["status"] \
        == "PENDING_APPROVAL"
    assert approve(world, clock, order["id"], world.reviewers[2]).json()["data"]["approveOrder"]["status"] \
        == "ACTIVE"


def test_an_emergency_order_lapses_after_its_hours_without_a_court_order(world: World, clock: Clock) -> None:
    request_id, order = verified_order(world, clock)
    approve(world, clock, order["id"], world.reviewers[1])
    clock.advance(hours=47, minutes=59)
    assert disclose(world, clock, order["id"]).status_code == 200
    clock.advance(minutes=1)
    lapsed = disclose(world, clock, order["id"])
    assert lapsed.status_code == 403 and code(lapsed) == "ORDER_LAPSED"
    late = post(world, clock, world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER})
    assert late.status_code == 403 and code(late) == "ORDER_LAPSED"
    assert code(approve(world, clock, order["id"], world.reviewers[2])) == "ORDER_LAPSED"


def test_a_court_order_attached_in_time_and_a_second_approval_let_it_continue(world: World, clock: Clock) -> None:
    request_id, order = verified_order(world, clock)
    approve(world, clock, order["id"], world.reviewers[1])
    clock.advance(hours=24)
    attached = post(world, clock, world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER})
    assert attached.status_code == 200, attached.text
    assert disclose(world, clock, order["id"]).status_code == 200  # still within its hours
    clock.advance(hours=25)
    waiting = disclose(world, clock, order["id"])
    assert code(waiting) == "ORDER_NOT_ACTIVE"  # the court order is there, the normal approvals are not
    second = approve(world, clock, order["id"], world.reviewers[2])
    assert second.status_code == 200, second.text
    assert json.loads(second.json()["data"]["approveOrder"]["document"])["court_order"]["sha256"] == COURT_ORDER
    assert second.json()["data"]["approveOrder"]["status"] == "ACTIVE"
    assert disclose(world, clock, order["id"]).status_code == 200


def test_a_database_edit_of_the_lapse_time_grants_nothing(world: World, clock: Clock) -> None:
    _, order = verified_order(world, clock)
    approve(world, clock, order["id"], world.reviewers[1])
    clock.advance(hours=49)
    assert code(disclose(world, clock, order["id"])) == "ORDER_LAPSED"
    document = json.loads(order["document"])
    document["emergency"]["lapses_at"] = "2027-06-01T00:00:00Z"
    from crypto.canonical import canonical_json

    edited = canonical_json(document).decode()
    with world.gateway.services.db.engine.begin() as connection:
        connection.execute(text("UPDATE orders SET document = :d WHERE id = :i"), {"d": edited, "i": order["id"]})
    refused = disclose(world, clock, order["id"])
    assert refused.status_code == 403 and code(refused) == "ORDER_NOT_ACTIVE"
    assert post(world, clock, world.reviewers[2], ORDER, {"id": order["id"]}).json()["data"]["orderById"][
        "approvals"] == 0


def test_a_forged_continuation_row_attaches_nothing(world: World, clock: Clock) -> None:
    _, order = verified_order(world, clock)
    approve(world, clock, order["id"], world.reviewers[1])
    approve(world, clock, order["id"], world.reviewers[0])
    clock.advance(hours=49)
    # Two approvals, but no court order: a continuation written into the database is unsigned.
    document = json.loads(order["document"])
    forged = json.dumps(document | {"court_order": {"sha256": COURT_ORDER, "attached_at": "2026-12-01T10:00:00Z"}})
    with world.gateway.services.db.engine.begin() as connection:
        connection.execute(text("INSERT INTO order_continuations VALUES (:o, :d, 0)"),
                           {"o": order["id"], "d": forged})
    assert code(disclose(world, clock, order["id"])) == "ORDER_LAPSED"


def test_emergency_audit_entries_carry_the_verification_and_attachment_without_plaintext(
        world: World, clock: Clock) -> None:
    request_id, _ = verified_order(world, clock)
    post(world, clock, world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER})
    with world.gateway.services.db.engine.connect() as connection:
        entries = [json.loads(e) for (e,) in connection.execute(text("SELECT entry FROM audit_entries ORDER BY idx"))]
    facts = [f for e in entries for f in e.get("facts", [])]
    assert {"kind": "emergency_verified", "request": request_id, "by": world.reviewers[0].id,
            "method": "CALLBACK_KNOWN_NUMBER", "at": "2026-12-01T09:00:00Z"} in facts
    assert any(f["kind"] == "court_order_attached" and f["court_order_sha256"] == COURT_ORDER for f in facts)
    raw = json.dumps(entries)
    assert "LKA duty desk" not in raw and "hostage" not in raw
    assert leaks([raw], secrets_of(world.subjects)) == []


def test_discovery_names_the_emergency_rule(world: World) -> None:
    discovery = world.gateway.client.get("/.well-known/disclosure-gateway").json()
    assert (discovery["emergency_approvals_required"], discovery["emergency_order_hours"]) == (1, 48)


@pytest.mark.parametrize("operation", ["verify", "attach", "grant", "extend"])
def test_ids_that_are_subject_data_are_never_echoed(world: World, clock: Clock, operation: str) -> None:
    phone = world.subjects[0]["phone"]
    queries = {
        "verify": (world.reviewers[0], VERIFY, {"r": phone, "m": "OTHER", "n": phone}),
        "attach": (world.authority, ATTACH, {"r": phone, "h": COURT_ORDER}),
        "grant": (world.reviewers[0], "mutation($i: ID!) { grantPreservation(id: $i) { id } }", {"i": phone}),
        "extend": (world.authority, "mutation($i: ID!, $u: String!) { extendPreservation(id: $i, until: $u) { id } }",
                   {"i": phone, "u": phone}),
    }
    actor, query, variables = queries[operation]
    response = post(world, clock, actor, query, variables)
    assert response.status_code == 400 and code(response) == "BAD_REQUEST"
    assert phone not in response.text  # the world fixture also searches every body and log record


def test_an_authority_sees_neither_who_verified_nor_another_authoritys_request(world: World, clock: Clock) -> None:
    request_id, _ = verified_order(world, clock)
    hidden = post(world, clock, world.authority, "query($i: ID!) { requestById(id: $i) { verification { by } } }",
                  {"i": request_id})
    assert hidden.status_code == 403 and code(hidden) == "FORBIDDEN_ROLE"
    other = post(world, clock, world.other_authority, ATTACH, {"r": request_id, "h": COURT_ORDER})
    assert other.status_code == 400 and "no such request" in other.text


def test_the_transparency_figures_count_emergencies_holds_and_non_disclosure(world: World, clock: Clock) -> None:
    from gateway.transparency.figures import Banding, compute_figures
    from gateway.transparency.period import parse_period
    from tests.support.lifecycle import GRANT_HOLD, SUBMIT_HOLD, audit_entries

    request_id, order = verified_order(world, clock)
    approve(world, clock, order["id"], world.reviewers[1])
    post(world, clock, world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER})
    secret = {"caseReference": "X", "court": "AG", "jurisdiction": "DE", "legalBasis": "StPO",
              "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "subjects": [{"id": world.subjects[1]["id"]}],
              "fields": ["phoneNumber"], "justification": "j", "nonDisclosureUntil": "2027-06-01T00:00:00Z",
              "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}}
    assert post(world, clock, world.authority, EMERGENCY, {"i": secret}).status_code == 200
    hold = post(world, clock, world.other_authority, SUBMIT_HOLD, {"i": {
        "subjects": [{"id": world.subjects[2]["id"]}], "caseReference": "PV", "jurisdiction": "FR",
        "legalBasis": "CPP", "until": "2027-01-01T00:00:00Z"}}).json()["data"]["submitPreservation"]
    post(world, clock, world.reviewers[2], GRANT_HOLD, {"id": hold["id"]})
    figures = compute_figures(audit_entries(world.gateway.services), parse_period("2026-H2"), Banding())
    total = figures["total"]
    assert total["emergency"]["requests_received"] == 1 and total["emergency"]["requests_granted"] == 1
    assert total["emergency_outcomes"] == {"verified": 1, "court_order_attached": 1}
    assert total["share_under_non_disclosure"] == 0.5
    assert total["preservations"] == {"received": 1, "granted": 1, "rejected": 0, "extended": 0}
    assert figures["countries"]["FR"]["preservations"]["granted"] == 1
    assert figures["countries"]["DE"]["preservations"]["received"] == 0
