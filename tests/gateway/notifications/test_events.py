"""Events from the contract (docs/PROTOCOL.md §17.4): every state change an authority's request or
order goes through is one event of its own feed, published only once the change's audit entry is in
the log, with ids, types, states and times only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway.notifications.events import publish, record_event
from gateway.notifications.kinds import EventKind
from gateway.orders.lapses import sweep_lapses
from gateway.store.tables import EventRow
from tests.support.world import World

FEED = ("query($a: String, $n: Int) { requestEvents(after: $a, limit: $n) "
        "{ cursor events { id type requestId orderId state timestamp cursor } } }")
REJECT = "mutation($r: ID!, $why: String!) { rejectRequest(requestId: $r, reason: $why) { status } }"
REVOKE = "mutation($o: ID!, $why: String!) { revokeOrder(orderId: $o, reason: $why) { status } }"
BIG = "{ order { subjects { phoneNumber { ciphertext } } } }"
VALID_UNTIL = datetime(2027, 1, 31, tzinfo=UTC)


def feed(world: World, actor: Any = None, after: str | None = None, limit: int | None = None) -> dict[str, Any]:
    response = world.gateway.post(actor or world.authority, FEED, variables={"a": after, "n": limit})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["requestEvents"])


def kinds(page: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["type"], e["state"]) for e in page["events"]]


def test_each_change_of_an_authoritys_order_is_one_event_of_its_feed_in_order(world: World) -> None:
    order = world.active_order(maxQueries=1)
    assert world.gateway.post(world.authority, BIG, order=order["id"]).status_code == 200
    assert world.gateway.post(world.reviewers[0], REVOKE, variables={"o": order["id"], "why": "quashed on appeal"}
                              ).status_code == 200
    page = feed(world)
    assert kinds(page) == [("order.activated", "ACTIVE"), ("order.exhausted", "EXHAUSTED"),
                           ("order.revoked", "REVOKED")]
    assert {e["orderId"] for e in page["events"]} == {order["id"]}
    assert [int(e["cursor"]) for e in page["events"]] == sorted(int(e["cursor"]) for e in page["events"])
    assert page["cursor"] == page["events"][-1]["cursor"]
    # Followed from its cursor, the feed has nothing new; each event once.
    assert feed(world, after=page["cursor"]) == {"cursor": page["cursor"], "events": []}
    assert feed(world, after=page["events"][0]["cursor"], limit=1)["events"] == page["events"][1:2]


def test_a_rejection_is_an_event_without_its_reason(world: World) -> None:
    request_id = world.submit()
    assert world.gateway.post(world.reviewers[0], REJECT,
                              variables={"r": request_id, "why": "no legal basis whatsoever"}).status_code == 200
    page = feed(world)
    assert kinds(page) == [("request.rejected", "REJECTED")]
    assert page["events"][0]["requestId"] == request_id and page["events"][0]["orderId"] is None
    assert "legal basis" not in json.dumps(page)


def test_an_authority_sees_only_its_own_events(world: World) -> None:
    world.active_order()
    assert kinds(feed(world)) == [("order.activated", "ACTIVE")]
    assert feed(world, world.other_authority)["events"] == []
    refused = world.gateway.post(world.reviewers[0], FEED, variables={})
    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN_ROLE"


def test_a_third_approval_of_an_active_order_adds_no_second_activation(world: World) -> None:
    order = world.active_order()
    assert world.approve(order, world.reviewers[2]).status_code == 200
    assert kinds(feed(world)) == [("order.activated", "ACTIVE")]


def test_a_cursor_that_the_feed_never_gave_is_refused_plainly(world: World) -> None:
    for bad in ("-1", "abc", "1e3", "9" * 40):
        response = world.gateway.post(world.authority, FEED, variables={"a": bad})
        assert response.status_code == 400 and response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    for limit in (0, 501):
        response = world.gateway.post(world.authority, FEED, variables={"n": limit})
        assert response.status_code == 400


def test_an_event_waits_for_its_requests_entry_and_is_dropped_if_it_never_comes(world: World) -> None:
    services = world.gateway.services
    authority = world.authority.id
    now = datetime.now(UTC)
    with services.db.session() as session:
        waiting = record_event(session, authority_id=authority, kind=EventKind.REQUEST_CLARIFICATION_REQUESTED,
                               request_id="lrq_00", order_id=None, state="NEEDS_CLARIFICATION", now=now,
                               entry="req_never_logged")
    assert feed(world)["events"] == []
    with services.db.engine.begin() as connection:
        assert publish(connection, now=now + timedelta(minutes=11)) == 0
    with services.db.engine.connect() as connection:
        row = connection.execute(select(EventRow.__table__).where(EventRow.__table__.c.id == waiting)).one()
    assert (row.delivery, row.feed_seq) == ("dropped", None)


def test_the_lapse_sweep_tells_each_lapse_once_at_the_time_given(world: World) -> None:
    order = world.active_order()
    orders = world.gateway.services.orders
    assert sweep_lapses(orders, now=VALID_UNTIL - timedelta(hours=25)) == 0
    assert sweep_lapses(orders, now=VALID_UNTIL - timedelta(hours=23)) == 1
    assert sweep_lapses(orders, now=VALID_UNTIL - timedelta(hours=1)) == 0  # told once
    assert sweep_lapses(orders, now=VALID_UNTIL + timedelta(seconds=1)) == 1
    assert sweep_lapses(orders, now=VALID_UNTIL + timedelta(days=1)) == 0
    page = feed(world)
    assert kinds(page) == [("order.activated", "ACTIVE"), ("order.lapsing", "ACTIVE"), ("order.lapsed", "EXPIRED")]
    assert page["events"][2]["timestamp"] == "2027-01-31T00:00:00Z"  # when it lapsed, not when the sweep ran
    assert {e["orderId"] for e in page["events"]} == {order["id"]}


def test_a_drafted_order_never_approved_is_not_swept(world: World) -> None:
    world.draft(world.submit())
    assert sweep_lapses(world.gateway.services.orders, now=VALID_UNTIL + timedelta(days=1)) == 0
    assert feed(world)["events"] == []


def test_events_carry_no_free_text_and_no_subject_data(world: World) -> None:
    order = world.active_order(maxQueries=1)
    world.gateway.post(world.authority, BIG, order=order["id"])
    world.gateway.post(world.reviewers[0], REVOKE, variables={"o": order["id"], "why": "quashed on appeal"})
    request_id = world.submit()
    world.gateway.post(world.reviewers[0], REJECT, variables={"r": request_id, "why": "overbroad request"})
    sweep_lapses(world.gateway.services.orders, now=VALID_UNTIL + timedelta(days=1))
    with world.gateway.services.db.engine.connect() as connection:
        rows = [dict(r._mapping) for r in connection.execute(select(EventRow.__table__))]
    text = json.dumps(rows) + json.dumps(feed(world))
    forbidden = ["quashed", "overbroad", "investment fraud", "AZ 4711", "Tiergarten", "100g"]
    forbidden += [str(s[k]) for s in world.subjects for k in ("phone", "username") if k in s]
    assert [word for word in forbidden if word in text] == []
    assert len(rows) == 4


def test_a_used_up_order_is_no_longer_swept(world: World) -> None:
    order = world.active_order(maxQueries=1)
    assert world.gateway.post(world.authority, BIG, order=order["id"]).status_code == 200
    assert sweep_lapses(world.gateway.services.orders, now=VALID_UNTIL + timedelta(days=1)) == 0
    assert kinds(feed(world)) == [("order.activated", "ACTIVE"), ("order.exhausted", "EXHAUSTED")]


ASK = "mutation($r: ID!, $q: String!) { requestClarification(requestId: $r, question: $q) { status } }"
WITHDRAW = "mutation($r: ID!, $why: String!) { withdrawRequest(requestId: $r, reason: $why) { status } }"


def test_a_question_and_a_withdrawal_are_events_without_their_text(world: World) -> None:
    asked = world.submit()
    assert world.gateway.post(world.reviewers[0], ASK, variables={"r": asked, "q": "which handset exactly?"}
                              ).status_code == 200
    withdrawn = world.submit()
    order = world.draft(withdrawn)
    for reviewer in world.reviewers[:2]:
        assert world.approve(order, reviewer).status_code == 200
    assert world.gateway.post(world.authority, WITHDRAW, variables={"r": withdrawn, "why": "the case was closed"}
                              ).status_code == 200
    page = feed(world)
    told = [(e["type"], e["state"], e["requestId"], e["orderId"]) for e in page["events"]]
    assert told[:2] == [("request.clarification_requested", "NEEDS_CLARIFICATION", asked, None),
                        ("order.activated", "ACTIVE", withdrawn, order["id"])]
    # One step, so its two events in either order.
    assert sorted(told[2:]) == [("order.revoked", "REVOKED", withdrawn, order["id"]),
                                ("request.withdrawn", "WITHDRAWN", withdrawn, None)]
    assert "handset" not in json.dumps(page) and "closed" not in json.dumps(page)
