"""The authority's side of a request, from docs/PROTOCOL.md §17: a clarification round trip, an
amendment that invalidates an order drafted on the version before, a withdrawal that revokes an
ACTIVE order in the same step, and no free text in any audit entry or log line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from tests.support.lifecycle import audit_entries
from tests.support.world import World

ASK = "mutation($r: ID!, $q: String!) { requestClarification(requestId: $r, question: $q) { status version } }"
ANSWER = ("mutation($r: ID!, $a: String!, $m: AmendmentInput) "
          "{ answerClarification(requestId: $r, answer: $a, amendment: $m) { status version } }")
AMEND = "mutation($r: ID!, $m: AmendmentInput!) { amendRequest(requestId: $r, amendment: $m) { status version } }"
WITHDRAW = ("mutation($r: ID!, $why: String!) "
            "{ withdrawRequest(requestId: $r, reason: $why) { status withdrawalReason } }")
THREAD = "query($r: ID!) { requestById(id: $r) { status version clarifications { kind text version at } } }"
THREAD_BY = "query($r: ID!) { requestById(id: $r) { clarifications { by } } }"
VERSIONS = ("query($r: ID!) { requestById(id: $r) { version versions { version fields selectorCount legalBasis "
            "dataWindow { from until } changes { field before after } } } }")
REVIEWER_DIFF = ("query($r: ID!) { requestById(id: $r) { versions { version resolvedSubjectIds subjectsAdded "
                 "subjectsRemoved } } }")
DISCLOSE = "{ order { subjects { phoneNumber { ciphertext } } } }"
ORDER_STATUS = "query($o: ID!) { orderById(id: $o) { status revokedReason } }"

QUESTION = "Which of the three accounts paid the ransom wallet 7f3a?"
ANSWER_TEXT = "Only the account of Erika Mustermann, reachable at the number in the order"
REASON = "Case 4711 closed after the suspect Max Mustermann confessed"


def ok(response: Any, name: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json()["data"][name])


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def test_a_clarification_round_trip(world: World) -> None:
    request_id = world.submit()
    asked = ok(world.gateway.post(world.reviewers[0], ASK, variables={"r": request_id, "q": QUESTION}),
               "requestClarification")
    assert asked == {"status": "NEEDS_CLARIFICATION", "version": 1}
    # While the question is open nothing is drafted.
    blocked = world.gateway.post(world.reviewers[1], "mutation($i: DraftOrderInput!) { draftOrder(input: $i) { id } }",
                                 variables={"i": {"requestId": request_id, "validUntil": "2027-01-31T00:00:00Z",
                                                  "maxQueries": 5}})
    assert blocked.status_code == 400 and "clarification" in blocked.json()["errors"][0]["message"]
    # Another authority is told there is no such request; the asking reviewer cannot answer.
    foreign = world.gateway.post(world.other_authority, ANSWER, variables={"r": request_id, "a": ANSWER_TEXT})
    assert foreign.status_code == 400 and "no such request" in foreign.json()["errors"][0]["message"]
    assert code(world.gateway.post(world.reviewers[0], ANSWER, variables={"r": request_id, "a": "x"})) \
        == "FORBIDDEN_ROLE"

    answered = ok(world.gateway.post(world.authority, ANSWER, variables={"r": request_id, "a": ANSWER_TEXT}),
                  "answerClarification")
    assert answered == {"status": "PENDING", "version": 1}
    again = world.gateway.post(world.authority, ANSWER, variables={"r": request_id, "a": ANSWER_TEXT})
    assert again.status_code == 400 and "no open question" in again.json()["errors"][0]["message"]

    for reader in (world.authority, world.reviewers[2]):
        thread = ok(world.gateway.post(reader, THREAD, variables={"r": request_id}), "requestById")
        assert [(m["kind"], m["text"], m["version"]) for m in thread["clarifications"]] == [
            ("QUESTION", QUESTION, 1), ("ANSWER", ANSWER_TEXT, 1)]
    # Who at the platform asked is for reviewers' eyes.
    assert code(world.gateway.post(world.authority, THREAD_BY, variables={"r": request_id})) == "FORBIDDEN_ROLE"
    by = ok(world.gateway.post(world.reviewers[2], THREAD_BY, variables={"r": request_id}), "requestById")
    assert [m["by"] for m in by["clarifications"]] == [world.reviewers[0].id, world.authority.id]
    # Sealed at rest: the texts are nowhere in the request's row.
    with world.gateway.services.db.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM legal_requests WHERE id = :r"), {"r": request_id}).one()
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    assert QUESTION.encode() not in stored and ANSWER_TEXT.encode() not in stored

    kinds = [(f["kind"], f.get("version")) for e in audit_entries(world.gateway.services)
             for f in e.get("facts", []) if f.get("request") == request_id]
    assert kinds[1:] == [("clarification_requested", 1), ("clarification_answered", 1)]
    # The order drafted now, on the answered request, activates as any other.
    order = world.draft(request_id)
    for reviewer in world.reviewers[:2]:
        assert world.approve(order, reviewer).status_code == 200


def test_an_amendment_invalidates_the_order_drafted_on_the_version_before(world: World) -> None:
    request_id = world.submit()
    old = world.draft(request_id)
    assert world.approve(old, world.reviewers[0]).status_code == 200
    narrowed = {"fields": ["phoneNumber"], "subjects": [{"id": world.subjects[2]["id"]}],
                "legalBasis": "§ 100a StPO"}
    amended = ok(world.gateway.post(world.authority, AMEND, variables={"r": request_id, "m": narrowed}),
                 "amendRequest")
    assert amended == {"status": "PENDING", "version": 2}

    late = world.approve(old, world.reviewers[1])
    assert late.status_code == 403 and code(late) == "REQUEST_AMENDED"
    refused = world.gateway.post(world.authority, DISCLOSE, order=old["id"])
    assert refused.status_code == 403 and code(refused) == "ORDER_NOT_ACTIVE"

    # The authority sees the diff, never what its selectors resolved to.
    versions = ok(world.gateway.post(world.authority, VERSIONS, variables={"r": request_id}), "requestById")
    assert versions["version"] == 2 and [v["version"] for v in versions["versions"]] == [1, 2]
    assert versions["versions"][0]["changes"] == []
    assert {c["field"]: (json.loads(c["before"]), json.loads(c["after"])) for c in versions["versions"][1]["changes"]} \
        == {"subjects": (3, 1), "fields": (["phoneNumber", "ipAddresses", "usernameHistory"], ["phoneNumber"]),
            "legalBasis": ("§ 100g StPO", "§ 100a StPO")}
    assert code(world.gateway.post(world.authority, REVIEWER_DIFF, variables={"r": request_id})) == "FORBIDDEN_ROLE"
    diff = ok(world.gateway.post(world.reviewers[2], REVIEWER_DIFF, variables={"r": request_id}), "requestById")
    assert diff["versions"][1]["resolvedSubjectIds"] == [world.subjects[2]["id"]]
    assert set(diff["versions"][1]["subjectsRemoved"]) == {world.subjects[0]["id"], world.subjects[1]["id"]}
    assert diff["versions"][1]["subjectsAdded"] == []

    # An order drafted on the new version takes the new scope and activates.
    new = world.draft(request_id)
    document = json.loads(new["document"])
    assert document["fields"] == ["phoneNumber"] and document["subjects"] == [world.subjects[2]["id"]]
    assert document["legal_basis"] == "§ 100a StPO"
    for reviewer in world.reviewers[:2]:
        assert world.approve(new, reviewer).status_code == 200
    # Granted now: no further amendment.
    again = world.gateway.post(world.authority, AMEND, variables={"r": request_id, "m": {"fields": ["devices"]}})
    assert again.status_code == 400 and "GRANTED" in again.json()["errors"][0]["message"]
    facts = [f for e in audit_entries(world.gateway.services) for f in e.get("facts", [])
             if f["kind"] == "request_amended"]
    assert facts == [{"kind": "request_amended", "request": request_id, "version": 2,
                      "changed": ["subjects", "fields", "legal_basis"], "selectors": 1}]


def test_an_amendment_that_changes_nothing_or_widens_is_judged_like_a_submission(world: World) -> None:
    request_id = world.submit()
    same = world.gateway.post(world.authority, AMEND, variables={"r": request_id, "m": {"fields": [
        "phoneNumber", "ipAddresses", "usernameHistory"]}})
    assert same.status_code == 400 and "changes nothing" in same.json()["errors"][0]["message"]
    empty = world.gateway.post(world.authority, AMEND, variables={"r": request_id, "m": {}})
    assert empty.status_code == 400
    unknown = world.gateway.post(world.authority, AMEND, variables={"r": request_id, "m": {"fields": ["password"]}})
    assert unknown.status_code == 400 and "password" not in unknown.text
    foreign = world.gateway.post(world.other_authority, AMEND, variables={"r": request_id,
                                                                          "m": {"fields": ["devices"]}})
    assert foreign.status_code == 400 and "no such request" in foreign.text


def test_an_answer_may_amend_in_the_same_step(world: World) -> None:
    request_id = world.submit()
    old = world.draft(request_id)
    ok(world.gateway.post(world.reviewers[0], ASK, variables={"r": request_id, "q": QUESTION}), "requestClarification")
    answered = ok(world.gateway.post(world.authority, ANSWER, variables={
        "r": request_id, "a": ANSWER_TEXT, "m": {"dataWindow": {"from": "2026-03-01T00:00:00Z",
                                                               "until": "2026-06-01T00:00:00Z"}}}),
        "answerClarification")
    assert answered == {"status": "PENDING", "version": 2}
    assert code(world.approve(old, world.reviewers[0])) == "REQUEST_AMENDED"
    thread = ok(world.gateway.post(world.authority, THREAD, variables={"r": request_id}), "requestById")
    assert [m["version"] for m in thread["clarifications"]] == [1, 2]
    entry = next(e for e in audit_entries(world.gateway.services)
                 if any(f["kind"] == "clarification_answered" for f in e.get("facts", [])))
    assert [f["kind"] for f in entry["facts"]] == ["clarification_answered", "request_amended"]
    assert entry["facts"][0]["amended"] is True and entry["facts"][1]["changed"] == ["data_window"]


def test_a_withdrawal_revokes_the_active_order_in_the_same_step(world: World) -> None:
    order = world.active_order()
    request_id = json.loads(order["document"])["request_id"]
    pending = world.draft(request_id)
    assert world.approve(pending, world.reviewers[0]).status_code == 200
    assert world.gateway.post(world.authority, DISCLOSE, order=order["id"]).status_code == 200

    withdrawn = ok(world.gateway.post(world.authority, WITHDRAW, variables={"r": request_id, "why": REASON}),
                   "withdrawRequest")
    assert withdrawn == {"status": "WITHDRAWN", "withdrawalReason": REASON}
    refused = world.gateway.post(world.authority, DISCLOSE, order=order["id"])
    assert refused.status_code == 403 and code(refused) == "ORDER_REVOKED"
    # The pending approval fails; nothing more is decided on the request.
    late = world.approve(pending, world.reviewers[1])
    assert late.status_code == 403 and code(late) == "ORDER_REVOKED"
    for actor, query, variables in (
            (world.reviewers[0], ASK, {"r": request_id, "q": QUESTION}),
            (world.authority, WITHDRAW, {"r": request_id, "why": REASON}),
            (world.authority, AMEND, {"r": request_id, "m": {"fields": ["devices"]}}),
            (world.reviewers[0], "mutation($r: ID!) { rejectRequest(requestId: $r, reason: \"late\") { id } }",
             {"r": request_id})):
        answer = world.gateway.post(actor, query, variables=variables)
        assert answer.status_code == 403 and code(answer) == "REQUEST_WITHDRAWN", answer.text
    for order_id in (order["id"], pending["id"]):
        state = ok(world.gateway.post(world.auditor, ORDER_STATUS, variables={"o": order_id}), "orderById")
        assert state["status"] == "REVOKED" and REASON not in str(state)
    facts = [f for e in audit_entries(world.gateway.services) for f in e.get("facts", [])
             if f["kind"] == "request_withdrawn"]
    assert len(facts) == 1 and sorted(facts[0]["orders"]) == sorted([order["id"], pending["id"]])
    assert facts[0] == {"kind": "request_withdrawn", "request": request_id, "orders": facts[0]["orders"]}


def test_a_rejected_request_is_not_withdrawn(world: World) -> None:
    request_id = world.submit()
    ok(world.gateway.post(world.reviewers[0], "mutation($r: ID!) { rejectRequest(requestId: $r, reason: \"no\") "
                                              "{ status } }", variables={"r": request_id}), "rejectRequest")
    refused = world.gateway.post(world.authority, WITHDRAW, variables={"r": request_id, "why": REASON})
    assert refused.status_code == 400 and "rejected" in refused.json()["errors"][0]["message"]


def test_free_text_never_reaches_an_audit_entry_or_a_log_line(world: World,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    request_id = world.submit()
    ok(world.gateway.post(world.reviewers[0], ASK, variables={"r": request_id, "q": QUESTION}), "requestClarification")
    ok(world.gateway.post(world.authority, ANSWER, variables={"r": request_id, "a": ANSWER_TEXT,
                                                             "m": {"legalBasis": "Art. 18 Cybercrime Convention"}}),
       "answerClarification")
    ok(world.gateway.post(world.authority, WITHDRAW, variables={"r": request_id, "why": REASON}), "withdrawRequest")
    entries = audit_entries(world.gateway.services)
    written = json.dumps(entries) + caplog.text
    for secret in (QUESTION, ANSWER_TEXT, REASON, "Art. 18 Cybercrime Convention", "Mustermann", "7f3a"):
        assert secret not in written
    kinds = {f["kind"] for e in entries for f in e.get("facts", [])}
    assert {"clarification_requested", "clarification_answered", "request_amended", "request_withdrawn"} <= kinds


def test_an_unaudited_withdrawal_or_amendment_is_undone(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """As every review action (tests/gateway/test_mutation_atomicity.py): no change stands without its entry."""
    from tests.gateway.test_mutation_atomicity import break_the_audit_log, unavailable

    order = world.active_order()
    request_id = json.loads(order["document"])["request_id"]
    pending_id = world.submit()
    before = world.gateway.services.orders.get_request(pending_id)
    break_the_audit_log(world, monkeypatch)
    assert unavailable(world.gateway.post(world.authority, WITHDRAW, variables={"r": request_id, "why": REASON}))
    assert unavailable(world.gateway.post(world.authority, AMEND, variables={"r": pending_id,
                                                                             "m": {"fields": ["devices"]}}))
    assert unavailable(world.gateway.post(world.reviewers[0], ASK, variables={"r": pending_id, "q": QUESTION}))
    monkeypatch.undo()
    assert world.gateway.services.orders.get_request(request_id).status == "GRANTED"
    after = world.gateway.services.orders.get_request(pending_id)
    assert (after.status, after.version, after.fields, after.clarifications) == (
        "PENDING", 1, before.fields, [])
    assert world.gateway.post(world.authority, DISCLOSE, order=order["id"]).status_code == 200
