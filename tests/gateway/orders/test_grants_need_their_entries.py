"""Nothing a database edit writes grants anything (docs/PROTOCOL.md §3, §14, §16.1, §16.2).

Every fact that grants (an emergency's verification, a court order's attachment and the
continuation it makes, an approval, a preservation grant or extension) is proven by the audit entry
that recorded it, as a revocation is; and one Ed25519 key counts once across the verification and
the approvals. Each case below walks an order or a hold through the API, then writes what a grant
would have written straight into the database (bumping the state version, so no cache hides it),
and checks that nothing is granted: the order is not ACTIVE and disclosure is refused with its
code, or the hold is not active and retention does not keep its subjects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from crypto.keys import encode_public_key
from crypto.signing import ORDER_DOMAIN, sign_over
from gateway.lifecycle.preservation import Preservations
from gateway.orders.emergency import CourtOrder, continuation_text
from gateway.principals.registry import Role
from gateway.values.times import format_time
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.harness import Actor
from tests.support.jwt import kid_of
from tests.support.lifecycle import EXTEND_HOLD, GRANT_HOLD, SUBMIT_HOLD
from tests.support.world import World

EMERGENCY = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id } }"
VERIFY = ("mutation($r: ID!, $m: VerificationMethod!, $n: String!) "
          "{ verifyEmergency(requestId: $r, method: $m, note: $n) { id } }")
ATTACH = "mutation($r: ID!, $h: String!) { attachCourtOrder(requestId: $r, courtOrderSha256: $h) { id } }"
DRAFT = "mutation($i: DraftOrderInput!) { draftOrder(input: $i) { id document } }"
APPROVE = "mutation($o: ID!, $s: String!) { approveOrder(orderId: $o, signature: $s) { status } }"
REVOKE = "mutation($o: ID!, $r: String!) { revokeOrder(orderId: $o, reason: $r) { status } }"
ORDER = "query($id: ID!) { orderById(id: $id) { status document } }"
HOLDS = "{ preservations { id status active grantedUntil } }"
DISCLOSE = "{ order { subjects { id phoneNumber { ciphertext } } } }"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
COURT_ORDER = "cd" * 32


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def edit(world: World, statement: str, **values: Any) -> None:
    """Write straight into the database, and bump the state version as a careful editor would,
    so that what the gateway caches cannot be what keeps the edit from granting."""
    with world.gateway.services.db.engine.begin() as connection:
        connection.execute(text(statement), values)
        connection.execute(text("UPDATE state_versions SET version = version + 1"))


def edit_details(world: World, request_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    with world.gateway.services.db.engine.connect() as connection:
        details = json.loads(connection.execute(text("SELECT details FROM legal_requests WHERE id = :i"),
                                                {"i": request_id}).scalar_one())
    change(details)
    edit(world, "UPDATE legal_requests SET details = :d WHERE id = :i", d=json.dumps(details), i=request_id)


def held_subjects(world: World, now: datetime) -> set[str]:
    """The subjects retention would keep for holds at ``now``."""
    services = world.gateway.services
    return Preservations(services.db, services.subjects, services.vault).held_subjects(now)


def kid(world: World, actor: Actor) -> str:
    return world.gateway.services.registry.get(actor.id).keys[0].kid


class Walk:
    """One world at the test's clock, with the steps the cases share."""

    def __init__(self, world: World, clock: Clock) -> None:
        self.world, self.clock = world, clock
        self.r0, self.r1, self.r2 = world.reviewers

    def post(self, actor: Actor, query: str, variables: dict[str, Any] | None = None, *,
             order: str | None = None) -> Any:
        return post_at(self.world, self.clock, actor, query, variables, order=order)

    def emergency(self, **extra: Any) -> str:
        request = extra | {"caseReference": "EIL 2026/12", "court": "none yet", "jurisdiction": "DE",
                   "legalBasis": "§ 100g StPO", "offenseCategory": "VIOLENT_CRIME",
                   "subjects": [{"id": self.world.subjects[0]["id"]}], "fields": ["phoneNumber", "ipAddresses"],
                   "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
                   "justification": "kidnapping in progress", "emergency": True,
                   "imminentRisk": "a hostage is threatened"}
        response = self.post(self.world.authority, EMERGENCY, {"i": request})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["submitRequest"]["id"])

    def normal(self) -> str:
        request = {"caseReference": "AZ 1/26", "court": "AG Tiergarten", "jurisdiction": "DE",
                   "legalBasis": "§ 100g StPO", "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32,
                   "subjects": [{"id": self.world.subjects[0]["id"]}], "fields": ["phoneNumber"],
                   "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
                   "justification": "fraud"}
        response = self.post(self.world.authority, EMERGENCY, {"i": request})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["submitRequest"]["id"])

    def verify(self, request_id: str, reviewer: Actor) -> None:
        response = self.post(reviewer, VERIFY, {"r": request_id, "m": "CALLBACK_KNOWN_NUMBER", "n": "duty desk"})
        assert response.status_code == 200, response.text

    def draft(self, request_id: str) -> dict[str, Any]:
        response = self.post(self.r0, DRAFT, {"i": {"requestId": request_id, "validUntil": "2026-12-31T00:00:00Z",
                                                    "maxQueries": 20}})
        assert response.status_code == 200, response.text
        return dict(response.json()["data"]["draftOrder"])

    def document(self, order_id: str) -> str:
        """What reviewers are shown to sign: the document, or its continuation text once there is one."""
        return str(self.post(self.r2, ORDER, {"id": order_id}).json()["data"]["orderById"]["document"])

    def approve(self, order_id: str, reviewer: Actor, *, key: Any = None) -> Any:
        signature = sign_over(ORDER_DOMAIN, self.document(order_id).encode(), key or reviewer.signing_key)
        return self.post(reviewer, APPROVE, {"o": order_id, "s": signature})

    def status(self, order_id: str) -> str:
        return str(self.post(self.r2, ORDER, {"id": order_id}).json()["data"]["orderById"]["status"])

    def disclose(self, order_id: str) -> Any:
        return self.post(self.world.authority, DISCLOSE, order=order_id)

    def refused(self, order_id: str, expected: str) -> None:
        """The order discloses nothing, refused with ``expected``, and is not ACTIVE."""
        response = self.disclose(order_id)
        assert response.status_code == 403 and code(response) == expected, response.text
        assert self.status(order_id) != "ACTIVE"

    def verified_order(self) -> tuple[str, dict[str, Any]]:
        request_id = self.emergency()
        self.verify(request_id, self.r0)
        return request_id, self.draft(request_id)

    def insert_approval(self, table: str, order_id: str, reviewer_id: str, key_id: str, signature: str,
                        entry: str | None = None) -> None:
        """An approval row; ``entry`` is the audit entry it claims (only the fixed code has the column)."""
        named = (", audit_request_id", ", :e") if entry is not None else ("", "")
        edit(self.world, f"INSERT INTO {table} (order_id, reviewer_id, kid, signature, created_at{named[0]}) "
                         f"VALUES (:o, :r, :k, :s, :t{named[1]})", o=order_id, r=reviewer_id, k=key_id,
             s=signature, t=self.clock.unix, e=entry)

    def verifier_key_under(self, reviewer: Actor) -> str:
        """The verifier's (r0's) public key written under ``reviewer``'s id; its kid."""
        key = self.r0.signing_key
        edit(self.world, "INSERT INTO principal_keys (principal_id, kid, public_key, status, created_at) "
                         "VALUES (:p, :k, :v, 'active', 0)",
             p=reviewer.id, k=kid_of(key), v=encode_public_key(key.verify_key))
        return kid_of(key)

    def hold(self) -> str:
        response = self.post(self.world.authority, SUBMIT_HOLD, {"i": {
            "subjects": [{"id": self.world.subjects[1]["id"]}], "caseReference": "PV 1", "jurisdiction": "DE",
            "legalBasis": "§ 100g StPO", "until": format_time(START + timedelta(days=10))}})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["submitPreservation"]["id"])

    def hold_not_granted(self, hold_id: str) -> None:
        holds = {h["id"]: h for h in self.post(self.r2, HOLDS).json()["data"]["preservations"]}
        assert holds[hold_id]["active"] is False, holds[hold_id]
        assert self.world.subjects[1]["id"] not in held_subjects(self.world, self.clock.now)


