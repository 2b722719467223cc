"""A webhook survives a SIGKILL of the gateway between the change and its delivery: the event was
written in the change's own transaction, and after a restart it arrives once, signed with the key
discovery publishes (docs/PROTOCOL.md §17.4)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from sqlalchemy import select

from crypto.keys import encode_public_key
from gateway.config import Settings
from gateway.maintenance.initialize import initialize
from gateway.notifications.registration import set_webhook
from gateway.principals.registry import PrincipalRegistry, Role
from gateway.store.engine import Database
from gateway.store.tables import EventRow
from tests.support.jwt import mint
from tests.support.server import server_env, start_server
from tests.support.webhooks import receiving, verify_key_of

pytestmark = pytest.mark.e2e

SUBMIT = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id } }"
REJECT = "mutation($r: ID!, $why: String!) { rejectRequest(requestId: $r, reason: $why) { status } }"
REQUEST = {"caseReference": "AZ 4711/26", "court": "Amtsgericht Tiergarten", "jurisdiction": "DE",
           "legalBasis": "§ 100g StPO", "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32,
           "subjects": [{"id": "sub_000000000000"}], "fields": ["phoneNumber"], "justification": "fraud ring",
           "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}}
_events = EventRow.__table__  # type: ignore[attr-defined]


def post(base_url: str, settings: Settings, principal: str, key: SigningKey, query: str,
         variables: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    token = mint(key, iss=principal, aud=settings.id, body=body)
    response = httpx.post(base_url + "/graphql", content=body, timeout=10,
                          headers={"content-type": "application/json", "authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def events(settings: Settings) -> list[dict[str, Any]]:
    db = Database(settings.sqlalchemy_url)
    try:
        with db.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(_events))]
    finally:
        db.dispose()


def test_an_event_recorded_before_a_sigkill_is_delivered_once_after_the_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", id="gateway.e2e", _env_file=None)  # type: ignore[call-arg]
    initialize(settings)
    authority, reviewer = SigningKey.generate(), SigningKey.generate()
    db = Database(settings.sqlalchemy_url)
    try:
        registry = PrincipalRegistry(db)
        registry.add(role=Role.AUTHORITY, principal_id="bka-de", name="BKA", country="DE", now=int(time.time()),
                     signing_key=encode_public_key(authority.verify_key),
                     sealing_key=encode_public_key(PrivateKey.generate().public_key))
        registry.add(role=Role.REVIEWER, principal_id="reviewer-a", name="A", now=int(time.time()),
                     signing_key=encode_public_key(reviewer.verify_key))
    finally:
        db.dispose()
    with receiving([]) as receiver:
        db = Database(settings.sqlalchemy_url)
        try:
            set_webhook(db, "bka-de", receiver.url)
        finally:
            db.dispose()
        # The first server's notifier runs one round as it starts, then not for an hour: the change
        # made next is recorded, and nothing sends it before the kill.
        first = start_server(server_env(settings, GATEWAY_WEBHOOK_POLL_SECONDS="3600"), tmp_path, "first")
        try:
            receiver.keys.append(verify_key_of(httpx.get(first.base_url + "/.well-known/disclosure-gateway").json()))
            submitted = post(first.base_url, settings, "bka-de", authority, SUBMIT, {"i": REQUEST})
            request_id = submitted["submitRequest"]["id"]
            post(first.base_url, settings, "reviewer-a", reviewer, REJECT, {"r": request_id, "why": "overbroad"})
        finally:
            first.kill()
        (recorded,) = events(settings)
        assert (recorded["kind"], recorded["delivery"], recorded["request_id"]) == ("request.rejected", "pending",
                                                                                   request_id)
        assert receiver.attempts == []

        second = start_server(server_env(settings, GATEWAY_WEBHOOK_POLL_SECONDS="0.2"), tmp_path, "second")
        try:
            (arrived,) = receiver.wait_for(1, within=30)
            deadline = time.monotonic() + 10
            while events(settings)[0]["delivery"] != "delivered":
                assert time.monotonic() < deadline, events(settings)
                time.sleep(0.1)
        finally:
            second.stop()
    assert receiver.unverified == [] and receiver.repeated == [] and len(receiver.attempts) == 1
    assert receiver.attempts[0]["headers"]["webhook-id"] == recorded["id"]
    assert arrived["type"] == "request.rejected" and arrived["data"]["request_id"] == request_id
    assert arrived["data"]["state"] == "REJECTED" and "overbroad" not in json.dumps(arrived)
