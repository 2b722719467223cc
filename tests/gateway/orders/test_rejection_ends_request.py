"""A rejection ends the request (docs/PROTOCOL.md §3): later approvals of its orders are refused,
and no order of a REJECTED request becomes ACTIVE or discloses, even when the rejection and the
activating approval arrive together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from tests.support.lifecycle import audit_entries
from tests.support.world import World

REJECT = "mutation($r: ID!) { rejectRequest(requestId: $r, reason: \"no legal basis\") { status } }"
STATUS = "query($o: ID!) { orderById(id: $o) { status approvals } }"
DISCLOSE = "{ order { subjects { phoneNumber { ciphertext } } } }"


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def request_status(world: World, request_id: str) -> str:
    with world.gateway.services.db.engine.connect() as connection:
        return str(connection.execute(text("SELECT status FROM legal_requests WHERE id = :r"),
                                      {"r": request_id}).scalar_one())


def test_an_approval_after_the_rejection_is_refused_and_the_order_never_activates(world: World) -> None:
    request_id = world.submit()
    order = world.draft(request_id)
    assert world.approve(order, world.reviewers[0]).status_code == 200
    rejected = world.gateway.post(world.reviewers[2], REJECT, variables={"r": request_id})
    assert rejected.status_code == 200 and rejected.json()["data"]["rejectRequest"]["status"] == "REJECTED"

    second = world.approve(order, world.reviewers[1])
    assert second.status_code == 400 and code(second) == "BAD_REQUEST"
    assert "rejected" in second.json()["errors"][0]["message"]
    state = world.gateway.post(world.auditor, STATUS, variables={"o": order["id"]}).json()["data"]["orderById"]
    assert state == {"status": "PENDING_APPROVAL", "approvals": 1}
    disclosed = world.gateway.post(world.authority, DISCLOSE, order=order["id"])
    assert disclosed.status_code == 403 and code(disclosed) == "ORDER_NOT_ACTIVE"
    assert request_status(world, request_id) == "REJECTED"
    # The figures see a rejected request, never a granted one.
    kinds = [f["kind"] for e in audit_entries(world.gateway.services) for f in e.get("facts", [])
             if f.get("request") == request_id]
    assert kinds.count("request_rejected") == 1
    assert not any(f.get("active") for e in audit_entries(world.gateway.services) for f in e.get("facts", [])
                   if f["kind"] == "order_approved")


def test_a_rejection_racing_the_activating_approval_leaves_one_of_them(world: World) -> None:
    """Six rejections and six copies of the approval that would activate the order, at once:
    either the request is REJECTED and the order never activated, or it is GRANTED and the order
    ACTIVE; never an ACTIVE order under a REJECTED request."""
    request_id = world.submit()
    order = world.draft(request_id)
    assert world.approve(order, world.reviewers[0]).status_code == 200
    ready = threading.Barrier(12)

    def one(i: int) -> int:
        ready.wait()
        if i % 2:
            return int(world.gateway.post(world.reviewers[2], REJECT, variables={"r": request_id}).status_code)
        return int(world.approve(order, world.reviewers[1]).status_code)

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(one, range(12)))
    rejections, approvals = statuses[1::2].count(200), statuses[0::2].count(200)
    assert rejections + approvals == 1, statuses
    state = world.gateway.post(world.auditor, STATUS, variables={"o": order["id"]}).json()["data"]["orderById"]
    disclosed = world.gateway.post(world.authority, DISCLOSE, order=order["id"])
    if rejections:
        assert request_status(world, request_id) == "REJECTED" and state["status"] == "PENDING_APPROVAL"
        assert disclosed.status_code == 403
    else:
        assert request_status(world, request_id) == "GRANTED" and state["status"] == "ACTIVE"
        assert disclosed.status_code == 200