# -- the cases: each edits one row or column that a grant writes ----------------------------------


def continuation_row_after_lapse(walk: Walk) -> None:
    """(a) A well-formed continuation, its court order "attached" before the lapse, inserted after it."""
    request_id, order = walk.verified_order()
    assert walk.approve(order["id"], walk.r1).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    walk.clock.advance(hours=49)
    walk.refused(order["id"], "ORDER_LAPSED")
    attached = CourtOrder(COURT_ORDER, START + timedelta(hours=1))

    def attach(details: dict[str, Any]) -> None:
        details["court_order_sha256"] = COURT_ORDER
        details["court_order_attached_at"] = format_time(attached.attached_at)

    edit_details(walk.world, request_id, attach)
    edit(walk.world, "INSERT INTO order_continuations (order_id, document, created_at) VALUES (:o, :d, :t)",
         o=order["id"], d=continuation_text(json.loads(order["document"]), attached), t=walk.clock.unix)
    walk.approve(order["id"], walk.r2)  # a reviewer who trusts what the order shows signs the continuation
    walk.refused(order["id"], "ORDER_LAPSED")


def court_order_with_the_request(walk: Walk) -> None:
    """An emergency request's row given the court order it did not come with, naming its own
    submission's entry; an order drafted from it then gets a continuation at once."""
    request_id = walk.emergency()
    walk.verify(request_id, walk.r0)
    with walk.world.gateway.services.db.engine.connect() as connection:
        submitted = next(rid for rid, entry in connection.execute(text("SELECT request_id, entry FROM audit_entries"))
                         if any(f.get("kind") == "request_submitted" and f.get("request") == request_id
                                for f in json.loads(entry).get("facts", [])))

    def attach(details: dict[str, Any]) -> None:
        details["court_order_sha256"] = COURT_ORDER
        details["court_order_attached_at"] = format_time(START)
        details["court_order_entry"] = submitted

    edit_details(walk.world, request_id, attach)
    order = walk.draft(request_id)
    walk.approve(order["id"], walk.r1)
    walk.clock.advance(hours=49)
    walk.approve(order["id"], walk.r2)
    walk.refused(order["id"], "ORDER_LAPSED")


