"""The disclosure path (issue 5): only what the order permits, sealed to the authority, or nothing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from nacl.bindings import crypto_box_seal_open
from nacl.signing import VerifyKey

from crypto.sealing import SealedValue, open_record
from gateway.subjects.normalise import normalise_phone
from gateway.values.times import parse_time
from tests.support.plaintext import leaks, secrets_of
from tests.support.platform import on_both_sources  # noqa: F401  (every test here on both subject sources)
from tests.support.world import World

WINDOW = {"from": "2026-03-01T00:00:00Z", "until": "2026-08-01T00:00:00Z"}

ALL_FIELDS = ["phoneNumber", "ipAddresses", "usernameHistory"]


def code(response: Any) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def gateway_key(world: World) -> VerifyKey:
    discovery = world.gateway.client.get("/.well-known/disclosure-gateway").json()
    return VerifyKey(base64.b64decode(discovery["gateway_signing_key"]))


def open_all(world: World, response: Any, sealed_values: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Open every sealed value with the authority's private key and the public gateway key alone."""
    assert world.authority.sealing_key is not None
    return [open_record(SealedValue("x25519-xsalsa20poly1305-sealedbox", v["recipientKeyId"], v["ciphertext"]),
                        world.authority.sealing_key, gateway_key(world)) for v in sealed_values]


def overlaps(first: str, last: str | None, window: dict[str, str]) -> bool:
    start, end = parse_time(window["from"]), parse_time(window["until"])
    return parse_time(first) < end and (last is None or parse_time(last) >= start)


def expected(subject: dict[str, Any], field: str, window: dict[str, str]) -> Any:
    if field == "phoneNumber":
        return normalise_phone(subject["phone"])
    if field == "ipAddresses":
        return sorted((e["ip"], e["first_seen"]) for e in subject["ip_events"]
                      if overlaps(e["first_seen"], e["last_seen"], window))
    return sorted((u["username"], u["from"]) for u in subject["username_history"]
                  if overlaps(u["from"], u.get("until"), window))


def comparable(field: str, value: Any) -> Any:
    if field == "phoneNumber":
        return value
    if field == "ipAddresses":
        return sorted((e["ip"], e["first_seen"]) for e in value)
    return sorted((u["username"], u["from"]) for u in value)


def test_sealed_values_open_to_exactly_the_imported_data_inside_the_window(world: World) -> None:
    order = world.active_order(dataWindow=WINDOW)
    query = """query($p: String!) { subject(by: {phoneNumber: $p}) {
        id phoneNumber { algorithm recipientKeyId ciphertext } ipAddresses { recipientKeyId ciphertext }
        usernameHistory { recipientKeyId ciphertext } } }"""
    subject = world.subjects[0]
    response = world.gateway.post(world.authority, query, variables={"p": subject["phone"]}, order=order["id"])
    assert response.status_code == 200, response.text
    data = response.json()["data"]["subject"]
    assert data["id"] == subject["id"]
    assert data["phoneNumber"]["algorithm"] == "x25519-xsalsa20poly1305-sealedbox"
    records = open_all(world, response, [data[f] for f in ALL_FIELDS])
    audit = response.json()["extensions"]["audit"]
    any_outside = False
    for field, record in zip(ALL_FIELDS, records, strict=True):
        assert record["order_id"] == order["id"] and record["subject_id"] == subject["id"]
        assert record["field"] == field and record["request_id"] == audit["request_id"]
        assert comparable(field, record["value"]) == expected(subject, field, WINDOW)
        if field == "ipAddresses":
            any_outside = len(record["value"]) < len(subject["ip_events"])
    assert any_outside, "the fixture data should have IP events outside the window"


def test_the_low_level_sealed_box_opens_with_the_authority_key_alone(world: World) -> None:
    order = world.active_order()
    response = world.gateway.post(world.authority, "{ order { subjects { phoneNumber { ciphertext } } } }",
                                  order=order["id"])
    authority = world.authority.sealing_key
    assert authority is not None
    for subject in response.json()["data"]["order"]["subjects"]:
        plaintext = crypto_box_seal_open(base64.b64decode(subject["phoneNumber"]["ciphertext"]),
                                         bytes(authority.public_key), bytes(authority))
        inner = json.loads(plaintext)
        assert set(inner) == {"record", "signature"}
        gateway_key(world).verify(b"disclosure-gateway/disclosure/v1\x00" + _jcs(inner["record"]),
                                  base64.b64decode(inner["signature"]))


def _jcs(value: Any) -> bytes:
    import rfc8785

    return rfc8785.dumps(value)


