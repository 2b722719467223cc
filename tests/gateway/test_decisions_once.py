"""Every state-changing mutation takes effect once, however many copies of it arrive together, on
SQLite and PostgreSQL.

The mutations are listed from the schema's ``Mutation`` type, so one added later without a case here
fails. Each case fires its mutation 12 times at once (distinct signed tokens, two principals of the
right role, threads through the real HTTP app) and checks: exactly as many successes as "once"
allows; exactly one fact of each success in the audit log; the stored state equal to the logged
one; and every loser refused as a late caller is, its refusal audited like any refusal.

What "once" means:
- a decision (verifyEmergency, attachCourtOrder, rejectRequest, revokeOrder, grantPreservation,
  rejectPreservation, extendPreservation, requestClarification, answerClarification, withdrawRequest,
  setWebhook with one URL, rotateSigningKey, rotateSealingKey): one success in all;
- an amendment (amendRequest): twelve copies of one change make one new version; the rest change
  nothing on the version it made, and are refused as such;
- an approval: once per reviewer, so one success for each of the two reviewers racing;
- a submission or a draft (submitRequest, submitPreservation, draftOrder) makes something new each
  time: all twelve succeed, each with exactly one new row and one fact of its own.
Where only the owner may act (attachCourtOrder, extendPreservation, answerClarification,
amendRequest, withdrawRequest, rotateSigningKey, rotateSealingKey: an authority's own request,
hold or keys), a second authority would only be told that there is no such request, or change its
own keys: the twelve are the owner's, with twelve distinct tokens.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from sqlalchemy import text

from crypto.keys import decode_sealing_public_key, encode_public_key, key_id
from crypto.rotation import SEALING_ROTATION_DOMAIN, SIGNING_ROTATION_DOMAIN, sealing_rotation, signing_rotation
from crypto.signing import ORDER_DOMAIN, sign_document, sign_over
from gateway.api.graphql.schema import build_schema
from gateway.values.times import format_time
from tests.support.clock import Clock, gateway_clock, post_at
from tests.support.harness import Actor
from tests.support.jwt import mint
from tests.support.lifecycle import audit_entries
from tests.support.world import World

RACERS = 12
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
VALID_UNTIL = format_time(START + timedelta(days=30))
HOLD_UNTIL = START + timedelta(days=30)

SUBMIT = "mutation($i: LegalRequestInput!) { submitRequest(input: $i) { id status } }"
ATTACH = "mutation($r: ID!, $h: String!) { attachCourtOrder(requestId: $r, courtOrderSha256: $h) { id } }"
DRAFT = "mutation($i: DraftOrderInput!) { draftOrder(input: $i) { id document } }"
APPROVE = "mutation($o: ID!, $s: String!) { approveOrder(orderId: $o, signature: $s) { status } }"
REJECT = "mutation($r: ID!, $why: String!) { rejectRequest(requestId: $r, reason: $why) { status } }"
REVOKE = "mutation($o: ID!, $why: String!) { revokeOrder(orderId: $o, reason: $why) { status } }"
VERIFY = ("mutation($r: ID!, $n: String!) "
          "{ verifyEmergency(requestId: $r, method: CALLBACK_KNOWN_NUMBER, note: $n) { id } }")
SUBMIT_HOLD = "mutation($i: PreservationInput!) { submitPreservation(input: $i) { id } }"
GRANT_HOLD = "mutation($id: ID!) { grantPreservation(id: $id) { status grantedUntil } }"
REJECT_HOLD = "mutation($id: ID!, $why: String!) { rejectPreservation(id: $id, reason: $why) { status } }"
EXTEND_HOLD = "mutation($id: ID!, $u: String!) { extendPreservation(id: $id, until: $u) { grantedUntil } }"
ASK = "mutation($r: ID!, $q: String!) { requestClarification(requestId: $r, question: $q) { status } }"
ANSWER = "mutation($r: ID!, $a: String!) { answerClarification(requestId: $r, answer: $a) { status } }"
AMEND = "mutation($r: ID!, $m: AmendmentInput!) { amendRequest(requestId: $r, amendment: $m) { version } }"
WITHDRAW = "mutation($r: ID!, $why: String!) { withdrawRequest(requestId: $r, reason: $why) { status } }"
SET_WEBHOOK = "mutation($u: String) { setWebhook(url: $u) { url } }"
WEBHOOK_URL = "https://hooks.example.org/bka"
ROTATE_SIGNING = ("mutation($k: String!, $t: String!, $p: String!, $q: String!) "
                  "{ rotateSigningKey(newKey: $k, signedAt: $t, proof: $p, possession: $q) { newKid } }")
ROTATE_SEALING = ("mutation($k: String!, $t: String!, $o: String, $p: String!) "
                  "{ rotateSealingKey(newKey: $k, signedAt: $t, oldSealingKid: $o, proof: $p) { newSealingKid } }")


def schema_mutations() -> list[str]:
    """Every root field of the schema's Mutation type, as clients name them."""
    mutation = build_schema()._schema.mutation_type
    assert mutation is not None
    return sorted(mutation.fields)


