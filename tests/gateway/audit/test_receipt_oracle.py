"""An audit receipt is no oracle (docs/PROTOCOL.md §7): the authority that submits a preservation
request knows every field of its own entry but two, the entry's microsecond time (within its round
trip) and the fact's ``subjects`` count (0 to the selectors it sent), which says how many of its
selectors name a user. Without a secret in the entry, hashing every candidate against the receipt's
``leaf_hash`` finds the count in well under a second. With the entry's salt, which only those who
receive the entry text get (an auditor here), the same search finds exactly the true entry: so the
attacker's model of the entry is exact, and only the salt stands between it and the answer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import parse

from crypto.canonical import canonical_json
from crypto.encoding import b64decode
from gateway.api.graphql.engine import shape_sha256
from gateway.transparency.facts import FactKind
from gateway.values.times import rfc3339_us
from tests.support.lifecycle import SUBMIT_HOLD
from tests.support.world import World

_PLACEHOLDER = "\x00time\x00"
_ENTRIES = "query($i: Int!) { auditEntries(fromIndex: $i, limit: 1) { entry } }"
_PROOF = "query($i: Int!) { auditProof(index: $i) { leafHash hashes checkpoint } }"


def _seconds(start: datetime, end: datetime) -> Iterator[tuple[str, range]]:
    """The window as whole seconds, each with the microseconds of it that lie in the window."""
    second = start.replace(microsecond=0)
    while second <= end:
        first = start.microsecond if second == start.replace(microsecond=0) else 0
        last = end.microsecond if second == end.replace(microsecond=0) else 999_999
        yield rfc3339_us(second)[:-len("000000Z")], range(first, last + 1)
        second += timedelta(seconds=1)


def _search(known: dict[str, Any], fact: dict[str, Any], counts: range, window: tuple[datetime, datetime],
            target: bytes) -> list[tuple[str, int]]:
    """Every (time, count) whose entry's leaf hash ``SHA-256(0x00 || JCS(entry))`` is ``target``.
    The JCS text is built once per count with the time left open, and the hash of everything before
    the microseconds once per second: a candidate costs one copy of that state and one update."""
    found = []
    for count in counts:
        text = canonical_json(known | {"time": _PLACEHOLDER, "facts": [fact | {"subjects": count}]})
        before, after = text.split(json.dumps(_PLACEHOLDER).encode(), 1)
        for second, micros in _seconds(*window):
            head = hashlib.sha256(b"\x00" + before + b'"' + second.encode())
            for micro in micros:
                candidate = head.copy()
                candidate.update(b'%06dZ"' % micro + after)
                if candidate.digest() == target:
                    found.append((f"{second}{micro:06d}Z", count))
    return found


def test_a_receipt_does_not_tell_the_authority_how_many_of_its_selectors_name_a_user(world: World) -> None:
    gateway = world.gateway
    # Two of the three selectors name users: the count the authority must not learn.
    selectors = [{"phoneNumber": world.subjects[0]["phone"]}, {"phoneNumber": "+4915199999999"},
                 {"username": world.subjects[1]["username"]}]
    variables = {"i": {"subjects": selectors, "caseReference": "AZ 12/27", "jurisdiction": "DE",
                       "legalBasis": "§ 100g StPO", "until": "2027-01-01T00:00:00Z"}}
    jti = "oracle-attack-jti"
    # A first request warms the app up, so the round trip (the window searched) is the usual few ms.
    assert gateway.post(world.authority, "{ whoami { id } }").status_code == 200
    sent = datetime.now(UTC)
    response = gateway.post(world.authority, SUBMIT_HOLD, variables=variables, jti=jti)
    answered = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    receipt, hold = body["extensions"]["audit"], body["data"]["submitPreservation"]
    target = b64decode(receipt["leaf_hash"], length=32)

    # Everything the authority knows of its entry: its own request, the receipt and the answer.
    known: dict[str, Any] = {
        "v": 1, "index": receipt["index"], "request_id": receipt["request_id"], "principal": world.authority.id,
        "principal_verified": True, "order_id": None, "jti": jti, "operation_sha256": shape_sha256(parse(SUBMIT_HOLD)),
        "fields": [], "subjects": [], "decision": "served", "code": None, "disclosure_sha256": None}
    fact = {"kind": FactKind.PRESERVATION_SUBMITTED.value, "preservation": hold["id"], "country": hold["country"],
            "until": hold["requestedUntil"]}
    counts = range(len(selectors) + 1)
    window = (sent - timedelta(milliseconds=1), answered + timedelta(milliseconds=1))

    assert _search(known, fact, counts, window, target) == [], "the receipt's leaf hash gave the entry away"

    # The auditor receives the entry, salt included; with it, the same search finds the one true entry.
    entry = gateway.post(world.auditor, _ENTRIES, variables={"i": receipt["index"]}).json()["data"]["auditEntries"]
    salt = json.loads(entry[0]["entry"])["salt"]
    assert len(b64decode(salt, length=16)) == 16
    found = _search(known | {"salt": salt}, fact, counts, window, target)
    assert [count for _, count in found] == [2]

    # Nothing the authority receives carries the salt: not the answer, a refusal or its own proof.
    refused = gateway.post(world.authority, SUBMIT_HOLD, variables={"i": variables["i"] | {"until": "soon"}})
    proof = gateway.post(world.authority, _PROOF, variables={"i": receipt["index"]})
    assert refused.status_code == 400 and proof.status_code == 200, (refused.text, proof.text)
    for received in (response, refused, proof):
        assert salt not in received.text and b64decode(salt).hex() not in received.text