def test_a_disclosure_counts_one_query_whatever_it_selects(world: World) -> None:
    order = world.active_order(maxQueries=2)
    big = "{ order { subjects { phoneNumber { ciphertext } ipAddresses { ciphertext } } } }"
    assert world.gateway.post(world.authority, big, order=order["id"]).status_code == 200
    meta = world.gateway.post(world.authority, "{ order { queriesUsed status } }", order=order["id"])
    assert meta.json()["data"]["order"] == {"queriesUsed": 1, "status": "ACTIVE"}
    assert world.gateway.post(world.authority, big, order=order["id"]).status_code == 200
    refused = world.gateway.post(world.authority, big, order=order["id"])
    assert refused.status_code == 403 and code(refused) == "ORDER_EXHAUSTED"
    assert "data" not in refused.json()


@pytest.mark.parametrize("query", [
    "{ subject(by: {id: \"%s\"}) { devices { ciphertext } } }",
    "{ subject(by: {id: \"%s\"}) { phoneNumber { ciphertext } x: devices { ciphertext } } }",
    "{ subject(by: {id: \"%s\"}) { ...F } } fragment F on Subject { devices { ciphertext } }",
    "{ subject(by: {id: \"%s\"}) { ... on Subject { devices { ciphertext } } } }",
    "{ subject(by: {id: \"%s\"}) { ...A } } fragment A on Subject { ...B } "
    "fragment B on Subject { devices { ciphertext } }",
    "{ order { subjects { devices { ciphertext } } } }",
    "{ ok: subject(by: {id: \"%s\"}) { phoneNumber { ciphertext } } order { subjects { ...F } } } "
    "fragment F on Subject { d: devices { ciphertext } }",
])
def test_a_field_outside_the_order_refuses_the_whole_request(world: World, query: str) -> None:
    order = world.active_order(fields=["phoneNumber", "ipAddresses"])
    text = query % world.subjects[2]["id"] if "%s" in query else query
    response = world.gateway.post(world.authority, text, order=order["id"])
    assert response.status_code == 403 and code(response) == "FIELD_NOT_PERMITTED", response.text
    assert "data" not in response.json()
    assert world.gateway.post(world.authority, "{ order { queriesUsed } }",
                              order=order["id"]).json()["data"]["order"]["queriesUsed"] == 0


@pytest.mark.parametrize("kind", ["id", "username", "phoneNumber"])
def test_each_selector_kind_reaches_a_subject_in_the_order(world: World, kind: str) -> None:
    order = world.active_order()
    subject = {"id": world.subjects[2], "username": world.subjects[1], "phoneNumber": world.subjects[0]}[kind]
    value = {"id": subject["id"], "username": subject["username"].upper(), "phoneNumber": subject["phone"]}[kind]
    query = "query($s: SubjectSelector!) { subject(by: $s) { id phoneNumber { ciphertext } } }"
    response = world.gateway.post(world.authority, query, variables={"s": {kind: value}}, order=order["id"])
    assert response.status_code == 200, response.text
    assert response.json()["data"]["subject"]["id"] == subject["id"]


@pytest.mark.parametrize("kind", ["id", "username", "phoneNumber"])
def test_a_subject_outside_the_order_gets_the_same_answer_as_a_stranger(world: World, kind: str) -> None:
    order = world.active_order()
    outsider = world.subjects[4]  # imported, but not in the request or the order
    existing = {"id": outsider["id"], "username": outsider["username"], "phoneNumber": outsider["phone"]}[kind]
    missing = {"id": "sub_000000000000", "username": "nobody_at_all", "phoneNumber": "+4930901820"}[kind]
    query = "query($s: SubjectSelector!) { subject(by: $s) { id } }"
    answers = []
    for value in (existing, missing):
        response = world.gateway.post(world.authority, query, variables={"s": {kind: value}}, order=order["id"])
        assert response.status_code == 403 and code(response) == "SUBJECT_NOT_PERMITTED"
        body = response.json()
        del body["extensions"]
        answers.append(body)
    assert answers[0] == answers[1], "the gateway must be no oracle for who is a user"


def test_subjects_in_one_request_must_all_be_in_the_order(world: World) -> None:
    order = world.active_order()
    inside, outside = world.subjects[2]["id"], world.subjects[4]["id"]
    query = f"""{{ a: subject(by: {{id: "{inside}"}}) {{ phoneNumber {{ ciphertext }} }}
                 b: subject(by: {{id: "{outside}"}}) {{ phoneNumber {{ ciphertext }} }} }}"""
    response = world.gateway.post(world.authority, query, order=order["id"])
    assert code(response) == "SUBJECT_NOT_PERMITTED" and "data" not in response.json()


