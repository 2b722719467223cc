"""Webhook delivery to a loopback receiver that verifies every signature with the key discovery
publishes (docs/PROTOCOL.md §17.4); retries and back-off computed from the ``now`` each round is
given, never slept; several workers never send one event twice at once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gateway.notifications.delivery import WebhookWorker
from gateway.notifications.schedule import RetryPolicy
from gateway.store.tables import EventRow
from tests.support.live import free_port
from tests.support.webhooks import receiving, verify_key_of
from tests.support.world import World

SET = "mutation($u: String) { setWebhook(url: $u) { url publicKey } }"
_events = EventRow.__table__  # type: ignore[attr-defined]


def discovery_key(world: World):  # type: ignore[no-untyped-def]
    return verify_key_of(world.gateway.client.get("/.well-known/disclosure-gateway").json())


def worker(world: World, **policy: float) -> WebhookWorker:
    services = world.gateway.services
    return WebhookWorker(services.db.engine, signing_key=lambda: services.keys.signing_key, clock=services.clock,
                         policy=RetryPolicy(**policy), timeout=5)  # type: ignore[arg-type]


def register(world: World, url: str) -> None:
    response = world.gateway.post(world.authority, SET, variables={"u": url})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["setWebhook"]["publicKey"] == \
        world.gateway.client.get("/.well-known/disclosure-gateway").json()["webhook_public_key"]


def delivery_row(world: World) -> dict[str, object]:
    with world.gateway.services.db.engine.connect() as connection:
        (row,) = [dict(r._mapping) for r in connection.execute(select(_events))]
    return row


def test_an_event_arrives_signed_with_the_discovery_key_as_the_spec_fixes_it(world: World) -> None:
    with receiving([discovery_key(world)]) as receiver:
        register(world, receiver.url)
        order = world.active_order()
        now = datetime.now(UTC)
        notifier = worker(world)
        try:
            assert notifier.tick(now) == {"delivered": 1}
            assert notifier.tick(now + timedelta(minutes=1)) == {}  # delivered once
        finally:
            notifier.close()
        assert receiver.unverified == [] and receiver.repeated == []
        (attempt,) = receiver.attempts
        headers = attempt["headers"]
        assert headers["webhook-id"].startswith("msg_") and headers["webhook-timestamp"] == str(int(now.timestamp()))
        assert headers["content-type"] == "application/json"
        body = json.loads(attempt["body"])
        assert body == {"type": "order.activated", "timestamp": body["timestamp"],
                        "data": {"event_id": headers["webhook-id"], "authority_id": world.authority.id,
                                 "request_id": body["data"]["request_id"], "order_id": order["id"],
                                 "state": "ACTIVE"}}
    assert delivery_row(world)["delivery"] == "delivered"


def test_a_failed_delivery_is_retried_with_back_off_from_now_then_given_up(world: World) -> None:
    policy = {"base": 10.0, "cap": 40.0, "max_attempts": 4, "jitter": 0.0}
    with receiving([discovery_key(world)]) as receiver:
        register(world, receiver.url)
        world.active_order()
        receiver.answers = [500, 503, 502, 500]
        start = datetime.now(UTC).replace(microsecond=0)
        notifier = worker(world, **policy)
        try:
            assert notifier.tick(start) == {"due": 1}
            row = delivery_row(world)
            assert (row["attempts"], row["next_attempt_at"], row["last_outcome"]) == (1, int(start.timestamp()) + 10,
                                                                                     "500")
            assert notifier.tick(start + timedelta(seconds=9)) == {}  # not yet due
            assert notifier.tick(start + timedelta(seconds=10)) == {"due": 1}
            assert delivery_row(world)["next_attempt_at"] == int(start.timestamp()) + 10 + 20  # doubled
            assert notifier.tick(start + timedelta(seconds=30)) == {"due": 1}
            assert delivery_row(world)["next_attempt_at"] == int(start.timestamp()) + 30 + 40  # capped
            assert notifier.tick(start + timedelta(seconds=70)) == {"failed": 1}  # the fourth: given up
            assert notifier.tick(start + timedelta(days=2)) == {}
        finally:
            notifier.close()
        ids = {a["headers"]["webhook-id"] for a in receiver.attempts}
        assert len(receiver.attempts) == 4 and len(ids) == 1  # the same webhook-id on every retry
    row = delivery_row(world)
    assert (row["delivery"], row["attempts"]) == ("failed", 4)


def test_a_receiver_that_is_down_is_tried_again_and_gets_the_event_once(world: World) -> None:
    port = free_port()
    register(world, f"http://127.0.0.1:{port}/hooks")
    world.active_order()
    start = datetime.now(UTC)
    notifier = worker(world, base=5.0, jitter=0.0)
    try:
        assert notifier.tick(start) == {"due": 1}
        assert delivery_row(world)["last_outcome"] == "ConnectError"
        with receiving([discovery_key(world)], port=port) as receiver:
            assert notifier.tick(start + timedelta(seconds=6)) == {"delivered": 1}
            assert len(receiver.events) == 1 and receiver.repeated == []
    finally:
        notifier.close()


def test_two_workers_never_send_one_event_at_the_same_time(world: World) -> None:
    with receiving([discovery_key(world)]) as receiver:
        register(world, receiver.url)
        world.active_order()
        now = datetime.now(UTC)
        first, second = worker(world), worker(world)
        try:
            from gateway.notifications.delivery import claim_due
            from gateway.notifications.events import publish

            engine = world.gateway.services.db.engine
            with engine.begin() as connection:
                publish(connection, now=now)
            with engine.begin() as connection:
                claimed = claim_due(connection, worker=first.worker, now=int(now.timestamp()), lease=60)
            assert len(claimed) == 1
            assert second.tick(now) == {}  # claimed by the first: not sent by the second
            assert second.tick(now + timedelta(seconds=61)) == {"delivered": 1}  # the first's lease ran out
        finally:
            first.close()
            second.close()
        assert len(receiver.attempts) == 1


def test_gone_gives_up_at_once_and_a_removed_webhook_sends_nothing(world: World) -> None:
    with receiving([discovery_key(world)]) as receiver:
        register(world, receiver.url)
        world.active_order()
        receiver.answers = [410]
        notifier = worker(world)
        now = datetime.now(UTC)
        try:
            assert notifier.tick(now) == {"failed": 1}
            response = world.gateway.post(world.authority, SET, variables={"u": None})
            assert response.json()["data"]["setWebhook"]["url"] is None
            world.active_order()
            assert notifier.tick(now) == {}
        finally:
            notifier.close()
        assert len(receiver.attempts) == 1


def test_webhook_urls_are_https_except_loopback(world: World) -> None:
    for url in ("http://example.org/hooks", "ftp://127.0.0.1/x", "https://user:pw@example.org/", "https://",
                "https://example.org/#frag", "https://exa mple.org/", "x" * 3000, ""):
        response = world.gateway.post(world.authority, SET, variables={"u": url})
        assert response.status_code == 400, url
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert "example.org" not in response.json()["errors"][0]["message"]  # the URL is never repeated
    for url in ("https://hooks.example.org/bka?x=1", "http://127.0.0.1:9/hooks", "http://[::1]:9/", "http://localhost/"):
        assert world.gateway.post(world.authority, SET, variables={"u": url}).status_code == 200, url
    twice = world.gateway.post(world.authority, SET, variables={"u": "http://localhost/"})
    assert twice.status_code == 400 and "already" in twice.json()["errors"][0]["message"]
    refused = world.gateway.post(world.reviewers[0], SET, variables={"u": "https://hooks.example.org/"})
    assert refused.status_code == 403


def test_a_redirect_is_a_failed_attempt_not_followed(world: World) -> None:
    with receiving([discovery_key(world)]) as receiver:
        register(world, receiver.url)
        world.active_order()
        receiver.answers = [307]
        notifier = worker(world)
        try:
            assert notifier.client.follow_redirects is False
            assert notifier.tick(datetime.now(UTC)) == {"due": 1}
        finally:
            notifier.close()
        assert delivery_row(world)["last_outcome"] == "307" and len(receiver.attempts) == 1