def continuation_approval_row(walk: Walk) -> None:
    """A reviewer's signature over a genuine continuation, written as a row instead of approved."""
    request_id, order = walk.verified_order()
    walk.approve(order["id"], walk.r1)
    walk.clock.advance(hours=24)
    assert walk.post(walk.world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER}).status_code == 200
    walk.clock.advance(hours=25)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")
    signature = sign_over(ORDER_DOMAIN, walk.document(order["id"]).encode(), walk.r2.signing_key)
    walk.insert_approval("order_continuation_approvals", order["id"], walk.r2.id, kid(walk.world, walk.r2),
                         signature)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def verification_columns(walk: Walk) -> None:
    """A secondary verification written into the request, never recorded by verifyEmergency."""
    request_id = walk.emergency()

    def verified(details: dict[str, Any]) -> None:
        details["emergency_verification"] = {"by": walk.r0.id, "at": format_time(START),
                                             "method": "CALLBACK_KNOWN_NUMBER"}

    edit_details(walk.world, request_id, verified)
    order = walk.draft(request_id)
    assert json.loads(order["document"])["emergency"]["verification"]["by"] == walk.r0.id
    walk.approve(order["id"], walk.r1)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def verification_by_edited(walk: Walk) -> None:
    """A genuine verification by r0, its verifier rewritten to r2, so that r0's approval would count."""
    request_id = walk.emergency()
    walk.verify(request_id, walk.r0)
    edit_details(walk.world, request_id, lambda details: details["emergency_verification"].update(by=walk.r2.id))
    order = walk.draft(request_id)
    walk.approve(order["id"], walk.r0)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def approval_rows(walk: Walk) -> None:
    """Two reviewers' genuine signatures over an order, written as rows instead of approved."""
    order = walk.draft(walk.normal())
    for reviewer in (walk.r0, walk.r1):
        signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)
        walk.insert_approval("order_approvals", order["id"], reviewer.id, kid(walk.world, reviewer), signature)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def forged_second_approval(walk: Walk, forger: Actor, entry: str) -> None:
    """An order with one genuine approval (the reviewer who is not ``forger``), and ``forger``'s
    signature over it written as a row that names ``entry``, a real entry that records something else."""
    order = walk.draft(walk.normal())
    genuine = walk.r1 if forger is walk.r0 else walk.r0
    assert walk.approve(order["id"], genuine).json()["data"]["approveOrder"]["status"] == "PENDING_APPROVAL"
    signature = sign_over(ORDER_DOMAIN, order["document"].encode(), forger.signing_key)
    walk.insert_approval("order_approvals", order["id"], forger.id, kid(walk.world, forger), signature, entry=entry)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def approval_row_naming_another_orders_approval(walk: Walk) -> None:
    """r0's approval row naming the entry of r0's genuine approval of another order."""
    other = walk.draft(walk.normal())
    approved = walk.approve(other["id"], walk.r0)
    assert approved.status_code == 200, approved.text
    forged_second_approval(walk, walk.r0, str(approved.json()["extensions"]["audit"]["request_id"]))