@dataclass(frozen=True)
class Call:
    actor: Actor
    query: str
    variables: dict[str, Any]


@dataclass
class Outcome:
    call: Call
    status: int
    body: dict[str, Any]

    @property
    def served(self) -> bool:
        return self.status == 200

    @property
    def refusal(self) -> tuple[int, str, str]:
        error = self.body["errors"][0]
        return self.status, error["extensions"]["code"], error["message"]

    @property
    def audit_index(self) -> int:
        return int(self.body["extensions"]["audit"]["index"])


@dataclass
class Race:
    """What a case's setup made, and what the race and the log came to."""

    world: World
    clock: Clock
    ids: dict[str, str] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)  # a call every racer sends alike

    def post(self, actor: Actor, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = post_at(self.world, self.clock, actor, query, variables)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    @property
    def winners(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.served]

    def facts(self, kind: str, **about: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(entry, fact) for every fact of ``kind`` in the log naming ``about``."""
        return [(entry, fact) for entry in self.entries.values() for fact in entry.get("facts", [])
                if fact["kind"] == kind and all(fact.get(k) == v for k, v in about.items())]

    def row(self, sql: str) -> dict[str, Any]:
        with self.world.gateway.services.db.engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(text(sql), self.ids)]
        assert len(rows) == 1, rows
        return rows[0]

    def count(self, sql: str) -> int:
        with self.world.gateway.services.db.engine.connect() as connection:
            return int(connection.execute(text(sql), self.ids).scalar_one())


@dataclass(frozen=True)
class Case:
    setup: Callable[[Race], None]
    call: Callable[[Race, int], Call]  # the i-th of the twelve
    check: Callable[[Race], None]  # the stored state against the log, after the race
    once: int = 1  # successes allowed


# -- building blocks -------------------------------------------------------------------------------


def submission(world: World, *, emergency: bool = False) -> dict[str, Any]:
    request: dict[str, Any] = {
        "caseReference": "AZ 4711/26", "court": "Amtsgericht Tiergarten", "jurisdiction": "DE",
        "legalBasis": "§ 100g StPO", "offenseCategory": "FRAUD", "subjects": [{"id": world.subjects[0]["id"]}],
        "fields": ["phoneNumber", "ipAddresses"], "justification": "investment fraud ring",
        "dataWindow": {"from": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z"}}
    if emergency:
        return request | {"emergency": True, "imminentRisk": "a hostage is threatened with death"}
    return request | {"courtOrderSha256": "ab" * 32}


def hold_input(world: World) -> dict[str, Any]:
    return {"subjects": [{"id": world.subjects[1]["id"]}], "caseReference": "P 1/26", "jurisdiction": "DE",
            "legalBasis": "§ 100g StPO", "until": format_time(HOLD_UNTIL)}


def submit(race: Race, *, emergency: bool = False) -> None:
    data = race.post(race.world.authority, SUBMIT, {"i": submission(race.world, emergency=emergency)})
    race.ids["request"] = data["submitRequest"]["id"]


def draft(race: Race) -> dict[str, Any]:
    order = race.post(race.world.reviewers[0], DRAFT, {"i": {"requestId": race.ids["request"],
                                                             "validUntil": VALID_UNTIL, "maxQueries": 5}})
    race.ids["order"] = order["draftOrder"]["id"]
    return dict(order["draftOrder"])


def approval(race: Race, reviewer: Actor) -> Call:
    document = race.row("SELECT document FROM orders WHERE id = :order")["document"]
    return Call(reviewer, APPROVE, {"o": race.ids["order"],
                                    "s": sign_over(ORDER_DOMAIN, document.encode(), reviewer.signing_key)})


def submit_hold(race: Race) -> None:
    race.ids["hold"] = race.post(race.world.authority, SUBMIT_HOLD,
                                 {"i": hold_input(race.world)})["submitPreservation"]["id"]


def two_reviewers(race: Race, i: int) -> Actor:
    return race.world.reviewers[i % 2]


def two_authorities(race: Race, i: int) -> Actor:
    return race.world.authority if i % 2 == 0 else race.world.other_authority


def nothing(race: Race) -> None:
    return None


def one_winner_decided(race: Race, sql: str) -> dict[str, Any]:
    """The one winner's stored row, whose ``decided_by`` must be the winner's principal in the log."""
    stored = race.row(sql)
    entry = race.entries[race.winners[0].audit_index]
    assert stored["decided_by"] == entry["principal"] == race.winners[0].call.actor.id
    return stored


# -- the cases, by mutation ------------------------------------------------------------------------


def check_submitted(race: Race) -> None:
    for outcome in race.winners:
        request_id = outcome.body["data"]["submitRequest"]["id"]
        race.ids["request"] = request_id
        assert len(race.facts("request_submitted", request=request_id)) == 1
        assert race.row("SELECT authority_id FROM legal_requests WHERE id = :request")["authority_id"] \
            == race.entries[outcome.audit_index]["principal"]
    assert race.count("SELECT count(*) FROM legal_requests") == RACERS


def check_hold_submitted(race: Race) -> None:
    for outcome in race.winners:
        race.ids["hold"] = outcome.body["data"]["submitPreservation"]["id"]
        assert len(race.facts("preservation_submitted", preservation=race.ids["hold"])) == 1
        assert race.row("SELECT authority_id FROM preservations WHERE id = :hold")["authority_id"] \
            == race.entries[outcome.audit_index]["principal"]
    assert race.count("SELECT count(*) FROM preservations") == RACERS


def check_drafted(race: Race) -> None:
    for outcome in race.winners:
        race.ids["order"] = outcome.body["data"]["draftOrder"]["id"]
        assert len(race.facts("order_drafted", order=race.ids["order"])) == 1
        assert race.row("SELECT created_by FROM orders WHERE id = :order")["created_by"] \
            == race.entries[outcome.audit_index]["principal"]
    assert race.count("SELECT count(*) FROM orders") == RACERS


def setup_approval(race: Race) -> None:
    submit(race)
    draft(race)


def check_approved(race: Race) -> None:
    logged = race.facts("order_approved", order=race.ids["order"])
    assert sorted(entry["principal"] for entry, _ in logged) == sorted(r.id for r in race.world.reviewers[:2])
    stored = {r["reviewer_id"] for r in _rows(race, "SELECT reviewer_id FROM order_approvals WHERE order_id = :order")}
    assert stored == {entry["principal"] for entry, _ in logged}
    # The approval that activated the order is the one that granted the request, once.
    activating = [entry["principal"] for entry, fact in logged if fact["active"]]
    request = race.row("SELECT status, decided_by FROM legal_requests WHERE id = :request")
    assert len(activating) == 1 and request == {"status": "GRANTED", "decided_by": activating[0]}
    # And the authority is told once (docs/PROTOCOL.md §17.4).
    assert race.count("SELECT count(*) FROM events WHERE kind = 'order.activated' AND order_id = :order") == 1


def _rows(race: Race, sql: str) -> list[dict[str, Any]]:
    with race.world.gateway.services.db.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(text(sql), race.ids)]


def check_rejected(race: Race) -> None:
    assert len(race.facts("request_rejected", request=race.ids["request"])) == 1
    stored = one_winner_decided(race, "SELECT status, rejection_reason, decided_by FROM legal_requests "
                                      "WHERE id = :request")
    assert stored["status"] == "REJECTED" and stored["rejection_reason"] == race.winners[0].call.variables["why"]
    assert race.count("SELECT count(*) FROM events WHERE kind = 'request.rejected' AND request_id = :request") == 1


def setup_active_order(race: Race) -> None:
    submit(race)
    draft(race)
    for reviewer in race.world.reviewers[:2]:
        call = approval(race, reviewer)
        race.post(call.actor, call.query, call.variables)


def check_revoked(race: Race) -> None:
    assert len(race.facts("order_revoked", order=race.ids["order"])) == 1
    stored = race.row("SELECT revoked_by, revoke_reason FROM orders WHERE id = :order")
    winner = race.winners[0]
    assert stored == {"revoked_by": race.entries[winner.audit_index]["principal"],
                      "revoke_reason": winner.call.variables["why"]}
    assert race.count("SELECT count(*) FROM events WHERE kind = 'order.revoked' AND order_id = :order") == 1


def check_verified(race: Race) -> None:
    logged = race.facts("emergency_verified", request=race.ids["request"])
    details = json.loads(race.row("SELECT details FROM legal_requests WHERE id = :request")["details"])
    winner = race.entries[race.winners[0].audit_index]["principal"]
    assert len(logged) == 1 and logged[0][1]["by"] == winner == details["emergency_verification"]["by"]


def setup_attach(race: Race) -> None:
    submit(race, emergency=True)
    race.post(race.world.reviewers[2], VERIFY, {"r": race.ids["request"], "n": "called the duty desk back"})
    draft(race)


def check_attached(race: Race) -> None:
    logged = race.facts("court_order_attached", request=race.ids["request"])
    details = json.loads(race.row("SELECT details FROM legal_requests WHERE id = :request")["details"])
    assert len(logged) == 1
    assert logged[0][1]["court_order_sha256"] == details["court_order_sha256"] == race.winners[0].call.variables["h"]
    assert logged[0][1]["orders"] == [race.ids["order"]]
    assert race.count("SELECT count(*) FROM order_continuations WHERE order_id = :order") == 1


def check_granted(race: Race) -> None:
    logged = race.facts("preservation_granted", preservation=race.ids["hold"])
    stored = one_winner_decided(race, "SELECT status, granted_until, decided_by FROM preservations WHERE id = :hold")
    assert len(logged) == 1 and stored["status"] == "GRANTED"
    assert logged[0][1]["until"] == format_time(datetime.fromtimestamp(stored["granted_until"], UTC))
    assert race.facts("preservation_rejected", preservation=race.ids["hold"]) == []


def check_hold_rejected(race: Race) -> None:
    stored = one_winner_decided(race, "SELECT status, rejection_reason, decided_by FROM preservations "
                                      "WHERE id = :hold")
    assert len(race.facts("preservation_rejected", preservation=race.ids["hold"])) == 1
    assert (stored["status"], stored["rejection_reason"]) == ("REJECTED", race.winners[0].call.variables["why"])
    assert race.facts("preservation_granted", preservation=race.ids["hold"]) == []


def setup_granted_hold(race: Race) -> None:
    submit_hold(race)
    race.post(race.world.reviewers[0], GRANT_HOLD, {"id": race.ids["hold"]})


def check_extended(race: Race) -> None:
    logged = race.facts("preservation_extended", preservation=race.ids["hold"])
    stored = race.row("SELECT granted_until, extended_at FROM preservations WHERE id = :hold")
    until = format_time(datetime.fromtimestamp(stored["granted_until"], UTC))
    assert len(logged) == 1 and logged[0][1]["until"] == until == race.winners[0].call.variables["u"]
    assert stored["extended_at"] is not None


def stored_request(race: Race) -> Any:
    return race.world.gateway.services.orders.get_request(race.ids["request"])


def check_clarification_requested(race: Race) -> None:
    logged = race.facts("clarification_requested", request=race.ids["request"])
    request = stored_request(race)
    winner = race.entries[race.winners[0].audit_index]["principal"]
    assert len(logged) == 1 and request.status == "NEEDS_CLARIFICATION"
    assert [(m["kind"], m["by"], m["text"]) for m in request.clarifications] == [
        ("QUESTION", winner, race.winners[0].call.variables["q"])]


def setup_question(race: Race) -> None:
    submit(race)
    race.post(race.world.reviewers[2], ASK, {"r": race.ids["request"], "q": "which account?"})


def check_clarification_answered(race: Race) -> None:
    logged = race.facts("clarification_answered", request=race.ids["request"])
    request = stored_request(race)
    assert len(logged) == 1 and request.status == "PENDING"
    assert [m["kind"] for m in request.clarifications] == ["QUESTION", "ANSWER"]
    assert request.clarifications[1]["text"] == race.winners[0].call.variables["a"]


def check_amended(race: Race) -> None:
    logged = race.facts("request_amended", request=race.ids["request"])
    request = stored_request(race)
    assert len(logged) == 1 and logged[0][1]["version"] == request.version == 2
    assert request.fields == ["phoneNumber"] and [v["version"] for v in request.versions] == [1, 2]


def check_withdrawn(race: Race) -> None:
    logged = race.facts("request_withdrawn", request=race.ids["request"])
    stored = one_winner_decided(race, "SELECT status, decided_by FROM legal_requests WHERE id = :request")
    order = race.row("SELECT revoked_by FROM orders WHERE id = :order")
    assert len(logged) == 1 and logged[0][1]["orders"] == [race.ids["order"]]
    assert stored["status"] == "WITHDRAWN" and order["revoked_by"] == stored["decided_by"]
def check_webhook_set(race: Race) -> None:
    logged = race.facts("webhook_set", authority=race.world.authority.id)
    stored = race.row("SELECT webhook_url FROM principals WHERE id = :authority")
    assert len(logged) == 1 and logged[0][1]["registered"] is True and stored["webhook_url"] == WEBHOOK_URL


def authority_id(race: Race) -> None:
    race.ids["authority"] = race.world.authority.id
def signing_rotation_call(race: Race) -> Call:
    """One rotation of the authority's signing key, the same for all twelve (their tokens differ)."""
    if "signing_call" not in race.calls:
        authority, new = race.world.authority, SigningKey.generate()
        race.ids["authority"] = authority.id
        statement = signing_rotation(gateway=race.world.gateway.settings.id, principal=authority.id,
                                     old_kid=key_id(authority.signing_key.verify_key),
                                     new_key=encode_public_key(new.verify_key), time=format_time(race.clock.now))
        race.calls["signing_call"] = Call(authority, ROTATE_SIGNING, {
            "k": statement["new_key"], "t": statement["time"],
            "p": sign_document(SIGNING_ROTATION_DOMAIN, statement, authority.signing_key),
            "q": sign_document(SIGNING_ROTATION_DOMAIN, statement, new)})
    return race.calls["signing_call"]


def check_signing_rotated(race: Race) -> None:
    authority = race.world.authority
    winner = race.entries[race.winners[0].audit_index]
    logged = race.facts("signing_key_rotated", principal=authority.id)
    new_kid = race.winners[0].body["data"]["rotateSigningKey"]["newKid"]
    assert len(logged) == 1 and logged[0][1]["new_kid"] == new_kid
    rows = {r["kid"]: r for r in _rows(race, "SELECT kid, not_after, audit_request_id FROM principal_keys "
                                             "WHERE principal_id = :authority")}
    old = rows[key_id(authority.signing_key.verify_key)]
    assert rows[new_kid]["audit_request_id"] == winner["request_id"] and len(rows) == 2
    assert format_time(datetime.fromtimestamp(old["not_after"], UTC)) == logged[0][1]["old_key_until"]


def sealing_rotation_call(race: Race) -> Call:
    if "sealing_call" not in race.calls:
        authority, new = race.world.authority, PrivateKey.generate()
        race.ids["authority"] = authority.id
        assert authority.sealing_key is not None
        old = key_id(authority.sealing_key.public_key)
        statement = sealing_rotation(gateway=race.world.gateway.settings.id, principal=authority.id,
                                     signing_kid=key_id(authority.signing_key.verify_key), old_sealing_kid=old,
                                     new_key=encode_public_key(new.public_key), time=format_time(race.clock.now))
        race.calls["sealing_call"] = Call(authority, ROTATE_SEALING, {
            "k": statement["new_sealing_key"], "t": statement["time"], "o": old,
            "p": sign_document(SEALING_ROTATION_DOMAIN, statement, authority.signing_key)})
    return race.calls["sealing_call"]


def check_sealing_rotated(race: Race) -> None:
    authority = race.world.authority
    winner = race.entries[race.winners[0].audit_index]
    logged = race.facts("sealing_key_rotated", principal=authority.id)
    stored = race.row("SELECT sealing_key, sealing_audit_request_id FROM principals WHERE id = :authority")
    assert len(logged) == 1 and stored["sealing_audit_request_id"] == winner["request_id"]
    assert logged[0][1]["new_sealing_kid"] == key_id(decode_sealing_public_key(race.winners[0].call.variables["k"]))
    assert stored["sealing_key"] == race.winners[0].call.variables["k"]


CASES: dict[str, Case] = {
    "submitRequest": Case(nothing, lambda r, i: Call(two_authorities(r, i), SUBMIT, {"i": submission(r.world)}),
                          check_submitted, once=RACERS),
    "submitPreservation": Case(nothing, lambda r, i: Call(two_authorities(r, i), SUBMIT_HOLD,
                                                          {"i": hold_input(r.world)}),
                               check_hold_submitted, once=RACERS),
    "draftOrder": Case(submit, lambda r, i: Call(two_reviewers(r, i), DRAFT, {"i": {
        "requestId": r.ids["request"], "validUntil": VALID_UNTIL, "maxQueries": i + 1}}), check_drafted, once=RACERS),
    "approveOrder": Case(setup_approval, lambda r, i: approval(r, two_reviewers(r, i)), check_approved, once=2),
    "rejectRequest": Case(submit, lambda r, i: Call(two_reviewers(r, i), REJECT,
                                                    {"r": r.ids["request"], "why": f"no legal basis ({i})"}),
                          check_rejected),
    "revokeOrder": Case(setup_active_order, lambda r, i: Call(two_reviewers(r, i), REVOKE,
                                                              {"o": r.ids["order"], "why": f"quashed ({i})"}),
                        check_revoked),
    "verifyEmergency": Case(lambda r: submit(r, emergency=True),
                            lambda r, i: Call(two_reviewers(r, i), VERIFY,
                                              {"r": r.ids["request"], "n": f"called the duty desk back ({i})"}),
                            check_verified),
    "attachCourtOrder": Case(setup_attach, lambda r, i: Call(r.world.authority, ATTACH,
                                                             {"r": r.ids["request"], "h": f"{i:02x}" * 32}),
                             check_attached),
    "grantPreservation": Case(submit_hold, lambda r, i: Call(two_reviewers(r, i), GRANT_HOLD, {"id": r.ids["hold"]}),
                              check_granted),
    "rejectPreservation": Case(submit_hold, lambda r, i: Call(two_reviewers(r, i), REJECT_HOLD,
                                                              {"id": r.ids["hold"], "why": f"too broad ({i})"}),
                               check_hold_rejected),
    "requestClarification": Case(submit, lambda r, i: Call(two_reviewers(r, i), ASK,
                                                           {"r": r.ids["request"], "q": f"which account ({i})?"}),
                                 check_clarification_requested),
    "answerClarification": Case(setup_question, lambda r, i: Call(r.world.authority, ANSWER,
                                                                  {"r": r.ids["request"], "a": f"the first ({i})"}),
                                check_clarification_answered),
    "amendRequest": Case(submit, lambda r, i: Call(r.world.authority, AMEND,
                                                   {"r": r.ids["request"], "m": {"fields": ["phoneNumber"]}}),
                         check_amended),
    "withdrawRequest": Case(setup_active_order, lambda r, i: Call(r.world.authority, WITHDRAW,
                                                                  {"r": r.ids["request"], "why": f"case closed ({i})"}),
                            check_withdrawn),
    "rotateSigningKey": Case(nothing, lambda r, i: signing_rotation_call(r), check_signing_rotated),
    "rotateSealingKey": Case(nothing, lambda r, i: sealing_rotation_call(r), check_sealing_rotated),
    "extendPreservation": Case(setup_granted_hold, lambda r, i: Call(r.world.authority, EXTEND_HOLD, {
        "id": r.ids["hold"], "u": format_time(HOLD_UNTIL + timedelta(days=i + 1))}), check_extended),
    # Twelve identical registrations: one sets the URL, the others are told it is already set.
    "setWebhook": Case(authority_id, lambda r, i: Call(r.world.authority, SET_WEBHOOK, {"u": WEBHOOK_URL}),
                       check_webhook_set),
}


# -- the race --------------------------------------------------------------------------------------


@pytest.fixture
def clock(world: World) -> Iterator[Clock]:
    with gateway_clock(world, START) as moving:
        yield moving


def fire(race: Race, calls: list[Call]) -> list[Outcome]:
    """All ``calls`` at once: tokens minted first, then every thread posts as the last one is ready."""
    gateway = race.world.gateway
    ready = threading.Barrier(len(calls))

    def one(call: Call) -> Outcome:
        body = json.dumps({"query": call.query, "variables": call.variables}).encode()
        token = mint(call.actor.signing_key, iss=call.actor.id, aud=gateway.settings.id, body=body,
                     now=race.clock.unix)
        ready.wait()
        response = gateway.post(None, body=body, token=token)
        return Outcome(call, response.status_code, response.json())

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def race_of(world: World, clock: Clock, case: Case) -> Race:
    race = Race(world, clock)
    case.setup(race)
    race.outcomes = fire(race, [case.call(race, i) for i in range(RACERS)])
    race.entries = {entry["index"]: entry for entry in audit_entries(world.gateway.services)}
    return race


def test_every_mutation_in_the_schema_has_a_race_case() -> None:
    assert sorted(CASES) == schema_mutations(), "a mutation without a race case: add one to CASES"


@pytest.mark.parametrize("mutation", schema_mutations())
def test_each_mutation_takes_effect_once(world: World, clock: Clock, mutation: str) -> None:
    case = CASES.get(mutation)
    assert case is not None, f"{mutation} has no race case: add one to CASES"
    race = race_of(world, clock, case)
    assert len(race.winners) == case.once, [(o.status, o.body.get("errors")) for o in race.outcomes]
    # Every answer, served or refused, is audited as what it was.
    for outcome in race.outcomes:
        entry = race.entries[outcome.audit_index]
        assert entry["principal"] == outcome.call.actor.id
        assert (entry["decision"], entry["code"]) == (("served", None) if outcome.served
                                                       else ("refused", outcome.refusal[1]))
        assert outcome.served or (entry.get("facts") is None and 400 <= outcome.status < 500), outcome.body
    case.check(race)
    # A loser is refused as the same caller is when it sends the same call after the race.
    late: dict[str, tuple[int, str, str]] = {}
    for loser in (o for o in race.outcomes if not o.served):
        if loser.call.actor.id not in late:
            late[loser.call.actor.id] = fire(race, [loser.call])[0].refusal
        assert loser.refusal == late[loser.call.actor.id]


def test_a_grant_and_a_rejection_of_one_hold_decide_it_once(world: World, clock: Clock) -> None:
    race = Race(world, clock)
    submit_hold(race)
    calls = [Call(two_reviewers(race, i), GRANT_HOLD, {"id": race.ids["hold"]}) if i % 3 else
             Call(two_reviewers(race, i), REJECT_HOLD, {"id": race.ids["hold"], "why": "too broad"})
             for i in range(RACERS)]
    race.outcomes = fire(race, calls)
    race.entries = {entry["index"]: entry for entry in audit_entries(world.gateway.services)}
    assert len(race.winners) == 1
    logged = (race.facts("preservation_granted", preservation=race.ids["hold"])
              + race.facts("preservation_rejected", preservation=race.ids["hold"]))
    stored = race.row("SELECT status FROM preservations WHERE id = :hold")["status"]
    assert len(logged) == 1 and logged[0][1]["kind"] == f"preservation_{stored.lower()}"
