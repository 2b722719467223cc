"""Preserved copies with the sql source (docs/PROTOCOL.md §9.1, §16.2): a granted hold copies its
subjects' data from the platform into the encrypted store, a disclosure of the held window still
answers after the platform deleted its rows, retention deletes the copy once the hold ended, and a
source that cannot answer refuses the grant and leaves the hold pending."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from nacl.signing import VerifyKey

from crypto.sealing import SealedValue, open_record
from crypto.signing import ORDER_DOMAIN, sign_over
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.lifecycle import GRANT_HOLD, SUBMIT_HOLD, audit_entries, database_file_bytes, retention, sealed_blob
from tests.support.world import APPROVE, DRAFT, REQUEST_WINDOW, SUBMIT, World

START = datetime(2027, 1, 15, tzinfo=UTC)  # after every generated event: the held window holds them all
DISCLOSE = "query($i: ID!) { subject(by: {id: $i}) { ipAddresses { recipientKeyId ciphertext } } }"


@pytest.fixture
def subject_source() -> str:
    return "sql"


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


def _platform(world: World, statement: str, **params: Any) -> None:
    url = world.gateway.settings.subject_source_url
    assert url is not None
    engine = sqlalchemy.create_engine(url.get_secret_value())
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(statement), params)
    finally:
        engine.dispose()


def _submit_hold(world: World, clock: Clock, *, days: int = 10) -> str:
    until = (clock.now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    submitted = post_at(world, clock, world.authority, SUBMIT_HOLD, {"i": {
        "subjects": [{"phoneNumber": world.subjects[0]["phone"]}], "caseReference": "AZ 99/27",
        "jurisdiction": "DE", "legalBasis": "§ 100g StPO", "until": until}})
    assert submitted.status_code == 200, submitted.text
    return str(submitted.json()["data"]["submitPreservation"]["id"])


def _held(world: World, clock: Clock, *, days: int = 10) -> str:
    hold_id = _submit_hold(world, clock, days=days)
    granted = post_at(world, clock, world.reviewers[0], GRANT_HOLD, {"id": hold_id})
    assert granted.status_code == 200, granted.text
    assert granted.json()["data"]["grantPreservation"]["active"] is True
    return hold_id


def _order(world: World, clock: Clock) -> str:
    request = {"caseReference": "AZ 4711/26", "court": "AG Tiergarten", "jurisdiction": "DE", "legalBasis": "StPO",
               "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "fields": ["ipAddresses"],
               "subjects": [{"id": world.subjects[0]["id"]}], "dataWindow": REQUEST_WINDOW, "justification": "j"}
    submitted = post_at(world, clock, world.authority, SUBMIT, {"i": request})
    assert submitted.status_code == 200, submitted.text
    order = post_at(world, clock, world.reviewers[0], DRAFT, {"i": {
        "requestId": submitted.json()["data"]["submitRequest"]["id"], "validUntil": "2027-02-28T00:00:00Z",
        "maxQueries": 5}}).json()["data"]["draftOrder"]
    for reviewer in world.reviewers[:2]:
        signature = sign_over(ORDER_DOMAIN, order["document"].encode(), reviewer.signing_key)
        assert post_at(world, clock, reviewer, APPROVE, {"o": order["id"], "s": signature}).status_code == 200
    return str(order["id"])


def _disclosed_ips(world: World, clock: Clock, order_id: str) -> Any:
    response = post_at(world, clock, world.authority, DISCLOSE, {"i": world.subjects[0]["id"]}, order=order_id)
    assert response.status_code == 200, response.text
    sealed = response.json()["data"]["subject"]["ipAddresses"]
    discovery = world.gateway.client.get("/.well-known/disclosure-gateway").json()
    key = VerifyKey(base64.b64decode(discovery["gateway_signing_key"]))
    assert world.authority.sealing_key is not None
    opened = open_record(SealedValue("x25519-xsalsa20poly1305-sealedbox", sealed["recipientKeyId"],
                                     sealed["ciphertext"]), world.authority.sealing_key, key)
    return opened["value"]


def test_a_grant_copies_the_held_subjects_data_from_the_platform_sealed(world: World, clock: Clock) -> None:
    services = world.gateway.services
    subject = world.subjects[0]
    assert services.subjects.get(subject["id"]) is None  # the sql source imports nothing
    _held(world, clock)
    copy = services.subjects.get(subject["id"])
    assert copy is not None and copy.phone == subject["phone"]
    assert [e.to_json()["ip"] for e in copy.ip_events] == [e["ip"] for e in subject["ip_events"]]
    assert len(copy.devices) == len(subject["devices"])
    assert len(copy.username_history) == len(subject["username_history"])
    assert services.subjects.get(world.subjects[1]["id"]) is None  # only the held subject
    blob = sealed_blob(services, subject["id"])
    assert subject["phone"].encode() not in blob and subject["ip_events"][0]["ip"].encode() not in blob


def test_the_held_window_answers_after_the_platform_deleted_its_rows(world: World, clock: Clock) -> None:
    order_id = _order(world, clock)
    before = _disclosed_ips(world, clock, order_id)
    assert before, "the order's window holds IP events"
    _held(world, clock)
    _platform(world, "DELETE FROM ip_sessions WHERE account_id = :a", a=world.subjects[0]["id"])
    assert _disclosed_ips(world, clock, order_id) == before


def test_what_begins_after_the_grant_is_read_from_the_platform(world: World, clock: Clock) -> None:
    _held(world, clock)
    later = clock.now + timedelta(hours=1)
    _platform(world, "INSERT INTO ip_sessions VALUES (:a, '203.0.113.77', 443, :f, :l)",
              a=world.subjects[0]["id"], f=later, l=later + timedelta(minutes=5))
    window = {"from": REQUEST_WINDOW["from"], "until": "2027-01-15T02:00:00Z"}
    request = {"caseReference": "AZ 4712/26", "court": "AG", "jurisdiction": "DE", "legalBasis": "StPO",
               "offenseCategory": "FRAUD", "courtOrderSha256": "ab" * 32, "fields": ["ipAddresses"],
               "subjects": [{"id": world.subjects[0]["id"]}], "dataWindow": window, "justification": "j"}
    clock.advance(hours=3)
    submitted = post_at(world, clock, world.authority, SUBMIT, {"i": request}).json()["data"]["submitRequest"]
    order = post_at(world, clock, world.reviewers[0], DRAFT, {"i": {
        "requestId": submitted["id"], "validUntil": "2027-02-28T00:00:00Z", "maxQueries": 5}}).json()["data"]
    for reviewer in world.reviewers[:2]:
        signature = sign_over(ORDER_DOMAIN, order["draftOrder"]["document"].encode(), reviewer.signing_key)
        assert post_at(world, clock, reviewer, APPROVE, {"o": order["draftOrder"]["id"], "s": signature}
                       ).status_code == 200
    ips = [e["ip"] for e in _disclosed_ips(world, clock, order["draftOrder"]["id"])]
    assert ips == [e["ip"] for e in world.subjects[0]["ip_events"]] + ["203.0.113.77"]


def test_the_copy_is_deleted_once_the_hold_ended(world: World, clock: Clock) -> None:
    services = world.gateway.services
    _held(world, clock, days=10)
    subject_id = world.subjects[0]["id"]
    report, _ = retention(services, clock.now)
    assert report.subjects_held == 1 and report.copies_deleted == 0
    blob = sealed_blob(services, subject_id)
    clock.advance(days=10)  # the hold ends exactly now
    report, receipt = retention(services, clock.now)
    assert report.copies_deleted == 1 and report.subjects_held == 0
    assert services.subjects.get(subject_id) is None
    (fact,) = audit_entries(services)[receipt.index]["facts"]
    assert fact["copies_deleted"] == 1 and fact["ip_events_deleted"] == 0
    if services.db.dialect == "sqlite":
        assert blob[25:89] not in database_file_bytes(services), "the copy's ciphertext is still in the file"


def test_a_source_that_cannot_answer_refuses_the_grant_and_the_hold_stays_pending(
        world: World, clock: Clock) -> None:
    services = world.gateway.services
    hold_id = _submit_hold(world, clock)
    _platform(world, "ALTER TABLE devices RENAME TO devices_gone")
    try:
        refused = post_at(world, clock, world.reviewers[0], GRANT_HOLD, {"id": hold_id})
    finally:
        _platform(world, "ALTER TABLE devices_gone RENAME TO devices")
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE" and "data" not in body
    assert audit_entries(services)[body["extensions"]["audit"]["index"]]["decision"] == "refused"
    assert services.preservations.get(hold_id).status == "PENDING"
    assert services.subjects.get(world.subjects[0]["id"]) is None
    # The source back, the same hold is granted and copied.
    _granted = post_at(world, clock, world.reviewers[0], GRANT_HOLD, {"id": hold_id})
    assert _granted.status_code == 200, _granted.text
    assert services.subjects.get(world.subjects[0]["id"]) is not None