def approval_row_naming_a_refused_entry(walk: Walk) -> None:
    """r1's approval row naming the entry of r1's refused approveOrder, its decision column set to served."""
    other = walk.draft(walk.normal())
    refused = walk.post(walk.r1, APPROVE, {"o": other["id"], "s": "AAAA"})
    assert refused.status_code == 400, refused.text
    entry = str(refused.json()["extensions"]["audit"]["request_id"])
    edit(walk.world, "UPDATE audit_entries SET decision = 'served' WHERE request_id = :r", r=entry)
    forged_second_approval(walk, walk.r1, entry)


def verifier_key_row(walk: Walk) -> None:
    """(b) The verifier's key written under r1's id, and an approval row of r1 signed with it."""
    _, order = walk.verified_order()
    key_id = walk.verifier_key_under(walk.r1)
    signature = sign_over(ORDER_DOMAIN, order["document"].encode(), walk.r0.signing_key)
    walk.insert_approval("order_approvals", order["id"], walk.r1.id, key_id, signature)
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def verifier_key_via_the_api(walk: Walk) -> None:
    """(b) The verifier's key written under r1's id, then used to approve as r1 through the API: the
    approval is logged, but its key is the verifier's, which cannot also count as an approval."""
    _, order = walk.verified_order()
    walk.verifier_key_under(walk.r1)
    as_r1 = Actor(walk.r1.id, Role.REVIEWER, walk.r0.signing_key)
    response = walk.approve(order["id"], as_r1)
    assert response.status_code == 200, response.text
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def one_key_under_two_ids(walk: Walk) -> None:
    """A normal order: r0 approves, and r0's key under r1's id approves as r1; one key, one approval."""
    order = walk.draft(walk.normal())
    walk.verifier_key_under(walk.r1)
    walk.approve(order["id"], walk.r0)
    assert walk.approve(order["id"], Actor(walk.r1.id, Role.REVIEWER, walk.r0.signing_key)).status_code == 200
    walk.refused(order["id"], "ORDER_NOT_ACTIVE")