def test_order_codes(world: World) -> None:
    active = world.active_order()
    query = "{ order { subjects { phoneNumber { ciphertext } } } }"
    no_ord = world.gateway.post(world.authority, query)
    assert no_ord.status_code == 403 and code(no_ord) == "ORDER_NOT_FOUND"
    assert code(world.gateway.post(world.authority, query, order="ord_unknown")) == "ORDER_NOT_FOUND"
    theirs = world.gateway.post(world.other_authority, query, order=active["id"])
    assert code(theirs) == "ORDER_NOT_FOUND"
    pending = world.draft(world.submit())
    assert code(world.gateway.post(world.authority, query, order=pending["id"])) == "ORDER_NOT_ACTIVE"
    # Not even its metadata: a draft's subjectIds would say which selectors matched a user.
    for selection in ("{ order { status } }", "{ order { subjectIds document } }"):
        assert code(world.gateway.post(world.authority, selection, order=pending["id"])) == "ORDER_NOT_ACTIVE"
    world.approve(pending, world.reviewers[0])
    assert code(world.gateway.post(world.authority, "{ order { id } }", order=pending["id"])) == "ORDER_NOT_ACTIVE"
    world.approve(pending, world.reviewers[1])
    approved = world.gateway.post(world.authority, "{ order { status subjectIds } }", order=pending["id"])
    assert approved.json()["data"]["order"]["status"] == "ACTIVE"


def test_an_expired_order_is_refused(world: World) -> None:
    from datetime import timedelta

    order = world.active_order()
    services = world.gateway.services
    later = datetime.now(UTC) + timedelta(days=400)
    services.clock = lambda: later
    try:
        response = world.gateway.post(world.authority, "{ order { subjects { id } } }", order=order["id"],
                                      now=int(later.timestamp()))
    finally:
        from gateway.services import utc_now

        services.clock = utc_now
    assert response.status_code == 403 and code(response) == "ORDER_EXPIRED"


def test_reviewers_and_auditors_never_receive_subject_data(world: World) -> None:
    order = world.active_order()
    for actor in (world.reviewers[0], world.auditor):
        response = world.gateway.post(actor, "query($o: ID!) { orderById(id: $o) { subjects { phoneNumber "
                                      "{ ciphertext } } } }", variables={"o": order["id"]})
        assert response.status_code == 403 and code(response) == "FORBIDDEN_ROLE"


def test_disclosures_and_refusals_are_audited_against_the_order(world: World) -> None:
    order = world.active_order(fields=["phoneNumber"])
    ok = world.gateway.post(world.authority, "{ order { subjects { phoneNumber { ciphertext } } } }", order=order["id"])
    bad = world.gateway.post(world.authority, "{ order { subjects { devices { ciphertext } } } }", order=order["id"])
    with world.gateway.services.db.engine.connect() as conn:
        from sqlalchemy import text

        entries = {row.idx: json.loads(row.entry) for row in conn.execute(text("SELECT idx, entry FROM audit_entries"))}
    served = entries[ok.json()["extensions"]["audit"]["index"]]
    refused = entries[bad.json()["extensions"]["audit"]["index"]]
    assert served["decision"] == "disclosed" and served["order_id"] == order["id"]
    assert served["fields"] == ["phoneNumber"] and len(served["subjects"]) == 3
    assert served["disclosure_sha256"] and served["principal_verified"] is True
    assert refused["decision"] == "refused" and refused["code"] == "FIELD_NOT_PERMITTED"
    assert refused["order_id"] == order["id"] and refused["disclosure_sha256"] is None


def test_selector_values_never_reach_the_audit_log(world: World) -> None:
    order = world.active_order()
    outsider = world.subjects[4]
    phone, username = outsider["phone"], outsider["username"]
    world.gateway.post(world.authority, f'{{ subject(by: {{phoneNumber: "{phone}"}}) {{ id }} }}', order=order["id"])
    world.gateway.post(world.authority, f'{{ subject(by: {{username: "{username}"}}) {{ id }} }}', order=order["id"])
    with world.gateway.services.db.engine.connect() as conn:
        from sqlalchemy import text

        log = [row[0] for row in conn.execute(text("SELECT entry FROM audit_entries"))]
    assert leaks(log, secrets_of(world.subjects)) == []
    assert all(outsider["id"] not in entry for entry in log)


def test_the_plaintext_guard_can_fail(world: World) -> None:
    guarded = secrets_of(world.subjects)
    assert leaks([f"oops {normalise_phone(world.subjects[0]['phone'])}"], guarded)
    assert leaks([world.subjects[3]["ip_events"][0]["ip"]], guarded)
    assert leaks([world.subjects[5]["username"]], guarded)
