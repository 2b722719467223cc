"""Legal requests and reviewer-signed orders (issue 4), through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from crypto.signing import ORDER_DOMAIN, sign_over
from gateway.principals.registry import PrincipalRegistry
from tests.support.harness import Actor
from tests.support.platform import on_both_sources  # noqa: F401  (every test here on both subject sources)
from tests.support.world import APPROVE, DRAFT, World

ORDER_STATUS = "query($o: ID!) { orderById(id: $o) { status approvals queriesUsed } }"


def status_of(world: World, order_id: str) -> str:
    response = world.gateway.post(world.auditor, ORDER_STATUS, variables={"o": order_id})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["orderById"]["status"])


def code(response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def test_one_approval_is_not_active_two_distinct_are(world: World) -> None:
    order = world.draft(world.submit())
    assert order["status"] == "PENDING_APPROVAL"
    first = world.approve(order, world.reviewers[0])
    assert first.json()["data"]["approveOrder"] == {"status": "PENDING_APPROVAL", "approvals": 1}
    second = world.approve(order, world.reviewers[1])
    assert second.json()["data"]["approveOrder"] == {"status": "ACTIVE", "approvals": 2}
    assert status_of(world, order["id"]) == "ACTIVE"


def test_one_reviewer_twice_counts_once(world: World) -> None:
    order = world.draft(world.submit())
    assert world.approve(order, world.reviewers[0]).status_code == 200
    again = world.approve(order, world.reviewers[0])
    assert again.status_code == 400 and "approved this order already" in again.text
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"


def test_a_duplicate_approval_row_inserted_in_the_database_counts_once(world: World) -> None:
    order = world.draft(world.submit())
    world.approve(order, world.reviewers[0])
    signature = sign_over(ORDER_DOMAIN, order["document"].encode(), world.reviewers[0].signing_key)
    with world.gateway.services.db.engine.begin() as conn:
        # The primary key forbids a second row for the same reviewer; forge one under another reviewer id.
        conn.execute(text("INSERT INTO order_approvals (order_id, reviewer_id, kid, signature, created_at) "
                          "VALUES (:o, :r, :k, :s, 0)"),
                     {"o": order["id"], "r": world.reviewers[1].id, "k": "0" * 16, "s": signature})
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"


def test_suspended_reviewers_approval_stops_counting(world: World) -> None:
    order = world.active_order()
    assert status_of(world, order["id"]) == "ACTIVE"
    PrincipalRegistry(world.gateway.services.db).set_status(world.reviewers[1].id, "suspended")
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"
    assert world.approve(order, world.reviewers[2]).json()["data"]["approveOrder"]["status"] == "ACTIVE"


def test_signature_over_other_bytes_is_refused(world: World) -> None:
    order = world.draft(world.submit())
    response = world.approve(order, world.reviewers[0], document=order["document"].replace("AZ", "XY"))
    assert response.status_code == 400 and code(response) == "BAD_REQUEST"
    assert "does not verify" in response.text
    garbage = world.gateway.post(world.reviewers[0], APPROVE, variables={"o": order["id"], "s": "not base64!"})
    assert code(garbage) == "BAD_REQUEST"


def tamper(world: World, order_id: str, new_text: str) -> None:
    with world.gateway.services.db.engine.begin() as conn:
        conn.execute(text("UPDATE orders SET document = :d WHERE id = :o"), {"d": new_text, "o": order_id})


def test_changing_any_byte_of_the_stored_document_deactivates_the_order(world: World) -> None:
    order = world.active_order()
    original = order["document"]
    services = world.gateway.services
    from datetime import UTC, datetime

    # Every byte position, changed to another character: each load must fall from ACTIVE.
    positions = range(len(original)) if services.db.dialect == "sqlite" else range(0, len(original), 7)
    for position in positions:
        replacement = "0" if original[position] != "0" else "1"
        tamper(world, order["id"], original[:position] + replacement + original[position + 1:])
        state = services.orders.load(order["id"], now=datetime.now(UTC))
        assert state.status.value != "ACTIVE", position
    tamper(world, order["id"], original)
    assert status_of(world, order["id"]) == "ACTIVE"


def test_adding_a_field_to_the_stored_document_deactivates_the_order(world: World) -> None:
    order = world.active_order()
    tamper(world, order["id"], order["document"][:-1] + ',"zz_extra":1}')
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"
    widened = order["document"].replace('"max_queries":5', '"max_queries":500')
    tamper(world, order["id"], widened)
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"


def test_editing_the_query_counter_down_grants_nothing(world: World) -> None:
    order = world.active_order(maxQueries=1)
    query = "{ order { subjects { phoneNumber { ciphertext } } } }"
    assert world.gateway.post(world.authority, query, order=order["id"]).status_code == 200
    with world.gateway.services.db.engine.begin() as conn:
        conn.execute(text("UPDATE orders SET queries_used = 0 WHERE id = :o"), {"o": order["id"]})
    refused = world.gateway.post(world.authority, query, order=order["id"])
    assert code(refused) == "ORDER_EXHAUSTED"


def test_revocation_takes_effect_on_the_next_request(world: World) -> None:
    order = world.active_order()
    query = "{ order { subjects { id phoneNumber { ciphertext } } } }"
    assert world.gateway.post(world.authority, query, order=order["id"]).status_code == 200
    revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"court order quashed\") { status revokedReason } }"
    response = world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]})
    assert response.json()["data"]["revokeOrder"] == {"status": "REVOKED", "revokedReason": "court order quashed"}
    refused = world.gateway.post(world.authority, query, order=order["id"])
    assert refused.status_code == 403 and code(refused) == "ORDER_REVOKED"
    assert code(world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]})) == "BAD_REQUEST"


def test_approving_a_revoked_or_expired_order_is_refused(world: World) -> None:
    order = world.draft(world.submit())
    revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"withdrawn\") { status } }"
    world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]})
    assert code(world.approve(order, world.reviewers[0])) == "ORDER_REVOKED"
    short = world.draft(world.submit(), validUntil=_in_seconds(2))
    real_clock = world.gateway.services.clock
    world.gateway.services.clock = lambda: real_clock() + timedelta(seconds=3)  # time is a parameter, not a sleep
    assert code(world.approve(short, world.reviewers[0])) == "ORDER_EXPIRED"


def _in_seconds(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_draft_defaults_to_the_whole_request_and_narrows(world: World) -> None:
    request_id = world.submit()
    whole = world.draft(request_id)
    assert '"fields":["ipAddresses","phoneNumber","usernameHistory"]' in whole["document"]
    narrowed = world.draft(request_id, fields=["phoneNumber"], subjectIds=[world.subjects[2]["id"]],
                           dataWindow={"from": "2026-03-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"})
    assert '"fields":["phoneNumber"]' in narrowed["document"]
    assert f'"subjects":["{world.subjects[2]["id"]}"]' in narrowed["document"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"fields": ["devices"]}, "fields the request did not"),
    ({"subjectIds": ["sub_not_in_request"]}, "subjects the request did not"),
    ({"dataWindow": {"from": "2025-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}}, "outside the request"),
    ({"dataWindow": {"from": "2026-05-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}}, "before"),
    ({"subjectIds": []}, "at least one subject"),
    ({"fields": ["email"]}, "unknown field name"),
    ({"maxQueries": 0}, "maxQueries"),
    ({"validUntil": "2020-01-01T00:00:00Z"}, "before"),
])
def test_wider_or_malformed_drafts_are_refused(world: World, overrides: dict, message: str) -> None:
    request_id = world.submit()
    draft = {"requestId": request_id, "validUntil": "2027-01-31T00:00:00Z", "maxQueries": 5} | overrides
    response = world.gateway.post(world.reviewers[0], DRAFT, variables={"i": draft})
    assert response.status_code == 400, response.text
    assert code(response) == "BAD_REQUEST" and message in response.json()["errors"][0]["message"]


def test_unknown_ids_are_refused(world: World) -> None:
    draft = {"requestId": "req_nope", "validUntil": "2027-01-31T00:00:00Z", "maxQueries": 5}
    assert code(world.gateway.post(world.reviewers[0], DRAFT, variables={"i": draft})) == "BAD_REQUEST"
    response = world.gateway.post(world.reviewers[0], APPROVE, variables={"o": "ord_nope", "s": "AAAA"})
    assert code(response) == "ORDER_NOT_FOUND"
    assert code(world.gateway.post(world.auditor, ORDER_STATUS, variables={"o": "ord_nope"})) == "ORDER_NOT_FOUND"


def test_rejecting_a_request(world: World) -> None:
    request_id = world.submit()
    reject = "mutation($r: ID!) { rejectRequest(requestId: $r, reason: \"no legal basis\") { status rejectionReason } }"
    response = world.gateway.post(world.reviewers[0], reject, variables={"r": request_id})
    assert response.json()["data"]["rejectRequest"] == {"status": "REJECTED", "rejectionReason": "no legal basis"}
    draft = {"requestId": request_id, "validUntil": "2027-01-31T00:00:00Z", "maxQueries": 5}
    assert "rejected" in world.gateway.post(world.reviewers[0], DRAFT, variables={"i": draft}).text
    assert code(world.gateway.post(world.reviewers[0], reject, variables={"r": request_id})) == "BAD_REQUEST"


@pytest.mark.parametrize(("change", "message"), [
    ({"subjects": []}, "at least one subject selector"),
    ({"fields": ["email"]}, "unknown field name"),
    ({"fields": []}, "at least one field"),
    ({"dataWindow": {"from": "2026-05-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}}, "before"),
    ({"courtOrderSha256": "xyz"}, "courtOrderSha256"),
    ({"jurisdiction": "Germany"}, "jurisdiction"),
    ({"subjects": [{"phoneNumber": "+4915112345678", "username": "both"}]}, "exactly one"),
    ({"caseReference": "  "}, "caseReference"),
])
def test_malformed_requests_are_refused(world: World, change: dict, message: str) -> None:
    from tests.support.world import SUBMIT

    request = {"caseReference": "AZ 1", "court": "AG", "jurisdiction": "DE", "legalBasis": "§100g",
               "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "subjects": [{"id": "sub_x"}],
               "fields": ["phoneNumber"], "justification": "j",
               "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"}} | change
    response = world.gateway.post(world.authority, SUBMIT, variables={"i": request})
    assert response.status_code == 400 and code(response) == "BAD_REQUEST", response.text
    assert message in response.json()["errors"][0]["message"]


def test_authorities_see_their_own_requests_and_never_what_resolved(world: World) -> None:
    request_id = world.submit(selectors=[{"phoneNumber": world.subjects[0]["phone"]}, {"phoneNumber": "+4930901820"}])
    own = world.gateway.post(world.authority, "{ requests { id status caseReference } }")
    assert [r["id"] for r in own.json()["data"]["requests"]] == [request_id]
    assert world.gateway.post(world.other_authority, "{ requests { id } }").json()["data"]["requests"] == []
    leak = world.gateway.post(world.authority, "{ requests { resolvedSubjectIds } }")
    assert code(leak) == "FORBIDDEN_ROLE"
    hidden = world.gateway.post(world.authority, "{ requests { ... on LegalRequest { unresolvedSelectors } } }")
    assert code(hidden) == "FORBIDDEN_ROLE"
    other = world.gateway.post(world.other_authority, "query($r: ID!) { requestById(id: $r) { id } }",
                               variables={"r": request_id})
    assert code(other) == "BAD_REQUEST"
    reviewer_view = world.gateway.post(world.reviewers[0], "query($r: ID!) { requestById(id: $r) { resolvedSubjectIds "
                                       "unresolvedSelectors } }", variables={"r": request_id})
    assert reviewer_view.json()["data"]["requestById"] == {"resolvedSubjectIds": [world.subjects[0]["id"]],
                                                           "unresolvedSelectors": 1}


@pytest.mark.parametrize(("actor", "operation"), [
    ("authority", "mutation { rejectRequest(requestId: \"r\", reason: \"x\") { id } }"),
    ("authority", "mutation { revokeOrder(orderId: \"o\", reason: \"x\") { id } }"),
    ("authority", "mutation { approveOrder(orderId: \"o\", signature: \"x\") { id } }"),
    ("authority", "{ orderById(id: \"o\") { id } }"),
    ("reviewer", "{ order { id } }"),
    ("reviewer", "{ subject(by: {id: \"s\"}) { id } }"),
    ("reviewer", "mutation { submitRequest(input: {caseReference: \"a\", court: \"b\", jurisdiction: \"DE\", "
                 "legalBasis: \"c\", offenseCategory: FRAUD, courtOrderSha256: \"d\", subjects: [], fields: [], "
                 "dataWindow: {from: \"x\", until: \"y\"}, justification: \"e\"}) { id } }"),
    ("auditor", "mutation { draftOrder(input: {requestId: \"r\", validUntil: \"v\", maxQueries: 1}) { id } }"),
    ("auditor", "{ requests { id } }"),
])
def test_operations_of_another_role_are_forbidden_role(world: World, actor: str, operation: str) -> None:
    caller = {"authority": world.authority, "reviewer": world.reviewers[0], "auditor": world.auditor}[actor]
    response = world.gateway.post(caller, operation)
    assert response.status_code == 403 and code(response) == "FORBIDDEN_ROLE", response.text


def test_request_is_granted_when_its_order_becomes_active(world: World) -> None:
    request_id = world.submit()
    order = world.draft(request_id)
    world.approve(order, world.reviewers[0])
    world.approve(order, world.reviewers[1])
    response = world.gateway.post(world.reviewers[0], "query($r: ID!) { requestById(id: $r) { status orderIds } }",
                                  variables={"r": request_id})
    assert response.json()["data"]["requestById"] == {"status": "GRANTED", "orderIds": [order["id"]]}


def test_request_selectors_and_justification_are_not_stored_in_plaintext(world: World) -> None:
    from tests.support.world import SUBMIT

    phone, username = world.subjects[0]["phone"], world.subjects[1]["username"]
    # The justification is read back to reviewers, so it quotes a person who is not a subject.
    other_phone, other_name = "+4930901820", "suspect_zeta"
    request = {"caseReference": "AZ 9", "court": "AG", "jurisdiction": "DE", "legalBasis": "§100g",
               "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32,
               "subjects": [{"phoneNumber": phone}, {"username": username}], "fields": ["phoneNumber"],
               "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"},
               "justification": f"the suspect {other_name} called from {other_phone} about the marked notes"}
    submitted = world.gateway.post(world.authority, SUBMIT, variables={"i": request})
    request_id = submitted.json()["data"]["submitRequest"]["id"]
    with world.gateway.services.db.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM legal_requests WHERE id = :i"), {"i": request_id}).one()
    stored = " ".join(v.hex() + v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
    for secret in (phone, username, other_phone, other_name, "marked notes"):
        assert secret not in stored
    shown = world.gateway.post(world.reviewers[0], "query($r: ID!) { requestById(id: $r) { justification } }",
                               variables={"r": request_id})
    assert shown.json()["data"]["requestById"]["justification"].endswith("about the marked notes")


def test_one_key_duplicated_under_two_reviewer_ids_in_the_database_approves_once(world: World) -> None:
    # Issue 11, finding 3: registration refuses this; a database edit that does it anyway grants nothing.
    anna, bob = world.reviewers[0], world.reviewers[1]
    anna_key = PrincipalRegistry(world.gateway.services.db).get(anna.id)
    assert anna_key is not None
    with world.gateway.services.db.engine.begin() as conn:
        conn.execute(text("UPDATE principal_keys SET public_key = :p, kid = :k WHERE principal_id = :b"),
                     {"p": anna_key.keys[0].public_key, "k": anna_key.keys[0].kid, "b": bob.id})
    order = world.draft(world.submit())
    assert world.approve(order, anna).json()["data"]["approveOrder"]["approvals"] == 1
    as_bob = Actor(bob.id, bob.role, anna.signing_key)  # anna's key, bob's id
    second = world.approve(order, as_bob)
    assert second.status_code == 200, second.text
    assert second.json()["data"]["approveOrder"] == {"status": "PENDING_APPROVAL", "approvals": 1}
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"
    refused = world.gateway.post(world.authority, "{ order { subjects { phoneNumber { ciphertext } } } }",
                                 order=order["id"])
    assert code(refused) == "ORDER_NOT_ACTIVE"


def test_a_concurrent_twin_of_an_approval_is_refused_not_a_500(world: World,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 11, finding 6: the twin's row lands between this request's check and its insert, as when
    # one reviewer sends the same approveOrder several times at once.
    order = world.draft(world.submit())
    reviewer = world.reviewers[0]
    signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)
    orders = world.gateway.services.orders
    original = orders.load
    kid = PrincipalRegistry(world.gateway.services.db).get(reviewer.id).keys[0].kid  # type: ignore[union-attr]

    def load_then_lose_the_race(order_id: str, *, now: Any) -> Any:
        state = original(order_id, now=now)
        monkeypatch.setattr(orders, "load", original)
        with world.gateway.services.db.engine.begin() as conn:
            conn.execute(text("INSERT INTO order_approvals (order_id, reviewer_id, kid, signature, created_at) "
                              "VALUES (:o, :r, :k, :s, 0)"),
                         {"o": order_id, "r": reviewer.id, "k": kid, "s": signature})
        return state

    monkeypatch.setattr(orders, "load", load_then_lose_the_race)
    response = world.gateway.post(reviewer, APPROVE, variables={"o": order["id"], "s": signature})
    assert response.status_code == 400, response.text
    assert code(response) == "BAD_REQUEST" and "approved this order already" in response.text
    assert status_of(world, order["id"]) == "PENDING_APPROVAL"  # the twin's one approval, counted once


def test_concurrent_duplicate_approvals_get_one_200_and_no_500(world: World) -> None:
    order = world.draft(world.submit())
    reviewer = world.reviewers[0]
    signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)

    def fire(_: int) -> int:
        return int(world.gateway.post(reviewer, APPROVE, variables={"o": order["id"], "s": signature}).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(fire, range(6)))
    assert statuses == [200, 400, 400, 400, 400, 400]


def test_clearing_the_revocation_columns_does_not_revive_the_order(world: World) -> None:
    # Issue 11, finding 2: the revocation is proven by its audit entry, which Orders.load checks.
    order = world.active_order()
    query = "{ order { subjects { id phoneNumber { ciphertext } } } }"
    revoke = "mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"court order quashed\") { status } }"
    response = world.gateway.post(world.reviewers[2], revoke, variables={"o": order["id"]})
    assert response.json()["data"]["revokeOrder"] == {"status": "REVOKED"}
    index = response.json()["extensions"]["audit"]["index"]
    with world.gateway.services.db.engine.begin() as conn:
        conn.execute(text("UPDATE orders SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL "
                          "WHERE id = :o"), {"o": order["id"]})
        entry = json.loads(conn.execute(text("SELECT entry FROM audit_entries WHERE idx = :i"),
                                        {"i": index}).scalar_one())
    assert (entry["action"], entry["order_id"], entry["decision"]) == ("revoke_order", order["id"], "served")
    refused = world.gateway.post(world.authority, query, order=order["id"])
    assert refused.status_code == 403 and code(refused) == "ORDER_REVOKED", refused.text
    assert status_of(world, order["id"]) == "REVOKED"


def test_a_revocation_refused_with_its_request_proves_nothing(world: World) -> None:
    order = world.active_order()
    # The second field fails, so the whole request is refused and the revocation undone.
    both = ("mutation($o: ID!) { revokeOrder(orderId: $o, reason: \"r\") { status } "
            "approveOrder(orderId: $o, signature: \"AAAA\") { status } }")
    refused = world.gateway.post(world.reviewers[2], both, variables={"o": order["id"]})
    assert code(refused) == "ORDER_REVOKED", refused.text  # approveOrder saw this request's own revocation
    assert status_of(world, order["id"]) == "ACTIVE"