def revocation_columns_cleared(walk: Walk) -> None:
    """An ACTIVE order revoked, and its row's revocation columns cleared again."""
    order = walk.draft(walk.normal())
    walk.approve(order["id"], walk.r0)
    assert walk.approve(order["id"], walk.r1).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    assert walk.post(walk.r2, REVOKE, {"o": order["id"], "r": "withdrawn"}).status_code == 200
    edit(walk.world, "UPDATE orders SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL WHERE id = :i",
         i=order["id"])
    walk.refused(order["id"], "ORDER_REVOKED")


def preservation_granted(walk: Walk) -> None:
    """A pending hold's row flipped to GRANTED."""
    hold_id = walk.hold()
    edit(walk.world, "UPDATE preservations SET status = 'GRANTED', granted_until = :u, decided_by = :r, "
                     "decided_at = :t WHERE id = :i",
         u=int((START + timedelta(days=10)).timestamp()), r=walk.r0.id, t=walk.clock.unix, i=hold_id)
    walk.hold_not_granted(hold_id)


def preservation_extended(walk: Walk) -> None:
    """A granted hold's end moved 60 days on in its row, with no extension, and that end not yet come."""
    hold_id = walk.hold()
    assert walk.post(walk.r0, GRANT_HOLD, {"id": hold_id}).status_code == 200
    edit(walk.world, "UPDATE preservations SET granted_until = :u, extended_at = :t WHERE id = :i",
         u=int((START + timedelta(days=70)).timestamp()), t=walk.clock.unix, i=hold_id)
    walk.clock.advance(days=20)  # past the granted end, before the edited one
    walk.hold_not_granted(hold_id)


EDITS: dict[str, Callable[[Walk], None]] = {case.__name__: case for case in (
    continuation_row_after_lapse, court_order_with_the_request, continuation_approval_row, verification_columns,
    verification_by_edited, approval_rows, approval_row_naming_another_orders_approval,
    approval_row_naming_a_refused_entry, verifier_key_row, verifier_key_via_the_api, one_key_under_two_ids,
    revocation_columns_cleared, preservation_granted, preservation_extended)}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_an_edited_row_grants_nothing(world: World, clock: Clock, case: str) -> None:
    EDITS[case](Walk(world, clock))


def test_the_same_grants_made_through_the_api_do_grant(world: World, clock: Clock) -> None:
    """The control: each grant the cases forge, made through the API, counts (so the cases fail for
    the edit, not for the walk)."""
    walk = Walk(world, clock)
    request_id, order = walk.verified_order()
    assert walk.approve(order["id"], walk.r1).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    assert walk.disclose(order["id"]).status_code == 200
    walk.clock.advance(hours=24)
    assert walk.post(world.authority, ATTACH, {"r": request_id, "h": COURT_ORDER}).status_code == 200
    walk.clock.advance(hours=25)
    assert walk.approve(order["id"], walk.r2).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    assert walk.disclose(order["id"]).status_code == 200
    with_court_order = walk.emergency(courtOrderSha256=COURT_ORDER)
    walk.verify(with_court_order, walk.r0)
    continued = walk.draft(with_court_order)
    walk.approve(continued["id"], walk.r1)
    walk.clock.advance(hours=49)
    assert walk.approve(continued["id"], walk.r2).json()["data"]["approveOrder"]["status"] == "ACTIVE"
    assert walk.disclose(continued["id"]).status_code == 200
    hold_id = walk.hold()
    assert walk.post(walk.r0, GRANT_HOLD, {"id": hold_id}).json()["data"]["grantPreservation"]["active"] is True
    until = format_time(START + timedelta(days=70))
    extended = walk.post(world.authority, EXTEND_HOLD, {"id": hold_id, "u": until})
    assert extended.status_code == 200, extended.text
    walk.clock.advance(days=20)
    holds = {h["id"]: h for h in walk.post(walk.r2, HOLDS).json()["data"]["preservations"]}
    assert holds[hold_id]["active"] is True
    assert world.subjects[1]["id"] in held_subjects(world, walk.clock.now)
